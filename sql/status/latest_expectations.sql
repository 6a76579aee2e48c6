-- Status: the latest gate results of each table (every row of the newest run that
-- checked it), from the data-quality view, plus how much history the view holds.
SELECT
  d.*,
  h.results AS history_results,
  h.runs AS history_runs,
  h.since AS history_since
FROM ${view} AS d
JOIN (
  SELECT table_ref, ARRAY_AGG(run_id ORDER BY checked_at DESC LIMIT 1)[OFFSET(0)] AS run_id
  FROM ${view}
  GROUP BY table_ref
) AS latest ON latest.table_ref = d.table_ref AND latest.run_id = d.run_id
CROSS JOIN (
  SELECT COUNT(*) AS results, COUNT(DISTINCT run_id) AS runs, MIN(checked_at) AS since
  FROM ${view}
) AS h
