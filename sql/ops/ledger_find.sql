-- Ops: has this exact file (by content hash) been merged into this table already?
-- The executor's check before a MergeLoad acts (a rerun after a crash, or a
-- concurrent run that finished first).
SELECT COUNT(*) AS n
FROM ${table}
WHERE table_ref = @table_ref AND source = @source AND content_hash = @content_hash
