-- A table's row count and an order-independent content checksum (XOR of a hash of
-- every row's JSON). Used by the tests to prove a load or copy left exactly the
-- source's rows; works on BigQuery and the emulator.
SELECT
  COUNT(*) AS n,
  BIT_XOR(FARM_FINGERPRINT(TO_JSON_STRING(t))) AS checksum
FROM ${table} AS t
