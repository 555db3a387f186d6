-- Substring search over a token's name, id and external id, indexed by trigrams (FTS5's trigram
-- tokenizer, case folded). It only narrows the rows the list then tests with its own LIKE, so
-- what a search finds is decided by that test alone, as before.
--
-- The table keeps its own copy of the three texts, with rowids of its own: a VACUUM, which may
-- renumber the rowids of `tokens`, cannot put it out of step. A token's row is found again by a
-- search of its id in the id column, then compared exactly.
CREATE VIRTUAL TABLE token_search USING fts5(name, id, external_id, tokenize = 'trigram case_sensitive 0');

INSERT INTO token_search (name, id, external_id) SELECT name, id, external_id FROM tokens;

CREATE TRIGGER token_search_insert AFTER INSERT ON tokens BEGIN
    INSERT INTO token_search (name, id, external_id) VALUES (new.name, new.id, new.external_id);
END;

CREATE TRIGGER token_search_update AFTER UPDATE OF name, id, external_id ON tokens BEGIN
    DELETE FROM token_search WHERE rowid IN (
        SELECT rowid FROM token_search
        WHERE token_search MATCH 'id : "' || replace(old.id, '"', '""') || '"' AND id = old.id
    );
    INSERT INTO token_search (name, id, external_id) VALUES (new.name, new.id, new.external_id);
END;

CREATE TRIGGER token_search_delete AFTER DELETE ON tokens BEGIN
    DELETE FROM token_search WHERE rowid IN (
        SELECT rowid FROM token_search
        WHERE token_search MATCH 'id : "' || replace(old.id, '"', '""') || '"' AND id = old.id
    );
END;
