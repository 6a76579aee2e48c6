-- Repair the training tables the 2025-11-19 audit found: placeholder rows
-- (regime = 'allhistory', training_weight = 1) and missing pre-2010 history.
-- Idempotent: the MERGE inserts only dates the table lacks, the UPDATEs change
-- only rows whose regime or weight differ from the calendar. Every table read
-- is in us-central1 (the archive copy, not the legacy US dataset): BigQuery
-- refuses cross-region queries.

-- 1. Backfill 2000-2009 history of the 1-month table from the archived
--    oct-27 model backup (its copy in the archive dataset).
MERGE `training.zl_training_prod_allhistory_1m` t
USING (
  SELECT date, wti_close, sp500_close, target_1m, regime, training_weight
  FROM `z_archive_20251119.model_backups_oct27__production_training_data_1m_backup`
  WHERE date >= DATE '2000-01-01'
) s
ON t.date = s.date
WHEN NOT MATCHED THEN
  INSERT (date, wti_close, sp500_close, target_1m, regime, training_weight)
  VALUES (s.date, s.wti_close, s.sp500_close, s.target_1m, s.regime, s.training_weight);

-- 2. Regime and weight by date, from the calendar and its weights.
UPDATE `training.zl_training_prod_allhistory_1m` t
SET regime = c.regime, training_weight = c.training_weight
FROM (
  SELECT cal.regime, cal.start_date, cal.end_date, w.training_weight
  FROM `regimes.regime_calendar` cal JOIN `regimes.regime_weights` w USING (regime)
) c
WHERE t.date BETWEEN c.start_date AND c.end_date
  AND (t.regime IS DISTINCT FROM c.regime OR t.training_weight IS DISTINCT FROM c.training_weight);

UPDATE `training.zl_training_prod_allhistory_3m` t
SET regime = c.regime, training_weight = c.training_weight
FROM (
  SELECT cal.regime, cal.start_date, cal.end_date, w.training_weight
  FROM `regimes.regime_calendar` cal JOIN `regimes.regime_weights` w USING (regime)
) c
WHERE t.date BETWEEN c.start_date AND c.end_date
  AND (t.regime IS DISTINCT FROM c.regime OR t.training_weight IS DISTINCT FROM c.training_weight);
