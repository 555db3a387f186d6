-- Every change an API key depends on is announced, in the transaction that makes it, on the
-- channel tokendesk_keys with the token's id: each instance's listener forgets what it kept of
-- that key (src/db/keys.rs). NOTIFY is delivered when the transaction commits, and not at all if
-- it rolls back. The use counters (last_used_*) and the "updated" stamp are not such changes.
CREATE FUNCTION tokendesk_token_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        PERFORM pg_notify('tokendesk_keys', OLD.id);
    ELSE
        PERFORM pg_notify('tokendesk_keys', NEW.id);
    END IF;
    RETURN NULL;
END
$$;

CREATE FUNCTION tokendesk_permission_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        PERFORM pg_notify('tokendesk_keys', OLD.token_id);
    ELSE
        PERFORM pg_notify('tokendesk_keys', NEW.token_id);
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER tokens_key_changed AFTER UPDATE ON tokens FOR EACH ROW
    WHEN (ROW(OLD.id, OLD.account_id, OLD.name, OLD.description, OLD.external_id,
              OLD.extension_id, OLD.status, OLD.secret_digest, OLD.expires_at, OLD.deleted_at,
              OLD.previous_secret_digest, OLD.previous_secret_expires_at, OLD.allowed_networks)
          IS DISTINCT FROM
          ROW(NEW.id, NEW.account_id, NEW.name, NEW.description, NEW.external_id,
              NEW.extension_id, NEW.status, NEW.secret_digest, NEW.expires_at, NEW.deleted_at,
              NEW.previous_secret_digest, NEW.previous_secret_expires_at, NEW.allowed_networks))
    EXECUTE FUNCTION tokendesk_token_changed();

CREATE TRIGGER tokens_key_deleted AFTER DELETE ON tokens FOR EACH ROW
    EXECUTE FUNCTION tokendesk_token_changed();

CREATE TRIGGER token_permissions_key_changed AFTER INSERT OR UPDATE OR DELETE ON token_permissions
    FOR EACH ROW EXECUTE FUNCTION tokendesk_permission_changed();
