-- The audit trail is chained as the ledger is: each record carries its place (seq), the hash of
-- the record before it and its own (src/domain/audit.rs says what is hashed). Records written
-- before the chain existed are sealed once, in id order, when the store is next opened: the
-- append-only trigger lets an UPDATE through only for a record that has no place yet.
ALTER TABLE audit_events ADD COLUMN seq INTEGER;
ALTER TABLE audit_events ADD COLUMN prev_hash TEXT;
ALTER TABLE audit_events ADD COLUMN hash TEXT;
CREATE UNIQUE INDEX audit_events_seq ON audit_events (seq);
DROP TRIGGER audit_events_append_only_update;
CREATE TRIGGER audit_events_append_only_update BEFORE UPDATE ON audit_events
WHEN OLD.seq IS NOT NULL
BEGIN
    SELECT RAISE(ABORT, 'audit_events is append-only: UPDATE refused');
END;
