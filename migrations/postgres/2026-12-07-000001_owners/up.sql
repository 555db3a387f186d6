-- Each token has an owner: the user it acts for, who manages it (with the admins) and whose
-- standing decides what its key may do to other tokens. The user who made it, or for a token
-- made by a key that key's owner; handed to another user when its owner is deactivated.
ALTER TABLE tokens ADD COLUMN owner_id TEXT NOT NULL DEFAULT '';
ALTER TABLE tokens ADD COLUMN owner_name TEXT NOT NULL DEFAULT '';

UPDATE tokens SET owner_id = created_by_id, owner_name = created_by_name
    WHERE created_by_id LIKE 'UR-%';
-- Tokens made by keys belong to those keys' owners (keys making keys: a few levels).
DO $$
BEGIN
    FOR level IN 1..3 LOOP
        UPDATE tokens SET owner_id = maker.owner_id, owner_name = maker.owner_name
            FROM tokens maker
            WHERE tokens.owner_id = '' AND maker.id = tokens.created_by_id AND maker.owner_id <> '';
    END LOOP;
END
$$;
-- Anything else: the account's longest-standing admin.
UPDATE tokens SET owner_id = admin.id, owner_name = admin.name
    FROM (SELECT DISTINCT ON (account_id) account_id, id, name FROM users
          WHERE role = 'admin' ORDER BY account_id, created_at) admin
    WHERE tokens.owner_id = '' AND admin.account_id = tokens.account_id;

CREATE INDEX tokens_owner ON tokens (owner_id);

-- The owner is checked with the key: a change of it is a key change (see 000005_key_changes).
DROP TRIGGER tokens_key_changed ON tokens;
CREATE TRIGGER tokens_key_changed AFTER UPDATE ON tokens FOR EACH ROW
    WHEN (ROW(OLD.id, OLD.account_id, OLD.name, OLD.description, OLD.external_id,
              OLD.extension_id, OLD.status, OLD.secret_digest, OLD.expires_at, OLD.deleted_at,
              OLD.previous_secret_digest, OLD.previous_secret_expires_at, OLD.allowed_networks,
              OLD.rate_limit, OLD.owner_id)
          IS DISTINCT FROM
          ROW(NEW.id, NEW.account_id, NEW.name, NEW.description, NEW.external_id,
              NEW.extension_id, NEW.status, NEW.secret_digest, NEW.expires_at, NEW.deleted_at,
              NEW.previous_secret_digest, NEW.previous_secret_expires_at, NEW.allowed_networks,
              NEW.rate_limit, NEW.owner_id))
    EXECUTE FUNCTION tokendesk_token_changed();

-- And so is the owner's standing: a new role, or deactivated.
CREATE FUNCTION tokendesk_owner_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('tokendesk_keys', id) FROM tokens
        WHERE owner_id = NEW.id AND deleted_at IS NULL;
    RETURN NULL;
END
$$;
CREATE TRIGGER users_owner_changed AFTER UPDATE ON users FOR EACH ROW
    WHEN (OLD.role IS DISTINCT FROM NEW.role OR OLD.active IS DISTINCT FROM NEW.active)
    EXECUTE FUNCTION tokendesk_owner_changed();
