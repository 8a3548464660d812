-- The service operation that wrote each audit record (its op_id is on the log lines too).
ALTER TABLE audit_events ADD COLUMN op_id TEXT;
