//! The shared Redis connection with fail-open semantics.
//!
//! One multiplexed connection (redis-rs `ConnectionManager`, which reconnects by itself) serves
//! every command. Each command has a deadline; a failure opens a breaker for
//! `redis_retry_ms`, during which callers are told "unavailable" at once, so an outage costs
//! one timeout per interval instead of one per request. Callers then fail open (a rate limit
//! allows, the cache misses). Every fail-open is counted; it is logged at most once per
//! `fail_open_log_interval_secs`, with the number suppressed since.

use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use redis::aio::{ConnectionManager, ConnectionManagerConfig};

use super::config::GovernanceConfig;
use super::metrics::GovernanceMetrics;
use super::GovernanceError;

/// A cheap-to-clone handle on the shared Redis connection.
#[derive(Clone)]
pub struct RedisHandle {
    inner: Arc<Inner>,
}

struct Inner {
    client: redis::Client,
    conn: ConnectionManager,
    prefix: String,
    timeout: Duration,
    retry: Duration,
    epoch: Instant,
    /// Milliseconds since `epoch` before which Redis is not tried.
    down_until_ms: AtomicU64,
    up: AtomicBool,
    metrics: Arc<GovernanceMetrics>,
    log: RateLimitedLog,
}

impl std::fmt::Debug for RedisHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the URL: it may carry a password.
        f.debug_struct("RedisHandle")
            .field("prefix", &self.inner.prefix)
            .finish_non_exhaustive()
    }
}

impl RedisHandle {
    /// Prepares the connection without waiting for it: a gateway starts (and fails open) while
    /// Redis is down. Only a malformed URL is an error. Must run inside a Tokio runtime.
    pub fn new(
        url: &str,
        config: &GovernanceConfig,
        metrics: Arc<GovernanceMetrics>,
    ) -> Result<RedisHandle, GovernanceError> {
        let client = redis::Client::open(url).map_err(|_| GovernanceError::RedisUrl)?;
        let timeout = config.redis_timeout();
        let manager_config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(timeout))
            .set_response_timeout(Some(timeout))
            // Our breaker paces retries; the manager should not queue callers behind its own.
            .set_number_of_retries(1)
            .set_min_delay(Duration::from_millis(50))
            .set_max_delay(Duration::from_millis(config.redis_retry_ms));
        let conn = ConnectionManager::new_lazy_with_config(client.clone(), manager_config)
            .map_err(|e| GovernanceError::Redis(e.to_string()))?;
        Ok(RedisHandle {
            inner: Arc::new(Inner {
                client,
                conn,
                prefix: config.key_prefix.clone(),
                timeout,
                retry: Duration::from_millis(config.redis_retry_ms),
                epoch: Instant::now(),
                down_until_ms: AtomicU64::new(0),
                up: AtomicBool::new(false),
                metrics,
                log: RateLimitedLog::new(Duration::from_secs(config.fail_open_log_interval_secs)),
            }),
        })
    }

    /// `prefix` + `suffix`.
    pub fn key(&self, suffix: &str) -> String {
        let mut k = String::with_capacity(self.inner.prefix.len() + suffix.len());
        k.push_str(&self.inner.prefix);
        k.push_str(suffix);
        k
    }

    pub fn prefix(&self) -> &str {
        &self.inner.prefix
    }

    /// For connections of their own (the bus subscription).
    pub(crate) fn client(&self) -> &redis::Client {
        &self.inner.client
    }

    pub(crate) fn timeout(&self) -> Duration {
        self.inner.timeout
    }

    pub(crate) fn metrics(&self) -> &Arc<GovernanceMetrics> {
        &self.inner.metrics
    }

    /// Whether the breaker lets commands through now.
    pub fn available(&self) -> bool {
        self.now_ms() >= self.inner.down_until_ms.load(Ordering::Relaxed)
    }

    /// Runs one command (or script) with the deadline. `None` means Redis is unavailable and
    /// the caller must fail open; it has been counted and (rate-limitedly) logged.
    pub async fn run<T, F, Fut>(&self, component: &'static str, op: F) -> Option<T>
    where
        F: FnOnce(ConnectionManager) -> Fut,
        Fut: Future<Output = redis::RedisResult<T>>,
    {
        if !self.available() {
            self.fail_open(component, None);
            return None;
        }
        match tokio::time::timeout(self.inner.timeout, op(self.inner.conn.clone())).await {
            Ok(Ok(v)) => {
                self.mark_up();
                Some(v)
            }
            Ok(Err(e)) => {
                // A server-side error (bad script, wrong type) is our bug, not an outage: fail
                // open for this request but keep trying Redis.
                let outage = e.is_io_error()
                    || e.is_timeout()
                    || e.is_connection_dropped()
                    || e.is_connection_refusal();
                self.failed(component, outage, &e.to_string());
                None
            }
            Err(_) => {
                self.failed(component, true, "timed out");
                None
            }
        }
    }

    /// `PING` with the deadline, ignoring the breaker (readiness probes must see recovery).
    pub async fn ping(&self) -> Result<(), GovernanceError> {
        let mut conn = self.inner.conn.clone();
        let res = tokio::time::timeout(
            self.inner.timeout,
            redis::cmd("PING").query_async::<String>(&mut conn),
        )
        .await;
        match res {
            Ok(Ok(_)) => {
                self.inner.down_until_ms.store(0, Ordering::Relaxed);
                self.mark_up();
                Ok(())
            }
            Ok(Err(e)) => {
                GovernanceMetrics::component(&self.inner.metrics.redis_errors, "ready");
                Err(GovernanceError::Redis(e.to_string()))
            }
            Err(_) => {
                GovernanceMetrics::component(&self.inner.metrics.redis_errors, "ready");
                Err(GovernanceError::Redis("PING timed out".into()))
            }
        }
    }

    fn now_ms(&self) -> u64 {
        self.inner.epoch.elapsed().as_millis() as u64
    }

    fn mark_up(&self) {
        if !self.inner.up.swap(true, Ordering::Relaxed) {
            self.inner.metrics.redis_up.set(1);
            if self.inner.log.has_logged() {
                tracing::info!("Redis answers again; rate limits and cache are shared again");
            }
        }
    }

    fn failed(&self, component: &'static str, outage: bool, error: &str) {
        GovernanceMetrics::component(&self.inner.metrics.redis_errors, component);
        if outage {
            let until = self.now_ms() + self.inner.retry.as_millis() as u64;
            self.inner.down_until_ms.store(until, Ordering::Relaxed);
            if self.inner.up.swap(false, Ordering::Relaxed) {
                self.inner.metrics.redis_up.set(0);
            }
        }
        self.fail_open(component, Some(error));
    }

    fn fail_open(&self, component: &'static str, error: Option<&str>) {
        GovernanceMetrics::component(&self.inner.metrics.fail_open, component);
        if let Some(suppressed) = self.inner.log.should_log() {
            tracing::warn!(
                component,
                error = error.unwrap_or("Redis unavailable (retry pending)"),
                suppressed,
                "Redis unavailable: rate limits allow and the cache misses (fail open)"
            );
        }
    }
}

/// Lets one event through per interval and counts the others.
#[derive(Debug)]
pub(crate) struct RateLimitedLog {
    epoch: Instant,
    interval_ms: u64,
    /// Milliseconds since `epoch` of the last logged event, +1 (0 = never).
    last: AtomicU64,
    suppressed: AtomicU64,
}

impl RateLimitedLog {
    pub(crate) fn new(interval: Duration) -> RateLimitedLog {
        RateLimitedLog {
            epoch: Instant::now(),
            interval_ms: interval.as_millis() as u64,
            last: AtomicU64::new(0),
            suppressed: AtomicU64::new(0),
        }
    }

    /// `Some(suppressed since the last log)` when this event should be logged.
    pub(crate) fn should_log(&self) -> Option<u64> {
        let now = self.epoch.elapsed().as_millis() as u64 + 1;
        let last = self.last.load(Ordering::Relaxed);
        if (last == 0 || now.saturating_sub(last) >= self.interval_ms)
            && self
                .last
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            return Some(self.suppressed.swap(0, Ordering::Relaxed));
        }
        self.suppressed.fetch_add(1, Ordering::Relaxed);
        None
    }

    pub(crate) fn has_logged(&self) -> bool {
        self.last.load(Ordering::Relaxed) != 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logs_once_per_interval_and_counts_the_rest() {
        let log = RateLimitedLog::new(Duration::from_secs(3600));
        assert_eq!(log.should_log(), Some(0));
        for _ in 0..5 {
            assert_eq!(log.should_log(), None);
        }
        let log = RateLimitedLog::new(Duration::ZERO);
        assert_eq!(log.should_log(), Some(0));
        assert_eq!(log.should_log(), Some(0));
    }
}
