-- Ops: the load ledger. One row per staging file merged into a table, keyed by the
-- file's content hash so a rerun skips what was already merged. `rows` is a
-- reserved word in GoogleSQL: keep it backtick-quoted. key_column, key_min, key_max and
-- key_rows (the file's first key column, its range as strings, and the file's rows with
-- a key there) let the snapshot see the file's rows deleted from the table since
-- (reconcile.snapshot.loadchecks); a ledger made before them gets them by
-- sql/ops/load_ledger_add_column.sql.
CREATE TABLE IF NOT EXISTS ${table} (
  table_ref STRING,
  source STRING,
  content_hash STRING,
  `rows` INT64,
  rows_inserted INT64,
  rows_updated INT64,
  loaded_at TIMESTAMP,
  run_id STRING,
  key_column STRING,
  key_min STRING,
  key_max STRING,
  key_rows INT64
)
