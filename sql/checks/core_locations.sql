-- Migration-plan check (section 3.3, location: every core dataset in us-central1).
-- Written from /work/shared/DESIGN.md ("12 core datasets, all in us-central1";
-- success rule "proper location"). Reads INFORMATION_SCHEMA.SCHEMATA of the region:
-- on BigQuery it lists only that region's datasets (a dataset elsewhere is absent);
-- the emulator lists every dataset, so the location column is returned and checked too.
SELECT schema_name, location
FROM ${region}.INFORMATION_SCHEMA.SCHEMATA
WHERE schema_name IN UNNEST(@core)
