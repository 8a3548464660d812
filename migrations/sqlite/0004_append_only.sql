-- The ledger, the audit trail and the lifecycle history are append-only: an UPDATE or DELETE of
-- their rows is refused by the database itself, whoever sends it. (Someone who can drop these
-- triggers can still rewrite the file; `ledger verify` and `check` detect what they change.)
CREATE TRIGGER ledger_events_append_only_update BEFORE UPDATE ON ledger_events
BEGIN
    SELECT RAISE(ABORT, 'ledger_events is append-only: UPDATE refused');
END;
CREATE TRIGGER ledger_events_append_only_delete BEFORE DELETE ON ledger_events
BEGIN
    SELECT RAISE(ABORT, 'ledger_events is append-only: DELETE refused');
END;
CREATE TRIGGER audit_events_append_only_update BEFORE UPDATE ON audit_events
BEGIN
    SELECT RAISE(ABORT, 'audit_events is append-only: UPDATE refused');
END;
CREATE TRIGGER audit_events_append_only_delete BEFORE DELETE ON audit_events
BEGIN
    SELECT RAISE(ABORT, 'audit_events is append-only: DELETE refused');
END;
CREATE TRIGGER position_events_append_only_update BEFORE UPDATE ON position_events
BEGIN
    SELECT RAISE(ABORT, 'position_events is append-only: UPDATE refused');
END;
CREATE TRIGGER position_events_append_only_delete BEFORE DELETE ON position_events
BEGIN
    SELECT RAISE(ABORT, 'position_events is append-only: DELETE refused');
END;
