-- The wizard's draft id: a token is created at most once per draft, whatever is resubmitted.
ALTER TABLE tokens ADD COLUMN creation_key TEXT;
CREATE UNIQUE INDEX tokens_creation_key ON tokens (creation_key);
