SELECT '''it's'''  AS s; DROP SCHEMA `raw` CASCADE
