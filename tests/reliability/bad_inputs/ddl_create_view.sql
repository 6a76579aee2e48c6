CREATE VIEW `raw.news` AS SELECT 1 AS title;
