DROP TRIGGER users_owner_changed ON users;
DROP FUNCTION tokendesk_owner_changed();
DROP TRIGGER tokens_key_changed ON tokens;
CREATE TRIGGER tokens_key_changed AFTER UPDATE ON tokens FOR EACH ROW
    WHEN (ROW(OLD.id, OLD.account_id, OLD.name, OLD.description, OLD.external_id,
              OLD.extension_id, OLD.status, OLD.secret_digest, OLD.expires_at, OLD.deleted_at,
              OLD.previous_secret_digest, OLD.previous_secret_expires_at, OLD.allowed_networks,
              OLD.rate_limit)
          IS DISTINCT FROM
          ROW(NEW.id, NEW.account_id, NEW.name, NEW.description, NEW.external_id,
              NEW.extension_id, NEW.status, NEW.secret_digest, NEW.expires_at, NEW.deleted_at,
              NEW.previous_secret_digest, NEW.previous_secret_expires_at, NEW.allowed_networks,
              NEW.rate_limit))
    EXECUTE FUNCTION tokendesk_token_changed();
DROP INDEX tokens_owner;
ALTER TABLE tokens DROP COLUMN owner_name;
ALTER TABLE tokens DROP COLUMN owner_id;
