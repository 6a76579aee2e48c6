-- Relocation, replica strategy, step 3 (run in the new location): the replica there becomes
-- the primary, writable one. https://cloud.google.com/bigquery/docs/data-replication#promote_the_secondary_replica
ALTER SCHEMA ${dataset} SET OPTIONS(primary_replica = ${location})
