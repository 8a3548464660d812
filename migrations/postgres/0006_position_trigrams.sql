-- The Positions text filter ("contains", case-insensitive) through a trigram index of each
-- position's id, holder reference and external reference (the expression POSITION_DOC in
-- src/store/sql.rs). pg_trgm ships with PostgreSQL and is a trusted extension since PostgreSQL
-- 13, so a database owner may create it. It goes into the schema public, shared by every schema
-- of the database (an extension inside one store's schema would vanish with that schema). Where
-- it cannot be created the filter scans the table, and the Health tab says so.
DO $$
DECLARE
    ext_schema text;
BEGIN
    BEGIN
        CREATE EXTENSION IF NOT EXISTS pg_trgm WITH SCHEMA public;
    EXCEPTION WHEN OTHERS THEN
        RAISE NOTICE 'pg_trgm cannot be created (%): the positions filter will scan', SQLERRM;
    END;
    SELECT extnamespace::regnamespace::text INTO ext_schema
    FROM pg_extension WHERE extname = 'pg_trgm';
    IF ext_schema IS NOT NULL THEN
        EXECUTE format(
            'CREATE INDEX IF NOT EXISTS positions_text_trgm ON positions USING gin '
            '((id || chr(31) || holder_reference || chr(31) || coalesce(external_reference, %L)) %I.gin_trgm_ops)',
            '', ext_schema);
    END IF;
END $$;
