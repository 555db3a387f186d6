DROP TRIGGER token_permissions_key_deleted;
DROP TRIGGER token_permissions_key_updated;
DROP TRIGGER token_permissions_key_inserted;
DROP TRIGGER tokens_key_deleted;
DROP TRIGGER tokens_key_changed;
DROP TABLE key_changes;
