-- Snapshot: one dataset's part of the COLUMNS read (only datasets whose tables the
-- spec declares or sets expectations on). REPEATED columns show as ARRAY<...>.
-- Pseudo-columns (_PARTITIONTIME, _PARTITIONDATE of an ingestion-time partitioned table)
-- are listed with is_hidden = 'YES' and are not the table's columns:
-- https://cloud.google.com/bigquery/docs/information-schema-columns
SELECT
  table_schema AS dataset_name,
  table_name,
  column_name,
  ordinal_position,
  data_type,
  is_nullable
FROM ${dataset}.INFORMATION_SCHEMA.COLUMNS
WHERE is_hidden = 'NO'
