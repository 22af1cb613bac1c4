//! In-process buckets: a sharded map, each shard behind its own mutex.
//!
//! A step locks the shards of its buckets in index order (so two steps cannot deadlock) and
//! holds them for both phases, which makes a multi-policy check atomic like the Redis script.
//! Memory stays bounded by the scopes active within one window: a bucket that is full again
//! equals no bucket, so it is dropped after each step and by a sweep of the shard every 10 s or
//! whenever the shard has doubled since its last sweep (or reached its share of the
//! configured sweep size).

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::sync::{Arc, Mutex, MutexGuard};

use super::bucket::{self, Clock};
use super::ratelimit::{BucketBackend, BucketOp, StepOutcome};

const SHARDS: usize = 64;
const SWEEP_EVERY_US: i64 = 10_000_000;

struct Bucket {
    level: f64,
    last_us: i64,
    quota: f64,
    window_secs: u32,
}

impl Bucket {
    fn level_at(&self, now_us: i64) -> f64 {
        bucket::refill(
            self.level,
            self.last_us,
            now_us,
            self.quota,
            self.window_secs,
        )
    }
}

#[derive(Default)]
struct Shard {
    map: HashMap<String, Bucket>,
    next_sweep_us: i64,
    sweep_at_len: usize,
}

impl Shard {
    fn maybe_sweep(&mut self, now_us: i64, min_len: usize) {
        if now_us < self.next_sweep_us && self.map.len() < self.sweep_at_len.max(min_len) {
            return;
        }
        self.map
            .retain(|_, b| !bucket::is_full(b.level_at(now_us), b.quota));
        self.next_sweep_us = now_us + SWEEP_EVERY_US;
        self.sweep_at_len = self.map.len() * 2;
    }
}

pub struct LocalBuckets {
    shards: Box<[Mutex<Shard>]>,
    hasher: RandomState,
    clock: Arc<dyn Clock>,
    /// A shard sweeps once it holds this many buckets.
    shard_sweep_len: usize,
}

impl LocalBuckets {
    pub fn new(clock: Arc<dyn Clock>, sweep_buckets: usize) -> LocalBuckets {
        LocalBuckets {
            shards: (0..SHARDS).map(|_| Mutex::default()).collect(),
            hasher: RandomState::new(),
            clock,
            shard_sweep_len: (sweep_buckets / SHARDS).max(16),
        }
    }

    /// Buckets held now.
    pub fn len(&self) -> usize {
        self.shards.iter().map(|s| lock(s).map.len()).sum()
    }

    fn shard_of(&self, key: &str) -> usize {
        (self.hasher.hash_one(key) as usize) % SHARDS
    }

    fn step_now(&self, ops: &[BucketOp]) -> StepOutcome {
        let now = self.clock.now_us();
        let shard_ids: Vec<usize> = ops.iter().map(|op| self.shard_of(&op.key)).collect();
        let mut order = shard_ids.clone();
        order.sort_unstable();
        order.dedup();
        let mut guards: Vec<(usize, MutexGuard<'_, Shard>)> =
            order.iter().map(|&i| (i, lock(&self.shards[i]))).collect();
        let slot = |id: usize| order.binary_search(&id).expect("shard locked");

        let mut levels = Vec::with_capacity(ops.len());
        let mut allowed = true;
        for (op, &sid) in ops.iter().zip(&shard_ids) {
            let level = guards[slot(sid)]
                .1
                .map
                .get(&op.key)
                .map_or(op.quota, |b| b.level_at(now));
            let admitted = bucket::admits(level, op.mode);
            allowed &= admitted;
            levels.push((level, admitted));
        }
        for ((op, &sid), entry) in ops.iter().zip(&shard_ids).zip(levels.iter_mut()) {
            let level = bucket::apply(entry.0, op.mode, allowed);
            entry.0 = level;
            let map = &mut guards[slot(sid)].1.map;
            if bucket::is_full(level, op.quota) {
                map.remove(&op.key);
                continue;
            }
            let b = Bucket {
                level,
                last_us: now,
                quota: op.quota,
                window_secs: op.window_secs,
            };
            match map.get_mut(&op.key) {
                Some(existing) => *existing = b,
                None => {
                    map.insert(op.key.clone(), b);
                }
            }
        }
        for (_, guard) in guards.iter_mut() {
            guard.maybe_sweep(now, self.shard_sweep_len);
        }
        StepOutcome {
            allowed,
            buckets: levels,
        }
    }
}

impl BucketBackend for LocalBuckets {
    async fn step(&self, ops: &[BucketOp]) -> Option<StepOutcome> {
        Some(self.step_now(ops))
    }
}

/// A poisoned shard only means another thread panicked mid-step; its buckets are still valid
/// numbers, so keep serving.
fn lock(m: &Mutex<Shard>) -> MutexGuard<'_, Shard> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}
