-- Snapshot: one dataset's part of the VIEWS and ROUTINES read in one query, for the
-- reference scan (issue 17: what still reads a legacy dataset), which wants both of every
-- dataset: one query per chunk of datasets instead of two, so the snapshot's first round
-- fits in fewer queries in flight. A view row has table_name set, a routine row
-- routine_name; the other columns are those of views.sql and routines.sql.
SELECT
  table_schema AS dataset_name,
  table_name,
  view_definition,
  CAST(NULL AS STRING) AS routine_name,
  CAST(NULL AS STRING) AS routine_type,
  CAST(NULL AS STRING) AS ddl
FROM ${dataset}.INFORMATION_SCHEMA.VIEWS
UNION ALL
SELECT
  routine_schema AS dataset_name,
  CAST(NULL AS STRING) AS table_name,
  CAST(NULL AS STRING) AS view_definition,
  routine_name,
  routine_type,
  ddl
FROM ${dataset}.INFORMATION_SCHEMA.ROUTINES
