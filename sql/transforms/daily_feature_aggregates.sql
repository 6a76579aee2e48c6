-- Scheduled (daily): per-date aggregates of the raw source tables, across their
-- symbols, series and stations: how much each source observed that day and its
-- cross-sectional averages. One row per date up to the run date.
--
-- Idempotent for a run date: every date <= run_date is recomputed from the sources
-- and MERGEd on date; a row changes only when one of its values changed, so a rerun
-- (or a retry) for the same date changes nothing. Dates after run_date are left
-- alone, so a backfill run for a past date never writes later days.
-- Averages are rounded to 9 decimals, so a recomputation that sums in another order
-- does not count as a change. @run_date is the date the run is for (a scheduled run's
-- date, or one day of a backfill); the executor binds it (apply/handlers/transforms.py).
DECLARE run_date DATE DEFAULT @run_date;

CREATE TABLE IF NOT EXISTS `features.daily_feature_aggregates` (
  date DATE NOT NULL,
  sources_observed INT64,
  yahoo_symbols INT64,
  yahoo_mean_return_1d FLOAT64,
  fred_series INT64,
  weather_stations INT64,
  weather_mean_temp_max FLOAT64,
  weather_mean_temp_min FLOAT64,
  weather_total_precipitation FLOAT64,
  weather_mean_wind FLOAT64,
  vix_close FLOAT64
)
PARTITION BY DATE_TRUNC(date, MONTH)
CLUSTER BY date
OPTIONS (description = "Per-date aggregates of the raw sources across symbols, series and stations (scheduled transform daily_feature_aggregates)");

MERGE `features.daily_feature_aggregates` AS T
USING (
  WITH yahoo AS (
    SELECT
      date,
      COUNT(DISTINCT symbol) AS yahoo_symbols,
      ROUND(AVG(daily_return), 9) AS yahoo_mean_return_1d
    FROM (
      SELECT
        date,
        symbol,
        SAFE_DIVIDE(yahoo_close, LAG(yahoo_close) OVER (PARTITION BY symbol ORDER BY date)) - 1 AS daily_return
      FROM `market_data.yahoo_historical_prefixed`
      WHERE date <= run_date AND yahoo_close IS NOT NULL
    )
    GROUP BY date
  ),
  fred AS (
    SELECT date, COUNT(DISTINCT series_id) AS fred_series
    FROM `raw_intelligence.fred_macro_expanded`
    WHERE date <= run_date AND value IS NOT NULL
    GROUP BY date
  ),
  weather AS (
    SELECT
      date,
      COUNT(DISTINCT station) AS weather_stations,
      ROUND(AVG(temp_max), 9) AS weather_mean_temp_max,
      ROUND(AVG(temp_min), 9) AS weather_mean_temp_min,
      ROUND(SUM(precipitation), 9) AS weather_total_precipitation,
      ROUND(AVG(wind), 9) AS weather_mean_wind
    FROM `raw_intelligence.weather_granular`
    WHERE date <= run_date
    GROUP BY date
  ),
  vix AS (
    SELECT date, MAX(vix_close) AS vix_close
    FROM `market_data.vix_daily`
    WHERE date <= run_date AND vix_close IS NOT NULL
    GROUP BY date
  ),
  spine AS (
    SELECT date FROM yahoo
    UNION DISTINCT
    SELECT date FROM fred
    UNION DISTINCT
    SELECT date FROM weather
    UNION DISTINCT
    SELECT date FROM vix
  )
  SELECT
    spine.date,
    IF(yahoo.date IS NULL, 0, 1) + IF(fred.date IS NULL, 0, 1)
      + IF(weather.date IS NULL, 0, 1) + IF(vix.date IS NULL, 0, 1) AS sources_observed,
    COALESCE(yahoo.yahoo_symbols, 0) AS yahoo_symbols,
    yahoo.yahoo_mean_return_1d,
    COALESCE(fred.fred_series, 0) AS fred_series,
    COALESCE(weather.weather_stations, 0) AS weather_stations,
    weather.weather_mean_temp_max,
    weather.weather_mean_temp_min,
    weather.weather_total_precipitation,
    weather.weather_mean_wind,
    vix.vix_close
  FROM spine
  LEFT JOIN yahoo ON yahoo.date = spine.date
  LEFT JOIN fred ON fred.date = spine.date
  LEFT JOIN weather ON weather.date = spine.date
  LEFT JOIN vix ON vix.date = spine.date
) AS S
ON T.date = S.date
WHEN MATCHED AND (
       T.sources_observed IS DISTINCT FROM S.sources_observed
    OR T.yahoo_symbols IS DISTINCT FROM S.yahoo_symbols
    OR T.yahoo_mean_return_1d IS DISTINCT FROM S.yahoo_mean_return_1d
    OR T.fred_series IS DISTINCT FROM S.fred_series
    OR T.weather_stations IS DISTINCT FROM S.weather_stations
    OR T.weather_mean_temp_max IS DISTINCT FROM S.weather_mean_temp_max
    OR T.weather_mean_temp_min IS DISTINCT FROM S.weather_mean_temp_min
    OR T.weather_total_precipitation IS DISTINCT FROM S.weather_total_precipitation
    OR T.weather_mean_wind IS DISTINCT FROM S.weather_mean_wind
    OR T.vix_close IS DISTINCT FROM S.vix_close
) THEN UPDATE SET
  sources_observed = S.sources_observed,
  yahoo_symbols = S.yahoo_symbols,
  yahoo_mean_return_1d = S.yahoo_mean_return_1d,
  fred_series = S.fred_series,
  weather_stations = S.weather_stations,
  weather_mean_temp_max = S.weather_mean_temp_max,
  weather_mean_temp_min = S.weather_mean_temp_min,
  weather_total_precipitation = S.weather_total_precipitation,
  weather_mean_wind = S.weather_mean_wind,
  vix_close = S.vix_close
WHEN NOT MATCHED THEN INSERT (
  date, sources_observed, yahoo_symbols, yahoo_mean_return_1d, fred_series, weather_stations,
  weather_mean_temp_max, weather_mean_temp_min, weather_total_precipitation, weather_mean_wind,
  vix_close
) VALUES (
  S.date, S.sources_observed, S.yahoo_symbols, S.yahoo_mean_return_1d, S.fred_series,
  S.weather_stations, S.weather_mean_temp_max, S.weather_mean_temp_min,
  S.weather_total_precipitation, S.weather_mean_wind, S.vix_close
);
