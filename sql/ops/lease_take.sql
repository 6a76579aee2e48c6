-- Ops: take the lease if nobody holds a live one, in one statement. Two statements
-- racing may both insert (BigQuery runs concurrent INSERTs); the executor then reads
-- the live rows back and only the earliest holder proceeds (lease_holders.sql).
INSERT INTO ${table} (holder, acquired_at, expires_at)
SELECT @holder, CURRENT_TIMESTAMP(), TIMESTAMP_ADD(CURRENT_TIMESTAMP(), INTERVAL @ttl_seconds SECOND)
FROM UNNEST([1])
WHERE NOT EXISTS (SELECT 1 FROM ${table} WHERE expires_at > CURRENT_TIMESTAMP())
