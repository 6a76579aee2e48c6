-- Ops: release our lease (or break a dead run's): the row stays, held by nobody and
-- expired, so the holder's next renewal matches no row and that run stops.
UPDATE ${table}
SET holder = '', expires_at = TIMESTAMP_SUB(CURRENT_TIMESTAMP(), INTERVAL 1 SECOND)
WHERE holder = @holder
