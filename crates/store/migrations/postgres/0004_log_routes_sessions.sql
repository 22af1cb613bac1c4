-- What the passthrough proxy, sessions and the response cache add to a request's log row.
ALTER TABLE request_logs ADD COLUMN route TEXT;
ALTER TABLE request_logs ADD COLUMN target_url TEXT;
ALTER TABLE request_logs ADD COLUMN ttfb_ms BIGINT;
ALTER TABLE request_logs ADD COLUMN session_id TEXT;
ALTER TABLE request_logs ADD COLUMN session_path TEXT;
ALTER TABLE request_logs ADD COLUMN session_name TEXT;
ALTER TABLE request_logs ADD COLUMN cache_status TEXT;
ALTER TABLE request_logs ADD COLUMN cache_saved_nanos BIGINT;
-- A request id the caller chose (x-switchyard-request-id / Helicone-Request-Id): looked up
-- like the gateway's own, but never its key, so a reused one cannot collide with a charge.
ALTER TABLE request_logs ADD COLUMN client_request_id TEXT;
CREATE INDEX request_logs_org_client_id ON request_logs (org_id, client_request_id);
CREATE INDEX request_logs_org_session ON request_logs (org_id, session_id, created_at);
