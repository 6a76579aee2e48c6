-- Apply: a view from the spec's SQL file (views hold no data: replacing is safe).
-- The body is the view file's text, trusted like a transform's SQL.
CREATE OR REPLACE VIEW ${view} AS
${body}
