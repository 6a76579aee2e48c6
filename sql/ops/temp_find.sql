-- Ops: did this tool make this temporary table (same name, same creation time)?
SELECT COUNT(*) AS n
FROM ${table}
WHERE table_ref = @table_ref AND created_ms = @created_ms
