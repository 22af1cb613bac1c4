//! Governance: rate limits, the response cache and the invalidation bus, each in process or
//! shared through Redis (`redis_url`).
//!
//! [`Governance::new`] builds all three from the config; the request pipeline then calls, in
//! order (each piece's module says more):
//!
//! | when | call | on the answer |
//! | --- | --- | --- |
//! | after auth, before routing | [`cachekey::cache_control`], [`cachekey::cache_key`], [`ResponseCache::get`] when caching is on | a hit answers now: body or [`replay::replay_sse`], `x-switchyard-cache: HIT`, cost 0; rate limits are not charged |
//! | before the upstream call | [`ratelimit::policies_from_headers`] + stored policies, [`RateLimiter::check`] | refused: 429 + `Retry-After`, no upstream call; always [`ratelimit::Decision::apply_headers`] |
//! | after the answer | [`RateLimiter::deduct`] with [`ratelimit::Spent`]; [`ResponseCache::put`] for a cacheable 2xx | — |
//! | admin changes | [`Bus::publish`] | listeners on [`Bus::subscribe`] drop cached keys, BYOK keys, policies |
//! | `GET /health/ready` | [`Governance::ready`] | 503 when it errs |
//!
//! Redis failures never fail a request: a check allows (`Decision::fail_open`), a lookup misses,
//! a store is skipped, a publish still reaches this instance. They are counted in
//! [`GovernanceMetrics`] and logged at most once per `fail_open_log_interval_secs`.
//!
//! Redis keys (all after `key_prefix`, default `switchyard:`):
//! - `rl:{<org>}:<policy>:<scope>`: a bucket hash `{l, t}` (see `ratelimit.lua`), expiring when
//!   it would be full again;
//! - `cache:<sha256 hex>`: an answer (`cache::encode`), `EX` = its TTL;
//! - `<bus_channel>` (default `invalidate`): the pub/sub channel.

pub mod bucket;
pub mod bus;
pub mod cache;
pub mod cachekey;
pub mod collect;
pub mod config;
pub mod metrics;
pub mod policy;
pub mod ratelimit;
mod ratelimit_local;
mod ratelimit_redis;
pub mod redis;
pub mod replay;

use std::sync::Arc;
use std::time::Duration;

pub use bus::{Bus, Invalidation, Subscription};
pub use cache::{CachedAnswer, ResponseCache};
pub use cachekey::{cache_control, cache_key, CacheControl, CacheKey};
pub use config::GovernanceConfig;
pub use metrics::GovernanceMetrics;
pub use policy::{Policy, PolicyError, ScopeKind, Unit};
pub use ratelimit::{Decision, RateLimiter, Scope, Spent};
pub use ratelimit_redis::SCRIPT as RATELIMIT_SCRIPT;
pub use redis::RedisHandle;
pub use replay::replay_sse;

#[derive(Debug, thiserror::Error)]
pub enum GovernanceError {
    /// The URL itself is never shown: it may carry a password.
    #[error("redis_url is not a valid Redis URL")]
    RedisUrl,
    #[error("Redis: {0}")]
    Redis(String),
}

/// The three components, built together so they share one Redis connection and one set of
/// metrics.
pub struct Governance {
    pub limiter: RateLimiter,
    pub cache: ResponseCache,
    pub bus: Bus,
    pub metrics: Arc<GovernanceMetrics>,
    redis: Option<RedisHandle>,
    default_ttl: Duration,
    max_ttl: Duration,
}

impl Governance {
    /// In process without `redis_url`, else on Redis. Does not wait for Redis: a gateway
    /// starts while it is down and fails open until it answers. Must run inside a Tokio
    /// runtime (the bus spawns its subscriber).
    pub fn new(
        config: &GovernanceConfig,
        redis_url: Option<&str>,
    ) -> Result<Governance, GovernanceError> {
        let metrics = Arc::new(GovernanceMetrics::default());
        let Some(url) = redis_url else {
            return Ok(Self::in_process(config, metrics));
        };
        let handle = RedisHandle::new(url, config, metrics.clone())?;
        Ok(Governance {
            limiter: RateLimiter::redis(handle.clone()),
            cache: ResponseCache::redis(handle.clone(), config.cache_max_entry_bytes),
            bus: Bus::redis(
                handle.clone(),
                &config.bus_channel,
                Duration::from_millis(config.bus_ping_interval_ms),
                Duration::from_millis(config.bus_max_backoff_ms),
            ),
            metrics,
            redis: Some(handle),
            default_ttl: Duration::from_secs(config.cache_default_ttl_secs),
            max_ttl: Duration::from_secs(config.cache_max_ttl_secs),
        })
    }

    fn in_process(config: &GovernanceConfig, metrics: Arc<GovernanceMetrics>) -> Governance {
        Governance {
            limiter: RateLimiter::in_process(config.ratelimit_sweep_buckets, metrics.clone()),
            cache: ResponseCache::in_process(
                config.cache_max_bytes,
                config.cache_max_entry_bytes,
                metrics.clone(),
            ),
            bus: Bus::in_process(metrics.clone()),
            metrics,
            redis: None,
            default_ttl: Duration::from_secs(config.cache_default_ttl_secs),
            max_ttl: Duration::from_secs(config.cache_max_ttl_secs),
        }
    }

    /// `"redis"` or `"in-process"`.
    pub fn mode(&self) -> &'static str {
        if self.redis.is_some() {
            "redis"
        } else {
            "in-process"
        }
    }

    /// Readiness: Redis answers `PING` within the timeout (always ready without Redis).
    pub async fn ready(&self) -> Result<(), GovernanceError> {
        match &self.redis {
            Some(r) => r.ping().await,
            None => Ok(()),
        }
    }

    /// Whether Redis-backed features are degraded (failing open) right now.
    pub fn failing_open(&self) -> bool {
        self.redis.as_ref().is_some_and(|r| !r.available())
    }

    /// The request's cache TTL rules with this config's default and bound.
    pub fn cache_control(&self, header: Option<&str>) -> CacheControl {
        cachekey::cache_control(header, self.default_ttl, self.max_ttl)
    }
}
