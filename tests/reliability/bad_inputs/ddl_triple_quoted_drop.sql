CREATE TABLE IF NOT EXISTS `raw.news` (title STRING) OPTIONS(description='''it's''');
DROP SCHEMA `customer_pii` CASCADE;
