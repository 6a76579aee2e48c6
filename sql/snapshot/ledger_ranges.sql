-- Snapshot: the load ledger and the first-key ranges of its files, in one read (the first
-- load creates both tables; reconcile.snapshot.ops). Rows of kind 'ledger' (which staging
-- file, by content hash, was merged where) in loaded_at order, then rows of kind 'range'
-- (sql/ops/load_key_ranges.sql) in recorded_at order. The columns a kind does not have are
-- NULL literals, which take the other branch's type.
SELECT
  'ledger' AS kind,
  table_ref,
  source,
  content_hash,
  `rows`,
  loaded_at,
  run_id,
  NULL AS key_column,
  NULL AS key_min,
  NULL AS key_max,
  NULL AS key_rows,
  NULL AS recorded_at
FROM ${ledger}
UNION ALL
SELECT
  'range' AS kind,
  table_ref,
  source,
  content_hash,
  NULL AS `rows`,
  NULL AS loaded_at,
  NULL AS run_id,
  key_column,
  key_min,
  key_max,
  key_rows,
  recorded_at
FROM ${ranges}
ORDER BY kind, loaded_at, recorded_at, table_ref, source
