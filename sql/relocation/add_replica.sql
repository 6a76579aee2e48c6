-- Relocation, replica strategy, step 1: a secondary replica of the dataset in the new
-- location. BigQuery copies every table there, keeping the dataset's name, properties,
-- routines and models; nothing is deleted.
-- https://cloud.google.com/bigquery/docs/data-replication
ALTER SCHEMA ${dataset} ADD REPLICA ${replica} OPTIONS(location = ${location})
