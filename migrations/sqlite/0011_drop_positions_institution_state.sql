-- The positions index on (institution, state, id) goes: no screen or command needs it (an
-- institution's positions in a state are read through (institution, id) or (state, id), and
-- counted from the counters), and every index is work on every insert and transition.
DROP INDEX IF EXISTS positions_institution_state;
