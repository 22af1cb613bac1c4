//! Rate limiting: policies → token buckets → a [`Decision`] and its response headers.
//!
//! How the pipeline uses it, per request:
//! 1. Collect the policies: the org's and the key's stored ones plus the request's
//!    `x-switchyard-ratelimit-policy` / `Helicone-RateLimit-Policy` ([`policies_from_headers`];
//!    a bad string is a 400 with the error's text).
//! 2. Before the upstream call: [`RateLimiter::check`]. `request` policies take one unit;
//!    `tokens` and `cents` policies only ask "is anything left?". All policies are checked and
//!    a request unit is taken only if every policy allows ("the strictest applies"). Refused:
//!    429 with `Retry-After: retry_after_secs`, no upstream call. Either way the answer carries
//!    [`Decision::apply_headers`].
//! 3. After the answer (non-stream, or at the end of a stream): [`RateLimiter::deduct`] with
//!    the real usage; `tokens`/`cents` buckets may go below zero, and later requests wait until
//!    the debt is refilled.
//!
//! Buckets are per (org, policy, scope value). A policy scoped to `user` or a property whose
//! value the request lacks draws from one shared bucket for "no value", so leaving the header
//! out never escapes a limit. When Redis is unavailable the check allows (`fail_open: true`).

use std::future::Future;
use std::sync::Arc;

use http::{HeaderMap, HeaderName, HeaderValue};
use rust_decimal::Decimal;
use sha2::{Digest, Sha256};

use super::bucket::{self, Clock, Mode, SystemClock};
use super::metrics::GovernanceMetrics;
use super::policy::{Policy, PolicyError, ScopeKind, Unit};
use super::ratelimit_local::LocalBuckets;
use super::ratelimit_redis::RedisBuckets;
use super::redis::RedisHandle;

pub const HEADER_LIMIT: HeaderName = HeaderName::from_static("x-switchyard-ratelimit-limit");
pub const HEADER_REMAINING: HeaderName =
    HeaderName::from_static("x-switchyard-ratelimit-remaining");
pub const HEADER_RESET: HeaderName = HeaderName::from_static("x-switchyard-ratelimit-reset");
pub const HEADER_POLICY: HeaderName = HeaderName::from_static("x-switchyard-ratelimit-policy");
/// Request headers that carry per-request policies, ours first.
pub const POLICY_REQUEST_HEADERS: [&str; 2] =
    ["x-switchyard-ratelimit-policy", "helicone-ratelimit-policy"];

/// Who is asking: the values policies are scoped by.
#[derive(Clone, Copy, Debug)]
pub struct Scope<'a> {
    pub org: &'a str,
    /// The gateway key's id.
    pub key: &'a str,
    /// The caller's user id (`x-switchyard-user-id`, `Helicone-User-Id` or the body's `user`).
    pub user: Option<&'a str>,
    /// Custom properties (`name`, `value`); names match case-insensitively.
    pub properties: &'a [(String, String)],
}

impl<'a> Scope<'a> {
    fn value(&self, kind: &ScopeKind) -> Option<&'a str> {
        match kind {
            ScopeKind::Org => None,
            ScopeKind::Key => Some(self.key),
            ScopeKind::User => self.user,
            ScopeKind::Property(name) => self
                .properties
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.as_str()),
        }
    }
}

/// What a finished request used, for [`RateLimiter::deduct`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Spent {
    /// Prompt (with cache reads and writes) plus completion tokens.
    pub tokens: u64,
    /// Priced cost, nano-USD (0 when unpriced or a cache hit).
    pub cost_nanos: i64,
}

impl Spent {
    pub fn from_usage(usage: &switchyard_cost::Usage, cost_nanos: Option<i64>) -> Spent {
        Spent {
            tokens: usage.prompt_tokens() + usage.output.unwrap_or(0),
            cost_nanos: cost_nanos.unwrap_or(0),
        }
    }

    fn amount(&self, unit: Unit) -> f64 {
        match unit {
            Unit::Request => 0.0,
            Unit::Tokens => self.tokens as f64,
            // 1 cent = 10^7 nano-USD.
            Unit::Cents => self.cost_nanos as f64 / 1e7,
        }
    }
}

/// The verdict of a check, reported for the deciding policy: the first that refused, else the
/// one with the smallest share of its limit remaining.
#[derive(Clone, Debug, PartialEq)]
pub struct Decision {
    pub allowed: bool,
    /// Canonical policy string (`-policy` header).
    pub policy: String,
    pub limit: Decimal,
    pub remaining: u64,
    /// Seconds until that bucket is full again.
    pub reset_secs: u64,
    /// When refused: seconds until a retry can pass (`Retry-After`).
    pub retry_after_secs: Option<u64>,
    /// Redis was unavailable and the request was allowed unchecked; `remaining` is then the
    /// limit, and the pipeline may note it in the log.
    pub fail_open: bool,
}

impl Decision {
    /// Sets the `x-switchyard-ratelimit-*` headers (and `Retry-After` when refused).
    pub fn apply_headers(&self, headers: &mut HeaderMap) {
        let num = |n: u64| HeaderValue::from(n);
        if let Ok(v) = HeaderValue::from_str(&self.limit.to_string()) {
            headers.insert(HEADER_LIMIT, v);
        }
        headers.insert(HEADER_REMAINING, num(self.remaining));
        headers.insert(HEADER_RESET, num(self.reset_secs));
        if let Ok(v) = HeaderValue::from_str(&self.policy) {
            headers.insert(HEADER_POLICY, v);
        }
        if let Some(secs) = self.retry_after_secs {
            headers.insert(http::header::RETRY_AFTER, num(secs));
        }
    }
}

/// The per-request policies of a request's headers (every value of each header, in order).
pub fn policies_from_headers(headers: &HeaderMap) -> Result<Vec<Policy>, PolicyError> {
    let mut out = Vec::new();
    for name in POLICY_REQUEST_HEADERS {
        for value in headers.get_all(name) {
            let text = value
                .to_str()
                .map_err(|_| PolicyError::Malformed("(non-ASCII header value)".into()))?;
            out.extend(Policy::parse_list(text)?);
        }
    }
    Ok(out)
}

/// One bucket operation of a step.
#[derive(Clone, Debug)]
pub struct BucketOp {
    pub key: String,
    pub quota: f64,
    pub window_secs: u32,
    pub mode: Mode,
}

/// The result of a step: whether it was allowed, and per bucket its level afterwards and its
/// own verdict.
#[derive(Clone, Debug, PartialEq)]
pub struct StepOutcome {
    pub allowed: bool,
    pub buckets: Vec<(f64, bool)>,
}

/// Where buckets live. A step is atomic: all of its buckets are judged on one view, and takes
/// happen only if every bucket admits.
pub trait BucketBackend: Send + Sync {
    /// `None` when the backend is unavailable (the caller fails open).
    fn step(&self, ops: &[BucketOp]) -> impl Future<Output = Option<StepOutcome>> + Send;
}

enum Backend {
    Local(LocalBuckets),
    Redis(RedisBuckets),
}

impl BucketBackend for Backend {
    async fn step(&self, ops: &[BucketOp]) -> Option<StepOutcome> {
        match self {
            Backend::Local(b) => b.step(ops).await,
            Backend::Redis(b) => b.step(ops).await,
        }
    }
}

/// The rate limiter: in process, or shared through Redis.
pub struct RateLimiter {
    backend: Backend,
    prefix: String,
    metrics: Arc<GovernanceMetrics>,
}

impl RateLimiter {
    /// Buckets in this process, on the system clock.
    pub fn in_process(sweep_buckets: usize, metrics: Arc<GovernanceMetrics>) -> RateLimiter {
        Self::in_process_with_clock(Arc::new(SystemClock), sweep_buckets, metrics)
    }

    /// Buckets in this process on a given clock (tests simulate time with it).
    pub fn in_process_with_clock(
        clock: Arc<dyn Clock>,
        sweep_buckets: usize,
        metrics: Arc<GovernanceMetrics>,
    ) -> RateLimiter {
        RateLimiter {
            backend: Backend::Local(LocalBuckets::new(clock, sweep_buckets)),
            prefix: String::new(),
            metrics,
        }
    }

    /// Buckets in Redis, shared by every instance on it.
    pub fn redis(handle: RedisHandle) -> RateLimiter {
        RateLimiter {
            prefix: handle.prefix().to_owned(),
            metrics: handle.metrics().clone(),
            backend: Backend::Redis(RedisBuckets::new(handle)),
        }
    }

    pub fn backend_name(&self) -> &'static str {
        match self.backend {
            Backend::Local(_) => "in-process",
            Backend::Redis(_) => "redis",
        }
    }

    /// Buckets held in process (0 for Redis): for tests of the eviction.
    pub fn local_bucket_count(&self) -> usize {
        match &self.backend {
            Backend::Local(b) => b.len(),
            Backend::Redis(_) => 0,
        }
    }

    /// Before the upstream call. `None` when there is no policy (no headers either).
    pub async fn check(&self, policies: &[Policy], scope: &Scope<'_>) -> Option<Decision> {
        if policies.is_empty() {
            return None;
        }
        let ops: Vec<BucketOp> = policies
            .iter()
            .map(|p| {
                let mode = if p.unit.is_upfront() {
                    Mode::Take(1.0)
                } else {
                    Mode::Peek
                };
                self.op(p, scope, mode)
            })
            .collect();
        let Some(outcome) = self.backend.step(&ops).await else {
            GovernanceMetrics::outcome(&self.metrics.ratelimit_checks, "fail_open");
            let p = &policies[0];
            return Some(Decision {
                allowed: true,
                policy: p.as_str().to_owned(),
                limit: p.quota,
                remaining: p.quota_f64() as u64,
                reset_secs: 0,
                retry_after_secs: None,
                fail_open: true,
            });
        };
        let decision = decide(policies, &ops, &outcome);
        let label = if decision.allowed {
            "allowed"
        } else {
            "limited"
        };
        GovernanceMetrics::outcome(&self.metrics.ratelimit_checks, label);
        Some(decision)
    }

    /// After the answer: charges `tokens` and `cents` policies with what the request used.
    /// Best effort: when Redis is unavailable the usage is not charged (counted as fail-open).
    pub async fn deduct(&self, policies: &[Policy], scope: &Scope<'_>, spent: Spent) {
        let ops: Vec<BucketOp> = policies
            .iter()
            .filter(|p| !p.unit.is_upfront())
            .filter_map(|p| {
                let amount = spent.amount(p.unit);
                (amount > 0.0).then(|| self.op(p, scope, Mode::Deduct(amount)))
            })
            .collect();
        if !ops.is_empty() {
            let _ = self.backend.step(&ops).await;
        }
    }

    fn op(&self, policy: &Policy, scope: &Scope<'_>, mode: Mode) -> BucketOp {
        BucketOp {
            key: bucket_key(&self.prefix, policy, scope),
            quota: policy.quota_f64(),
            window_secs: policy.window_secs,
            mode,
        }
    }
}

fn decide(policies: &[Policy], ops: &[BucketOp], outcome: &StepOutcome) -> Decision {
    let reports: Vec<bucket::Report> = ops
        .iter()
        .zip(&outcome.buckets)
        .map(|(op, &(level, admitted))| {
            bucket::report(level, op.quota, op.window_secs, op.mode, admitted)
        })
        .collect();
    let deciding = if outcome.allowed {
        // The smallest share left; ties go to the earlier policy.
        (0..policies.len())
            .min_by(|&a, &b| {
                let share = |i: usize| reports[i].remaining as f64 / ops[i].quota;
                share(a).total_cmp(&share(b))
            })
            .unwrap_or(0)
    } else {
        outcome.buckets.iter().position(|b| !b.1).unwrap_or(0)
    };
    let r = reports[deciding];
    Decision {
        allowed: outcome.allowed,
        policy: policies[deciding].as_str().to_owned(),
        limit: policies[deciding].quota,
        remaining: r.remaining,
        reset_secs: r.reset_secs,
        retry_after_secs: r.retry_after_secs,
        fail_open: false,
    }
}

/// `<prefix>rl:{<org>}:<policy>:<scope>`. The `{org}` hash tag keeps one org's buckets in one
/// Redis Cluster slot, as a multi-key script requires. Scope values that are short and plain
/// are kept readable (`v…`); others are hashed (`h…`), so no value can forge another's key.
pub fn bucket_key(prefix: &str, policy: &Policy, scope: &Scope<'_>) -> String {
    let org = scope.org;
    let mut key = String::with_capacity(prefix.len() + org.len() + 64);
    key.push_str(prefix);
    key.push_str("rl:{");
    key.push_str(org);
    key.push_str("}:");
    key.push_str(policy.as_str());
    key.push(':');
    if policy.scope == ScopeKind::Org {
        key.push('-');
        return key;
    }
    let value = scope.value(&policy.scope).unwrap_or("");
    let plain = value.len() <= 64
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b'@'));
    if plain {
        key.push('v');
        key.push_str(value);
    } else {
        key.push('h');
        key.push_str(&hex::encode(&Sha256::digest(value.as_bytes())[..16]));
    }
    key
}
