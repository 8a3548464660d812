-- The positions index on (institution, state, id) goes: no screen or command needs it (EXPLAIN of
-- every Positions query, in BENCHMARKS.md): an institution's positions in a state are read
-- through (institution, id) or (state, id), and counted from the counters. Every index is work
-- on every insert and on every transition (a transition changes `state`, so it updates every
-- index of the row). Marked compatible: an older escrowgrid reads without it.
DROP INDEX IF EXISTS positions_institution_state;
