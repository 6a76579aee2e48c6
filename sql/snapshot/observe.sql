-- Snapshot: every expectation metric of one table in one scan. The metrics are a
-- list of aggregate expressions built by reconcile.snapshot from fixed forms
-- (COUNT, COUNT(DISTINCT col), MIN, MAX, COUNTIF(... IN UNNEST(@param))) over
-- validated, backtick-quoted column names; values travel as query parameters.
SELECT
  ${metrics}
FROM ${table}
