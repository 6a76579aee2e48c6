-- Snapshot: exact row counts of one dataset's tables, summed over partitions.
-- TABLE_STORAGE would answer for all tables at once on BigQuery, but it lags and
-- the emulator does not support it (docs/emulator.md). BigQuery limits one
-- PARTITIONS query to 1,000 tables: read_snapshot sends one per chunk of datasets with
-- TABLES, and redoes a chunk over that bound in parts packed up to it.
SELECT
  table_schema AS dataset_name,
  table_name,
  SUM(total_rows) AS row_count
FROM ${dataset}.INFORMATION_SCHEMA.PARTITIONS
GROUP BY table_schema, table_name
