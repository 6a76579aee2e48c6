-- Ops: per staging file merged (table, source, content hash), the range of its first key
-- column (as strings the snapshot CASTs back to the column's type) and the file's rows
-- with a key there: what the table must still hold for the file to count as loaded
-- (reconcile.snapshot.loadchecks). Written just before the file's load_ledger row. Kept
-- apart from the ledger so that a ledger declared in a spec (cbi-v14.yaml) keeps its columns.
CREATE TABLE IF NOT EXISTS ${table} (
  table_ref STRING,
  source STRING,
  content_hash STRING,
  key_column STRING,
  key_min STRING,
  key_max STRING,
  key_rows INT64,
  recorded_at TIMESTAMP,
  run_id STRING
)
