-- Apply: a relocating dataset's properties and access entries (one JSON row), saved in its
-- temporary copy before the original is deleted and set on the recreated dataset.
SELECT properties FROM ${table}
