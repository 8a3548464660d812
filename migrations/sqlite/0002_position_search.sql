-- Substring search over positions (the console's / filter) without scanning the table: a
-- trigram full-text index of each position's id, holder reference and external reference.
-- Those three never change after a position is created, so an insert trigger keeps it current.
CREATE VIRTUAL TABLE position_search USING fts5(doc, tokenize = 'trigram', content = '');

CREATE TRIGGER position_search_insert AFTER INSERT ON positions BEGIN
    INSERT INTO position_search (rowid, doc)
    VALUES (new.rowid, new.id || char(31) || new.holder_reference || char(31) || coalesce(new.external_reference, ''));
END;

INSERT INTO position_search (rowid, doc)
SELECT rowid, id || char(31) || holder_reference || char(31) || coalesce(external_reference, '')
FROM positions;
