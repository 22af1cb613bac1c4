//! The governance phases: the response cache and rate limits (see [`crate::governance`]).
//!
//! - 3b [`Govern::read`] (handler, after parse; no side effects): which policies apply (the
//!   org's and the key's stored ones, the request's `x-switchyard-ratelimit-policy` /
//!   `Helicone-RateLimit-Policy`; a bad header is a 400 `invalid_policy`) and whether the cache
//!   is on (`x-switchyard-cache: true`, `Helicone-Cache-Enabled: true` or the key's setting).
//!   When neither applies the request carries nothing and the phases below cost nothing.
//! - 4a [`lookup`] (request task, after plan): a cache hit answers at once — the stored body,
//!   or for a stream the body replayed as SSE — with `x-switchyard-cache: HIT`, cost 0, and a
//!   log row `cache_status = hit` with what it saved. Rate limits are not charged for a hit.
//! - 4b [`admit`] (request task, before any attempt): the rate-limit check. `request` units are
//!   taken here; refused → 429 `rate_limit_exceeded` with `Retry-After`, no upstream call.
//! - 7 [`after`] (in [`super::answer::Finish`], every way a request ends): `tokens` and `cents`
//!   policies are charged with the real usage; [`store`] puts a successful answer (a whole one,
//!   or a stream reassembled by [`SseCollector`]) into the cache, TTL from `Cache-Control`.
//!
//! All of it runs in the request's task (or, for 3b, before it exists), never in the response
//! body, so a client that goes away cannot skip a deduction or a cache write. Nothing here
//! depends on the front door: the model string may be empty (proxy), the cache key then
//! covers the body alone.

use std::sync::Arc;

use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde_json::Value;
use switchyard_cost::Usage;
use switchyard_store::LogRow;
use tokio::sync::oneshot;

use super::answer::{sse_headers, Finish};
use super::context::{fill_usage, header_str, RequestCtx};
use super::set_header;
use crate::error::ApiError;
use crate::governance::cachekey::{ENABLE_HEADERS, IGNORE_KEYS_HEADERS, SEED_HEADERS};
use crate::governance::collect::SseCollector;
use crate::governance::ratelimit::policies_from_headers;
use crate::governance::{
    cache_key, replay_sse, CacheControl, CacheKey, CachedAnswer, Decision, Policy, Scope, Spent,
};
use crate::state::AppState;

pub const CACHE_HEADER: &str = "x-switchyard-cache";

/// What governance does for one request (absent from the context when nothing applies).
pub struct Govern {
    policies: Vec<Policy>,
    /// Custom properties, for policies scoped by one.
    properties: Vec<(String, String)>,
    cache: Option<CacheUse>,
    /// The rate-limit verdict, for the answer's headers.
    pub decision: Option<Decision>,
    /// `hit` or `miss` once looked up (the log row's `cache_status`).
    pub cache_status: Option<&'static str>,
}

struct CacheUse {
    key: CacheKey,
    control: CacheControl,
    /// The stream asked for `stream_options.include_usage` (a replay then ends with usage).
    include_usage: bool,
}

fn header_flag(headers: &HeaderMap, names: &[&str]) -> bool {
    names.iter().any(|n| {
        header_str(headers, n).is_some_and(|v| v.trim().eq_ignore_ascii_case("true") || v == "1")
    })
}

fn header_any<'a>(headers: &'a HeaderMap, names: &[&str]) -> Option<&'a str> {
    names.iter().find_map(|n| header_str(headers, n))
}

/// A stored policy list (checked when written; a bad one is skipped, not fatal).
fn stored(text: Option<&str>, whose: &str, out: &mut Vec<Policy>) {
    let Some(text) = text else { return };
    match Policy::parse_list(text) {
        Ok(p) => out.extend(p),
        Err(e) => tracing::warn!(%e, whose, "stored rate-limit policy ignored"),
    }
}

impl Govern {
    /// Phase 3b. `Ok(None)`: no policy and no cache, the common case, decided by a few header
    /// lookups.
    pub fn read(
        state: &AppState,
        ctx: &RequestCtx,
        headers: &HeaderMap,
        body: &Bytes,
        cacheable: bool,
    ) -> Result<Option<Box<Govern>>, ApiError> {
        let mut policies = Vec::new();
        stored(
            ctx.key.org.rate_limit_policy.as_deref(),
            "org",
            &mut policies,
        );
        stored(
            ctx.key.key.rate_limit_policy.as_deref(),
            "key",
            &mut policies,
        );
        policies.extend(
            policies_from_headers(headers).map_err(|e| ApiError::BadRequest {
                message: format!("invalid rate-limit policy header: {e}"),
                param: None,
                code: "invalid_policy",
            })?,
        );
        let cache_on =
            cacheable && (ctx.key.key.cache_enabled || header_flag(headers, &ENABLE_HEADERS));
        let cache = if cache_on {
            let control = state
                .governance
                .cache_control(header_str(headers, "cache-control"));
            // Not JSON: nothing to key on (the front door answers it anyway).
            serde_json::from_slice::<Value>(body).ok().map(|json| {
                let include_usage = json
                    .pointer("/stream_options/include_usage")
                    .and_then(Value::as_bool)
                    .unwrap_or(false);
                CacheUse {
                    key: cache_key(
                        &ctx.key.org.id.to_string(),
                        &ctx.model,
                        &json,
                        header_any(headers, &IGNORE_KEYS_HEADERS),
                        header_any(headers, &SEED_HEADERS),
                    ),
                    control,
                    include_usage,
                }
            })
        } else {
            None
        };
        if policies.is_empty() && cache.is_none() {
            return Ok(None);
        }
        let properties = if policies.is_empty() {
            Vec::new()
        } else {
            ctx.obs
                .properties
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect()
        };
        Ok(Some(Box::new(Govern {
            policies,
            properties,
            cache,
            decision: None,
            cache_status: None,
        })))
    }

    fn scope<'a>(&'a self, ctx: &'a RequestCtx, org: &'a str, key: &'a str) -> Scope<'a> {
        Scope {
            org,
            key,
            user: ctx.obs.user_id.as_deref(),
            properties: &self.properties,
        }
    }

    /// Whether a successful answer should be stored (cache on, and not `no-store`).
    pub fn wants_store(&self) -> bool {
        self.cache
            .as_ref()
            .is_some_and(|c| c.control.store_ttl.is_some() && self.cache_status != Some("hit"))
    }
}

/// The `x-switchyard-ratelimit-*` and `x-switchyard-cache` headers of an answer.
pub fn apply_headers(h: &mut HeaderMap, ctx: &RequestCtx) {
    let Some(g) = ctx.govern.as_deref() else {
        return;
    };
    if let Some(d) = &g.decision {
        d.apply_headers(h);
    }
    match g.cache_status {
        Some("hit") => set_header(h, CACHE_HEADER, "HIT"),
        Some(_) => set_header(h, CACHE_HEADER, "MISS"),
        None => {}
    }
}

/// Phase 4a: a stored answer, when the cache is on and has one.
pub async fn lookup(state: &AppState, ctx: &mut RequestCtx) -> Option<Arc<CachedAnswer>> {
    let g = ctx.govern.as_deref_mut()?;
    let cache = g.cache.as_ref()?;
    if !cache.control.lookup {
        g.cache_status = Some("miss");
        return None;
    }
    let found = state.governance.cache.get(&cache.key).await;
    g.cache_status = Some(if found.is_some() { "hit" } else { "miss" });
    found
}

/// Phase 4a, a hit: answers from the cache and logs the request (cost 0, what it saved).
pub async fn answer_hit(mut fin: Finish, hit: Arc<CachedAnswer>, reply: oneshot::Sender<Response>) {
    let include_usage = fin
        .ctx
        .govern
        .as_deref()
        .and_then(|g| g.cache.as_ref())
        .is_some_and(|c| c.include_usage);
    let (body, mut headers) = if fin.ctx.stream {
        match replay_sse(&hit.body, include_usage) {
            Ok(sse) => (Bytes::from(sse), sse_headers()),
            Err(e) => {
                // Only chat completions are replayable; anything else answers whole.
                tracing::debug!(%e, "cached answer not replayable as SSE");
                (hit.body.clone(), json_headers())
            }
        }
    } else {
        (hit.body.clone(), json_headers())
    };
    if fin.ctx.ttft.is_none() && fin.ctx.stream {
        fin.ctx.ttft = Some(fin.ctx.started.elapsed());
    }
    set_header(
        &mut headers,
        "x-switchyard-request-id",
        &fin.ctx.id.to_string(),
    );
    set_header(&mut headers, "x-switchyard-provider", &hit.provider);
    set_header(&mut headers, "x-switchyard-cost-usd", "0");
    apply_headers(&mut headers, &fin.ctx);
    let mut row = fin.ctx.log_row(200);
    fill_usage(&mut row, &hit.usage, None);
    row.provider = Some(hit.provider.clone());
    row.cost_nanos = Some(0);
    row.cache_saved_nanos = Some(hit.cost_nanos.unwrap_or(0));
    if fin.ctx.store_response() {
        row.response_body = Some(super::context::truncated(&hit.body));
    }
    let mut res = (StatusCode::OK, body).into_response();
    res.headers_mut().extend(headers);
    let _ = reply.send(res);
    fin.log(row, None, None).await;
}

fn json_headers() -> HeaderMap {
    let mut h = HeaderMap::new();
    h.insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    h
}

/// Phase 4b: the rate-limit check, before any upstream call.
pub async fn admit(state: &AppState, ctx: &mut RequestCtx) -> Result<(), ApiError> {
    let Some(g) = ctx.govern.as_deref() else {
        return Ok(());
    };
    if g.policies.is_empty() {
        return Ok(());
    }
    let (org, key) = (ctx.key.org.id.to_string(), ctx.key.key.id.to_string());
    let decision = state
        .governance
        .limiter
        .check(&g.policies, &g.scope(ctx, &org, &key))
        .await;
    let refused = decision
        .as_ref()
        .filter(|d| !d.allowed)
        .map(|d| ApiError::RateLimited {
            policy: d.policy.clone(),
            retry_after_secs: d.retry_after_secs.unwrap_or(1),
        });
    if let Some(g) = ctx.govern.as_deref_mut() {
        g.decision = decision;
    }
    refused.map_or(Ok(()), Err)
}

/// Phase 7: charges `tokens` and `cents` policies with what the request used (from its row).
pub async fn after(state: &AppState, ctx: &RequestCtx, row: &LogRow) {
    let Some(g) = ctx.govern.as_deref() else {
        return;
    };
    if g.policies.iter().all(|p| p.unit.is_upfront()) || row.cache_status.as_deref() == Some("hit")
    {
        return;
    }
    let n = |v: Option<i64>| v.unwrap_or(0).max(0) as u64;
    let spent = Spent {
        tokens: n(row.prompt_tokens) + n(row.completion_tokens),
        cost_nanos: row.cost_nanos.unwrap_or(0),
    };
    let (org, key) = (ctx.key.org.id.to_string(), ctx.key.key.id.to_string());
    state
        .governance
        .limiter
        .deduct(&g.policies, &g.scope(ctx, &org, &key), spent)
        .await;
}

/// A collector for a stream whose answer should be cached (`None` otherwise).
pub fn collector(state: &AppState, ctx: &RequestCtx) -> Option<SseCollector> {
    ctx.govern
        .as_deref()
        .filter(|g| g.wants_store())
        .map(|_| SseCollector::new(state.config.governance.cache_max_entry_bytes))
}

/// Phase 7: stores a successful answer (a whole body, or a stream's reassembly).
pub async fn store(
    state: &AppState,
    ctx: &RequestCtx,
    body: Bytes,
    usage: &Usage,
    cost_nanos: Option<i64>,
    provider: &str,
) {
    let Some(g) = ctx.govern.as_deref().filter(|g| g.wants_store()) else {
        return;
    };
    let (Some(cache), Some(ttl)) = (
        g.cache.as_ref(),
        g.cache.as_ref().and_then(|c| c.control.store_ttl),
    ) else {
        return;
    };
    let answer = CachedAnswer::new(body, usage.clone(), cost_nanos, provider, &ctx.model);
    state.governance.cache.put(&cache.key, answer, ttl).await;
}
