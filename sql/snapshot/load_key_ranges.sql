-- Snapshot: the first-key range of each merged file (sql/ops/load_key_ranges.sql).
SELECT
  table_ref,
  source,
  content_hash,
  key_column,
  key_min,
  key_max,
  key_rows
FROM ${table}
ORDER BY recorded_at
