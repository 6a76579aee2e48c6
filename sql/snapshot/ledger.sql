-- Snapshot: the load ledger (which staging file, by content hash, was merged where).
SELECT
  table_ref,
  source,
  content_hash,
  `rows`,
  loaded_at,
  run_id
FROM ${table}
ORDER BY loaded_at, table_ref, source
