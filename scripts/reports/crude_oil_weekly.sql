-- Weekly WTI report, run by the team's reporting job (scanned by the spec's
-- `references.scan`). It still reads the legacy table: `reconcile refs --fix`
-- rewrites it to market_data.fwd_crude_oil_prices through the SQL parser.
SELECT
  DATE_TRUNC(p.date, WEEK) AS week,
  AVG(p.close) AS avg_close,
  MAX(v.close) AS max_vix
FROM `forecasting_data_warehouse.crude_oil_prices` AS p
LEFT JOIN `market_data.vix_daily` AS v
  ON v.date = p.date
GROUP BY week
ORDER BY week;
