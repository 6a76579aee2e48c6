-- Relocation, replica strategy, step 2 (polled until TRUE, in the new location): the first
-- full sync to the secondary replica is complete.
-- https://cloud.google.com/bigquery/docs/information-schema-schemata-replicas
SELECT LOGICAL_AND(creation_complete) AS ready, COUNT(*) AS replicas
FROM ${region}.INFORMATION_SCHEMA.SCHEMATA_REPLICAS
WHERE schema_name = @dataset AND location = @location
