CREATE TABLE users_rebuilt (
    id TEXT PRIMARY KEY NOT NULL,
    account_id TEXT NOT NULL REFERENCES accounts (id),
    email TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    role TEXT NOT NULL CHECK (role IN ('admin', 'member')),
    password_hash TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    active BOOLEAN NOT NULL DEFAULT 1,
    last_sign_in_at TIMESTAMP
);
INSERT INTO users_rebuilt SELECT id, account_id, email, name, role, password_hash, created_at,
    active, last_sign_in_at FROM users;
DROP TABLE users;
ALTER TABLE users_rebuilt RENAME TO users;
CREATE INDEX users_account ON users (account_id);
CREATE TRIGGER users_owner_changed AFTER UPDATE ON users FOR EACH ROW
    WHEN old.role IS NOT new.role OR old.active IS NOT new.active
BEGIN
    INSERT INTO key_changes (token_id)
        SELECT id FROM tokens WHERE owner_id = new.id AND deleted_at IS NULL;
END;
