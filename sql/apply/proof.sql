-- What "the copy is the same table" is proved by, besides the schema: the row count and
-- two order-independent content checksums of every row's JSON (TO_JSON_STRING carries
-- column names and values). BIT_XOR alone cancels a row that appears twice; the sum of
-- the fingerprints reduced modulo a prime does not, so both are compared.
-- FARM_FINGERPRINT: https://cloud.google.com/bigquery/docs/reference/standard-sql/hash_functions#farm_fingerprint
SELECT
  COUNT(*) AS n,
  BIT_XOR(FARM_FINGERPRINT(TO_JSON_STRING(t))) AS xor_sum,
  SUM(MOD(FARM_FINGERPRINT(TO_JSON_STRING(t)), 1000000007)) AS mod_sum
FROM ${table} AS t
