//! The HTTP surface. Every `/v1` route except the explicit open list authenticates inside its
//! handler with the gateway key; `/admin` routes need the admin token.
//!
//! Every error has the one shape (`crate::error`): an unknown route is the fallback's 404, and
//! the [`one_error_shape`] layer rewrites what the framework answers by itself (405 with its
//! `Allow` header, extractor rejections) so that no plain-text or empty error body leaves.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use serde_json::json;

use crate::state::AppState;

/// Routes that need no key: health checks, metrics scraping and the public model list.
pub const OPEN_ROUTES: &[&str] = &["/health", "/health/ready", "/metrics", "/v1/models"];

/// The unified front door (stateless; shared by every request).
static CHAT: std::sync::LazyLock<Arc<crate::pipeline::chat::Chat>> =
    std::sync::LazyLock::new(|| Arc::new(crate::pipeline::chat::Chat));

pub fn router(state: Arc<AppState>) -> Router {
    let routes = Router::new()
        .route("/v1/chat/completions", post(chat))
        .route("/v1/models", get(models))
        .route("/health", get(health))
        .route("/health/ready", get(ready))
        .route("/metrics", get(metrics))
        .merge(crate::admin::router())
        .merge(crate::dashboard::router(state.clone()))
        .fallback(fallback)
        .with_state(state);
    // Outside the routes: a layer on them would run before the method router adds `Allow`.
    Router::new()
        .fallback_service(routes)
        .layer(axum::middleware::map_response(one_error_shape))
}

async fn chat(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: axum::body::Body,
) -> Response {
    crate::pipeline::handle(state, CHAT.clone(), headers, body).await
}

async fn health(State(state): State<Arc<AppState>>) -> Response {
    let body = json!({
        "status": "ok",
        "models": state.registry.models().len(),
        "endpoints": state.registry.endpoints().len(),
        "log_queue": state.log.queued(),
    });
    (StatusCode::OK, axum::Json(body)).into_response()
}

/// For load balancers: 200 when the store and (if configured) Redis answer, else 503. A
/// gateway whose Redis is down still serves (rate limits and cache fail open), but a balancer
/// should prefer an instance that sees the shared state.
async fn ready(State(state): State<Arc<AppState>>) -> Response {
    let timeout = std::time::Duration::from_secs(2);
    let store = match tokio::time::timeout(timeout, state.store.ping()).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err("timed out".to_owned()),
    };
    let redis = state.governance.ready().await.map_err(|e| e.to_string());
    let ok = store.is_ok() && redis.is_ok();
    let show = |r: &Result<(), String>| match r {
        Ok(()) => json!("ok"),
        Err(e) => json!(e),
    };
    let body = json!({
        "status": if ok { "ready" } else { "not_ready" },
        "store": show(&store),
        "redis": if state.config.redis_url.is_some() { show(&redis) } else { json!("not configured") },
        "governance": state.governance.mode(),
    });
    let status = if ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, axum::Json(body)).into_response()
}

async fn metrics(State(state): State<Arc<AppState>>) -> Response {
    let stats = state.log.stats();
    let text = state.metrics.encode(&[
        (
            "log_rows_written",
            "Request log rows written",
            stats.written,
        ),
        (
            "log_rows_dropped",
            "Request log rows dropped because the queue was full",
            stats.dropped,
        ),
    ]);
    (
        [(
            http::header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        text,
    )
        .into_response()
}

/// The OpenAI model list, plus per model its providers, base prices (USD per 1M tokens) and
/// lifecycle status today (UTC): `active`, `deprecated` (still routed) or `retired` (not routed).
async fn models(State(state): State<Arc<AppState>>) -> Response {
    let r = &state.registry;
    let million = rust_decimal::Decimal::from(1_000_000);
    let today = time::OffsetDateTime::now_utc().date();
    let data: Vec<_> = r
        .models()
        .map(|m| {
            let created = time::Date::parse(&m.created, time::macros::format_description!("[year]-[month]-[day]"))
                .map(|d| d.midnight().assume_utc().unix_timestamp())
                .unwrap_or(0);
            let endpoints: Vec<_> = r
                .endpoints_for_model(&m.id)
                .map(|e| {
                    json!({
                        "id": e.id,
                        "provider": e.provider,
                        "provider_model_id": e.provider_model_id,
                        "ptb": e.ptb,
                        "input_per_million": (e.pricing.base().input * million).normalize().to_string(),
                        "output_per_million": (e.pricing.base().output * million).normalize().to_string(),
                        "context_length": e.context_length,
                        "status": e.status_at(today).as_str(),
                        "deprecated": e.lifecycle.deprecated.map(|d| d.to_string()),
                        "retired": e.lifecycle.retired.map(|d| d.to_string()),
                        "successor": e.lifecycle.successor,
                    })
                })
                .collect();
            json!({
                "id": m.id,
                "object": "model",
                "created": created,
                "owned_by": m.author,
                "name": m.name,
                "context_length": m.context_length,
                "max_output_tokens": m.max_output_tokens,
                "providers": r.providers_for_model(&m.id).map(|p| p.id.as_str()).collect::<Vec<_>>(),
                "status": r.model_status_at(&m.id, today).map(|s| s.as_str()),
                "deprecated": m.lifecycle.deprecated.map(|d| d.to_string()),
                "retired": m.lifecycle.retired.map(|d| d.to_string()),
                "successor": m.lifecycle.successor,
                "endpoints": endpoints,
            })
        })
        .collect();
    axum::Json(json!({"object": "list", "data": data})).into_response()
}

/// Longest framework rejection text carried over into the error message.
const MAX_REJECTION_TEXT: usize = 1024;

/// Gives an error that is not already JSON (a framework rejection) the one error shape, keeping
/// its status (see [`ApiError::framework`]) and headers such as `Allow`.
async fn one_error_shape(res: Response) -> Response {
    // JSON errors are ours already; HTML ones are the dashboard's pages (a sign-in form with
    // its message), made on purpose. Framework rejections are plain text or empty.
    let shaped_by_us = res
        .headers()
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json") || v.starts_with("text/html"));
    // A provider's own answer, forwarded by the proxy, stays as the provider made it.
    let forwarded = res.headers().contains_key("x-switchyard-provider");
    if res.status().as_u16() < 400 || shaped_by_us || forwarded {
        return res;
    }
    let (parts, body) = res.into_parts();
    let text = axum::body::to_bytes(body, MAX_REJECTION_TEXT)
        .await
        .map(|b| String::from_utf8_lossy(&b).trim().to_owned())
        .unwrap_or_default();
    let error = match parts.status {
        StatusCode::METHOD_NOT_ALLOWED => crate::error::ApiError::MethodNotAllowed {
            allow: parts
                .headers
                .get(http::header::ALLOW)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned(),
        },
        status => {
            let message = if text.is_empty() {
                status
                    .canonical_reason()
                    .unwrap_or("request rejected")
                    .to_owned()
            } else {
                text
            };
            crate::error::ApiError::framework(status.as_u16(), message)
        }
    };
    let mut shaped = error.into_response();
    for (name, value) in &parts.headers {
        if name != http::header::CONTENT_TYPE && name != http::header::CONTENT_LENGTH {
            shaped.headers_mut().insert(name.clone(), value.clone());
        }
    }
    shaped
}

async fn not_found() -> Response {
    crate::error::ApiError::NotFound { message: "no such route; the API is POST /v1/chat/completions, the passthrough proxy at /{provider}/... and /proxy/..., GET /v1/models, GET /health, GET /metrics, /admin/... (admin token), and the dashboard at /dashboard".into(), code: "unknown_route" }
        .into_response()
}

/// Paths of no route of their own: the passthrough proxy's (`/{provider}/...`, `/proxy/...`,
/// any method), else the unknown route.
async fn fallback(
    State(state): State<Arc<AppState>>,
    method: axum::http::Method,
    uri: axum::http::Uri,
    headers: HeaderMap,
    body: axum::body::Body,
) -> Response {
    match crate::pipeline::proxy::serve(state, method, &uri, headers, body).await {
        Some(res) => res,
        None => not_found().await,
    }
}
