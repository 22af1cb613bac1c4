//! The response cache: whole non-stream `chat.completion` answers with the usage and cost they
//! had, in process (bounded by bytes) or in Redis (`SET … EX`).
//!
//! How the pipeline uses it, for a request with caching on (`x-switchyard-cache: true`,
//! `Helicone-Cache-Enabled: true`, or the key's setting):
//! 1. Before routing: [`cache_control`](super::cachekey::cache_control) on the request's
//!    `Cache-Control`, then [`cache_key`](super::cachekey::cache_key) and, if
//!    `lookup`, [`ResponseCache::get`]. A hit answers at once: the stored body (or, for a
//!    stream, [`replay_sse`](super::replay::replay_sse)), `x-switchyard-cache: HIT`, cost 0, and
//!    a log row saying it was a hit and what it saved (`cost_nanos`, `usage`). Otherwise the
//!    answer carries `x-switchyard-cache: MISS`.
//! 2. After a 2xx non-stream answer (or a stream the pipeline accumulated into a whole
//!    `chat.completion`): [`ResponseCache::put`] with `store_ttl`, off the response path
//!    (spawned), since nothing waits for it.
//!
//! When Redis is unavailable a lookup is a miss and a store is skipped (counted as fail-open).

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use moka::sync::Cache;
use serde::{Deserialize, Serialize};
use switchyard_cost::Usage;

use super::cachekey::CacheKey;
use super::metrics::GovernanceMetrics;
use super::redis::RedisHandle;

/// One stored answer.
#[derive(Clone, Debug, PartialEq)]
pub struct CachedAnswer {
    /// The `chat.completion` JSON exactly as the caller got it.
    pub body: Bytes,
    /// The usage the original answer had (what a hit saves).
    pub usage: Usage,
    /// Its priced cost, nano-USD (`None` when it was unpriced).
    pub cost_nanos: Option<i64>,
    /// Who answered it.
    pub provider: String,
    pub model: String,
    /// When it was stored, Unix seconds.
    pub stored_at: i64,
}

impl CachedAnswer {
    pub fn new(
        body: Bytes,
        usage: Usage,
        cost_nanos: Option<i64>,
        provider: &str,
        model: &str,
    ) -> CachedAnswer {
        CachedAnswer {
            body,
            usage,
            cost_nanos,
            provider: provider.to_owned(),
            model: model.to_owned(),
            stored_at: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_secs() as i64),
        }
    }
}

/// The non-body fields, as stored.
#[derive(Serialize, Deserialize)]
struct Meta {
    usage: Usage,
    cost_nanos: Option<i64>,
    provider: String,
    model: String,
    stored_at: i64,
}

const MAGIC: &[u8; 4] = b"SYC1";

/// `SYC1`, the meta JSON's length (u32 big-endian), the meta JSON, the body.
pub fn encode(answer: &CachedAnswer) -> Vec<u8> {
    let meta = serde_json::to_vec(&Meta {
        usage: answer.usage.clone(),
        cost_nanos: answer.cost_nanos,
        provider: answer.provider.clone(),
        model: answer.model.clone(),
        stored_at: answer.stored_at,
    })
    .expect("cache meta serialises");
    let mut out = Vec::with_capacity(8 + meta.len() + answer.body.len());
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&(meta.len() as u32).to_be_bytes());
    out.extend_from_slice(&meta);
    out.extend_from_slice(&answer.body);
    out
}

/// The inverse of [`encode`]; `None` for anything else (a foreign or older value is a miss).
pub fn decode(bytes: &[u8]) -> Option<CachedAnswer> {
    let rest = bytes.strip_prefix(MAGIC)?;
    let (len, rest) = rest.split_first_chunk::<4>()?;
    let len = u32::from_be_bytes(*len) as usize;
    if rest.len() < len {
        return None;
    }
    let (meta, body) = rest.split_at(len);
    let meta: Meta = serde_json::from_slice(meta).ok()?;
    Some(CachedAnswer {
        body: Bytes::copy_from_slice(body),
        usage: meta.usage,
        cost_nanos: meta.cost_nanos,
        provider: meta.provider,
        model: meta.model,
        stored_at: meta.stored_at,
    })
}

#[derive(Clone)]
struct Entry {
    answer: Arc<CachedAnswer>,
    ttl: Duration,
}

/// Per-entry TTL for moka.
struct EntryTtl;

impl moka::Expiry<CacheKey, Entry> for EntryTtl {
    fn expire_after_create(
        &self,
        _key: &CacheKey,
        value: &Entry,
        _created_at: std::time::Instant,
    ) -> Option<Duration> {
        Some(value.ttl)
    }

    fn expire_after_update(
        &self,
        _key: &CacheKey,
        value: &Entry,
        _updated_at: std::time::Instant,
        _duration_until_expiry: Option<Duration>,
    ) -> Option<Duration> {
        Some(value.ttl)
    }
}

enum Backend {
    Local(Cache<CacheKey, Entry>),
    Redis(RedisHandle),
}

/// The response cache.
pub struct ResponseCache {
    backend: Backend,
    max_entry_bytes: usize,
    metrics: Arc<GovernanceMetrics>,
}

impl ResponseCache {
    /// In process, holding at most `max_bytes` of answers (moka's TinyLFU decides which go:
    /// rarely asked answers before popular ones).
    pub fn in_process(
        max_bytes: u64,
        max_entry_bytes: usize,
        metrics: Arc<GovernanceMetrics>,
    ) -> ResponseCache {
        let cache = Cache::builder()
            .max_capacity(max_bytes)
            .weigher(|_k: &CacheKey, e: &Entry| {
                // The body plus a rough allowance for the entry's own fields.
                (e.answer.body.len() + 256).min(u32::MAX as usize) as u32
            })
            .expire_after(EntryTtl)
            .build();
        ResponseCache {
            backend: Backend::Local(cache),
            max_entry_bytes,
            metrics,
        }
    }

    /// In Redis, shared by every instance on it.
    pub fn redis(handle: RedisHandle, max_entry_bytes: usize) -> ResponseCache {
        ResponseCache {
            metrics: handle.metrics().clone(),
            backend: Backend::Redis(handle),
            max_entry_bytes,
        }
    }

    pub fn backend_name(&self) -> &'static str {
        match self.backend {
            Backend::Local(_) => "in-process",
            Backend::Redis(_) => "redis",
        }
    }

    fn redis_key(handle: &RedisHandle, key: &CacheKey) -> String {
        handle.key(&format!("cache:{}", key.hex()))
    }

    /// The stored answer, if any.
    pub async fn get(&self, key: &CacheKey) -> Option<Arc<CachedAnswer>> {
        let found = match &self.backend {
            Backend::Local(c) => c.get(key).map(|e| e.answer),
            Backend::Redis(r) => {
                let rk = Self::redis_key(r, key);
                let Some(raw) = r
                    .run("cache", |mut conn| async move {
                        redis::cmd("GET")
                            .arg(&rk)
                            .query_async::<Option<Vec<u8>>>(&mut conn)
                            .await
                    })
                    .await
                else {
                    GovernanceMetrics::outcome(&self.metrics.cache_lookups, "fail_open");
                    return None;
                };
                match raw.map(|b| decode(&b)) {
                    None => None,
                    Some(Some(a)) => Some(Arc::new(a)),
                    Some(None) => {
                        GovernanceMetrics::outcome(&self.metrics.cache_lookups, "corrupt");
                        return None;
                    }
                }
            }
        };
        let label = if found.is_some() { "hit" } else { "miss" };
        GovernanceMetrics::outcome(&self.metrics.cache_lookups, label);
        found
    }

    /// Stores an answer for `ttl` (whole seconds, at least one). Returns whether it was stored.
    pub async fn put(&self, key: &CacheKey, answer: CachedAnswer, ttl: Duration) -> bool {
        if answer.body.len() > self.max_entry_bytes {
            GovernanceMetrics::outcome(&self.metrics.cache_stores, "too_large");
            return false;
        }
        let ttl = Duration::from_secs(ttl.as_secs().max(1));
        match &self.backend {
            Backend::Local(c) => {
                // The body may be a view into a larger buffer (hyper's read buffer, a Vec with
                // spare capacity): kept as is, each entry would pin that whole buffer, several
                // times what the weigher counts. The cache owns exactly the answer's bytes.
                let answer = CachedAnswer {
                    body: Bytes::copy_from_slice(&answer.body),
                    ..answer
                };
                c.insert(
                    *key,
                    Entry {
                        answer: Arc::new(answer),
                        ttl,
                    },
                );
            }
            Backend::Redis(r) => {
                let rk = Self::redis_key(r, key);
                let value = encode(&answer);
                let stored = r
                    .run("cache", |mut conn| async move {
                        redis::cmd("SET")
                            .arg(&rk)
                            .arg(value)
                            .arg("EX")
                            .arg(ttl.as_secs())
                            .query_async::<()>(&mut conn)
                            .await
                    })
                    .await;
                if stored.is_none() {
                    GovernanceMetrics::outcome(&self.metrics.cache_stores, "fail_open");
                    return false;
                }
            }
        }
        GovernanceMetrics::outcome(&self.metrics.cache_stores, "stored");
        true
    }

    /// Bytes held in process (weighted size; 0 for Redis). Pending evictions are applied
    /// first, so the figure is current.
    pub fn local_weighted_size(&self) -> u64 {
        match &self.backend {
            Backend::Local(c) => {
                c.run_pending_tasks();
                c.weighted_size()
            }
            Backend::Redis(_) => 0,
        }
    }
}
