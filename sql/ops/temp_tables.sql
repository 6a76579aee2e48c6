-- Ops: every temporary load table this tool made, with the table's creation time as
-- BigQuery reports it. A table under a temporary-table name is the tool's (a crash
-- leftover it may drop) only while a row here matches its name and creation time:
-- anything else under that name was made by someone else and is never deleted.
CREATE TABLE IF NOT EXISTS ${table} (
  table_ref STRING,
  created_ms INT64,
  run_id STRING,
  recorded_at TIMESTAMP
)
