CREATE TABLE IF NOT EXISTS `raw.news` (title STRING OPTIONS(description=r'a;\b'));
TRUNCATE TABLE `raw.weather`;
