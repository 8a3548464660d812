-- The network address of the caller of `escrowgrid serve` that an audit record is about (NULL
-- for work done in process). Marked compatible: an older escrowgrid reads around the column.
ALTER TABLE audit_events ADD COLUMN client TEXT;
