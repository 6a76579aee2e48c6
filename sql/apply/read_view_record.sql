-- Apply: a view definition saved in a relocating dataset's temporary copy (the view is
-- recreated from it once the dataset exists again in its new region).
SELECT view_sql FROM ${table}
