DROP INDEX tokens_creation_key;
ALTER TABLE tokens DROP COLUMN creation_key;
