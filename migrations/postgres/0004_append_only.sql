-- The ledger, the audit trail and the lifecycle history are append-only: an UPDATE, DELETE or
-- TRUNCATE of their rows is refused by the database itself, whoever sends it. (An owner who
-- drops these triggers can still rewrite rows; `ledger verify` and `check` detect what changes.)
CREATE FUNCTION escrowgrid_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is append-only: % refused', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'EGA01';
END
$$;

CREATE TRIGGER ledger_events_append_only BEFORE UPDATE OR DELETE ON ledger_events
    FOR EACH ROW EXECUTE FUNCTION escrowgrid_append_only();
CREATE TRIGGER ledger_events_no_truncate BEFORE TRUNCATE ON ledger_events
    FOR EACH STATEMENT EXECUTE FUNCTION escrowgrid_append_only();
CREATE TRIGGER audit_events_append_only BEFORE UPDATE OR DELETE ON audit_events
    FOR EACH ROW EXECUTE FUNCTION escrowgrid_append_only();
CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON audit_events
    FOR EACH STATEMENT EXECUTE FUNCTION escrowgrid_append_only();
CREATE TRIGGER position_events_append_only BEFORE UPDATE OR DELETE ON position_events
    FOR EACH ROW EXECUTE FUNCTION escrowgrid_append_only();
CREATE TRIGGER position_events_no_truncate BEFORE TRUNCATE ON position_events
    FOR EACH STATEMENT EXECUTE FUNCTION escrowgrid_append_only();
