-- Ops: the latest ledger entry of one source (a transform's last recorded fingerprint).
SELECT content_hash, loaded_at
FROM ${table}
WHERE source = @source
ORDER BY loaded_at DESC
LIMIT 1
