-- Snapshot: one dataset's part of the VIEWS read (only datasets where the spec
-- declares views).
SELECT
  table_schema AS dataset_name,
  table_name,
  view_definition
FROM ${dataset}.INFORMATION_SCHEMA.VIEWS
