-- The activity log filtered by kind or by who did it, newest first, at any size.
CREATE INDEX events_account_kind ON events (account_id, kind, occurred_at, id);
CREATE INDEX events_account_actor ON events (account_id, actor_id, occurred_at, id);
-- The review's module filter and its count of tokens holding All.
CREATE INDEX token_permissions_module ON token_permissions (module_id, token_id);
