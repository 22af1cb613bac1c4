-- Switchyard store schema (SQLite). Keep in step with migrations/postgres.
-- Timestamps are integer microseconds since the Unix epoch; money is integer nano-USD.

CREATE TABLE orgs (
    id            TEXT PRIMARY KEY NOT NULL,
    name          TEXT NOT NULL,
    store_bodies  BOOLEAN NOT NULL DEFAULT TRUE,
    -- Cached sums of ledger_entries.amount_nanos / held_delta_nanos, updated in
    -- the same transaction as each ledger row; the audit query checks them.
    balance_nanos BIGINT NOT NULL DEFAULT 0,
    held_nanos    BIGINT NOT NULL DEFAULT 0,
    created_at    BIGINT NOT NULL
);

CREATE TABLE gateway_keys (
    id         TEXT PRIMARY KEY NOT NULL,
    org_id     TEXT NOT NULL REFERENCES orgs (id),
    name       TEXT NOT NULL,
    prefix     TEXT NOT NULL,
    key_hash   BLOB NOT NULL UNIQUE,
    created_at BIGINT NOT NULL,
    revoked_at BIGINT
);
CREATE INDEX gateway_keys_org ON gateway_keys (org_id);

CREATE TABLE provider_keys (
    id              TEXT PRIMARY KEY NOT NULL,
    org_id          TEXT NOT NULL REFERENCES orgs (id),
    provider        TEXT NOT NULL,
    key_name        TEXT NOT NULL DEFAULT '',
    config          TEXT NOT NULL,
    secret_kind     TEXT NOT NULL,
    key_fingerprint BLOB NOT NULL,
    nonce           BLOB NOT NULL,
    ciphertext      BLOB NOT NULL,
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL,
    UNIQUE (org_id, provider, key_name)
);

CREATE TABLE reservations (
    id            TEXT PRIMARY KEY NOT NULL,
    org_id        TEXT NOT NULL REFERENCES orgs (id),
    amount_nanos  BIGINT NOT NULL,
    status        TEXT NOT NULL,
    settled_nanos BIGINT,
    created_at    BIGINT NOT NULL,
    expires_at    BIGINT NOT NULL,
    closed_at     BIGINT
);
CREATE INDEX reservations_active_expiry ON reservations (expires_at) WHERE status = 'active';
CREATE INDEX reservations_org_status ON reservations (org_id, status);

CREATE TABLE ledger_entries (
    id               TEXT PRIMARY KEY NOT NULL,
    org_id           TEXT NOT NULL REFERENCES orgs (id),
    kind             TEXT NOT NULL,
    amount_nanos     BIGINT NOT NULL,
    held_delta_nanos BIGINT NOT NULL,
    balance_after    BIGINT NOT NULL,
    held_after       BIGINT NOT NULL,
    reservation_id   TEXT,
    note             TEXT,
    created_at       BIGINT NOT NULL
);
CREATE INDEX ledger_entries_org_time ON ledger_entries (org_id, created_at);

-- No foreign key: log writes must never fail or slow down because of org rows.
CREATE TABLE request_logs (
    id                 TEXT PRIMARY KEY NOT NULL,
    org_id             TEXT NOT NULL,
    key_id             TEXT,
    model              TEXT NOT NULL,
    endpoint           TEXT,
    provider           TEXT,
    billing_mode       TEXT,
    status             BIGINT NOT NULL,
    error_type         TEXT,
    attempts           TEXT NOT NULL,
    prompt_tokens      BIGINT,
    completion_tokens  BIGINT,
    cached_tokens      BIGINT,
    cache_write_tokens BIGINT,
    reasoning_tokens   BIGINT,
    cost_nanos         BIGINT,
    latency_ms         BIGINT NOT NULL,
    ttft_ms            BIGINT,
    overhead_us        BIGINT,
    stream             BOOLEAN NOT NULL,
    user_id            TEXT,
    properties         TEXT NOT NULL,
    request_body       TEXT,
    response_body      TEXT,
    created_at         BIGINT NOT NULL
);
CREATE INDEX request_logs_org_time ON request_logs (org_id, created_at);
