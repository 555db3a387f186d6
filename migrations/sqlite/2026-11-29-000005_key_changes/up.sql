-- Every change an API key depends on is recorded, in the transaction that makes it, as a row
-- naming the token: each process on this file (servers, the command line) reads the rows after
-- the last it saw and forgets what it kept of those keys (src/db/keys.rs). Rows are deleted
-- after ten minutes. The use counters (last_used_*) and the "updated" stamp are not such changes.
CREATE TABLE key_changes (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    token_id TEXT NOT NULL,
    changed_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP
);
CREATE INDEX key_changes_changed_at ON key_changes (changed_at);

CREATE TRIGGER tokens_key_changed AFTER UPDATE ON tokens FOR EACH ROW
    WHEN old.id IS NOT new.id OR old.account_id IS NOT new.account_id
        OR old.name IS NOT new.name OR old.description IS NOT new.description
        OR old.external_id IS NOT new.external_id OR old.extension_id IS NOT new.extension_id
        OR old.status IS NOT new.status OR old.secret_digest IS NOT new.secret_digest
        OR old.expires_at IS NOT new.expires_at OR old.deleted_at IS NOT new.deleted_at
        OR old.previous_secret_digest IS NOT new.previous_secret_digest
        OR old.previous_secret_expires_at IS NOT new.previous_secret_expires_at
        OR old.allowed_networks IS NOT new.allowed_networks
BEGIN
    INSERT INTO key_changes (token_id) VALUES (new.id);
END;

CREATE TRIGGER tokens_key_deleted AFTER DELETE ON tokens FOR EACH ROW BEGIN
    INSERT INTO key_changes (token_id) VALUES (old.id);
END;

CREATE TRIGGER token_permissions_key_inserted AFTER INSERT ON token_permissions FOR EACH ROW BEGIN
    INSERT INTO key_changes (token_id) VALUES (new.token_id);
END;

CREATE TRIGGER token_permissions_key_updated AFTER UPDATE ON token_permissions FOR EACH ROW BEGIN
    INSERT INTO key_changes (token_id) VALUES (new.token_id);
END;

CREATE TRIGGER token_permissions_key_deleted AFTER DELETE ON token_permissions FOR EACH ROW BEGIN
    INSERT INTO key_changes (token_id) VALUES (old.token_id);
END;
