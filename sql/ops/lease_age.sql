-- Ops: how long a holder's live lease has left (seconds): --break-lease refuses one
-- renewed recently (more than two thirds of its TTL left).
SELECT TIMESTAMP_DIFF(expires_at, CURRENT_TIMESTAMP(), MILLISECOND) / 1000 AS seconds_left
FROM ${table}
WHERE holder = @holder AND expires_at > CURRENT_TIMESTAMP()
ORDER BY expires_at DESC
LIMIT 1
