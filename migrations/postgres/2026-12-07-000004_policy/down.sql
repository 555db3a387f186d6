DROP INDEX tokens_expiring;
DROP TABLE mail_digests;
DROP TABLE notifications;
DROP TABLE approval_requests;
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
DROP INDEX tokens_awaiting_approval;
ALTER TABLE tokens DROP COLUMN lifetime_seconds;
ALTER TABLE tokens DROP COLUMN awaiting_approval;
DROP TRIGGER accounts_policy_changed ON accounts;
DROP FUNCTION tokendesk_policy_changed();
ALTER TABLE accounts DROP COLUMN default_rate_limit;
ALTER TABLE accounts DROP COLUMN require_allowed_networks;
ALTER TABLE accounts DROP COLUMN approval_modules;
ALTER TABLE accounts DROP COLUMN require_expiry;
ALTER TABLE accounts DROP COLUMN max_lifetime_days;
