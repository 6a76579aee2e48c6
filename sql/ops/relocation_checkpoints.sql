-- Ops: relocation checkpoints. One row per completed step of a dataset's
-- relocation, so a crashed relocation resumes after its last step. `at` is a
-- reserved word in GoogleSQL: keep it backtick-quoted.
CREATE TABLE IF NOT EXISTS ${table} (
  dataset STRING,
  step STRING,
  `at` TIMESTAMP,
  run_id STRING
)
