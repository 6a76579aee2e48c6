-- Relocation, replica strategy, step 4 (after the promotion is complete): the replica in the
-- old location is dropped. https://cloud.google.com/bigquery/docs/data-replication#remove_a_dataset_replica
ALTER SCHEMA ${dataset} DROP REPLICA ${replica}
