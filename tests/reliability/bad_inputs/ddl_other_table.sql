CREATE TABLE IF NOT EXISTS `raw.other` (
  a INT64
);
