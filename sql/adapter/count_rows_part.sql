-- Adapter: one table's exact row count, labelled with its reference (a query
-- parameter). The adapter joins one part per table with UNION ALL, so the tables of
-- one location are counted in one query.
SELECT ${label} AS t, COUNT(*) AS n FROM ${table}
