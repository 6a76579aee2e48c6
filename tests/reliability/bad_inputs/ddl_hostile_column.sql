CREATE TABLE IF NOT EXISTS `raw.news` (
  `title` STRING,
  `x`; DROP TABLE raw.weather; --` STRING
);
