-- Migration-plan check (section 5.1, "Training tables fixed": no placeholder rows).
-- Written from /work/shared/DESIGN.md: the plan's own query text is not in the repo.
-- A placeholder row is one the audit found: regime = 'allhistory' or training_weight = 1.
-- Expected: 0.
SELECT COUNTIF(regime = 'allhistory' OR training_weight = 1) AS placeholder_rows,
       COUNT(*) AS total_rows
FROM ${table}
