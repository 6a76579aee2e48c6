-- Ops: run records. One row per action of an apply run, with its outcome and the
-- values it observed (JSON text), like Kubernetes status conditions.
CREATE TABLE IF NOT EXISTS ${table} (
  run_id STRING,
  started_at TIMESTAMP,
  finished_at TIMESTAMP,
  action_key STRING,
  kind STRING,
  target STRING,
  status STRING,
  detail STRING,
  observed STRING,
  seconds FLOAT64
)
