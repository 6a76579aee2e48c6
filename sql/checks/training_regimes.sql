-- Migration-plan check (section 5.1, "Training tables fixed": 7+ distinct regimes from
-- regimes.regime_calendar). Written from /work/shared/DESIGN.md. Counts the distinct
-- regimes a training table uses that the calendar declares, and the rows whose regime
-- the calendar does not know. Expected: regimes >= 7, unknown_rows = 0.
SELECT COUNT(DISTINCT IF(c.regime IS NOT NULL, t.regime, NULL)) AS regimes,
       COUNTIF(c.regime IS NULL) AS unknown_rows
FROM ${table} AS t
LEFT JOIN (SELECT DISTINCT regime FROM ${calendar}) AS c
  ON c.regime = t.regime
