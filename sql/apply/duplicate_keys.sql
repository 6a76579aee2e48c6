-- Apply: a load's keys-unique gate, re-checked on the target table after its MERGE in
-- the same run (issue 13, "Gates on tables"): the keys more than one row holds, the
-- first few with their row counts, and how many such keys there are in all.
SELECT
  ${keys},
  COUNT(*) AS _reconcile_rows,
  COUNT(*) OVER () AS _reconcile_keys
FROM ${table}
GROUP BY ${keys}
HAVING COUNT(*) > 1
ORDER BY _reconcile_rows DESC, ${keys}
LIMIT 5
