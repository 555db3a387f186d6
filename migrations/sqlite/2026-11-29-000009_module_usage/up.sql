-- API requests per token, module (of the endpoint called) and UTC day, kept 400 days like
-- token_usage; last_used_at is the latest of the day's requests, so that a module's last use is
-- known to the microsecond (the least-privilege advice: "not used for 90 days"). Only requests
-- the token was let in with count (not those answered 401 or 403).
CREATE TABLE token_module_usage (
    token_id TEXT NOT NULL REFERENCES tokens (id) ON DELETE CASCADE,
    module_id TEXT NOT NULL,
    day DATE NOT NULL,
    requests INTEGER NOT NULL,
    last_used_at TIMESTAMP NOT NULL,
    PRIMARY KEY (token_id, module_id, day)
);
-- Reads are by token (and module): when each module was last used answers from this index alone.
CREATE INDEX token_module_usage_last_use ON token_module_usage (token_id, module_id, last_used_at);
-- Pruning is by day.
CREATE INDEX token_module_usage_day ON token_module_usage (day);

-- Which tokens hold modules they do not use changes with these rows: like a write to tokens or
-- their permissions, every write adds to the account's token version (see
-- 2026-11-29-000007_token_writes), so the review counts its totals again.
CREATE TRIGGER token_module_usage_written_insert AFTER INSERT ON token_module_usage FOR EACH ROW BEGIN
    INSERT INTO token_writes (account_id)
        SELECT account_id FROM tokens WHERE id = new.token_id;
END;

CREATE TRIGGER token_module_usage_written_update AFTER UPDATE ON token_module_usage FOR EACH ROW BEGIN
    INSERT INTO token_writes (account_id)
        SELECT account_id FROM tokens WHERE id IN (old.token_id, new.token_id);
END;

CREATE TRIGGER token_module_usage_written_delete AFTER DELETE ON token_module_usage FOR EACH ROW BEGIN
    INSERT INTO token_writes (account_id)
        SELECT account_id FROM tokens WHERE id = old.token_id;
END;
