-- The network address of the caller of `escrowgrid serve` that an audit record is about (NULL
-- for work done in process).
ALTER TABLE audit_events ADD COLUMN client TEXT;
