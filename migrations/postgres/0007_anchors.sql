-- The on-chain anchors' outbox (src/domain/anchor.rs): one row per ledger head to publish.
CREATE TABLE anchors (
    seq             BIGINT PRIMARY KEY,
    head            TEXT COLLATE "C" NOT NULL,
    status          TEXT COLLATE "C" NOT NULL CHECK (status IN ('pending', 'sent', 'confirmed', 'failed', 'superseded')),
    attempts        BIGINT NOT NULL DEFAULT 0,
    last_error      TEXT,
    tx_hash         TEXT,
    block_number    BIGINT,
    created_at      TIMESTAMPTZ NOT NULL,
    updated_at      TIMESTAMPTZ NOT NULL,
    next_attempt_at TIMESTAMPTZ NOT NULL,
    -- Who is sending it, until when (another sender leaves it alone meanwhile).
    lease_owner     TEXT,
    lease_until     TIMESTAMPTZ
);
CREATE INDEX anchors_open ON anchors (status, seq);
