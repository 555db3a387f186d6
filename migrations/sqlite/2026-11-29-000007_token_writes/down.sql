DROP TRIGGER token_permissions_written_delete;
DROP TRIGGER token_permissions_written_update;
DROP TRIGGER token_permissions_written_insert;
DROP TRIGGER tokens_written_delete;
DROP TRIGGER tokens_written_update;
DROP TRIGGER tokens_written_insert;
DROP TABLE token_writes;
