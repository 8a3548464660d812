-- The Positions screen sorts by what each position still holds: an index on (held, id), like
-- every other sort key's, for keyset pages. Marked compatible: an escrowgrid of migration 14
-- reads and writes without it (only slower when sorting by held).
CREATE INDEX positions_held ON positions (held, id);
