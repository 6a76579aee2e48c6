-- Ops: the apply lease. At most one live row (expires_at in the future) means one
-- apply at a time on the project; a crashed run's row expires on its own.
CREATE TABLE IF NOT EXISTS ${table} (
  holder STRING,
  acquired_at TIMESTAMP,
  expires_at TIMESTAMP
)
