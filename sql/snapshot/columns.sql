-- Snapshot: one dataset's part of the COLUMNS read (only datasets whose tables the
-- spec declares or sets expectations on). REPEATED columns show as ARRAY<...>.
SELECT
  table_schema AS dataset_name,
  table_name,
  column_name,
  ordinal_position,
  data_type,
  is_nullable
FROM ${dataset}.INFORMATION_SCHEMA.COLUMNS
