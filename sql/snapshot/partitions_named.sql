-- Snapshot: row counts of some tables of one dataset (@table_names), for a dataset
-- with more tables than one PARTITIONS query may read on BigQuery (1,000).
SELECT
  table_schema AS dataset_name,
  table_name,
  SUM(total_rows) AS row_count
FROM ${dataset}.INFORMATION_SCHEMA.PARTITIONS
WHERE table_name IN UNNEST(@table_names)
GROUP BY table_schema, table_name
