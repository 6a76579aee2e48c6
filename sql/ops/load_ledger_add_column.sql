-- Ops: one column a load ledger made before it existed lacks (sql/ops/load_ledger.sql).
-- One statement per column: the emulator accepts a single ADD COLUMN per ALTER.
-- https://cloud.google.com/bigquery/docs/reference/standard-sql/data-definition-language#alter_table_add_column_statement
ALTER TABLE ${table} ADD COLUMN IF NOT EXISTS ${column} ${type}
