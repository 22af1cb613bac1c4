-- The dashboard (issue 12): indexes for filtered request lists, rollups for long time ranges,
-- sign-in sessions, and the last characters of provider keys. Keep in step with sqlite/.
-- Timestamps are integer microseconds since the Unix epoch; money is integer nano-USD.

-- Filtered request lists walk one of these newest first (keyset pagination on created_at, id),
-- and a key's last use is one index probe.
CREATE INDEX request_logs_org_status_time ON request_logs (org_id, status, created_at);
CREATE INDEX request_logs_org_model_time ON request_logs (org_id, model, created_at);
CREATE INDEX request_logs_org_user_time ON request_logs (org_id, user_id, created_at);
CREATE INDEX request_logs_org_key_time ON request_logs (org_id, key_id, created_at);

-- Rollups of request_logs, maintained in the log writer's transaction (analytics::update_rollups).
-- Views of more than 48 hours read these instead of the rows. '' stands for "none" in key columns.
CREATE TABLE rollup_usage (
    org_id            TEXT NOT NULL,
    hour              BIGINT NOT NULL,
    provider          TEXT NOT NULL,
    model             TEXT NOT NULL,
    billing_mode      TEXT NOT NULL,
    requests          BIGINT NOT NULL,
    errors            BIGINT NOT NULL,
    cost_nanos        BIGINT NOT NULL,
    unpriced          BIGINT NOT NULL,
    prompt_tokens     BIGINT NOT NULL,
    completion_tokens BIGINT NOT NULL,
    latency_ms_sum    BIGINT NOT NULL,
    ttft_ms_sum       BIGINT NOT NULL,
    ttft_count        BIGINT NOT NULL,
    PRIMARY KEY (org_id, hour, provider, model, billing_mode)
);

-- Latency (kind 0) and time-to-first-token (kind 1) histograms; `bucket` indexes
-- analytics::LATENCY_BUCKETS_MS.
CREATE TABLE rollup_latency (
    org_id TEXT NOT NULL,
    hour   BIGINT NOT NULL,
    kind   BIGINT NOT NULL,
    bucket BIGINT NOT NULL,
    n      BIGINT NOT NULL,
    PRIMARY KEY (org_id, hour, kind, bucket)
);

CREATE TABLE rollup_errors (
    org_id     TEXT NOT NULL,
    hour       BIGINT NOT NULL,
    status     BIGINT NOT NULL,
    error_type TEXT NOT NULL,
    n          BIGINT NOT NULL,
    PRIMARY KEY (org_id, hour, status, error_type)
);

CREATE TABLE rollup_users (
    org_id            TEXT NOT NULL,
    day               BIGINT NOT NULL,
    user_id           TEXT NOT NULL,
    requests          BIGINT NOT NULL,
    errors            BIGINT NOT NULL,
    cost_nanos        BIGINT NOT NULL,
    unpriced          BIGINT NOT NULL,
    prompt_tokens     BIGINT NOT NULL,
    completion_tokens BIGINT NOT NULL,
    latency_ms_sum    BIGINT NOT NULL,
    first_seen        BIGINT NOT NULL,
    last_seen         BIGINT NOT NULL,
    PRIMARY KEY (org_id, day, user_id)
);

CREATE TABLE rollup_properties (
    org_id            TEXT NOT NULL,
    day               BIGINT NOT NULL,
    name              TEXT NOT NULL,
    value             TEXT NOT NULL,
    requests          BIGINT NOT NULL,
    errors            BIGINT NOT NULL,
    cost_nanos        BIGINT NOT NULL,
    unpriced          BIGINT NOT NULL,
    prompt_tokens     BIGINT NOT NULL,
    completion_tokens BIGINT NOT NULL,
    latency_ms_sum    BIGINT NOT NULL,
    first_seen        BIGINT NOT NULL,
    last_seen         BIGINT NOT NULL,
    PRIMARY KEY (org_id, day, name, value)
);

-- Dashboard sign-in sessions. Only the SHA-256 of the session id is stored. An operator
-- session has no org; a member session names the org and the gateway key it signed in with.
CREATE TABLE dashboard_sessions (
    id_hash    BYTEA PRIMARY KEY NOT NULL,
    org_id     TEXT,
    key_id     TEXT,
    csrf_token TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX dashboard_sessions_expiry ON dashboard_sessions (expires_at);

-- The last 4 characters of a provider key's secret, written with the key, so the dashboard can
-- tell keys apart without decrypting them.
ALTER TABLE provider_keys ADD COLUMN secret_hint TEXT;
