CREATE TABLE accounts (
    id TEXT PRIMARY KEY NOT NULL,
    name TEXT NOT NULL UNIQUE,
    created_at TIMESTAMP NOT NULL
);

CREATE TABLE users (
    id TEXT PRIMARY KEY NOT NULL,
    account_id TEXT NOT NULL REFERENCES accounts (id),
    email TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    role TEXT NOT NULL CHECK (role IN ('admin', 'member')),
    password_hash TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX users_account ON users (account_id);

CREATE TABLE tokens (
    id TEXT PRIMARY KEY NOT NULL,
    account_id TEXT NOT NULL REFERENCES accounts (id),
    name TEXT NOT NULL,
    description TEXT NOT NULL,
    external_id TEXT NOT NULL DEFAULT '',
    extension_id TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('active', 'inactive')),
    secret_digest TEXT NOT NULL,
    secret_ciphertext BYTEA NOT NULL,
    expires_at TIMESTAMP,
    created_at TIMESTAMP NOT NULL,
    created_by_id TEXT NOT NULL,
    created_by_name TEXT NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    updated_by_id TEXT NOT NULL,
    updated_by_name TEXT NOT NULL,
    deleted_at TIMESTAMP,
    last_used_at TIMESTAMP,
    last_used_ip TEXT
);
-- The list pages through one account's live tokens, newest first or by name.
CREATE INDEX tokens_account_created ON tokens (account_id, created_at, id) WHERE deleted_at IS NULL;
CREATE INDEX tokens_account_name ON tokens (account_id, lower(name), id) WHERE deleted_at IS NULL;

CREATE TABLE token_permissions (
    token_id TEXT NOT NULL REFERENCES tokens (id) ON DELETE CASCADE,
    module_id TEXT NOT NULL,
    granted_at TIMESTAMP NOT NULL,
    granted_by_id TEXT NOT NULL,
    granted_by_name TEXT NOT NULL,
    PRIMARY KEY (token_id, module_id)
);

CREATE TABLE token_events (
    id BIGSERIAL PRIMARY KEY,
    token_id TEXT NOT NULL REFERENCES tokens (id) ON DELETE CASCADE,
    kind TEXT NOT NULL,
    actor_id TEXT NOT NULL,
    actor_name TEXT NOT NULL,
    client_ip TEXT,
    occurred_at TIMESTAMP NOT NULL
);
CREATE INDEX token_events_token ON token_events (token_id, occurred_at);

CREATE TABLE agreements (
    id TEXT PRIMARY KEY NOT NULL,
    account_id TEXT NOT NULL REFERENCES accounts (id),
    agreement_type TEXT NOT NULL,
    title TEXT NOT NULL,
    name TEXT NOT NULL,
    description TEXT NOT NULL,
    active BOOLEAN NOT NULL,
    created_at TIMESTAMP NOT NULL,
    created_by_id TEXT NOT NULL,
    created_by_name TEXT NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    updated_by_id TEXT NOT NULL,
    updated_by_name TEXT NOT NULL
);
CREATE INDEX agreements_account ON agreements (account_id, created_at);
