CREATE TABLE IF NOT EXISTS `raw.news` (title STRING) -- ; nothing here
;
DELETE FROM `raw.weather` WHERE TRUE;
