-- Ops: release our lease, and clear rows that expired long ago.
DELETE FROM ${table}
WHERE holder = @holder
   OR expires_at < TIMESTAMP_SUB(CURRENT_TIMESTAMP(), INTERVAL 1 DAY)
