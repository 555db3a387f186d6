DROP INDEX tokens_expiring;
DROP TABLE mail_digests;
DROP TABLE notifications;
DROP TABLE approval_requests;
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
DROP INDEX tokens_awaiting_approval;
ALTER TABLE tokens DROP COLUMN lifetime_seconds;
ALTER TABLE tokens DROP COLUMN awaiting_approval;
DROP TRIGGER accounts_policy_changed;
ALTER TABLE accounts DROP COLUMN default_rate_limit;
ALTER TABLE accounts DROP COLUMN require_allowed_networks;
ALTER TABLE accounts DROP COLUMN approval_modules;
ALTER TABLE accounts DROP COLUMN require_expiry;
ALTER TABLE accounts DROP COLUMN max_lifetime_days;
