-- Substring search over a token's name, id and external id: trigram indexes on exactly the
-- expressions the list's LIKE tests (lower(column)), so the query is unchanged and the planner
-- reads the matching rows from the indexes instead of scanning the account.
-- pg_trgm ships with PostgreSQL and is a trusted extension: the database's owner may create it.
CREATE EXTENSION IF NOT EXISTS pg_trgm;
CREATE INDEX tokens_name_trgm ON tokens USING gin (lower(name) gin_trgm_ops) WHERE deleted_at IS NULL;
CREATE INDEX tokens_id_trgm ON tokens USING gin (lower(id) gin_trgm_ops) WHERE deleted_at IS NULL;
CREATE INDEX tokens_external_id_trgm ON tokens USING gin (lower(external_id) gin_trgm_ops) WHERE deleted_at IS NULL;
