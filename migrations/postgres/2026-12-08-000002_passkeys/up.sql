-- Each user's passkeys (WebAuthn credentials): the credential as webauthn-rs keeps it (JSON,
-- with its signature counter), found at sign-in by its id, which no two users may share.
CREATE TABLE passkeys (
    id BIGSERIAL PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    credential TEXT NOT NULL,
    credential_id TEXT NOT NULL UNIQUE,
    created_at TIMESTAMP NOT NULL,
    last_used_at TIMESTAMP
);
CREATE INDEX passkeys_of_user ON passkeys (user_id, created_at);
