-- Snapshot: one dataset's part of the VIEWS read (datasets where the spec declares
-- views, or all of them for the reference scan), sent with TABLES: a dataset without a
-- view answers no rows.
SELECT
  table_schema AS dataset_name,
  table_name,
  view_definition
FROM ${dataset}.INFORMATION_SCHEMA.VIEWS
