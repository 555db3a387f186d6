DROP INDEX users_email;
DROP INDEX users_account_email;
ALTER TABLE users ADD CONSTRAINT users_email_key UNIQUE (email);
