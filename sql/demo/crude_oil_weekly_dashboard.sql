-- A dashboard view the 2025-11-19 audit found beside the legacy datasets (demo):
-- weekly WTI averages read straight from forecasting_data_warehouse. Created by
-- `reconcile demo seed` in the dataset `dashboards` (US, the legacy data's location);
-- it is not in the spec (listed as unmanaged, never touched) and, until it reads
-- market_data.fwd_crude_oil_prices, it holds up the deletion of its legacy dataset
-- (`reconcile refs`, docs/references.md).
CREATE VIEW IF NOT EXISTS ${view} AS
SELECT
  DATE_TRUNC(date, WEEK) AS week,
  AVG(close) AS avg_close,
  COUNT(*) AS trading_days
FROM `forecasting_data_warehouse.crude_oil_prices`
GROUP BY week
