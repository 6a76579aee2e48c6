-- Scheduled (daily): hidden relationships from news co-mentions. Two tickers named in
-- the same classified article (same date and url) are related; per date and ordered
-- pair (a, b), a != b:
--   signal_name     'co_mention:' || a, related_symbol = b (both directions are kept,
--                   so "what relates to X" is one filter);
--   article_count   articles naming both;
--   signal_value    the Ochiai (cosine) coefficient of the pair that day:
--                   article_count / SQRT(articles naming a * articles naming b), 0..1.
-- Reads raw_intelligence.intelligence_news_alpha_classified_daily; with no news (the
-- demo: Alpha Vantage has no offline copy) it writes no rows and fails nothing.
--
-- Idempotent for a run date: the 7 days ending at run_date (late classifications
-- land within a week) are recomputed and MERGEd on (date, signal_name,
-- related_symbol): new pairs are inserted, changed values updated, and pairs of those
-- days that no longer co-occur are deleted, so the window always equals a fresh
-- computation; earlier days are left alone. computed_at keeps the time a row's values
-- were last written. run_date is CURRENT_DATE() (see daily_feature_aggregates.sql).
DECLARE run_date DATE DEFAULT CURRENT_DATE();
DECLARE window_start DATE DEFAULT DATE_SUB(run_date, INTERVAL 6 DAY);

MERGE `signals.hidden_relationship_signals` AS T
USING (
  WITH mentions AS (
    SELECT DISTINCT date, url, ticker
    FROM `raw_intelligence.intelligence_news_alpha_classified_daily`
    WHERE date BETWEEN window_start AND run_date AND ticker IS NOT NULL
  ),
  per_ticker AS (
    SELECT date, ticker, COUNT(*) AS articles
    FROM mentions
    GROUP BY date, ticker
  ),
  pairs AS (
    SELECT a.date, a.ticker AS ticker_a, b.ticker AS ticker_b, COUNT(*) AS article_count
    FROM mentions a
    JOIN mentions b ON a.date = b.date AND a.url = b.url AND a.ticker != b.ticker
    GROUP BY a.date, a.ticker, b.ticker
  )
  SELECT
    pairs.date,
    CONCAT('co_mention:', pairs.ticker_a) AS signal_name,
    pairs.ticker_b AS related_symbol,
    ROUND(pairs.article_count / SQRT(pa.articles * pb.articles), 9) AS signal_value,
    pairs.article_count
  FROM pairs
  JOIN per_ticker pa ON pa.date = pairs.date AND pa.ticker = pairs.ticker_a
  JOIN per_ticker pb ON pb.date = pairs.date AND pb.ticker = pairs.ticker_b
) AS S
ON T.date = S.date AND T.signal_name = S.signal_name AND T.related_symbol = S.related_symbol
WHEN MATCHED AND (T.signal_value IS DISTINCT FROM S.signal_value
                  OR T.article_count IS DISTINCT FROM S.article_count) THEN
  UPDATE SET signal_value = S.signal_value, article_count = S.article_count,
             computed_at = CURRENT_TIMESTAMP()
WHEN NOT MATCHED THEN
  INSERT (date, signal_name, related_symbol, signal_value, article_count, computed_at)
  VALUES (S.date, S.signal_name, S.related_symbol, S.signal_value, S.article_count, CURRENT_TIMESTAMP())
WHEN NOT MATCHED BY SOURCE AND T.date BETWEEN window_start AND run_date
  AND STARTS_WITH(T.signal_name, 'co_mention:') THEN
  DELETE;
