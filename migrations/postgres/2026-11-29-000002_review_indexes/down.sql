DROP INDEX token_permissions_module;
DROP INDEX events_account_actor;
DROP INDEX events_account_kind;
