DROP TRIGGER token_permissions_deleted ON token_permissions;
DROP TRIGGER token_permissions_updated ON token_permissions;
DROP TRIGGER token_permissions_inserted ON token_permissions;
DROP TRIGGER tokens_deleted ON tokens;
DROP TRIGGER tokens_updated ON tokens;
DROP TRIGGER tokens_inserted ON tokens;
DROP FUNCTION tokendesk_permissions_written();
DROP FUNCTION tokendesk_tokens_written();
DROP TABLE token_writes;
