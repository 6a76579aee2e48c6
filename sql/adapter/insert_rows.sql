-- Adapter: append small records (ledger, run records) with one parameterised INSERT
-- (no streaming). Each row of the VALUES list is a parenthesised list of query
-- parameters.
INSERT INTO ${table} (${columns}) VALUES ${rows}
