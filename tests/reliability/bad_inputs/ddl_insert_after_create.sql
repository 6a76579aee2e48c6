CREATE TABLE IF NOT EXISTS `raw.news` (title STRING);
INSERT `raw.weather` (station) VALUES ('x');
