-- A store that `escrowgrid mirror --to` writes into is marked as a mirror: while the row is
-- there the store takes writes from its mirror only (every other write is refused), until
-- `escrowgrid mirror promote` removes it. The row also keeps the mirror's last step — when, how
-- far the target had come and how far behind the source it was — for `health` and the metrics.
CREATE TABLE mirror_of (
    id              INTEGER PRIMARY KEY CHECK (id = 1),
    source          TEXT NOT NULL CHECK (length(source) <= 2000),
    started_at      TEXT NOT NULL,
    step_at         TEXT NOT NULL,
    head_seq        INTEGER NOT NULL,
    source_head_seq INTEGER NOT NULL,
    behind_events   INTEGER NOT NULL,
    behind_ms       INTEGER NOT NULL
);

-- On the source's side: each store it is mirrored to, with that mirror's last step, written by
-- the mirror as it goes (a row is removed when its mirror ends; a killed mirror's row stays and
-- health says it stopped).
CREATE TABLE mirrored_to (
    target          TEXT PRIMARY KEY CHECK (length(target) <= 2000),
    started_at      TEXT NOT NULL,
    step_at         TEXT NOT NULL,
    head_seq        INTEGER NOT NULL,
    source_head_seq INTEGER NOT NULL,
    behind_events   INTEGER NOT NULL,
    behind_ms       INTEGER NOT NULL
);
