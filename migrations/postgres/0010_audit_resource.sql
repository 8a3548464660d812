-- The audit records of one resource (a ledger event's detail finds its record by it).
CREATE INDEX audit_events_resource ON audit_events (resource_id, id);
