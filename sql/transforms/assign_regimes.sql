-- Scheduled (daily): training rows get their regime and training weight from the
-- calendar (regimes.regime_calendar, dates inclusive) and its weights
-- (regimes.regime_weights), so the day's new rows are labelled before any gate sees
-- them, and an edit of the calendar reaches every row.
--
-- Idempotent for a run date: only rows dated <= run_date whose regime or weight
-- differs from the calendar are updated; a rerun changes nothing. Rows the calendar
-- does not cover keep their values (the training gates report them).
-- repair_training does the same as part of its one-off repair; this transform is the
-- daily upkeep. run_date is CURRENT_DATE() (see daily_feature_aggregates.sql).
DECLARE run_date DATE DEFAULT CURRENT_DATE();

UPDATE `training.zl_training_prod_allhistory_1m` t
SET regime = c.regime, training_weight = c.training_weight
FROM (
  SELECT cal.regime, cal.start_date, cal.end_date, w.training_weight
  FROM `regimes.regime_calendar` cal JOIN `regimes.regime_weights` w USING (regime)
) c
WHERE t.date <= run_date
  AND t.date BETWEEN c.start_date AND c.end_date
  AND (t.regime IS DISTINCT FROM c.regime OR t.training_weight IS DISTINCT FROM c.training_weight);

UPDATE `training.zl_training_prod_allhistory_3m` t
SET regime = c.regime, training_weight = c.training_weight
FROM (
  SELECT cal.regime, cal.start_date, cal.end_date, w.training_weight
  FROM `regimes.regime_calendar` cal JOIN `regimes.regime_weights` w USING (regime)
) c
WHERE t.date <= run_date
  AND t.date BETWEEN c.start_date AND c.end_date
  AND (t.regime IS DISTINCT FROM c.regime OR t.training_weight IS DISTINCT FROM c.training_weight);
