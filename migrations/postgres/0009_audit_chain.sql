-- The audit trail is chained as the ledger is: each record carries its place (seq), the hash of
-- the record before it and its own (src/domain/audit.rs says what is hashed); the chain's head
-- is kept beside the ledger's, in the row every writer locks. Records written before the chain
-- existed are sealed once, in id order, when the store is next opened: the append-only trigger
-- lets an UPDATE through only for a record that has no place yet.
ALTER TABLE audit_events ADD COLUMN seq BIGINT;
ALTER TABLE audit_events ADD COLUMN prev_hash TEXT COLLATE "C";
ALTER TABLE audit_events ADD COLUMN hash TEXT COLLATE "C";
CREATE UNIQUE INDEX audit_events_seq ON audit_events (seq);
ALTER TABLE ledger_head ADD COLUMN audit_seq BIGINT NOT NULL DEFAULT 0;
ALTER TABLE ledger_head ADD COLUMN audit_hash TEXT NOT NULL
    DEFAULT '0000000000000000000000000000000000000000000000000000000000000000';

CREATE FUNCTION escrowgrid_audit_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND OLD.seq IS NULL THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION '% is append-only: % refused', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'EGA01';
END
$$;
DROP TRIGGER audit_events_append_only ON audit_events;
CREATE TRIGGER audit_events_append_only BEFORE UPDATE OR DELETE ON audit_events
    FOR EACH ROW EXECUTE FUNCTION escrowgrid_audit_append_only();
