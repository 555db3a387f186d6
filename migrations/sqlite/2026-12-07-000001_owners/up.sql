-- Each token has an owner: the user it acts for, who manages it (with the admins) and whose
-- standing decides what its key may do to other tokens. The user who made it, or for a token
-- made by a key that key's owner; handed to another user when its owner is deactivated.
ALTER TABLE tokens ADD COLUMN owner_id TEXT NOT NULL DEFAULT '';
ALTER TABLE tokens ADD COLUMN owner_name TEXT NOT NULL DEFAULT '';

UPDATE tokens SET owner_id = created_by_id, owner_name = created_by_name
    WHERE created_by_id LIKE 'UR-%';
-- Tokens made by keys belong to those keys' owners (keys making keys: a few levels).
UPDATE tokens SET
    owner_id = (SELECT maker.owner_id FROM tokens maker WHERE maker.id = tokens.created_by_id),
    owner_name = (SELECT maker.owner_name FROM tokens maker WHERE maker.id = tokens.created_by_id)
    WHERE owner_id = '' AND created_by_id LIKE 'SU-%'
      AND EXISTS (SELECT 1 FROM tokens maker WHERE maker.id = tokens.created_by_id AND maker.owner_id <> '');
UPDATE tokens SET
    owner_id = (SELECT maker.owner_id FROM tokens maker WHERE maker.id = tokens.created_by_id),
    owner_name = (SELECT maker.owner_name FROM tokens maker WHERE maker.id = tokens.created_by_id)
    WHERE owner_id = '' AND created_by_id LIKE 'SU-%'
      AND EXISTS (SELECT 1 FROM tokens maker WHERE maker.id = tokens.created_by_id AND maker.owner_id <> '');
UPDATE tokens SET
    owner_id = (SELECT maker.owner_id FROM tokens maker WHERE maker.id = tokens.created_by_id),
    owner_name = (SELECT maker.owner_name FROM tokens maker WHERE maker.id = tokens.created_by_id)
    WHERE owner_id = '' AND created_by_id LIKE 'SU-%'
      AND EXISTS (SELECT 1 FROM tokens maker WHERE maker.id = tokens.created_by_id AND maker.owner_id <> '');
-- Anything else: the account's longest-standing admin.
UPDATE tokens SET
    owner_id = (SELECT u.id FROM users u WHERE u.account_id = tokens.account_id AND u.role = 'admin'
                ORDER BY u.created_at LIMIT 1),
    owner_name = (SELECT u.name FROM users u WHERE u.account_id = tokens.account_id AND u.role = 'admin'
                  ORDER BY u.created_at LIMIT 1)
    WHERE owner_id = ''
      AND EXISTS (SELECT 1 FROM users u WHERE u.account_id = tokens.account_id AND u.role = 'admin');

CREATE INDEX tokens_owner ON tokens (owner_id);

-- The owner is checked with the key: a change of it is a key change (see 000005_key_changes).
DROP TRIGGER tokens_key_changed;
CREATE TRIGGER tokens_key_changed AFTER UPDATE ON tokens FOR EACH ROW
    WHEN old.id IS NOT new.id OR old.account_id IS NOT new.account_id
        OR old.name IS NOT new.name OR old.description IS NOT new.description
        OR old.external_id IS NOT new.external_id OR old.extension_id IS NOT new.extension_id
        OR old.status IS NOT new.status OR old.secret_digest IS NOT new.secret_digest
        OR old.expires_at IS NOT new.expires_at OR old.deleted_at IS NOT new.deleted_at
        OR old.previous_secret_digest IS NOT new.previous_secret_digest
        OR old.previous_secret_expires_at IS NOT new.previous_secret_expires_at
        OR old.allowed_networks IS NOT new.allowed_networks
        OR old.rate_limit IS NOT new.rate_limit
        OR old.owner_id IS NOT new.owner_id
BEGIN
    INSERT INTO key_changes (token_id) VALUES (new.id);
END;

-- And so is the owner's standing: a new role, or deactivated.
CREATE TRIGGER users_owner_changed AFTER UPDATE ON users FOR EACH ROW
    WHEN old.role IS NOT new.role OR old.active IS NOT new.active
BEGIN
    INSERT INTO key_changes (token_id)
        SELECT id FROM tokens WHERE owner_id = new.id AND deleted_at IS NULL;
END;
