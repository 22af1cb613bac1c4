-- Stored rate-limit policies (the `QUOTA;w=SECONDS[;u=…][;s=…]` grammar, checked by the
-- gateway before it is written) and the per-key response-cache switch.
ALTER TABLE orgs ADD COLUMN rate_limit_policy TEXT;
ALTER TABLE gateway_keys ADD COLUMN rate_limit_policy TEXT;
ALTER TABLE gateway_keys ADD COLUMN cache_enabled BOOLEAN NOT NULL DEFAULT FALSE;
