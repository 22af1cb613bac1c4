//! `[governance]`: rate limits, the response cache and the invalidation bus. Redis itself is
//! the top-level `redis_url`; without it everything here runs in process.

use serde::Deserialize;

use crate::config::ConfigError;

/// Settings of the rate limiter, the response cache and the invalidation bus.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GovernanceConfig {
    /// Put before every Redis key and the bus channel, so several gateways (or tests) can share
    /// one Redis. No `{` or `}`: keys use a `{org}` hash tag for Redis Cluster.
    pub key_prefix: String,
    /// Name of the invalidation channel, after the prefix.
    pub bus_channel: String,
    /// Longest one Redis command may take before it counts as failed (and the feature fails
    /// open), milliseconds.
    pub redis_timeout_ms: u64,
    /// After a Redis failure, requests skip Redis (fail open) this long before one tries
    /// again, milliseconds. Keeps an outage from adding a timeout to every request.
    pub redis_retry_ms: u64,
    /// A fail-open is logged at most once per this many seconds (with a count); every one is
    /// counted in `/metrics`.
    pub fail_open_log_interval_secs: u64,
    /// In-process response cache bound, bytes of stored answers.
    pub cache_max_bytes: u64,
    /// Answers larger than this are not cached, bytes.
    pub cache_max_entry_bytes: usize,
    /// TTL when the request has no `Cache-Control: max-age`, seconds (7 days).
    pub cache_default_ttl_secs: u64,
    /// Upper bound on `max-age`, seconds (30 days).
    pub cache_max_ttl_secs: u64,
    /// The in-process rate limiter sweeps its full buckets once a shard holds this many
    /// buckets in total (and every 10 s in any case).
    pub ratelimit_sweep_buckets: usize,
    /// The bus pings Redis this often to notice a dead subscription, milliseconds.
    pub bus_ping_interval_ms: u64,
    /// Longest wait between bus reconnect attempts, milliseconds (it starts at 50 ms, doubling).
    pub bus_max_backoff_ms: u64,
}

impl Default for GovernanceConfig {
    fn default() -> Self {
        GovernanceConfig {
            key_prefix: "switchyard:".into(),
            bus_channel: "invalidate".into(),
            redis_timeout_ms: 250,
            redis_retry_ms: 1_000,
            fail_open_log_interval_secs: 60,
            cache_max_bytes: 256 * 1024 * 1024,
            cache_max_entry_bytes: 4 * 1024 * 1024,
            cache_default_ttl_secs: 7 * 24 * 3600,
            cache_max_ttl_secs: 30 * 24 * 3600,
            ratelimit_sweep_buckets: 100_000,
            bus_ping_interval_ms: 1_000,
            bus_max_backoff_ms: 2_000,
        }
    }
}

fn invalid(field: &str, message: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        field: format!("governance.{field}"),
        message: message.into(),
    }
}

impl GovernanceConfig {
    /// Checks the section and `redis_url` (whose value is never echoed: it may hold a password).
    pub fn validate(&self, redis_url: Option<&str>) -> Result<(), ConfigError> {
        if self.key_prefix.contains(['{', '}']) {
            return Err(invalid("key_prefix", "must not contain `{` or `}`"));
        }
        if self.bus_channel.is_empty() {
            return Err(invalid("bus_channel", "must not be empty"));
        }
        for (field, v) in [
            ("redis_timeout_ms", self.redis_timeout_ms),
            ("redis_retry_ms", self.redis_retry_ms),
            ("cache_default_ttl_secs", self.cache_default_ttl_secs),
            ("bus_ping_interval_ms", self.bus_ping_interval_ms),
            ("bus_max_backoff_ms", self.bus_max_backoff_ms),
        ] {
            if v == 0 {
                return Err(invalid(field, "must be greater than 0"));
            }
        }
        if self.cache_max_ttl_secs < self.cache_default_ttl_secs {
            return Err(invalid(
                "cache_max_ttl_secs",
                "must be at least cache_default_ttl_secs",
            ));
        }
        if let Some(url) = redis_url {
            let scheme_ok = ["redis://", "redis+unix://", "unix://"]
                .iter()
                .any(|s| url.starts_with(s));
            if url.starts_with("rediss://") {
                return Err(ConfigError::Invalid {
                    field: "redis_url".into(),
                    message: "TLS (rediss://) is not built in; reach Redis over redis:// on a \
                              private network or through a local TLS tunnel"
                        .into(),
                });
            }
            if !scheme_ok || redis::Client::open(url).is_err() {
                return Err(ConfigError::Invalid {
                    field: "redis_url".into(),
                    message: "is not a redis://host[:port][/db] or unix:// URL".into(),
                });
            }
        }
        Ok(())
    }

    pub fn redis_timeout(&self) -> std::time::Duration {
        std::time::Duration::from_millis(self.redis_timeout_ms)
    }
}
