SELECT 1 AS one; DROP SCHEMA `customer_pii` CASCADE;
