ALTER TABLE tokens DROP COLUMN allowed_networks;
ALTER TABLE tokens DROP COLUMN previous_secret_expires_at;
ALTER TABLE tokens DROP COLUMN previous_secret_digest;
