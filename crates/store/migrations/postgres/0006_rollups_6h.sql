-- The Overview of long ranges (issue 12, "fast on real volumes"): 6-hour rollups next to the
-- hourly ones of 0003, so a 30-day view (6-hour buckets) sums about 120 rows per key instead of
-- 720. Same columns and keys as rollup_usage / rollup_latency / rollup_errors; `hour` is the
-- start of the 6-hour bucket (a multiple of 21,600,000,000 µs: 00, 06, 12, 18 h UTC).
-- Maintained by the log writer with the hourly ones (analytics::update_rollups).
-- Keep in step with sqlite/.
CREATE TABLE rollup_usage_6h (
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

CREATE TABLE rollup_latency_6h (
    org_id TEXT NOT NULL,
    hour   BIGINT NOT NULL,
    kind   BIGINT NOT NULL,
    bucket BIGINT NOT NULL,
    n      BIGINT NOT NULL,
    PRIMARY KEY (org_id, hour, kind, bucket)
);

CREATE TABLE rollup_errors_6h (
    org_id     TEXT NOT NULL,
    hour       BIGINT NOT NULL,
    status     BIGINT NOT NULL,
    error_type TEXT NOT NULL,
    n          BIGINT NOT NULL,
    PRIMARY KEY (org_id, hour, status, error_type)
);

-- A database upgraded from 0005 already has hourly rollups: fold them into 6-hour ones (the
-- log writer is not running while migrations run, so the two agree from here on).
INSERT INTO rollup_usage_6h
SELECT org_id, (hour / 21600000000) * 21600000000, provider, model, billing_mode,
       SUM(requests), SUM(errors), SUM(cost_nanos), SUM(unpriced), SUM(prompt_tokens),
       SUM(completion_tokens), SUM(latency_ms_sum), SUM(ttft_ms_sum), SUM(ttft_count)
FROM rollup_usage
GROUP BY org_id, (hour / 21600000000) * 21600000000, provider, model, billing_mode;

INSERT INTO rollup_latency_6h
SELECT org_id, (hour / 21600000000) * 21600000000, kind, bucket, SUM(n)
FROM rollup_latency
GROUP BY org_id, (hour / 21600000000) * 21600000000, kind, bucket;

INSERT INTO rollup_errors_6h
SELECT org_id, (hour / 21600000000) * 21600000000, status, error_type, SUM(n)
FROM rollup_errors
GROUP BY org_id, (hour / 21600000000) * 21600000000, status, error_type;

-- Requests filtered by provider (and billing mode) walk this newest first, like the status,
-- model and user filters of 0003.
CREATE INDEX request_logs_org_provider_billing_time
    ON request_logs (org_id, provider, billing_mode, created_at);
