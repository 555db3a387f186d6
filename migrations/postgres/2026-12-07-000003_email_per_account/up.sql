-- An e-mail is unique within an account, not across them: adding a user whose e-mail another
-- account uses must answer exactly as adding a free one does, or the form tells who the
-- platform's other customers employ. Sign-in finds the user by e-mail and password.
ALTER TABLE users DROP CONSTRAINT users_email_key;
CREATE UNIQUE INDEX users_account_email ON users (account_id, email);
CREATE INDEX users_email ON users (email);
