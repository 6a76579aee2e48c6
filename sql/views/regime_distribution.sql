/* monitoring.regime_distribution: training rows per regime and table, with the weights
   found on them and the ones the calendar declares (regimes.regime_calendar and
   regimes.regime_weights). in_calendar is false for a regime the calendar does not
   know, such as the audit placeholder allhistory. */
WITH
by_regime AS (SELECT
    'training.zl_training_prod_allhistory_1m' AS table_ref,
    regime,
    COUNT(*) AS row_count,
    MIN(training_weight) AS min_weight,
    MAX(training_weight) AS max_weight,
    MIN(date) AS first_date,
    MAX(date) AS last_date
  FROM training.zl_training_prod_allhistory_1m
  GROUP BY regime
  UNION ALL
  SELECT
    'training.zl_training_prod_allhistory_3m' AS table_ref,
    regime,
    COUNT(*) AS row_count,
    MIN(training_weight) AS min_weight,
    MAX(training_weight) AS max_weight,
    MIN(date) AS first_date,
    MAX(date) AS last_date
  FROM training.zl_training_prod_allhistory_3m
  GROUP BY regime)

SELECT
  r.table_ref,
  r.regime,
  r.row_count,
  ROUND(r.row_count / SUM(r.row_count) OVER (PARTITION BY r.table_ref), 4) AS row_share,
  r.min_weight,
  r.max_weight,
  w.training_weight AS calendar_weight,
  c.start_date AS calendar_start,
  c.end_date AS calendar_end,
  r.first_date,
  r.last_date,
  NOT c.regime IS NULL AS in_calendar
FROM by_regime AS r
LEFT JOIN regimes.regime_calendar AS c ON c.regime = r.regime
LEFT JOIN regimes.regime_weights AS w ON w.regime = r.regime
