-- One column added to a table's data and schema. One statement per column: the emulator
-- accepts a single ADD COLUMN per ALTER ("Only one ALTER command per statement").
-- https://cloud.google.com/bigquery/docs/reference/standard-sql/data-definition-language#alter_table_add_column_statement
ALTER TABLE ${table} ADD COLUMN IF NOT EXISTS ${column} ${type}
