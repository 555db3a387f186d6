-- The Tokens list filtered by status or extension: the counts are read from these indexes alone,
-- and a page in creation order walks them instead of the whole account.
CREATE INDEX tokens_account_status ON tokens (account_id, status, created_at, expires_at) WHERE deleted_at IS NULL;
CREATE INDEX tokens_account_extension ON tokens (account_id, extension_id, created_at) WHERE deleted_at IS NULL;
