/* monitoring.data_quality: expectation results over time, one row per gate outcome
   recorded in ops.run_records (Validate after a change; ExpectationFailed when a gate
   fails and nothing planned fixes it). result: passed, failed or not_checked (the gate
   was blocked). check_name is the failing check of an ExpectationFailed, 'all' for a
   Validate (its observed JSON holds every check). Kept free of comments inside the
   query and in the form the local BigQuery prints back (docs/monitoring.md). */
SELECT
  run_id,
  finished_at AS checked_at,
  target AS table_ref,
  IF(kind = 'ExpectationFailed', SUBSTR(action_key, LENGTH(target) + 20), 'all') AS check_name,
  kind,
  CASE
    WHEN kind = 'Validate' AND status = 'done' THEN 'passed'
    WHEN kind = 'Validate' AND status = 'failed' THEN 'failed'
    WHEN kind = 'ExpectationFailed' THEN 'failed'
    ELSE 'not_checked'
  END AS result,
  detail,
  observed
FROM ops.run_records
WHERE kind IN ('Validate', 'ExpectationFailed')
