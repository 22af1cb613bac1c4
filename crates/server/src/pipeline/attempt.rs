//! Phases 4 and 5 in the request's own task: plan the attempts, then try them in order —
//! hold (PTB), credentials, build, journal, send, read the status — until one answers.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::response::Response;
use futures::StreamExt;
use switchyard_providers::adapter::{Credentials, Target};
use switchyard_providers::error::{ErrorKind, ProviderError, Secret};
use switchyard_providers::google::auth::ServiceAccount;
use switchyard_registry::DeploymentConfig;
use switchyard_store::ProviderKey;
use tokio::sync::oneshot;

use super::answer::{self, Finish};
use super::plan::{Billing, PlannedAttempt};
use super::{AnswerReader, FrontDoor, InFlight, RequestCtx, Whole};
use crate::billing;
use crate::credits::{CreditError, Hold};
use crate::error::{ApiError, AttemptReport};
use crate::journal::AttemptRecord;
use crate::metrics::AttemptLabels;
use crate::state::{byok_credentials, without_url, AppState};

/// The largest error body read from an upstream (the rest is not needed to report it).
const MAX_ERROR_BODY: usize = 64 * 1024;

/// What a successful attempt hands to the answer phase.
pub enum Sent<R: AnswerReader> {
    Whole {
        whole: Box<Whole>,
        hold: Option<Hold>,
        /// The client's status: 200, or the upstream's when the reader forwards statuses.
        status: u16,
    },
    Stream {
        status: u16,
        response: reqwest::Response,
        reader: R,
        hold: Option<Hold>,
    },
}

enum AttemptFailure {
    /// The provider (or the way to it) failed: maybe try the next attempt.
    Provider(ProviderError),
    /// The org cannot cover this PTB attempt.
    Credits(ApiError),
    /// Stop: a gateway-side failure.
    Fatal(ApiError),
}

/// The request's task: phases 4–7. Owns everything the request needs, so the client going
/// away cannot stop it; `reply` carries the answer (head and body channel) to the handler.
pub async fn run<F: FrontDoor>(
    state: Arc<AppState>,
    door: Arc<F>,
    ctx: RequestCtx,
    request: F::Request,
    reply: oneshot::Sender<Response>,
) {
    let _in_flight = InFlight::new(&state);
    let mut fin = Finish::new(state.clone(), ctx);
    let keys = match state.org_keys(fin.ctx.key.org.id).await {
        Ok(k) => k,
        Err(e) => {
            let e = ApiError::Internal(format!("provider keys: {e}"));
            return fin.fail(e, reply).await;
        }
    };
    let attempts = match door.plan(&state, &request, &fin.ctx, &keys) {
        Ok(a) => a,
        Err(e) => return fin.fail(e, reply).await,
    };
    if let Some(hit) = super::govern::lookup(&state, &mut fin.ctx).await {
        return super::govern::answer_hit(fin, hit, reply).await;
    }
    if let Err(e) = super::govern::admit(&state, &mut fin.ctx).await {
        return fin.fail(e, reply).await;
    }
    let mut failures: Vec<(ProviderError, AttemptReport)> = Vec::new();
    let mut credit_refusal: Option<ApiError> = None;
    for (index, attempt) in attempts.iter().enumerate() {
        // Honour Retry-After only when trying the same provider again.
        if let Some((last, _)) = failures.last() {
            if last.provider == attempt.provider.id {
                if let Some(after) = last.retry_after {
                    let cap = Duration::from_millis(state.config.max_retry_wait_ms);
                    tokio::time::sleep(after.min(cap)).await;
                }
            }
        }
        let outcome = try_attempt(
            &state,
            &*door,
            &mut fin.ctx,
            &request,
            attempt,
            &keys.keys,
            index,
        )
        .await;
        match outcome {
            Ok(sent) => return answer::deliver(fin, attempt, index, sent, reply).await,
            Err(AttemptFailure::Credits(e)) => {
                credit_refusal.get_or_insert(e);
            }
            Err(AttemptFailure::Fatal(e)) => return fin.fail(e, reply).await,
            Err(AttemptFailure::Provider(e)) => {
                let report =
                    AttemptReport::from_error(&attempt.endpoint_id(), attempt.billing.label(), &e);
                fin.ctx.attempts.push(report.clone());
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
                    break;
                }
            }
        }
    }
    let e = match (failures.is_empty(), credit_refusal) {
        (true, Some(refusal)) => refusal,
        _ => ApiError::from_attempts(failures),
    };
    fin.fail(e, reply).await
}

/// Phase 5 for one attempt.
async fn try_attempt<F: FrontDoor>(
    state: &Arc<AppState>,
    door: &F,
    ctx: &mut RequestCtx,
    request: &F::Request,
    attempt: &PlannedAttempt<'_>,
    keys: &[ProviderKey],
    index: usize,
) -> Result<Sent<F::Reader>, AttemptFailure> {
    let provider = attempt.provider.id.as_str();

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
                provider,
                kind,
                format!("Google token exchange: {e}"),
            ))
        })?;
        credentials = Credentials::GoogleAccessToken(Secret::new(token.secret().to_owned()));
    }
    let target = Target::new(attempt.provider, &attempt.endpoint, &config);
    // Hold the worst case before anything is sent: nothing is sent that cannot be paid for.
    let hold = match attempt.billing {
        Billing::Byok { .. } | Billing::Caller => None,
        Billing::Ptb => {
            let bound = door
                .usage_bound(&target, request)
                .map_err(AttemptFailure::Provider)?;
            let need = billing::hold_nanos(&attempt.endpoint, &bound);
            match state.credits.hold(ctx.key.org.id, need).await {
                Ok(h) => Some(h),
                Err(CreditError::Insufficient { balance, needed }) => {
                    return Err(AttemptFailure::Credits(ApiError::InsufficientCredits {
                        balance: switchyard_cost::nanos_to_usd(balance).to_string(),
                        needed: switchyard_cost::nanos_to_usd(needed).to_string(),
                    }));
                }
                Err(CreditError::Store(e)) => {
                    return Err(AttemptFailure::Fatal(ApiError::Internal(format!(
                        "credit lease failed: {e}"
                    ))))
                }
            }
        }
    };
    let (up, reader) = door
        .build(attempt, &target, &credentials, request, ctx)
        .map_err(AttemptFailure::Provider)?;

    // The trace a crash leaves: written before the call, cleared once the row is committed.
    state.journal.attempt(&AttemptRecord {
        id: ctx.id,
        org: ctx.key.org.id,
        key: Some(ctx.key.key.id),
        model: ctx.model.clone(),
        stream: ctx.stream,
        created_us: (ctx.created_at.unix_timestamp_nanos() / 1000) as i64,
        user_id: ctx.obs.user_id.clone(),
        properties: ctx.obs.properties.clone(),
        endpoint: attempt.endpoint_id(),
        provider: provider.to_owned(),
        billing: attempt.billing.mode(),
        hold_nanos: hold.as_ref().map_or(0, Hold::amount),
        attempt: index,
    });

    let sent = Instant::now();
    let response = send(state, door.client(state), provider, up, ctx.stream).await;
    let response = match response {
        Ok(r) => r,
        Err(e) => {
            ctx.upstream_time += sent.elapsed();
            return Err(AttemptFailure::Provider(e));
        }
    };
    let status = response.status().as_u16();
    ctx.ttfb = Some(ctx.started.elapsed());
    let forwards = reader.forwards_status();
    let answer_status = if forwards { status } else { 200 };
    if (300..400).contains(&status) && !forwards {
        ctx.upstream_time += sent.elapsed();
        let mut e = ProviderError::new(
            provider,
            ErrorKind::Redirect,
            format!("the provider answered with a redirect (HTTP {status}); the gateway does not follow redirects"),
        );
        e.status = Some(status);
        return Err(AttemptFailure::Provider(e));
    }
    if !(200..300).contains(&status) && !forwards {
        let headers = response.headers().clone();
        let body = read_limited(response, MAX_ERROR_BODY).await;
        ctx.upstream_time += sent.elapsed();
        return Err(AttemptFailure::Provider(
            reader.map_error(status, &headers, &body),
        ));
    }
    ctx.sent = Some(sent);
    if reader.is_stream(response.headers()) {
        return Ok(Sent::Stream {
            status: answer_status,
            response,
            reader,
            hold,
        });
    }
    let headers = response.headers().clone();
    let body = match response.bytes().await {
        Ok(b) => b,
        Err(e) => {
            ctx.upstream_time += sent.elapsed();
            let err = if e.is_timeout() {
                ProviderError::timeout(provider, without_url(&e))
            } else {
                ProviderError::stream_interrupted(provider, without_url(&e))
            };
            return Err(AttemptFailure::Provider(err));
        }
    };
    ctx.upstream_time += sent.elapsed();
    let whole = reader
        .whole(&headers, body)
        .map_err(AttemptFailure::Provider)?;
    Ok(Sent::Whole {
        whole: Box::new(whole),
        hold,
        status: answer_status,
    })
}

/// Sends the upstream request: a whole answer must arrive within the request timeout, a
/// stream's headers too (its body then has no overall limit).
async fn send(
    state: &AppState,
    client: &reqwest::Client,
    provider: &str,
    up: switchyard_providers::adapter::UpstreamRequest,
    stream: bool,
) -> Result<reqwest::Response, ProviderError> {
    let mut builder = client
        .request(up.method, &up.url)
        .headers(up.headers)
        .body(up.body);
    if !stream {
        builder = builder.timeout(state.config.request_timeout());
    }
    match tokio::time::timeout(state.config.request_timeout(), builder.send()).await {
        Err(_) => Err(ProviderError::timeout(
            provider,
            "no response headers in time",
        )),
        Ok(Err(e)) if e.is_timeout() => Err(ProviderError::timeout(provider, without_url(&e))),
        Ok(Err(e)) => Err(ProviderError::connect(provider, without_url(&e))),
        Ok(Ok(r)) => Ok(r),
    }
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

/// Merges a key's config over the gateway's base URL override for a provider.
fn key_config(
    state: &AppState,
    provider: &str,
    from_key: Option<&DeploymentConfig>,
) -> DeploymentConfig {
    let mut c = from_key.cloned().unwrap_or_default();
    if c.base_uri.is_none() {
        c.base_uri = state.base_urls.get(provider).cloned();
    }
    c
}

/// The credentials and per-key config of an attempt: the gateway's (PTB) or the org's key.
fn credentials_for(
    state: &AppState,
    attempt: &PlannedAttempt<'_>,
    keys: &[ProviderKey],
) -> Result<(Credentials, Option<ServiceAccount>, DeploymentConfig), ProviderError> {
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
        // The caller's own headers carry its key: nothing is injected, so no secret here.
        Billing::Caller => Ok((
            Credentials::ApiKey(Secret::new(String::new())),
            None,
            key_config(state, provider, None),
        )),
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
