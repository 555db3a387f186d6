-- Every write to an account's tokens or their permissions adds a row here, in the transaction
-- that makes it, whoever makes it (an instance, the command line, a hand-written statement). The
-- sum of an account's weights is its token version: the lists and the review keep the totals they
-- counted while it stays the same (src/db/counts.rs). Rows are only ever inserted by writers (no
-- row that two writers would both lock), and merged into one keeping the sum. A change committed
-- after a reader read the version adds weight, so a count read after the version is never kept
-- under a version that does not include it.
CREATE TABLE token_writes (
    seq BIGSERIAL PRIMARY KEY,
    account_id TEXT NOT NULL,
    weight BIGINT NOT NULL DEFAULT 1
);
CREATE INDEX token_writes_account ON token_writes (account_id, weight);

-- One row per statement and account (a statement changing 100 000 tokens adds one row), through
-- the statement's transition table, named `changed` by every trigger below.
CREATE FUNCTION tokendesk_tokens_written() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO token_writes (account_id, weight)
        SELECT account_id, COUNT(*) FROM changed GROUP BY account_id;
    RETURN NULL;
END
$$;

CREATE FUNCTION tokendesk_permissions_written() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO token_writes (account_id, weight)
        SELECT tokens.account_id, COUNT(*) FROM changed JOIN tokens ON tokens.id = changed.token_id
        GROUP BY tokens.account_id;
    RETURN NULL;
END
$$;

CREATE TRIGGER tokens_inserted AFTER INSERT ON tokens REFERENCING NEW TABLE AS changed
    FOR EACH STATEMENT EXECUTE FUNCTION tokendesk_tokens_written();
CREATE TRIGGER tokens_updated AFTER UPDATE ON tokens REFERENCING NEW TABLE AS changed
    FOR EACH STATEMENT EXECUTE FUNCTION tokendesk_tokens_written();
CREATE TRIGGER tokens_deleted AFTER DELETE ON tokens REFERENCING OLD TABLE AS changed
    FOR EACH STATEMENT EXECUTE FUNCTION tokendesk_tokens_written();

CREATE TRIGGER token_permissions_inserted AFTER INSERT ON token_permissions
    REFERENCING NEW TABLE AS changed
    FOR EACH STATEMENT EXECUTE FUNCTION tokendesk_permissions_written();
CREATE TRIGGER token_permissions_updated AFTER UPDATE ON token_permissions
    REFERENCING NEW TABLE AS changed
    FOR EACH STATEMENT EXECUTE FUNCTION tokendesk_permissions_written();
CREATE TRIGGER token_permissions_deleted AFTER DELETE ON token_permissions
    REFERENCING OLD TABLE AS changed
    FOR EACH STATEMENT EXECUTE FUNCTION tokendesk_permissions_written();
