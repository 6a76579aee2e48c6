-- Snapshot: one dataset's part of the ROUTINES read, for the reference scan (issue 17:
-- what still reads a legacy dataset). Read only when the spec may delete a dataset
-- (retire, archive.delete_sources) or by `reconcile refs`. `ddl` is the whole CREATE
-- statement on BigQuery; the emulator elides the body there ("AS (...)"), so the
-- reader then asks routines.get for it (docs/emulator.md).
SELECT
  routine_schema AS dataset_name,
  routine_name,
  routine_type,
  ddl
FROM ${dataset}.INFORMATION_SCHEMA.ROUTINES
