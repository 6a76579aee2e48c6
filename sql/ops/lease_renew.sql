-- Ops: extend our lease while the run goes on (heartbeat).
UPDATE ${table}
SET expires_at = TIMESTAMP_ADD(CURRENT_TIMESTAMP(), INTERVAL @ttl_seconds SECOND)
WHERE holder = @holder
