-- Ops: the live lease rows, the winner first (earliest, then by holder).
SELECT holder, acquired_at, expires_at
FROM ${table}
WHERE expires_at > CURRENT_TIMESTAMP()
ORDER BY acquired_at, holder
