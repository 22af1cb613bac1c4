//! Gateway-key authentication with an in-memory cache, so the hot path does not query the store.
//!
//! Keys are cached by their SHA-256 hash for a short time; a revoked key stops working within
//! that time on every instance (the store is the source of truth). Unknown keys are cached too,
//! briefly, so a client hammering with a bad key does not hammer the database.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};
use switchyard_store::{hash_gateway_key, AuthedKey, KeyId, OrgId, Store};

use crate::error::ApiError;

const POSITIVE_TTL: Duration = Duration::from_secs(30);
const NEGATIVE_TTL: Duration = Duration::from_secs(5);
/// Entries kept before the cache is cleared (bounded memory under a key-guessing flood).
const MAX_ENTRIES: usize = 100_000;

/// A key hash → the key (None: unknown) and when it was looked up.
type Entries = HashMap<[u8; 32], (Option<Arc<AuthedKey>>, Instant)>;

#[derive(Default)]
pub struct AuthCache {
    entries: RwLock<Entries>,
    /// Bumped by every invalidation: a lookup that began before one does not cache its
    /// (possibly stale) answer.
    generation: AtomicU64,
}

impl AuthCache {
    /// The key and org behind an `Authorization: Bearer` header value.
    pub async fn authenticate(
        &self,
        store: &dyn Store,
        header: Option<&str>,
    ) -> Result<Arc<AuthedKey>, ApiError> {
        let presented = header
            .and_then(|h| {
                h.strip_prefix("Bearer ")
                    .or_else(|| h.strip_prefix("bearer "))
            })
            .map(str::trim)
            .filter(|k| !k.is_empty())
            .ok_or(ApiError::Unauthorized(
                "missing gateway key: send `Authorization: Bearer <your Switchyard key>`",
            ))?;
        let hash = hash_gateway_key(presented);
        let now = Instant::now();
        if let Some((found, at)) = self.entries.read().expect("auth cache lock").get(&hash) {
            let ttl = if found.is_some() {
                POSITIVE_TTL
            } else {
                NEGATIVE_TTL
            };
            if now.duration_since(*at) < ttl {
                return found
                    .clone()
                    .ok_or(ApiError::Unauthorized("invalid gateway key"));
            }
        }
        let generation = self.generation.load(Ordering::Acquire);
        let found = store
            .lookup_gateway_key_hash(hash)
            .await
            .map_err(|e| ApiError::Internal(format!("key lookup failed: {e}")))?
            .map(Arc::new);
        let mut entries = self.entries.write().expect("auth cache lock");
        if entries.len() >= MAX_ENTRIES {
            entries.clear();
        }
        if self.generation.load(Ordering::Acquire) == generation {
            entries.insert(hash, (found.clone(), now));
        }
        found.ok_or(ApiError::Unauthorized("invalid gateway key"))
    }

    /// Forgets every cached key.
    pub fn clear(&self) {
        self.retain(|_| false);
    }

    /// Forgets one key (revoked).
    pub fn forget_key(&self, id: KeyId) {
        self.retain(|k| k.is_none_or(|k| k.key.id != id));
    }

    /// Forgets an org's keys (its settings or policies changed).
    pub fn forget_org(&self, org: OrgId) {
        self.retain(|k| k.is_none_or(|k| k.org.id != org));
    }

    fn retain(&self, keep: impl Fn(Option<&AuthedKey>) -> bool) {
        let mut entries = self.entries.write().expect("auth cache lock");
        self.generation.fetch_add(1, Ordering::AcqRel);
        entries.retain(|_, (k, _)| keep(k.as_deref()));
    }
}
