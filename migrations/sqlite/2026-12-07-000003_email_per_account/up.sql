-- An e-mail is unique within an account, not across them: adding a user whose e-mail another
-- account uses must answer exactly as adding a free one does, or the form tells who the
-- platform's other customers employ. Sign-in finds the user by e-mail and password.
-- The table is rebuilt (SQLite's way to drop a column's UNIQUE); migrations run with foreign keys
-- off, so that nothing referring to a user is touched (sessions would go with a cascade), and
-- checked whole before the commit (`db::pool::migrate`).
CREATE TABLE users_rebuilt (
    id TEXT PRIMARY KEY NOT NULL,
    account_id TEXT NOT NULL REFERENCES accounts (id),
    email TEXT NOT NULL,
    name TEXT NOT NULL,
    role TEXT NOT NULL CHECK (role IN ('admin', 'member')),
    password_hash TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    active BOOLEAN NOT NULL DEFAULT 1,
    last_sign_in_at TIMESTAMP
);
INSERT INTO users_rebuilt (id, account_id, email, name, role, password_hash, created_at, active,
                           last_sign_in_at)
    SELECT id, account_id, email, name, role, password_hash, created_at, active, last_sign_in_at
    FROM users;
DROP TABLE users;
ALTER TABLE users_rebuilt RENAME TO users;
CREATE INDEX users_account ON users (account_id);
CREATE UNIQUE INDEX users_account_email ON users (account_id, email);
CREATE INDEX users_email ON users (email);
CREATE TRIGGER users_owner_changed AFTER UPDATE ON users FOR EACH ROW
    WHEN old.role IS NOT new.role OR old.active IS NOT new.active
BEGIN
    INSERT INTO key_changes (token_id)
        SELECT id FROM tokens WHERE owner_id = new.id AND deleted_at IS NULL;
END;
