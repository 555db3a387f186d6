DROP TRIGGER token_module_usage_deleted ON token_module_usage;
DROP TRIGGER token_module_usage_updated ON token_module_usage;
DROP TRIGGER token_module_usage_inserted ON token_module_usage;
DROP FUNCTION tokendesk_module_usage_written();
DROP TABLE token_module_usage;
