DROP TRIGGER token_search_delete;
DROP TRIGGER token_search_update;
DROP TRIGGER token_search_insert;
DROP TABLE token_search;
