-- Ops: take the lease if nobody holds a live one, in one MERGE on the lease row (issue 12:
-- a lease that cannot be taken twice). The row always exists (lease_seed.sql), so this
-- is a mutating DML statement: two racing MERGEs on it conflict and BigQuery runs them
-- one after the other, re-evaluating the second against the first's result, which then
-- matches no expired row and changes nothing
-- (https://cloud.google.com/bigquery/docs/data-manipulation-language#update_delete_merge_dml_concurrency).
-- The executor still reads the live rows back (lease_holders.sql): only the earliest proceeds.
MERGE ${table} AS t
USING (SELECT @holder AS holder) AS s
ON TRUE
WHEN MATCHED AND (t.expires_at <= CURRENT_TIMESTAMP() OR t.holder = s.holder) THEN
  UPDATE SET holder = s.holder, acquired_at = CURRENT_TIMESTAMP(),
             expires_at = TIMESTAMP_ADD(CURRENT_TIMESTAMP(), INTERVAL @ttl_seconds SECOND)
WHEN NOT MATCHED THEN
  INSERT (holder, acquired_at, expires_at)
  VALUES (s.holder, CURRENT_TIMESTAMP(), TIMESTAMP_ADD(CURRENT_TIMESTAMP(), INTERVAL @ttl_seconds SECOND))
