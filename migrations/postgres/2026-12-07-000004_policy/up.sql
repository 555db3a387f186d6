-- An account's token policy, set by its admins (see src/domain/policy.rs). It is checked with
-- every key: a change of it is a key change for every token of the account, announced once
-- as '*' (every instance forgets every key it kept).
ALTER TABLE accounts ADD COLUMN max_lifetime_days INTEGER;
ALTER TABLE accounts ADD COLUMN require_expiry BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE accounts ADD COLUMN approval_modules TEXT NOT NULL DEFAULT '';
ALTER TABLE accounts ADD COLUMN require_allowed_networks BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE accounts ADD COLUMN default_rate_limit INTEGER;

CREATE FUNCTION tokendesk_policy_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('tokendesk_keys', '*');
    RETURN NULL;
END
$$;
CREATE TRIGGER accounts_policy_changed AFTER UPDATE ON accounts FOR EACH ROW
    WHEN (ROW(OLD.max_lifetime_days, OLD.require_expiry, OLD.require_allowed_networks)
          IS DISTINCT FROM
          ROW(NEW.max_lifetime_days, NEW.require_expiry, NEW.require_allowed_networks))
    EXECUTE FUNCTION tokendesk_policy_changed();

-- A member's token asking for a module under approval waits for an admin: its key is refused
-- until then. And how long a key lives from when its expiry was set, which a maximum lifetime
-- set later is held against (NULL: it never expires). Tokens made before: from their creation.
ALTER TABLE tokens ADD COLUMN awaiting_approval BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE tokens ADD COLUMN lifetime_seconds BIGINT;
UPDATE tokens SET lifetime_seconds = CAST(EXTRACT(EPOCH FROM (expires_at - created_at)) AS BIGINT)
    WHERE expires_at IS NOT NULL;
CREATE INDEX tokens_awaiting_approval ON tokens (account_id) WHERE awaiting_approval AND deleted_at IS NULL;

DROP TRIGGER tokens_key_changed ON tokens;
CREATE TRIGGER tokens_key_changed AFTER UPDATE ON tokens FOR EACH ROW
    WHEN (ROW(OLD.id, OLD.account_id, OLD.name, OLD.description, OLD.external_id,
              OLD.extension_id, OLD.status, OLD.secret_digest, OLD.expires_at, OLD.deleted_at,
              OLD.previous_secret_digest, OLD.previous_secret_expires_at, OLD.allowed_networks,
              OLD.rate_limit, OLD.owner_id, OLD.awaiting_approval, OLD.lifetime_seconds)
          IS DISTINCT FROM
          ROW(NEW.id, NEW.account_id, NEW.name, NEW.description, NEW.external_id,
              NEW.extension_id, NEW.status, NEW.secret_digest, NEW.expires_at, NEW.deleted_at,
              NEW.previous_secret_digest, NEW.previous_secret_expires_at, NEW.allowed_networks,
              NEW.rate_limit, NEW.owner_id, NEW.awaiting_approval, NEW.lifetime_seconds))
    EXECUTE FUNCTION tokendesk_token_changed();

-- What members asked for and admins decided: a new token, or more permissions for one (which
-- keeps its old ones in force meanwhile). One open request per token.
CREATE TABLE approval_requests (
    id BIGSERIAL PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts (id),
    token_id TEXT NOT NULL REFERENCES tokens (id),
    kind TEXT NOT NULL CHECK (kind IN ('token', 'permissions')),
    modules TEXT NOT NULL,
    reason TEXT NOT NULL,
    requested_by_id TEXT NOT NULL,
    requested_by_name TEXT NOT NULL,
    requested_at TIMESTAMP NOT NULL,
    decision TEXT CHECK (decision IN ('approved', 'denied')),
    note TEXT,
    decided_by_id TEXT,
    decided_by_name TEXT,
    decided_at TIMESTAMP
);
CREATE UNIQUE INDEX approval_requests_open ON approval_requests (token_id) WHERE decided_at IS NULL;
CREATE INDEX approval_requests_queue ON approval_requests (account_id, requested_at) WHERE decided_at IS NULL;

-- What the app tells a user: reminders before a key expires, approval requests and outcomes.
-- `topic` names what it is about once (a reminder is made once, whichever instance finds it).
CREATE TABLE notifications (
    id BIGSERIAL PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts (id),
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    topic TEXT NOT NULL,
    kind TEXT NOT NULL,
    token_id TEXT,
    message TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    read_at TIMESTAMP,
    mailed_at TIMESTAMP,
    UNIQUE (user_id, topic)
);
CREATE INDEX notifications_unread ON notifications (user_id, created_at) WHERE read_at IS NULL;
CREATE INDEX notifications_unmailed ON notifications (user_id) WHERE mailed_at IS NULL;

-- Each user's digest of a day, claimed by the instance that sends it: sent once, retried.
CREATE TABLE mail_digests (
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    day DATE NOT NULL,
    claimed_at TIMESTAMP NOT NULL,
    sent_at TIMESTAMP,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TIMESTAMP NOT NULL,
    last_error TEXT,
    PRIMARY KEY (user_id, day)
);

-- Reminders look for keys about to expire across accounts, once a minute.
CREATE INDEX tokens_expiring ON tokens (expires_at) WHERE deleted_at IS NULL AND expires_at IS NOT NULL;
