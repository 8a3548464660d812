-- The on-chain anchors' outbox (src/domain/anchor.rs): one row per ledger head to publish.
CREATE TABLE anchors (
    seq             INTEGER PRIMARY KEY,
    head            TEXT NOT NULL,
    status          TEXT NOT NULL CHECK (status IN ('pending', 'sent', 'confirmed', 'failed', 'superseded')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    last_error      TEXT,
    tx_hash         TEXT,
    block_number    INTEGER,
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL,
    next_attempt_at TEXT NOT NULL,
    -- Who is sending it, until when (another sender leaves it alone meanwhile).
    lease_owner     TEXT,
    lease_until     TEXT
);
CREATE INDEX anchors_open ON anchors (status, seq);
