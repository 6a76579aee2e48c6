-- Ops: the lease row, expired and held by nobody, written once when the table is empty
-- so that taking the lease is an UPDATE of it (lease_take.sql), never a bare INSERT.
INSERT INTO ${table} (holder, acquired_at, expires_at)
SELECT '', TIMESTAMP '1970-01-01 00:00:00+00', TIMESTAMP '1970-01-01 00:00:00+00'
FROM UNNEST([1])
WHERE NOT EXISTS (SELECT 1 FROM ${table})
