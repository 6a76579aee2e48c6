-- Ops: the load ledger. One row per staging file merged into a table, keyed by the
-- file's content hash so a rerun skips what was already merged. `rows` is a
-- reserved word in GoogleSQL: keep it backtick-quoted.
CREATE TABLE IF NOT EXISTS ${table} (
  table_ref STRING,
  source STRING,
  content_hash STRING,
  `rows` INT64,
  rows_inserted INT64,
  rows_updated INT64,
  loaded_at TIMESTAMP,
  run_id STRING
)
