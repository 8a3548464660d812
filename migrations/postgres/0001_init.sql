-- EscrowGrid schema for PostgreSQL. Text columns use the "C" collation so that ordering (and
-- keyset pagination) is byte order, the same as SQLite and the memory store.

CREATE TABLE institutions (
    id          TEXT COLLATE "C" PRIMARY KEY,
    name        TEXT COLLATE "C" NOT NULL CHECK (char_length(name) BETWEEN 1 AND 255),
    regions     JSONB NOT NULL CHECK (jsonb_typeof(regions) = 'array'),
    verticals   JSONB NOT NULL CHECK (jsonb_typeof(verticals) = 'array'),
    created_at  TIMESTAMPTZ NOT NULL,
    updated_at  TIMESTAMPTZ NOT NULL
);

CREATE TABLE asset_templates (
    id              TEXT COLLATE "C" PRIMARY KEY,
    institution_id  TEXT COLLATE "C" NOT NULL REFERENCES institutions (id),
    code            TEXT COLLATE "C" NOT NULL CHECK (code IN ('CONSTR_ESCROW', 'CONSTR_RETAINAGE', 'TF_INVOICE', 'TF_LC')),
    name            TEXT COLLATE "C" NOT NULL CHECK (char_length(name) BETWEEN 1 AND 255),
    vertical        TEXT COLLATE "C" NOT NULL CHECK (vertical IN ('CONSTRUCTION', 'TRADE_FINANCE')),
    region          TEXT COLLATE "C" NOT NULL CHECK (region IN ('US', 'EU_UK', 'SG', 'UAE')),
    config          JSONB NOT NULL CHECK (jsonb_typeof(config) = 'object'),
    created_at      TIMESTAMPTZ NOT NULL,
    updated_at      TIMESTAMPTZ NOT NULL
);
CREATE INDEX asset_templates_institution ON asset_templates (institution_id, id);

CREATE TABLE assets (
    id              TEXT COLLATE "C" PRIMARY KEY,
    institution_id  TEXT COLLATE "C" NOT NULL REFERENCES institutions (id),
    template_id     TEXT COLLATE "C" NOT NULL REFERENCES asset_templates (id),
    label           TEXT COLLATE "C" NOT NULL CHECK (char_length(label) BETWEEN 1 AND 255),
    metadata        JSONB NOT NULL CHECK (jsonb_typeof(metadata) = 'object'),
    created_at      TIMESTAMPTZ NOT NULL,
    updated_at      TIMESTAMPTZ NOT NULL
);
CREATE INDEX assets_institution ON assets (institution_id, id);
CREATE INDEX assets_template ON assets (template_id, id);

CREATE TABLE positions (
    id                  TEXT COLLATE "C" PRIMARY KEY,
    institution_id      TEXT COLLATE "C" NOT NULL REFERENCES institutions (id),
    asset_id            TEXT COLLATE "C" NOT NULL REFERENCES assets (id),
    holder_reference    TEXT COLLATE "C" NOT NULL CHECK (char_length(holder_reference) BETWEEN 1 AND 255),
    currency            TEXT COLLATE "C" NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    amount              NUMERIC(32, 8) NOT NULL CHECK (amount > 0 AND amount <= 1000000000000000),
    state               TEXT COLLATE "C" NOT NULL CHECK (state IN ('CREATED', 'FUNDED', 'PARTIALLY_RELEASED', 'RELEASED', 'CANCELLED', 'EXPIRED')),
    external_reference  TEXT COLLATE "C" CHECK (char_length(external_reference) <= 255),
    version             BIGINT NOT NULL CHECK (version >= 0),
    created_at          TIMESTAMPTZ NOT NULL,
    updated_at          TIMESTAMPTZ NOT NULL
);
CREATE INDEX positions_institution ON positions (institution_id, id);
CREATE INDEX positions_asset ON positions (asset_id, id);
CREATE INDEX positions_state ON positions (state, id);
CREATE INDEX positions_holder ON positions (holder_reference, id);
CREATE INDEX positions_updated ON positions (updated_at, id);
CREATE INDEX positions_amount ON positions (amount, id);
CREATE INDEX positions_currency ON positions (currency, id);
CREATE INDEX positions_institution_state ON positions (institution_id, state, id);

CREATE TABLE position_events (
    id           TEXT COLLATE "C" PRIMARY KEY,
    position_id  TEXT COLLATE "C" NOT NULL REFERENCES positions (id),
    from_state   TEXT COLLATE "C" NOT NULL,
    to_state     TEXT COLLATE "C" NOT NULL,
    reason       TEXT COLLATE "C" CHECK (char_length(reason) <= 1000),
    at           TIMESTAMPTZ NOT NULL,
    metadata     JSONB
);
CREATE INDEX position_events_position ON position_events (position_id, id);

CREATE TABLE policies (
    id              TEXT COLLATE "C" PRIMARY KEY,
    institution_id  TEXT COLLATE "C" NOT NULL REFERENCES institutions (id),
    region          TEXT COLLATE "C" NOT NULL CHECK (region IN ('US', 'EU_UK', 'SG', 'UAE')),
    config          JSONB NOT NULL,
    created_at      TIMESTAMPTZ NOT NULL,
    updated_at      TIMESTAMPTZ NOT NULL,
    UNIQUE (institution_id, region)
);

CREATE TABLE api_keys (
    id              TEXT COLLATE "C" PRIMARY KEY,
    institution_id  TEXT COLLATE "C" NOT NULL REFERENCES institutions (id),
    key_hash        TEXT COLLATE "C" NOT NULL UNIQUE CHECK (char_length(key_hash) = 64),
    label           TEXT COLLATE "C" NOT NULL CHECK (char_length(label) BETWEEN 1 AND 255),
    role            TEXT COLLATE "C" NOT NULL CHECK (role IN ('admin', 'read_only')),
    created_at      TIMESTAMPTZ NOT NULL,
    revoked_at      TIMESTAMPTZ
);
CREATE INDEX api_keys_institution ON api_keys (institution_id, id);

-- The ledger payload is kept as its exact canonical JSON text: it is hashed.
CREATE TABLE ledger_events (
    seq             BIGINT PRIMARY KEY CHECK (seq >= 1),
    id              TEXT COLLATE "C" NOT NULL UNIQUE,
    kind            TEXT COLLATE "C" NOT NULL,
    entity_type     TEXT COLLATE "C" NOT NULL,
    entity_id       TEXT COLLATE "C" NOT NULL,
    institution_id  TEXT COLLATE "C" NOT NULL,
    position_id     TEXT COLLATE "C",
    at              TIMESTAMPTZ NOT NULL,
    payload         TEXT NOT NULL,
    prev_hash       TEXT COLLATE "C" NOT NULL CHECK (char_length(prev_hash) = 64),
    hash            TEXT COLLATE "C" NOT NULL CHECK (char_length(hash) = 64)
);
CREATE INDEX ledger_events_position ON ledger_events (position_id, seq);
CREATE INDEX ledger_events_institution ON ledger_events (institution_id, seq);
CREATE INDEX ledger_events_kind ON ledger_events (kind, seq);

-- The chain head: one row, locked FOR UPDATE by every append, so appends are serialised for
-- the shortest possible time (from the head read to commit) and seq stays gap-free.
CREATE TABLE ledger_head (
    id    BOOLEAN PRIMARY KEY DEFAULT TRUE CHECK (id),
    seq   BIGINT NOT NULL,
    hash  TEXT NOT NULL
);
INSERT INTO ledger_head (id, seq, hash)
VALUES (TRUE, 0, '0000000000000000000000000000000000000000000000000000000000000000');

CREATE TABLE audit_events (
    id                      TEXT COLLATE "C" PRIMARY KEY,
    occurred_at             TIMESTAMPTZ NOT NULL,
    actor                   TEXT COLLATE "C" NOT NULL,
    api_key_id              TEXT COLLATE "C",
    institution_id          TEXT COLLATE "C",
    action                  TEXT COLLATE "C" NOT NULL,
    outcome                 TEXT COLLATE "C" NOT NULL CHECK (outcome IN ('success', 'failure')),
    resource_type           TEXT COLLATE "C",
    resource_id             TEXT COLLATE "C",
    subject_institution_id  TEXT COLLATE "C",
    payload                 JSONB,
    error                   JSONB
);
CREATE INDEX audit_events_action ON audit_events (action, id);
CREATE INDEX audit_events_institution ON audit_events (institution_id, id);
CREATE INDEX audit_events_subject ON audit_events (subject_institution_id, id);
