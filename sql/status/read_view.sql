-- Status: every row of one monitoring view (row counts, date coverage, regime
-- distribution, ingestion health: each a few rows per table or source).
SELECT * FROM ${view}
