//! The request pipeline every front door shares. The phases of a request, in order:
//!
//! | # | phase | runs | on failure |
//! |---|---|---|---|
//! | 1 | [`authenticate`]: the gateway key → key + org (cached by hash) | in the handler | 401 |
//! | 2 | [`read_body`]: at most `max_body_bytes` | in the handler | 413 / 400 |
//! | 3 | [`FrontDoor::parse`]: the front door's request | in the handler | 400 |
//! | 3b | [`govern::Govern::read`]: which rate-limit policies apply (org, key, header) and whether the response cache is on; nothing when neither | in the handler | 400 `invalid_policy` |
//! | 4 | [`FrontDoor::plan`]: the ordered attempts (model string, keys, PTB) | request task | 404 / 400 |
//! | 4a | [`govern::lookup`]: the response cache; a hit answers now ([`govern::answer_hit`]: cost 0, SSE replay for a stream) and skips 4b–6 | request task | a miss (Redis down: fail open) |
//! | 4b | [`govern::admit`]: the rate-limit check; `request` units taken | request task | 429 `rate_limit_exceeded`, no upstream call (Redis down: fail open) |
//! | 5 | per attempt ([`attempt::run`]): hold the worst case (PTB, [`crate::credits`]), credentials, [`FrontDoor::build`], journal, send, read status | request task | next attempt, or the error |
//! | 6 | answer ([`answer`]): a whole answer mapped by [`AnswerReader::whole`], or a stream forwarded chunk by chunk through [`StreamReader`] | request task | in-stream error frame |
//! | 7 | finish ([`answer::Finish`]): settle (or release) the hold, [`govern::after`] (charge `tokens`/`cents` policies with the real usage), [`govern::store`] a successful answer in the cache, and write exactly one log row | request task, always | — |
//!
//! Phases 1–3 have no side effects, so a client that goes away during them cancels nothing
//! that matters. From phase 4 on, the request belongs to a task of its own (spawned in
//! [`handle`], owning the request's state): the client only waits for its answer and reads
//! the bytes the task sends, so leaving at any moment — before the first byte, mid-chunk, at
//! `[DONE]` — cannot stop the settlement or the log row. A stream whose client left is read
//! on (bounded) to learn the provider's final usage.
//!
//! The [`RequestCtx`] carries what the log row needs through every phase.

pub mod answer;
pub mod attempt;
pub mod chat;
pub mod context;
pub mod govern;
pub mod plan;
pub mod proxy;

use std::sync::Arc;
use std::time::Instant;

use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use switchyard_cost::Usage;
use switchyard_providers::adapter::{Credentials, UpstreamRequest};
use switchyard_providers::error::ProviderError;
use switchyard_store::AuthedKey;
use tokio::sync::oneshot;

use crate::billing::UsageBound;
use crate::error::ApiError;
use crate::metrics::RequestLabels;
use crate::state::AppState;
pub use context::RequestCtx;
use plan::{OrgKeys, PlannedAttempt};

/// What differs between front doors: how a request is read and planned, how each attempt is
/// built and how its answer is read. Everything else is the shared pipeline.
pub trait FrontDoor: Send + Sync + 'static {
    /// The request as this front door understood it.
    type Request: Send + Sync + 'static;
    /// Reads the answer of one attempt.
    type Reader: AnswerReader;

    /// The log row's `route`: `chat` or `proxy`.
    fn route(&self) -> &'static str;

    /// Phase 3: parses the body (400 on bad input); sets `ctx.model` and `ctx.stream`.
    fn parse(&self, ctx: &mut RequestCtx, body: Bytes) -> Result<Self::Request, ApiError>;

    /// Phase 4: the attempts, in order.
    fn plan<'s>(
        &self,
        state: &'s AppState,
        request: &Self::Request,
        ctx: &RequestCtx,
        keys: &OrgKeys,
    ) -> Result<Vec<PlannedAttempt<'s>>, ApiError>;

    /// Phase 5, PTB only: the most usage the provider can bill for this attempt as built (an
    /// attempt that cannot be bounded is not sent on credits).
    fn usage_bound(
        &self,
        target: &switchyard_providers::adapter::Target<'_>,
        request: &Self::Request,
    ) -> Result<UsageBound, ProviderError>;

    /// Phase 5: the upstream request of one attempt and the reader of its answer.
    fn build(
        &self,
        attempt: &PlannedAttempt<'_>,
        target: &switchyard_providers::adapter::Target<'_>,
        credentials: &Credentials,
        request: &Self::Request,
        ctx: &RequestCtx,
    ) -> Result<(UpstreamRequest, Self::Reader), ProviderError>;

    /// Phase 3b: whether the response cache may answer. A hit replays the unified API's
    /// shapes, so a front door that forwards a provider's own answers says no.
    fn caches(&self) -> bool {
        true
    }

    /// Phase 5: the HTTP client the attempt is sent with (the proxy's checks where a caller
    /// names the target).
    fn client<'a>(&'a self, state: &'a AppState) -> &'a reqwest::Client {
        &state.http
    }
}

/// A whole answer, ready for the client.
pub struct Whole {
    pub headers: HeaderMap,
    pub body: Bytes,
    pub usage: Usage,
}

/// Reads one attempt's answer (phase 6).
pub trait AnswerReader: Send + 'static {
    type Stream: StreamReader;
    /// A status ≥ 400 (or a redirect): the attempt failed.
    fn map_error(&self, status: u16, headers: &HeaderMap, body: &[u8]) -> ProviderError;
    /// A whole 2xx answer → the client's body and the usage it reports.
    fn whole(&self, headers: &HeaderMap, body: Bytes) -> Result<Whole, ProviderError>;
    /// Whether the answer is a stream.
    fn is_stream(&self, headers: &HeaderMap) -> bool;
    /// The reader of a 2xx stream, and the headers of the client's answer.
    fn stream(&self, headers: &HeaderMap) -> (Self::Stream, HeaderMap);
    /// Whether every upstream status (3xx and errors too) is the client's answer, with the
    /// upstream's own body: the proxy's. Otherwise only 2xx are answers.
    fn forwards_status(&self) -> bool {
        false
    }
}

/// Turns upstream stream bytes into the client's bytes and keeps the usage.
pub trait StreamReader: Send + 'static {
    fn feed(&mut self, bytes: &[u8], out: &mut Vec<u8>) -> Result<(), ProviderError>;
    fn finish(&mut self, out: &mut Vec<u8>) -> Result<(), ProviderError>;
    fn usage(&self) -> &Usage;
    /// What the client gets when the upstream stream breaks: an error frame in the stream's
    /// format, or `None` to cut the client's connection (the proxy adds nothing to the bytes).
    fn error_frame(&self, e: &ProviderError) -> Option<Vec<u8>> {
        Some(answer::error_frame(e))
    }
}

/// Phase 1: the gateway key behind `Authorization: Bearer`.
pub async fn authenticate(
    state: &AppState,
    headers: &HeaderMap,
) -> Result<Arc<AuthedKey>, ApiError> {
    state
        .auth
        .authenticate(
            state.store.as_ref(),
            context::header_str(headers, "authorization"),
        )
        .await
}

/// Phase 2: the body, at most `limit` bytes.
pub async fn read_body(body: Body, limit: usize) -> Result<Bytes, ApiError> {
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

pub fn set_header(headers: &mut HeaderMap, name: &'static str, value: &str) {
    if let Ok(v) = HeaderValue::from_str(value) {
        headers.insert(name, v);
    }
}

/// Counts a request in flight for as long as it lives (its task included).
pub struct InFlight(Arc<AppState>);

impl InFlight {
    pub fn new(state: &Arc<AppState>) -> InFlight {
        state.metrics.in_flight.inc();
        InFlight(state.clone())
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.metrics.in_flight.dec();
    }
}

/// A request the gateway refused before its task started: answered and logged.
pub(crate) fn refuse(state: &Arc<AppState>, ctx: Option<&RequestCtx>, e: ApiError) -> Response {
    let status = e.status().as_u16();
    let error_type = e.error_type();
    state
        .metrics
        .requests
        .get_or_create(&RequestLabels {
            status,
            billing: "none",
        })
        .inc();
    let mut res = e.into_response();
    if let Some(ctx) = ctx {
        let mut row = ctx.log_row(status);
        row.error_type = Some(error_type.to_owned());
        let log = state.log.clone();
        tokio::spawn(async move { log.submit(row, None).await });
        set_header(
            res.headers_mut(),
            "x-switchyard-request-id",
            &ctx.id.to_string(),
        );
    }
    res
}

/// Runs one request through the pipeline: phases 1–3 here, the rest in the request's task.
pub async fn handle<F: FrontDoor>(
    state: Arc<AppState>,
    door: Arc<F>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let started = Instant::now();
    let _in_flight = InFlight::new(&state);
    let key = match authenticate(&state, &headers).await {
        Ok(k) => k,
        Err(e) => return refuse(&state, None, e),
    };
    let mut ctx = RequestCtx::new(started, key, &headers, door.route());
    let bytes = match read_body(body, state.config.max_body_bytes).await {
        Ok(b) => b,
        Err(e) => return refuse(&state, Some(&ctx), e),
    };
    let request = match door.parse(&mut ctx, bytes.clone()) {
        Ok(r) => r,
        Err(e) => return refuse(&state, Some(&ctx), e),
    };
    ctx.govern = match govern::Govern::read(&state, &ctx, &headers, &bytes, door.caches()) {
        Ok(g) => g,
        Err(e) => return refuse(&state, Some(&ctx), e),
    };
    let (reply, answer) = oneshot::channel();
    tokio::spawn(attempt::run(state.clone(), door, ctx, request, reply));
    match answer.await {
        Ok(res) => res,
        // The task ended without answering: it panicked (its guard logged the request).
        Err(_) => {
            ApiError::Internal("the request failed inside the gateway".into()).into_response()
        }
    }
}
