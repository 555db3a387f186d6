DROP TRIGGER token_permissions_key_changed ON token_permissions;
DROP TRIGGER tokens_key_deleted ON tokens;
DROP TRIGGER tokens_key_changed ON tokens;
DROP FUNCTION tokendesk_permission_changed();
DROP FUNCTION tokendesk_token_changed();
