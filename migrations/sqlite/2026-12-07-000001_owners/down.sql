DROP TRIGGER users_owner_changed;
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
BEGIN
    INSERT INTO key_changes (token_id) VALUES (new.id);
END;
DROP INDEX tokens_owner;
ALTER TABLE tokens DROP COLUMN owner_name;
ALTER TABLE tokens DROP COLUMN owner_id;
