-- Every write to an account's tokens or their permissions adds a row here, in the transaction
-- that makes it, whoever makes it (a server, the command line, a hand-written statement). The sum
-- of an account's weights is its token version: the lists and the review keep the totals they
-- counted while it stays the same (src/db/counts.rs). Rows are merged into one, keeping the sum.
CREATE TABLE token_writes (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    account_id TEXT NOT NULL,
    weight INTEGER NOT NULL DEFAULT 1
);
CREATE INDEX token_writes_account ON token_writes (account_id, weight);

CREATE TRIGGER tokens_written_insert AFTER INSERT ON tokens FOR EACH ROW BEGIN
    INSERT INTO token_writes (account_id) VALUES (new.account_id);
END;

CREATE TRIGGER tokens_written_update AFTER UPDATE ON tokens FOR EACH ROW BEGIN
    INSERT INTO token_writes (account_id) VALUES (new.account_id);
END;

CREATE TRIGGER tokens_written_delete AFTER DELETE ON tokens FOR EACH ROW BEGIN
    INSERT INTO token_writes (account_id) VALUES (old.account_id);
END;

CREATE TRIGGER token_permissions_written_insert AFTER INSERT ON token_permissions FOR EACH ROW BEGIN
    INSERT INTO token_writes (account_id)
        SELECT account_id FROM tokens WHERE id = new.token_id;
END;

CREATE TRIGGER token_permissions_written_update AFTER UPDATE ON token_permissions FOR EACH ROW BEGIN
    INSERT INTO token_writes (account_id)
        SELECT account_id FROM tokens WHERE id IN (old.token_id, new.token_id);
END;

CREATE TRIGGER token_permissions_written_delete AFTER DELETE ON token_permissions FOR EACH ROW BEGIN
    INSERT INTO token_writes (account_id)
        SELECT account_id FROM tokens WHERE id = old.token_id;
END;
