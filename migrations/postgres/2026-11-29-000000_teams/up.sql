-- Teams: users can be deactivated, and when they last signed in is shown to admins.
ALTER TABLE users ADD COLUMN active BOOLEAN NOT NULL DEFAULT TRUE;
ALTER TABLE users ADD COLUMN last_sign_in_at TIMESTAMP;

-- Sessions live here, not in the cookie (which holds only a random id, whose SHA-256 this is),
-- so that signing out, a new password or a deactivation ends them on every instance.
CREATE TABLE sessions (
    id_hash TEXT PRIMARY KEY NOT NULL,
    user_id TEXT REFERENCES users (id) ON DELETE CASCADE,
    state TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    last_seen_at TIMESTAMP NOT NULL,
    client_ip TEXT,
    user_agent TEXT
);
CREATE INDEX sessions_user ON sessions (user_id);
CREATE INDEX sessions_last_seen ON sessions (last_seen_at);

-- Sign-in attempts per e-mail, per client address and per known device, in a window each,
-- counted by an atomic upsert so that concurrent attempts and instances share one count.
CREATE TABLE sign_in_attempts (
    key TEXT PRIMARY KEY NOT NULL,
    attempts INTEGER NOT NULL,
    window_started_at TIMESTAMP NOT NULL
);

-- Everything that happens in an account, tokens and users alike; a token's history is its part.
CREATE TABLE events (
    id BIGSERIAL PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts (id),
    kind TEXT NOT NULL,
    actor_id TEXT NOT NULL,
    actor_name TEXT NOT NULL,
    token_id TEXT REFERENCES tokens (id),
    user_id TEXT REFERENCES users (id),
    detail TEXT,
    client_ip TEXT,
    occurred_at TIMESTAMP NOT NULL
);
CREATE INDEX events_account ON events (account_id, occurred_at, id);
CREATE INDEX events_token ON events (token_id, occurred_at);
INSERT INTO events (account_id, kind, actor_id, actor_name, token_id, client_ip, occurred_at)
SELECT tokens.account_id,
       'token.' || CASE token_events.kind WHEN 'edited' THEN 'updated' ELSE token_events.kind END,
       token_events.actor_id, token_events.actor_name, token_events.token_id,
       token_events.client_ip, token_events.occurred_at
FROM token_events JOIN tokens ON tokens.id = token_events.token_id
ORDER BY token_events.id;
DROP TABLE token_events;
