ALTER TABLE token_usage DROP COLUMN failed_auth;
