CREATE TABLE IF NOT EXISTS `raw.news` (
  title STRING,
  body STRING
