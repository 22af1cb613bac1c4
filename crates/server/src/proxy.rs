//! `POST /v1/chat/completions`: the request path, in order.
//!
//! 1. **Auth**: the gateway key (cached by hash) → key + org. 401 otherwise.
//! 2. **Body**: read up to `max_body_bytes` (413), parse JSON (400), require `model` and
//!    `messages`.
//! 3. **Routing**: the model string → attempts (BYOK before PTB, then priority, then price).
//! 4. **Attempts**, in order: for PTB, hold the worst-case cost on the org's balance (402 when no
//!    attempt can be covered); build the provider request (adapter), send it; a retryable failure
//!    (connect, timeout, 429, 5xx) releases the hold and moves on, honouring `Retry-After` when the
//!    next attempt is the same provider; a caller error (4xx) is answered at once.
//! 5. **Answer**: whole answers are translated, priced, settled and answered with the
//!    `x-switchyard-*` headers; streams are passed through chunk by chunk while usage is captured,
//!    and settle when they end — also when the client goes away mid-stream (the upstream is
//!    drained in the background so the provider's final usage is known).
//! 6. **Log**: one row per request, handed to the batched writer (never awaited).

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use futures::StreamExt;
use serde_json::Value;
use switchyard_cost::{CostBreakdown, Usage};
use switchyard_providers::adapter::{
    self, Credentials, Exchange, RequestOptions, StreamTranslator, Target,
};
use switchyard_providers::error::{ErrorKind, ProviderError, Secret};
use switchyard_registry::{DeploymentConfig, Endpoint, Provider};
use switchyard_store::{AuthedKey, BillingMode, LogRow, ProviderKey, ReservationId, StoreError};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::billing;
use crate::error::{ApiError, AttemptReport};
use crate::metrics::{AttemptLabels, RequestLabels};
use crate::plan::{self, Billing, PlannedAttempt};
use crate::state::{byok_credentials, without_url, AppState};

/// The largest error body read from an upstream (the rest is not needed to report it).
const MAX_ERROR_BODY: usize = 64 * 1024;
/// How long a stream abandoned by its client may keep draining to learn its final usage.
const DRAIN_LIMIT: Duration = Duration::from_secs(120);
/// Bodies stored in the log are cut at this size.
const MAX_STORED_BODY: usize = 256 * 1024;

/// What is known about a request as it goes through the path; it becomes its log row.
struct RequestCtx {
    id: Uuid,
    started: Instant,
    created_at: OffsetDateTime,
    key: Arc<AuthedKey>,
    model: String,
    stream: bool,
    user_id: Option<String>,
    properties: std::collections::BTreeMap<String, String>,
    request_body: Option<String>,
    attempts: Vec<AttemptReport>,
    /// Time spent waiting on upstreams (excluded from the gateway's own overhead).
    upstream_time: Duration,
}

impl RequestCtx {
    fn log_row(&self, status: u16) -> LogRow {
        LogRow {
            id: self.id,
            org_id: self.key.org.id,
            key_id: Some(self.key.key.id),
            model: self.model.clone(),
            endpoint: None,
            provider: None,
            billing: None,
            status,
            error_type: None,
            attempts: serde_json::to_value(&self.attempts).unwrap_or(Value::Null),
            prompt_tokens: None,
            completion_tokens: None,
            cached_tokens: None,
            cache_write_tokens: None,
            reasoning_tokens: None,
            cost_nanos: None,
            latency_ms: self.started.elapsed().as_millis() as i64,
            ttft_ms: None,
            overhead_us: None,
            stream: self.stream,
            user_id: self.user_id.clone(),
            properties: self.properties.clone(),
            request_body: self.request_body.clone(),
            response_body: None,
            created_at: self.created_at,
        }
    }
}

fn fill_usage(row: &mut LogRow, usage: &Usage) {
    let n = |v: Option<u64>| v.map(|v| v as i64);
    if !usage.is_unreported() {
        row.prompt_tokens = Some(usage.prompt_tokens() as i64);
    }
    row.completion_tokens = n(usage.output);
    row.cached_tokens = n(usage.cache_read);
    let writes = usage.cache_write_5m.is_some() || usage.cache_write_1h.is_some();
    row.cache_write_tokens = writes.then(|| usage.cache_write() as i64);
    row.reasoning_tokens = n(usage.reasoning);
}

fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// `x-switchyard-user-id` and `x-switchyard-property-<name>` headers.
fn custom_properties(
    headers: &HeaderMap,
) -> (Option<String>, std::collections::BTreeMap<String, String>) {
    let user = header_str(headers, "x-switchyard-user-id").map(|s| s.chars().take(256).collect());
    let mut props = std::collections::BTreeMap::new();
    for (name, value) in headers {
        if let Some(prop) = name.as_str().strip_prefix("x-switchyard-property-") {
            if let Ok(v) = value.to_str() {
                if props.len() < 32 {
                    props.insert(prop.to_owned(), v.chars().take(1024).collect());
                }
            }
        }
    }
    (user, props)
}

fn truncated(bytes: &[u8]) -> String {
    let cut = &bytes[..bytes.len().min(MAX_STORED_BODY)];
    String::from_utf8_lossy(cut).into_owned()
}

/// The handler.
pub async fn chat_completions(state: Arc<AppState>, headers: HeaderMap, body: Body) -> Response {
    let started = Instant::now();
    state.metrics.in_flight.inc();
    let key = match state
        .auth
        .authenticate(state.store.as_ref(), header_str(&headers, "authorization"))
        .await
    {
        Ok(k) => k,
        Err(e) => {
            state.metrics.in_flight.dec();
            state
                .metrics
                .requests
                .get_or_create(&RequestLabels {
                    status: e.status().as_u16(),
                    billing: "none",
                })
                .inc();
            return e.into_response();
        }
    };
    let (user_id, properties) = custom_properties(&headers);
    let mut ctx = RequestCtx {
        id: Uuid::now_v7(),
        started,
        created_at: OffsetDateTime::now_utc(),
        key,
        model: String::new(),
        stream: false,
        user_id,
        properties,
        request_body: None,
        attempts: Vec::new(),
        upstream_time: Duration::ZERO,
    };
    let response = match handle(&state, &mut ctx, body).await {
        Ok(r) => r,
        Err(e) => {
            let status = e.status().as_u16();
            let mut row = ctx.log_row(status);
            row.error_type = Some(e.error_type().to_owned());
            row.overhead_us = Some(
                started
                    .elapsed()
                    .saturating_sub(ctx.upstream_time)
                    .as_micros() as i64,
            );
            state.log.log(row);
            state
                .metrics
                .requests
                .get_or_create(&RequestLabels {
                    status,
                    billing: "none",
                })
                .inc();
            let mut res = e.into_response();
            set_header(
                res.headers_mut(),
                "x-switchyard-request-id",
                &ctx.id.to_string(),
            );
            res
        }
    };
    state.metrics.in_flight.dec();
    response
}

fn set_header(headers: &mut HeaderMap, name: &'static str, value: &str) {
    if let Ok(v) = HeaderValue::from_str(value) {
        headers.insert(name, v);
    }
}

async fn read_body(body: Body, limit: usize) -> Result<Bytes, ApiError> {
    axum::body::to_bytes(body, limit).await.map_err(|e| {
        // The only failure of a length-limited read we cause ourselves is the limit.
        if std::error::Error::source(&e).is_some_and(|s| s.to_string().contains("length limit"))
            || e.to_string().contains("length limit")
        {
            ApiError::PayloadTooLarge { limit }
        } else {
            ApiError::bad_request(format!("could not read the request body: {e}"), None)
        }
    })
}

fn parse_request(bytes: &[u8]) -> Result<Value, ApiError> {
    let v: Value = serde_json::from_slice(bytes)
        .map_err(|e| ApiError::bad_request(format!("request body is not valid JSON: {e}"), None))?;
    let Some(obj) = v.as_object() else {
        return Err(ApiError::bad_request(
            "request body must be a JSON object",
            None,
        ));
    };
    match obj.get("model") {
        Some(Value::String(s)) if !s.trim().is_empty() => {}
        Some(_) => {
            return Err(ApiError::bad_request(
                "`model` must be a non-empty string",
                Some("model"),
            ))
        }
        None => return Err(ApiError::bad_request("`model` is required", Some("model"))),
    }
    match obj.get("messages") {
        Some(Value::Array(m)) if !m.is_empty() => {}
        _ => {
            return Err(ApiError::bad_request(
                "`messages` must be a non-empty array",
                Some("messages"),
            ))
        }
    }
    if let Some(s) = obj.get("stream") {
        if !s.is_boolean() && !s.is_null() {
            return Err(ApiError::bad_request(
                "`stream` must be a boolean",
                Some("stream"),
            ));
        }
    }
    Ok(v)
}

/// Merges the key's config over the gateway's base URL override for a provider.
fn key_config(
    state: &AppState,
    provider: &str,
    from_key: Option<&switchyard_store::ProviderKeyConfig>,
) -> DeploymentConfig {
    let mut c = DeploymentConfig::default();
    if let Some(k) = from_key {
        c.region = k.region.clone();
        c.project_id = k.project_id.clone();
        c.resource_name = k.resource_name.clone();
        c.deployment_name = k.deployment_name.clone();
        c.api_version = k.api_version.clone();
        c.base_uri = k.base_uri.clone();
    }
    if c.base_uri.is_none() {
        c.base_uri = state.base_urls.get(provider).cloned();
    }
    c
}

async fn handle(
    state: &Arc<AppState>,
    ctx: &mut RequestCtx,
    body: Body,
) -> Result<Response, ApiError> {
    let bytes = read_body(body, state.config.max_body_bytes).await?;
    let request = parse_request(&bytes)?;
    ctx.model = request["model"].as_str().unwrap_or_default().to_owned();
    ctx.stream = request
        .get("stream")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    if ctx.key.org.store_bodies {
        ctx.request_body = Some(truncated(&bytes));
    }

    let org_keys = state
        .org_keys(ctx.key.org.id)
        .await
        .map_err(|e| ApiError::Internal(format!("provider keys: {e}")))?;
    let registry = state.registry.clone();
    let attempts = plan::plan(&registry, &ctx.model, &org_keys, &state.ptb)?;
    let org_keys = &org_keys.keys;

    let mut failures: Vec<(ProviderError, AttemptReport)> = Vec::new();
    let mut credit_refusal: Option<ApiError> = None;
    for (index, attempt) in attempts.iter().enumerate() {
        if index > 0 {
            // Honour Retry-After only when trying the same provider again.
            if let Some((last, _)) = failures.last() {
                if last.provider == attempt.provider.id {
                    if let Some(after) = last.retry_after {
                        tokio::time::sleep(
                            after.min(Duration::from_millis(state.config.max_retry_wait_ms)),
                        )
                        .await;
                    }
                }
            }
        }
        let outcome =
            try_attempt(state, ctx, &request, bytes.len(), attempt, org_keys, index).await;
        match outcome {
            Ok(response) => return Ok(response),
            Err(AttemptFailure::Credits(e)) => {
                credit_refusal.get_or_insert(e);
            }
            Err(AttemptFailure::Fatal(e)) => return Err(e),
            Err(AttemptFailure::Provider(e)) => {
                let report =
                    AttemptReport::from_error(&attempt.endpoint_id(), attempt.billing.label(), &e);
                ctx.attempts.push(report.clone());
                state
                    .metrics
                    .attempts
                    .get_or_create(&AttemptLabels {
                        provider: e.provider.clone(),
                        outcome: e.kind.label(),
                    })
                    .inc();
                let retryable = e.retryable;
                failures.push((e, report));
                if !retryable {
                    return Err(ApiError::from_attempts(failures));
                }
            }
        }
    }
    if failures.is_empty() {
        if let Some(e) = credit_refusal {
            return Err(e);
        }
    }
    Err(ApiError::from_attempts(failures))
}

enum AttemptFailure {
    /// The provider (or the way to it) failed: maybe try the next attempt.
    Provider(ProviderError),
    /// The org cannot cover this PTB attempt.
    Credits(ApiError),
    /// Stop: a gateway-side failure.
    Fatal(ApiError),
}

/// A PTB hold that is released unless settled (also on panic or early return).
struct Hold {
    state: Arc<AppState>,
    id: Option<ReservationId>,
}

impl Hold {
    fn take(&mut self) -> Option<ReservationId> {
        self.id.take()
    }
}

impl Drop for Hold {
    fn drop(&mut self) {
        if let Some(id) = self.id.take() {
            let state = self.state.clone();
            tokio::spawn(async move {
                if let Err(e) = state.store.release(id).await {
                    tracing::warn!(reservation = %id.0, error = %e, "could not release a credit hold; it will expire");
                }
            });
        }
    }
}

fn credentials_for<'a>(
    state: &'a AppState,
    attempt: &PlannedAttempt<'_>,
    keys: &'a [ProviderKey],
) -> Result<
    (
        Credentials,
        Option<switchyard_providers::google::auth::ServiceAccount>,
        DeploymentConfig,
    ),
    ProviderError,
> {
    let provider = attempt.provider.id.as_str();
    match &attempt.billing {
        Billing::Ptb => {
            let ptb = state.ptb.get(provider).ok_or_else(|| {
                ProviderError::config(provider, "the gateway has no credentials for this provider")
            })?;
            let mut config = ptb.config.clone();
            if config.base_uri.is_none() {
                config.base_uri = state.base_urls.get(provider).cloned();
            }
            Ok((ptb.credentials.clone(), ptb.service_account.clone(), config))
        }
        Billing::Byok { key_index } => {
            let key = &keys[*key_index];
            let (credentials, sa) = byok_credentials(&key.secret).map_err(|e| {
                ProviderError::config(provider, format!("stored key is not usable: {e}"))
            })?;
            Ok((
                credentials,
                sa,
                key_config(state, provider, Some(&key.info.config)),
            ))
        }
    }
}

async fn try_attempt(
    state: &Arc<AppState>,
    ctx: &mut RequestCtx,
    request: &Value,
    body_len: usize,
    attempt: &PlannedAttempt<'_>,
    keys: &[ProviderKey],
    index: usize,
) -> Result<Response, AttemptFailure> {
    let provider: &Provider = attempt.provider;
    let endpoint: &Endpoint = attempt.endpoint.as_ref();

    // 1. PTB: hold the worst case first; nothing is sent that cannot be paid for.
    let mut hold = Hold {
        state: state.clone(),
        id: None,
    };
    if matches!(attempt.billing, Billing::Ptb) {
        let need = billing::reservation_nanos(request, body_len, endpoint);
        let ttl = Duration::from_secs(state.config.billing.reservation_ttl_secs);
        match state.store.reserve(ctx.key.org.id, need, ttl).await {
            Ok(id) => hold.id = Some(id),
            Err(StoreError::InsufficientCredits {
                available, needed, ..
            }) => {
                return Err(AttemptFailure::Credits(ApiError::InsufficientCredits {
                    balance: switchyard_cost::nanos_to_usd(available).to_string(),
                    needed: switchyard_cost::nanos_to_usd(needed).to_string(),
                }));
            }
            Err(e) => {
                return Err(AttemptFailure::Fatal(ApiError::Internal(format!(
                    "credit reservation failed: {e}"
                ))))
            }
        }
    }

    // 2. Credentials and the outbound request.
    let (mut credentials, service_account, config) =
        credentials_for(state, attempt, keys).map_err(AttemptFailure::Provider)?;
    if let Some(sa) = &service_account {
        let token = state.google_tokens.token(sa).await.map_err(|e| {
            let kind = if e.retryable() {
                ErrorKind::Upstream5xx
            } else {
                ErrorKind::Auth
            };
            AttemptFailure::Provider(ProviderError::new(
                &provider.id,
                kind,
                format!("Google token exchange: {e}"),
            ))
        })?;
        credentials = Credentials::GoogleAccessToken(Secret::new(token.secret().to_owned()));
    }
    let target = Target::new(provider, endpoint, &config);
    let request_id = ctx.id.to_string();
    let opts = RequestOptions::new(ctx.stream, &request_id);
    let prepared = adapter::prepare(&target, &credentials, request, &opts)
        .map_err(AttemptFailure::Provider)?;
    let exchange = prepared.exchange;
    let up = prepared.request;

    // 3. Send.
    let sent = Instant::now();
    let mut builder = state
        .http
        .request(up.method.clone(), &up.url)
        .headers(up.headers)
        .body(up.body);
    if !ctx.stream {
        builder = builder.timeout(state.config.request_timeout());
    }
    let response = match tokio::time::timeout(state.config.request_timeout(), builder.send()).await
    {
        Err(_) => Err(ProviderError::timeout(
            &provider.id,
            "no response headers in time",
        )),
        Ok(Err(e)) if e.is_timeout() => Err(ProviderError::timeout(&provider.id, without_url(&e))),
        Ok(Err(e)) => Err(ProviderError::connect(&provider.id, without_url(&e))),
        Ok(Ok(r)) => Ok(r),
    };
    let response = match response {
        Ok(r) => r,
        Err(e) => {
            ctx.upstream_time += sent.elapsed();
            return Err(AttemptFailure::Provider(e));
        }
    };
    let status = response.status().as_u16();
    if status >= 400 {
        let headers = response.headers().clone();
        let body = read_limited(response, MAX_ERROR_BODY).await;
        ctx.upstream_time += sent.elapsed();
        return Err(AttemptFailure::Provider(
            exchange.map_error(status, &headers, &body),
        ));
    }

    let billing_mode = attempt.billing.mode();
    if !ctx.stream {
        let body = match response.bytes().await {
            Ok(b) => b,
            Err(e) => {
                ctx.upstream_time += sent.elapsed();
                let err = if e.is_timeout() {
                    ProviderError::timeout(&provider.id, without_url(&e))
                } else {
                    ProviderError::stream_interrupted(&provider.id, without_url(&e))
                };
                return Err(AttemptFailure::Provider(err));
            }
        };
        ctx.upstream_time += sent.elapsed();
        let mapped = exchange
            .map_response(body)
            .map_err(AttemptFailure::Provider)?;
        let registry_endpoint = (!attempt.passthrough).then(|| attempt.endpoint.as_ref());
        let cost = price(state, registry_endpoint, &mapped.usage);
        settle(state, hold.take(), cost.as_ref()).await;
        let mut row = ctx.log_row(200);
        finish_row(
            &mut row,
            &AttemptMeta::of(attempt),
            &mapped.usage,
            cost.as_ref(),
        );
        row.overhead_us = Some(
            ctx.started
                .elapsed()
                .saturating_sub(ctx.upstream_time)
                .as_micros() as i64,
        );
        if ctx.key.org.store_bodies {
            row.response_body = Some(truncated(&mapped.body));
        }
        observe(state, &row, billing_mode);
        state.log.log(row);
        let mut res = (
            StatusCode::OK,
            [(http::header::CONTENT_TYPE, "application/json")],
            mapped.body,
        )
            .into_response();
        let h = res.headers_mut();
        answer_headers(h, &ctx.id, attempt, index);
        if let Some(c) = &cost {
            set_header(h, "x-switchyard-cost-usd", &c.total.normalize().to_string());
        }
        return Ok(res);
    }

    // Streaming: answer now, settle and log when the stream ends (however it ends).
    let mut res_headers = HeaderMap::new();
    answer_headers(&mut res_headers, &ctx.id, attempt, index);
    let finisher = StreamFinisher {
        state: state.clone(),
        row: Some(ctx.log_row(200)),
        attempt_meta: AttemptMeta::of(attempt),
        hold: hold.take(),
        started: ctx.started,
        upstream_before: ctx.upstream_time,
        sent,
        ttft: None,
    };
    let body = stream_body(response, exchange, finisher);
    let mut res = (StatusCode::OK, body).into_response();
    let h = res.headers_mut();
    h.insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    h.insert(
        http::header::CACHE_CONTROL,
        HeaderValue::from_static("no-cache"),
    );
    h.extend(res_headers);
    Ok(res)
}

async fn read_limited(response: reqwest::Response, limit: usize) -> Vec<u8> {
    let mut out = Vec::new();
    let mut stream = response.bytes_stream();
    while let Some(Ok(chunk)) = stream.next().await {
        let room = limit.saturating_sub(out.len());
        out.extend_from_slice(&chunk[..chunk.len().min(room)]);
        if out.len() >= limit {
            break;
        }
    }
    out
}

fn answer_headers(h: &mut HeaderMap, id: &Uuid, attempt: &PlannedAttempt<'_>, index: usize) {
    set_header(h, "x-switchyard-request-id", &id.to_string());
    set_header(h, "x-switchyard-provider", &attempt.provider.id);
    set_header(h, "x-switchyard-endpoint", &attempt.endpoint_id());
    set_header(h, "x-switchyard-billing", attempt.billing.label());
    set_header(h, "x-switchyard-fallback-index", &index.to_string());
}

/// The cost of an answer; `None` when unpriced (a passthrough model the registry does not know).
/// `endpoint` is the registry endpoint answered by, `None` for a passthrough.
fn price(state: &AppState, endpoint: Option<&Endpoint>, usage: &Usage) -> Option<CostBreakdown> {
    match endpoint {
        Some(e) => Some(state.registry.price_endpoint(e, usage)),
        // A provider-reported cost is still a price.
        None => usage.provider_cost.map(|c| CostBreakdown {
            tier_threshold: 0,
            lines: Vec::new(),
            computed: c,
            provider_reported: Some(c),
            total: c,
        }),
    }
}

/// Debits a PTB hold at the exact cost; returns the charged nanos (None for BYOK or on failure).
async fn settle(
    state: &AppState,
    hold: Option<ReservationId>,
    cost: Option<&CostBreakdown>,
) -> Option<i64> {
    let id = hold?;
    // PTB never routes to an unpriced endpoint, so a cost is always there; 0 is a defensive floor.
    let nanos = cost.map_or(0, CostBreakdown::total_nanos);
    match state.store.settle(id, nanos).await {
        Ok(_) => Some(nanos),
        Err(e) => {
            // The hold stays and expires; the debit must not be lost silently.
            tracing::error!(reservation = %id.0, nanos, error = %e, "credit settlement failed");
            None
        }
    }
}

/// What a finished request's log row needs to know about its attempt (owned, for streams).
#[derive(Clone)]
struct AttemptMeta {
    endpoint_id: String,
    provider: String,
    billing: BillingMode,
}

impl AttemptMeta {
    fn of(a: &PlannedAttempt<'_>) -> AttemptMeta {
        AttemptMeta {
            endpoint_id: a.endpoint_id(),
            provider: a.provider.id.clone(),
            billing: a.billing.mode(),
        }
    }
}

fn finish_row(row: &mut LogRow, meta: &AttemptMeta, usage: &Usage, cost: Option<&CostBreakdown>) {
    row.endpoint = Some(meta.endpoint_id.clone());
    row.provider = Some(meta.provider.clone());
    row.billing = Some(meta.billing);
    fill_usage(row, usage);
    row.cost_nanos = cost.map(CostBreakdown::total_nanos);
}

fn observe(state: &AppState, row: &LogRow, billing: BillingMode) {
    state
        .metrics
        .requests
        .get_or_create(&RequestLabels {
            status: row.status,
            billing: billing.as_str(),
        })
        .inc();
    state
        .metrics
        .latency_seconds
        .observe(row.latency_ms as f64 / 1000.0);
    if let Some(us) = row.overhead_us {
        state.metrics.overhead_seconds.observe(us as f64 / 1e6);
    }
    if let Some(c) = row.cost_nanos {
        state.metrics.cost_nanos.inc_by(c.max(0) as u64);
    }
}

/// Settles and logs a stream once, when it ends or is dropped.
struct StreamFinisher {
    state: Arc<AppState>,
    row: Option<LogRow>,
    attempt_meta: AttemptMeta,
    hold: Option<ReservationId>,
    started: Instant,
    upstream_before: Duration,
    sent: Instant,
    ttft: Option<Duration>,
}

impl StreamFinisher {
    async fn finish(mut self, usage: Usage, error: Option<ProviderError>) {
        let Some(mut row) = self.row.take() else {
            return;
        };
        let endpoint = self
            .state
            .registry
            .endpoint_by_id(&self.attempt_meta.endpoint_id);
        let cost = price(&self.state, endpoint, &usage);
        settle(&self.state, self.hold.take(), cost.as_ref()).await;
        finish_row(&mut row, &self.attempt_meta, &usage, cost.as_ref());
        row.latency_ms = self.started.elapsed().as_millis() as i64;
        row.ttft_ms = self.ttft.map(|t| t.as_millis() as i64);
        // Overhead of a stream: the time before the upstream call was made.
        let before_send = self
            .sent
            .duration_since(self.started)
            .saturating_sub(self.upstream_before);
        row.overhead_us = Some(before_send.as_micros() as i64);
        if let Some(e) = error {
            row.error_type = Some(e.kind.label().to_owned());
            row.status = 200;
        }
        observe(&self.state, &row, self.attempt_meta.billing);
        self.state.log.log(row);
    }
}

/// The stream the client reads. Owns the upstream; when dropped before the end (client gone),
/// the rest is drained in the background to learn the usage, then settled and logged.
struct ProxyStream {
    upstream: Option<futures::stream::BoxStream<'static, reqwest::Result<Bytes>>>,
    translator: Option<StreamTranslator>,
    finisher: Option<StreamFinisher>,
    provider: String,
}

impl ProxyStream {
    fn take_parts(
        &mut self,
    ) -> Option<(
        futures::stream::BoxStream<'static, reqwest::Result<Bytes>>,
        StreamTranslator,
        StreamFinisher,
    )> {
        Some((
            self.upstream.take()?,
            self.translator.take()?,
            self.finisher.take()?,
        ))
    }
}

impl Drop for ProxyStream {
    fn drop(&mut self) {
        let Some((mut upstream, mut translator, finisher)) = self.take_parts() else {
            return;
        };
        let provider = self.provider.clone();
        // The client left mid-stream: keep reading (bounded) so the provider's usage is known.
        tokio::spawn(async move {
            let mut sink = Vec::new();
            let mut error = None;
            let drained = tokio::time::timeout(DRAIN_LIMIT, async {
                while let Some(chunk) = upstream.next().await {
                    match chunk {
                        Ok(bytes) => {
                            sink.clear();
                            if let Err(e) = translator.feed(&bytes, &mut sink) {
                                error = Some(e);
                                return;
                            }
                        }
                        Err(e) => {
                            error = Some(ProviderError::stream_interrupted(
                                &provider,
                                without_url(&e),
                            ));
                            return;
                        }
                    }
                }
                sink.clear();
                if let Err(e) = translator.finish(&mut sink) {
                    error = Some(e);
                }
            })
            .await;
            if drained.is_err() {
                error = Some(ProviderError::timeout(
                    &provider,
                    "stream abandoned by the client did not end in time",
                ));
            }
            let usage = translator.usage().clone();
            finisher.finish(usage, error).await;
        });
    }
}

fn stream_body(response: reqwest::Response, exchange: Exchange, finisher: StreamFinisher) -> Body {
    let provider = exchange.provider.clone();
    let state = ProxyStream {
        upstream: Some(response.bytes_stream().boxed()),
        translator: Some(exchange.stream_translator()),
        finisher: Some(finisher),
        provider,
    };
    let stream = futures::stream::unfold(state, |mut s| async move {
        loop {
            let upstream = s.upstream.as_mut()?;
            let next = upstream.next().await;
            let translator = s.translator.as_mut()?;
            let mut out = Vec::new();
            match next {
                Some(Ok(bytes)) => {
                    if let Some(f) = s.finisher.as_mut() {
                        if f.ttft.is_none() {
                            f.ttft = Some(f.started.elapsed());
                        }
                    }
                    match translator.feed(&bytes, &mut out) {
                        Ok(()) if out.is_empty() => continue,
                        Ok(()) => return Some((Ok::<Bytes, std::io::Error>(Bytes::from(out)), s)),
                        Err(e) => {
                            let (_, translator, finisher) = s.take_parts()?;
                            let frame = error_frame(&e);
                            finisher.finish(translator.usage().clone(), Some(e)).await;
                            return Some((Ok(frame), s));
                        }
                    }
                }
                Some(Err(e)) => {
                    let (_, translator, finisher) = s.take_parts()?;
                    let err = ProviderError::stream_interrupted(&s.provider, without_url(&e));
                    let frame = error_frame(&err);
                    finisher.finish(translator.usage().clone(), Some(err)).await;
                    return Some((Ok(frame), s));
                }
                None => {
                    let (_, mut translator, finisher) = s.take_parts()?;
                    let result = translator.finish(&mut out);
                    let error = result.err();
                    if let Some(e) = &error {
                        out.extend_from_slice(&error_frame(e));
                    }
                    finisher.finish(translator.usage().clone(), error).await;
                    return if out.is_empty() {
                        None
                    } else {
                        Some((Ok(Bytes::from(out)), s))
                    };
                }
            }
        }
    });
    Body::from_stream(stream)
}

/// An error inside a stream that already started: an SSE `error` object, as OpenAI sends one.
fn error_frame(e: &ProviderError) -> Bytes {
    let v = serde_json::json!({"error": {"message": e.message, "type": "upstream_error", "code": e.kind.label(), "provider": e.provider}});
    Bytes::from(format!("data: {v}\n\n"))
}
