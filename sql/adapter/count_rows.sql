-- Adapter: a table's exact row count (COUNT(*)), for decisions and parity checks;
-- never the table's num_rows metadata.
SELECT COUNT(*) AS n FROM ${table}
