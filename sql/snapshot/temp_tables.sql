-- Snapshot: the temporary load tables this tool made (name and creation time), to
-- tell its own crash leftovers from foreign tables under a temporary-table name.
SELECT
  table_ref,
  created_ms
FROM ${table}
