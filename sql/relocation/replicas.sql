-- Relocation, replica strategy: the dataset's replicas as seen from the new location, read
-- before each step so a step that already happened (a crash before its checkpoint) is not
-- sent again, and so a resumed run finds the old replica to drop.
-- https://cloud.google.com/bigquery/docs/information-schema-schemata-replicas
SELECT replica_name, location, replica_primary_assigned AS is_primary, creation_complete
FROM ${region}.INFORMATION_SCHEMA.SCHEMATA_REPLICAS
WHERE schema_name = @dataset
ORDER BY location
