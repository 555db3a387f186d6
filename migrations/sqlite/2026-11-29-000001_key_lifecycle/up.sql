-- Rotation with a grace period: the replaced key's digest verifies until it runs out (its
-- ciphertext is not kept: only the new key can be revealed).
ALTER TABLE tokens ADD COLUMN previous_secret_digest TEXT;
ALTER TABLE tokens ADD COLUMN previous_secret_expires_at TIMESTAMP;
-- The networks a key may be used from, canonical and comma-separated; empty means anywhere.
ALTER TABLE tokens ADD COLUMN allowed_networks TEXT NOT NULL DEFAULT '';
