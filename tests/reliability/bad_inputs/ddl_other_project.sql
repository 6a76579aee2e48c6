CREATE TABLE IF NOT EXISTS `victim-project.raw.news` (
  published_at TIMESTAMP NOT NULL,
  title STRING
);
