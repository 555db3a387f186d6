DROP INDEX tokens_external_id_trgm;
DROP INDEX tokens_id_trgm;
DROP INDEX tokens_name_trgm;
