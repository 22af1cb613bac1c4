//! Phases 6 and 7: answer the client, then settle and log — always, exactly once.
//!
//! A whole answer is priced, its hold settled, and the answer sent before the log row is
//! queued. A stream's head is sent at once; its body is a channel the request's task fills
//! chunk by chunk, so the response body only forwards bytes. When the client stops reading
//! (at `[DONE]`, mid-chunk, before the first byte), the task reads the upstream on for at most
//! [`DRAIN_LIMIT`] to learn the final usage, then settles and logs as for any stream.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use futures::StreamExt;
use switchyard_cost::{CostBreakdown, Usage};
use switchyard_providers::error::ProviderError;
use switchyard_registry::Endpoint;
use switchyard_store::{BillingMode, Debit, LogRow};
use tokio::sync::{mpsc, oneshot};

use super::attempt::Sent;
use super::context::{fill_usage, truncated, Served};
use super::govern;
use super::plan::PlannedAttempt;
use super::{set_header, AnswerReader, RequestCtx, StreamReader};
use crate::credits::Hold;
use crate::error::ApiError;
use crate::governance::collect::SseCollector;
use crate::metrics::RequestLabels;
use crate::state::{without_url, AppState};

/// How long a stream abandoned by its client may keep draining to learn its final usage.
const DRAIN_LIMIT: Duration = Duration::from_secs(120);
/// Chunks queued for a slow client before the task stops reading the upstream.
const STREAM_BUFFER: usize = 8;

/// Owns the request's context until its log row is queued. If the task dies before that (a
/// panic), dropping it still logs the request; a hold it had is released by its own guard.
pub struct Finish {
    state: Arc<AppState>,
    pub ctx: RequestCtx,
    logged: bool,
}

impl Finish {
    pub fn new(state: Arc<AppState>, ctx: RequestCtx) -> Finish {
        Finish {
            state,
            ctx,
            logged: false,
        }
    }

    /// Queues the row (waiting for room: a row with a charge is never dropped), after
    /// charging the rate limits with the request's real usage.
    pub(super) async fn log(
        mut self,
        row: LogRow,
        debit: Option<Debit>,
        billing: Option<BillingMode>,
    ) {
        self.logged = true;
        super::govern::after(&self.state, &self.ctx, &row).await;
        observe(&self.state, &row, billing);
        self.state.log.submit(row, debit).await;
    }

    /// Answers with an error and logs it.
    pub async fn fail(self, e: ApiError, reply: oneshot::Sender<Response>) {
        let status = e.status().as_u16();
        let mut row = self.ctx.log_row(status);
        row.error_type = Some(e.error_type().to_owned());
        let mut res = e.into_response();
        set_header(
            res.headers_mut(),
            "x-switchyard-request-id",
            &self.ctx.id.to_string(),
        );
        super::govern::apply_headers(res.headers_mut(), &self.ctx);
        let _ = reply.send(res);
        self.log(row, None, None).await;
    }
}

impl Drop for Finish {
    fn drop(&mut self) {
        if self.logged {
            return;
        }
        let mut row = self.ctx.log_row(500);
        row.error_type = Some("server_error".into());
        let log = self.state.log.clone();
        tokio::spawn(async move { log.submit(row, None).await });
    }
}

fn observe(state: &AppState, row: &LogRow, billing: Option<BillingMode>) {
    state
        .metrics
        .requests
        .get_or_create(&RequestLabels {
            status: row.status,
            billing: billing.map_or("none", BillingMode::as_str),
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

/// The cost of an answer; `None` when unpriced (a passthrough model the registry does not
/// know and the provider reported no cost for).
pub fn price(
    state: &AppState,
    endpoint: Option<&Endpoint>,
    usage: &Usage,
) -> Option<CostBreakdown> {
    match endpoint {
        Some(e) => Some(state.registry.price_endpoint(e, usage)),
        None => usage.provider_cost.map(|c| CostBreakdown {
            tier_threshold: 0,
            lines: Vec::new(),
            computed: c,
            provider_reported: Some(c),
            total: c,
        }),
    }
}

/// Ends the hold with the exact cost: the debit to commit with the row.
fn settle(ctx: &RequestCtx, hold: Option<Hold>, cost: Option<&CostBreakdown>) -> Option<Debit> {
    // PTB never routes to an unpriced endpoint, so a cost is always there; 0 is a floor.
    let nanos = cost.map_or(0, CostBreakdown::total_nanos);
    hold.map(|h| h.settle(ctx.id, nanos))
}

fn answer_headers(h: &mut HeaderMap, ctx: &RequestCtx, attempt: &PlannedAttempt<'_>, index: usize) {
    set_header(h, "x-switchyard-request-id", &ctx.id.to_string());
    set_header(h, "x-switchyard-provider", &attempt.provider.id);
    set_header(h, "x-switchyard-endpoint", &attempt.endpoint_id());
    set_header(h, "x-switchyard-billing", attempt.billing.label());
    set_header(h, "x-switchyard-fallback-index", &index.to_string());
    super::govern::apply_headers(h, ctx);
}

/// Phase 6 and 7 for the attempt that answered.
pub async fn deliver<R: AnswerReader>(
    mut fin: Finish,
    attempt: &PlannedAttempt<'_>,
    index: usize,
    sent: Sent<R>,
    reply: oneshot::Sender<Response>,
) {
    let billing = attempt.billing.mode();
    fin.ctx.served = Some(Served {
        endpoint_id: attempt.endpoint_id(),
        provider: attempt.provider.id.clone(),
        billing,
    });
    let endpoint = (!attempt.passthrough).then(|| attempt.endpoint.as_ref());
    match sent {
        Sent::Whole {
            whole,
            hold,
            status,
        } => {
            let cost = price(&fin.state, endpoint, &whole.usage);
            let debit = settle(&fin.ctx, hold, cost.as_ref());
            let mut row = fin.ctx.log_row(status);
            fill_usage(&mut row, &whole.usage, cost.as_ref());
            if fin.ctx.store_response() {
                row.response_body = Some(truncated(&whole.body));
            }
            let body = whole.body.clone();
            let code = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
            let mut res = (code, whole.body).into_response();
            let h = res.headers_mut();
            h.extend(whole.headers);
            answer_headers(h, &fin.ctx, attempt, index);
            if let Some(c) = &cost {
                set_header(h, "x-switchyard-cost-usd", &c.total.normalize().to_string());
            }
            let _ = reply.send(res);
            let cost_nanos = cost.as_ref().map(CostBreakdown::total_nanos);
            let provider = &attempt.provider.id;
            govern::store(
                &fin.state,
                &fin.ctx,
                body,
                &whole.usage,
                cost_nanos,
                provider,
            )
            .await;
            fin.log(row, debit, Some(billing)).await;
        }
        Sent::Stream {
            status,
            response,
            reader,
            hold,
        } => {
            let (translator, mut headers) = reader.stream(response.headers());
            answer_headers(&mut headers, &fin.ctx, attempt, index);
            let (tx, rx) = mpsc::channel::<Result<Bytes, std::io::Error>>(STREAM_BUFFER);
            let body = Body::from_stream(tokio_stream_from(rx));
            let code = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
            let mut res = (code, body).into_response();
            res.headers_mut().extend(headers);
            let _ = reply.send(res);
            let mut collect = govern::collector(&fin.state, &fin.ctx);
            let provider = &attempt.provider.id;
            let (usage, error) = forward(
                &mut fin.ctx,
                provider,
                response,
                translator,
                tx,
                collect.as_mut(),
            )
            .await;
            let cost = price(&fin.state, endpoint, &usage);
            if let (None, Some(whole)) = (&error, collect.and_then(|c| c.finish())) {
                let cost_nanos = cost.as_ref().map(CostBreakdown::total_nanos);
                let body = Bytes::from(whole);
                govern::store(&fin.state, &fin.ctx, body, &usage, cost_nanos, provider).await;
            }
            let debit = settle(&fin.ctx, hold, cost.as_ref());
            let mut row = fin.ctx.log_row(status);
            fill_usage(&mut row, &usage, cost.as_ref());
            row.error_type = error.map(|e| e.kind.label().to_owned());
            fin.log(row, debit, Some(billing)).await;
        }
    }
}

/// A stream of the channel's chunks (the response body).
fn tokio_stream_from(
    rx: mpsc::Receiver<Result<Bytes, std::io::Error>>,
) -> impl futures::Stream<Item = Result<Bytes, std::io::Error>> + Send + 'static {
    futures::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|c| (c, rx)) })
}

/// Reads the upstream stream to its end, translating each chunk and sending it to the client
/// while it listens; returns the usage and the error the stream ended with, if any.
async fn forward<S: StreamReader>(
    ctx: &mut RequestCtx,
    provider: &str,
    response: reqwest::Response,
    mut translator: S,
    tx: mpsc::Sender<Result<Bytes, std::io::Error>>,
    mut collect: Option<&mut SseCollector>,
) -> (Usage, Option<ProviderError>) {
    let mut upstream = response.bytes_stream();
    let mut listening = true;
    let mut gone_at: Option<tokio::time::Instant> = None;
    let mut error = None;
    let mut out = Vec::new();
    // The reader has no error frame for a broken stream: the client's connection is cut.
    let mut cut = false;
    loop {
        let next = match gone_at {
            None => upstream.next().await,
            Some(at) => match tokio::time::timeout_at(at + DRAIN_LIMIT, upstream.next()).await {
                Ok(n) => n,
                Err(_) => {
                    error = Some(ProviderError::timeout(
                        provider,
                        "stream abandoned by the client did not end in time",
                    ));
                    break;
                }
            },
        };
        out.clear();
        let at_end = next.is_none();
        match next {
            Some(Ok(bytes)) => {
                if ctx.ttft.is_none() {
                    ctx.ttft = Some(ctx.started.elapsed());
                }
                if let Err(e) = translator.feed(&bytes, &mut out) {
                    out.extend_from_slice(&error_frame(&e));
                    error = Some(e);
                }
            }
            Some(Err(e)) => {
                let e = ProviderError::stream_interrupted(provider, without_url(&e));
                match translator.error_frame(&e) {
                    Some(frame) => out.extend_from_slice(&frame),
                    None => cut = true,
                }
                error = Some(e);
            }
            None => {
                if let Err(e) = translator.finish(&mut out) {
                    out.extend_from_slice(&error_frame(&e));
                    error = Some(e);
                }
            }
        }
        let ended = at_end || error.is_some();
        if let Some(c) = collect.as_deref_mut() {
            c.feed(&out);
        }
        if listening
            && !out.is_empty()
            && tx
                .send(Ok(Bytes::from(std::mem::take(&mut out))))
                .await
                .is_err()
        {
            // The client went away: read on to learn the usage, send nothing more.
            listening = false;
            gone_at = Some(tokio::time::Instant::now());
        }
        if cut && listening {
            let _ = tx
                .send(Err(std::io::Error::other("the upstream stream broke")))
                .await;
        }
        if ended {
            break;
        }
    }
    (translator.usage().clone(), error)
}

/// An error inside a stream that already started: an SSE `error` object, as OpenAI sends one.
pub(super) fn error_frame(e: &ProviderError) -> Vec<u8> {
    let v = serde_json::json!({"error": {"message": e.message, "type": "upstream_error", "code": e.kind.label(), "provider": e.provider}});
    format!("data: {v}\n\n").into_bytes()
}

/// `Content-Type: text/event-stream` and `Cache-Control: no-cache`, the head of an SSE answer.
pub fn sse_headers() -> HeaderMap {
    let mut h = HeaderMap::new();
    h.insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    h.insert(
        http::header::CACHE_CONTROL,
        HeaderValue::from_static("no-cache"),
    );
    h
}
