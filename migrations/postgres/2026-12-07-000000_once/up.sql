-- What must happen once, whatever is sent twice.

-- Each batch of recorded API use written, by the id it was given in memory: a batch written
-- before a stop, and spooled because the write seemed not to finish, is not added again.
CREATE TABLE usage_batches (
    id TEXT PRIMARY KEY NOT NULL,
    written_at TIMESTAMP NOT NULL
);
CREATE INDEX usage_batches_written_at ON usage_batches (written_at);

-- Each form that acts, by the one-time id its page gave it, and where a second sending of it
-- (a reload, a double click) is sent instead of acting again.
CREATE TABLE submitted_forms (
    form_id TEXT PRIMARY KEY NOT NULL,
    account_id TEXT NOT NULL,
    result TEXT NOT NULL,
    submitted_at TIMESTAMP NOT NULL
);
CREATE INDEX submitted_forms_submitted_at ON submitted_forms (submitted_at);

-- Each API POST sent with an Idempotency-Key, per account: what was sent (a digest) and the
-- first answer, sealed with the master key (it may hold a new key's secret), replayed for 24 h.
CREATE TABLE idempotency_keys (
    account_id TEXT NOT NULL,
    key TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    status INTEGER NOT NULL,
    answer BYTEA NOT NULL,
    created_at TIMESTAMP NOT NULL,
    PRIMARY KEY (account_id, key)
);
CREATE INDEX idempotency_keys_created_at ON idempotency_keys (created_at);
