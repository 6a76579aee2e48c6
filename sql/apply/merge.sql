-- Apply: merge a staging file, loaded into a temporary table, into its target on the
-- declared keys. Only rows whose non-key values differ (NULL-safe: IS DISTINCT FROM)
-- are updated, new keys are inserted, nothing is deleted or truncated. Columns are
-- listed (the emulator rejects INSERT ROW). Every placeholder is filled by the executor
-- from validated, backtick-quoted column names.
MERGE ${target} AS T
USING ${source} AS S
ON ${on}
WHEN MATCHED AND (${changed}) THEN
  UPDATE SET ${assignments}
WHEN NOT MATCHED THEN
  INSERT (${columns}) VALUES (${values})
