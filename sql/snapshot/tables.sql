-- Snapshot: one dataset's part of the TABLES read. read_snapshot UNION ALLs one
-- part per dataset of the same location (at most 100 datasets per query).
-- table_schema carries the dataset name, so no name is ever rendered as a value.
-- base_table_name is set only for clones and snapshots (the emulator reports a
-- clone as BASE TABLE with base_table_name set; BigQuery reports CLONE).
-- created_ms tells the tool's own temporary tables from others under their name.
SELECT
  table_schema AS dataset_name,
  table_name,
  table_type,
  base_table_name,
  snapshot_time_ms,
  UNIX_MILLIS(creation_time) AS created_ms
FROM ${dataset}.INFORMATION_SCHEMA.TABLES
