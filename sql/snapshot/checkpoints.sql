-- Snapshot: the last relocation step recorded per dataset.
SELECT
  dataset,
  ARRAY_AGG(step ORDER BY `at` DESC LIMIT 1)[OFFSET(0)] AS step
FROM ${table}
GROUP BY dataset
