-- Two-factor sign-in (see src/domain/two_factor.rs). An authenticator app's secret, sealed with
-- the master key, and the last 30-second step whose code was accepted (a code is taken once).
CREATE TABLE totp_secrets (
    user_id TEXT PRIMARY KEY NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    secret_ciphertext BLOB NOT NULL,
    enabled_at TIMESTAMP NOT NULL,
    last_used_step BIGINT NOT NULL DEFAULT 0
);

-- Single-use recovery codes, kept as keyed digests (never in clear); a used one keeps its row.
CREATE TABLE recovery_codes (
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    code_digest TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    used_at TIMESTAMP,
    PRIMARY KEY (user_id, code_digest)
);

-- The account's policy may require a second factor of every user.
ALTER TABLE accounts ADD COLUMN require_2fa BOOLEAN NOT NULL DEFAULT 0;

-- How each session signed in (password, password+totp, …), for the Sessions page.
ALTER TABLE sessions ADD COLUMN sign_in_method TEXT;
