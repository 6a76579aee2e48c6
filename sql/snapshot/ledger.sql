-- Snapshot: the load ledger (which staging file, by content hash, was merged where,
-- and the range of its first key column: how the planner sees a file's rows deleted
-- from its table since). Every column: a ledger written before the key columns were
-- added has none of them (read as NULL), and naming them would fail there.
SELECT *
FROM ${table}
ORDER BY loaded_at, table_ref, source
