DROP TABLE agreements;
DROP TABLE token_events;
DROP TABLE token_permissions;
DROP TABLE tokens;
DROP TABLE users;
DROP TABLE accounts;
