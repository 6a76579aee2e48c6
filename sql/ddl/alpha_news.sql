-- News intelligence tables (Alpha Vantage NEWS_SENTIMENT feed), from the
-- cbi-v14 migration plan. Executed as written by `reconcile apply`; the
-- planner reads the column lists to diff them against the live tables.
-- Names are dataset-qualified only: the job's project is the target's.

CREATE TABLE IF NOT EXISTS `raw_intelligence.intelligence_news_alpha_raw_daily` (
  published_at TIMESTAMP NOT NULL,
  date DATE NOT NULL,
  ticker STRING,
  title STRING,
  url STRING NOT NULL,
  source STRING,
  summary STRING,
  topics ARRAY<STRING>,
  overall_sentiment_score FLOAT64,
  overall_sentiment_label STRING,
  ingested_at TIMESTAMP
)
PARTITION BY date
CLUSTER BY ticker
OPTIONS (description = "Raw Alpha Vantage news items, one row per article and ticker");

CREATE TABLE IF NOT EXISTS `raw_intelligence.intelligence_news_alpha_classified_daily` (
  date DATE NOT NULL,
  url STRING NOT NULL,
  ticker STRING,
  category STRING,
  relevance_score FLOAT64,
  ticker_sentiment_score FLOAT64,
  ticker_sentiment_label STRING,
  commodity_impact STRING,
  classified_at TIMESTAMP
)
PARTITION BY date
OPTIONS (description = "News items classified by commodity impact");

CREATE TABLE IF NOT EXISTS `signals.hidden_relationship_signals` (
  date DATE NOT NULL,
  signal_name STRING NOT NULL,
  related_symbol STRING,
  signal_value FLOAT64,
  article_count INT64,
  computed_at TIMESTAMP
)
PARTITION BY date
OPTIONS (description = "Signals derived from news co-mentions (hidden relationships)");

CREATE TABLE IF NOT EXISTS `monitoring.alpha_news_cursor` (
  feed STRING NOT NULL,
  last_published_at TIMESTAMP,
  last_run_at TIMESTAMP,
  items_fetched INT64
)
OPTIONS (description = "Ingestion cursor of the Alpha Vantage news feed");
