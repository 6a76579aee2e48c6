CREATE TABLE IF NOT EXISTS `raw.news` (
  published_at TIMESTAMP NOT NULL,
  url STRING NOT NULL,
  topics ARRAY<STRING>,
  score FLOAT64
);
