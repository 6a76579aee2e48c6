-- Scheduled (daily): technical signals per instrument from the market tables, one
-- row per (date, instrument):
--   ma_20, ma_50   moving averages of the close over the last 20 / 50 observations
--                  (NULL until the window is full);
--   ma_signal      1 when ma_20 > ma_50, -1 when below, 0 when equal, NULL before ma_50;
--   crossover      'golden_cross' / 'death_cross' on the observation where ma_signal
--                  turns to 1 / -1 from the opposite sign, else NULL;
--   zscore_60      (close - mean) / sample stddev over the last 60 observations.
-- Floating results are rounded to 9 decimals, so a recomputation that sums in another
-- order (BigQuery does not fix it) does not count as a change.
-- Instruments: WTI crude (FRED DCOILWTICO), VIX (CBOE close), S&P 500 and NASDAQ
-- (Yahoo closes). Windows count observations, so holidays are skipped, not filled.
--
-- Idempotent for a run date: every date <= run_date is recomputed and MERGEd on
-- (date, instrument); a row changes only when a value changed. Later dates are left
-- alone. run_date is CURRENT_DATE() (see daily_feature_aggregates.sql).
DECLARE run_date DATE DEFAULT CURRENT_DATE();

CREATE TABLE IF NOT EXISTS `signals.market_signals` (
  date DATE NOT NULL,
  instrument STRING NOT NULL,
  source_table STRING,
  close FLOAT64,
  ma_20 FLOAT64,
  ma_50 FLOAT64,
  ma_signal INT64,
  crossover STRING,
  zscore_60 FLOAT64
)
PARTITION BY DATE_TRUNC(date, MONTH)
CLUSTER BY instrument, date
OPTIONS (description = "Moving-average crossovers and z-scores of WTI, VIX, S&P 500 and NASDAQ (scheduled transform market_signals)");

MERGE `signals.market_signals` AS T
USING (
  WITH closes AS (
    SELECT date, 'WTI' AS instrument, 'raw_intelligence.fred_macro_expanded' AS source_table, value AS close
    FROM `raw_intelligence.fred_macro_expanded`
    WHERE series_id = 'DCOILWTICO' AND value IS NOT NULL AND date <= run_date
    UNION ALL
    SELECT date, 'VIX' AS instrument, 'market_data.vix_daily' AS source_table, vix_close AS close
    FROM `market_data.vix_daily`
    WHERE vix_close IS NOT NULL AND date <= run_date
    UNION ALL
    SELECT date, symbol AS instrument, 'market_data.yahoo_historical_prefixed' AS source_table, yahoo_close AS close
    FROM `market_data.yahoo_historical_prefixed`
    WHERE symbol IN ('^GSPC', '^IXIC') AND yahoo_close IS NOT NULL AND date <= run_date
  ),
  windows AS (
    SELECT
      date,
      instrument,
      source_table,
      close,
      IF(COUNT(close) OVER w20 = 20, ROUND(AVG(close) OVER w20, 9), NULL) AS ma_20,
      IF(COUNT(close) OVER w50 = 50, ROUND(AVG(close) OVER w50, 9), NULL) AS ma_50,
      IF(COUNT(close) OVER w60 = 60, AVG(close) OVER w60, NULL) AS mean_60,
      IF(COUNT(close) OVER w60 = 60, STDDEV_SAMP(close) OVER w60, NULL) AS sd_60
    FROM closes
    WINDOW
      w20 AS (PARTITION BY instrument ORDER BY date ROWS BETWEEN 19 PRECEDING AND CURRENT ROW),
      w50 AS (PARTITION BY instrument ORDER BY date ROWS BETWEEN 49 PRECEDING AND CURRENT ROW),
      w60 AS (PARTITION BY instrument ORDER BY date ROWS BETWEEN 59 PRECEDING AND CURRENT ROW)
  ),
  signed AS (
    SELECT
      *,
      CAST(SIGN(ma_20 - ma_50) AS INT64) AS ma_signal
    FROM windows
  )
  SELECT
    date,
    instrument,
    source_table,
    close,
    ma_20,
    ma_50,
    ma_signal,
    CASE
      WHEN ma_signal = 1 AND LAG(ma_signal) OVER (PARTITION BY instrument ORDER BY date) = -1 THEN 'golden_cross'
      WHEN ma_signal = -1 AND LAG(ma_signal) OVER (PARTITION BY instrument ORDER BY date) = 1 THEN 'death_cross'
    END AS crossover,
    IF(sd_60 > 0, ROUND((close - mean_60) / sd_60, 9), NULL) AS zscore_60
  FROM signed
) AS S
ON T.date = S.date AND T.instrument = S.instrument
WHEN MATCHED AND (
       T.source_table IS DISTINCT FROM S.source_table
    OR T.close IS DISTINCT FROM S.close
    OR T.ma_20 IS DISTINCT FROM S.ma_20
    OR T.ma_50 IS DISTINCT FROM S.ma_50
    OR T.ma_signal IS DISTINCT FROM S.ma_signal
    OR T.crossover IS DISTINCT FROM S.crossover
    OR T.zscore_60 IS DISTINCT FROM S.zscore_60
) THEN UPDATE SET
  source_table = S.source_table,
  close = S.close,
  ma_20 = S.ma_20,
  ma_50 = S.ma_50,
  ma_signal = S.ma_signal,
  crossover = S.crossover,
  zscore_60 = S.zscore_60
WHEN NOT MATCHED THEN INSERT (date, instrument, source_table, close, ma_20, ma_50, ma_signal, crossover, zscore_60)
VALUES (S.date, S.instrument, S.source_table, S.close, S.ma_20, S.ma_50, S.ma_signal, S.crossover, S.zscore_60);
