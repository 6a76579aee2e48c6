-- Apply: a backup as a BigQuery table snapshot (no storage billed until the base table
-- changes). Same location only: across regions the executor uses a copy job. No
-- OPTIONS here: the emulator rejects CREATE SNAPSHOT TABLE ... OPTIONS(...) with a
-- parser error, so the expiry is set afterwards through the API.
CREATE SNAPSHOT TABLE ${backup}
CLONE ${source}
