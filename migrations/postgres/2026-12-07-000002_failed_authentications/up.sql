-- Requests that named a token but did not authenticate (a wrong, old or disabled key, or from
-- outside its networks), counted apart from its requests: anyone who knows a token's id can
-- make them, so they never count as its use.
ALTER TABLE token_usage ADD COLUMN failed_auth BIGINT NOT NULL DEFAULT 0;
