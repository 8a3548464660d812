-- EscrowGrid schema for SQLite. Ids are text (prefix + UUID v7, time-ordered); timestamps are
-- RFC 3339 UTC text with milliseconds (fixed width, so text order is time order); amounts are
-- fixed-width decimal text (16 integer digits, 8 decimals), so text order is numeric order.

CREATE TABLE institutions (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 255),
    regions     TEXT NOT NULL CHECK (json_valid(regions)),
    verticals   TEXT NOT NULL CHECK (json_valid(verticals)),
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL
);

CREATE TABLE asset_templates (
    id              TEXT PRIMARY KEY,
    institution_id  TEXT NOT NULL REFERENCES institutions (id),
    code            TEXT NOT NULL CHECK (code IN ('CONSTR_ESCROW', 'CONSTR_RETAINAGE', 'TF_INVOICE', 'TF_LC')),
    name            TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 255),
    vertical        TEXT NOT NULL CHECK (vertical IN ('CONSTRUCTION', 'TRADE_FINANCE')),
    region          TEXT NOT NULL CHECK (region IN ('US', 'EU_UK', 'SG', 'UAE')),
    config          TEXT NOT NULL CHECK (json_valid(config)),
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL
);
CREATE INDEX asset_templates_institution ON asset_templates (institution_id, id);

CREATE TABLE assets (
    id              TEXT PRIMARY KEY,
    institution_id  TEXT NOT NULL REFERENCES institutions (id),
    template_id     TEXT NOT NULL REFERENCES asset_templates (id),
    label           TEXT NOT NULL CHECK (length(label) BETWEEN 1 AND 255),
    metadata        TEXT NOT NULL CHECK (json_valid(metadata)),
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL
);
CREATE INDEX assets_institution ON assets (institution_id, id);
CREATE INDEX assets_template ON assets (template_id, id);

CREATE TABLE positions (
    id                  TEXT PRIMARY KEY,
    institution_id      TEXT NOT NULL REFERENCES institutions (id),
    asset_id            TEXT NOT NULL REFERENCES assets (id),
    holder_reference    TEXT NOT NULL CHECK (length(holder_reference) BETWEEN 1 AND 255),
    currency            TEXT NOT NULL CHECK (length(currency) = 3),
    amount              TEXT NOT NULL CHECK (length(amount) = 25 AND amount > '0000000000000000.00000000'),
    state               TEXT NOT NULL CHECK (state IN ('CREATED', 'FUNDED', 'PARTIALLY_RELEASED', 'RELEASED', 'CANCELLED', 'EXPIRED')),
    external_reference  TEXT CHECK (external_reference IS NULL OR length(external_reference) <= 255),
    version             INTEGER NOT NULL CHECK (version >= 0),
    created_at          TEXT NOT NULL,
    updated_at          TEXT NOT NULL
);
-- One index per filter and per sort key, each ending in id for keyset pagination.
CREATE INDEX positions_institution ON positions (institution_id, id);
CREATE INDEX positions_asset ON positions (asset_id, id);
CREATE INDEX positions_state ON positions (state, id);
CREATE INDEX positions_holder ON positions (holder_reference, id);
CREATE INDEX positions_updated ON positions (updated_at, id);
CREATE INDEX positions_amount ON positions (amount, id);
CREATE INDEX positions_currency ON positions (currency, id);
CREATE INDEX positions_institution_state ON positions (institution_id, state, id);

CREATE TABLE position_events (
    id           TEXT PRIMARY KEY,
    position_id  TEXT NOT NULL REFERENCES positions (id),
    from_state   TEXT NOT NULL,
    to_state     TEXT NOT NULL,
    reason       TEXT CHECK (reason IS NULL OR length(reason) <= 1000),
    at           TEXT NOT NULL,
    metadata     TEXT CHECK (metadata IS NULL OR json_valid(metadata))
);
CREATE INDEX position_events_position ON position_events (position_id, id);

CREATE TABLE policies (
    id              TEXT PRIMARY KEY,
    institution_id  TEXT NOT NULL REFERENCES institutions (id),
    region          TEXT NOT NULL CHECK (region IN ('US', 'EU_UK', 'SG', 'UAE')),
    config          TEXT NOT NULL CHECK (json_valid(config)),
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL,
    UNIQUE (institution_id, region)
);

CREATE TABLE api_keys (
    id              TEXT PRIMARY KEY,
    institution_id  TEXT NOT NULL REFERENCES institutions (id),
    key_hash        TEXT NOT NULL UNIQUE CHECK (length(key_hash) = 64),
    label           TEXT NOT NULL CHECK (length(label) BETWEEN 1 AND 255),
    role            TEXT NOT NULL CHECK (role IN ('admin', 'read_only')),
    created_at      TEXT NOT NULL,
    revoked_at      TEXT
);
CREATE INDEX api_keys_institution ON api_keys (institution_id, id);

CREATE TABLE ledger_events (
    seq             INTEGER PRIMARY KEY CHECK (seq >= 1),
    id              TEXT NOT NULL UNIQUE,
    kind            TEXT NOT NULL,
    entity_type     TEXT NOT NULL,
    entity_id       TEXT NOT NULL,
    institution_id  TEXT NOT NULL,
    position_id     TEXT,
    at              TEXT NOT NULL,
    payload         TEXT NOT NULL CHECK (json_valid(payload)),
    prev_hash       TEXT NOT NULL CHECK (length(prev_hash) = 64),
    hash            TEXT NOT NULL CHECK (length(hash) = 64)
);
CREATE INDEX ledger_events_position ON ledger_events (position_id, seq);
CREATE INDEX ledger_events_institution ON ledger_events (institution_id, seq);
CREATE INDEX ledger_events_kind ON ledger_events (kind, seq);

CREATE TABLE audit_events (
    id                      TEXT PRIMARY KEY,
    occurred_at             TEXT NOT NULL,
    actor                   TEXT NOT NULL,
    api_key_id              TEXT,
    institution_id          TEXT,
    action                  TEXT NOT NULL,
    outcome                 TEXT NOT NULL CHECK (outcome IN ('success', 'failure')),
    resource_type           TEXT,
    resource_id             TEXT,
    subject_institution_id  TEXT,
    payload                 TEXT CHECK (payload IS NULL OR json_valid(payload)),
    error                   TEXT CHECK (error IS NULL OR json_valid(error))
);
CREATE INDEX audit_events_action ON audit_events (action, id);
CREATE INDEX audit_events_institution ON audit_events (institution_id, id);
CREATE INDEX audit_events_subject ON audit_events (subject_institution_id, id);
