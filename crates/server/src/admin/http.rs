//! The HTTP admin API: `/admin/...` routes behind `Authorization: Bearer <admin_token>`, each a
//! thin handler over [`Admin`]. [`AdminError`] becomes the OpenAI error shape here, in one place
//! (`From<AdminError> for ApiError`).

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::extract::{FromRequestParts, Path, Query, State};
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use switchyard_store::hash_gateway_key;

use super::service::{Admin, AdminError, LogsParams, ProviderKeyInput};
use crate::error::ApiError;
use crate::state::AppState;

impl From<AdminError> for ApiError {
    fn from(e: AdminError) -> ApiError {
        match e {
            AdminError::Invalid {
                message,
                param,
                code,
            } => ApiError::BadRequest {
                message,
                param,
                code,
            },
            AdminError::NotFound { message, code } => ApiError::NotFound { message, code },
            AdminError::Forbidden(message) => ApiError::Forbidden(message),
            AdminError::Internal(message) => ApiError::Internal(message),
        }
    }
}

/// Proof that the request carried the admin token. Every admin handler takes it first, so
/// nothing else (body, query) is looked at before the caller is authenticated.
pub struct AdminAuth;

/// Compares two tokens in constant time: both are hashed first, so neither the position of the
/// first difference nor the length shows in the timing.
pub fn tokens_match(presented: &str, expected: &str) -> bool {
    let (a, b) = (hash_gateway_key(presented), hash_gateway_key(expected));
    let diff = a
        .iter()
        .zip(b.iter())
        .fold(0u8, |acc, (x, y)| std::hint::black_box(acc | (x ^ y)));
    diff == 0
}

impl FromRequestParts<Arc<AppState>> for AdminAuth {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<AppState>,
    ) -> Result<Self, ApiError> {
        let Some(expected) = state.config.admin_token.as_deref() else {
            return Err(ApiError::Forbidden(
                "admin API disabled: set admin_token (config) or SWITCHYARD_ADMIN_TOKEN",
            ));
        };
        let presented = parts
            .headers
            .get(http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|h| {
                h.strip_prefix("Bearer ")
                    .or_else(|| h.strip_prefix("bearer "))
            })
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or(ApiError::Unauthorized(
                "missing admin token: send `Authorization: Bearer <admin_token>`",
            ))?;
        if tokens_match(presented, expected) {
            Ok(AdminAuth)
        } else {
            Err(ApiError::Unauthorized("invalid admin token"))
        }
    }
}

pub fn router() -> Router<Arc<AppState>> {
    Router::new()
        .route("/admin/orgs", post(create_org).get(list_orgs))
        .route("/admin/orgs/{org}", get(get_org).patch(patch_org))
        .route("/admin/orgs/{org}/keys", post(create_key).get(list_keys))
        .route("/admin/keys/{key_id}", delete(revoke_key))
        .route("/admin/orgs/{org}/credits", post(add_credits))
        .route("/admin/orgs/{org}/balance", get(balance))
        .route("/admin/orgs/{org}/ledger", get(ledger))
        .route("/admin/audit", get(audit))
        .route("/admin/orgs/{org}/provider-keys", get(list_provider_keys))
        .route(
            "/admin/orgs/{org}/provider-keys/{provider}",
            axum::routing::put(set_provider_key).delete(remove_provider_key),
        )
        .route("/admin/orgs/{org}/logs", get(logs))
        .route("/admin/orgs/{org}/spend", get(spend))
        .merge(super::limits::router())
        .layer(axum::extract::DefaultBodyLimit::max(ADMIN_BODY_LIMIT))
}

/// Largest admin request body (JSON documents of a few fields; a provider key file at most).
const ADMIN_BODY_LIMIT: usize = 2 * 1024 * 1024;

fn admin(state: &AppState) -> Admin<'_> {
    Admin::new(state.store.as_ref(), &state.registry)
}

/// A JSON body, with serde's message (which names the field, never a value) on failure.
pub(super) fn json_body<T: DeserializeOwned>(
    body: Result<Bytes, BytesRejection>,
) -> Result<T, ApiError> {
    let bytes = body.map_err(|e| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            return ApiError::PayloadTooLarge {
                limit: ADMIN_BODY_LIMIT,
            };
        }
        ApiError::bad_request(
            format!("could not read the request body: {}", e.body_text()),
            None,
        )
    })?;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::bad_request(
            "request body is empty; send a JSON object",
            None,
        ));
    }
    serde_json::from_slice(&bytes)
        .map_err(|e| ApiError::bad_request(format!("invalid JSON body: {e}"), None))
}

fn query<T>(q: Result<Query<T>, QueryRejection>) -> Result<T, ApiError> {
    q.map(|Query(t)| t).map_err(|e| {
        ApiError::bad_request(format!("invalid query string: {}", e.body_text()), None)
    })
}

fn ok<T: Serialize>(value: T) -> Response {
    Json(value).into_response()
}

fn list<T: Serialize>(data: Vec<T>) -> Response {
    Json(serde_json::json!({ "object": "list", "data": data })).into_response()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NameBody {
    name: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PatchOrgBody {
    store_bodies: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreditsBody {
    amount_usd: String,
    note: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LedgerParams {
    limit: Option<u32>,
    before: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AuditParams {
    org: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyNameParams {
    key_name: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DaysParams {
    days: Option<u32>,
}

type Answer = Result<Response, ApiError>;

async fn create_org(
    _: AdminAuth,
    State(state): State<Arc<AppState>>,
    body: Result<Bytes, BytesRejection>,
) -> Answer {
    let body: NameBody = json_body(body)?;
    let org = admin(&state).create_org(&body.name).await?;
    Ok((StatusCode::CREATED, Json(org)).into_response())
}

async fn list_orgs(_: AdminAuth, State(state): State<Arc<AppState>>) -> Answer {
    Ok(list(admin(&state).list_orgs().await?))
}

async fn get_org(
    _: AdminAuth,
    State(state): State<Arc<AppState>>,
    Path(org): Path<String>,
) -> Answer {
    Ok(ok(admin(&state).org(&org).await?))
}

async fn patch_org(
    _: AdminAuth,
    State(state): State<Arc<AppState>>,
    Path(org): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Answer {
    let body: PatchOrgBody = json_body(body)?;
    let org = admin(&state)
        .set_store_bodies(&org, body.store_bodies)
        .await?;
    // Requests read `store_bodies` from the cached key → org record: drop it everywhere.
    state
        .invalidate(crate::governance::Invalidation::OrgChanged { org_id: org.id })
        .await;
    Ok(ok(org))
}

async fn create_key(
    _: AdminAuth,
    State(state): State<Arc<AppState>>,
    Path(org): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Answer {
    let body: NameBody = json_body(body)?;
    let key = admin(&state).create_key(&org, &body.name).await?;
    Ok((StatusCode::CREATED, Json(key)).into_response())
}

async fn list_keys(
    _: AdminAuth,
    State(state): State<Arc<AppState>>,
    Path(org): Path<String>,
) -> Answer {
    Ok(list(admin(&state).list_keys(&org).await?))
}

async fn revoke_key(
    _: AdminAuth,
    State(state): State<Arc<AppState>>,
    Path(key_id): Path<String>,
) -> Answer {
    let revoked = admin(&state).revoke_key(&key_id).await?;
    state
        .invalidate(crate::governance::Invalidation::GatewayKeyRevoked { key_id: revoked.id })
        .await;
    Ok(ok(revoked))
}

async fn add_credits(
    _: AdminAuth,
    State(state): State<Arc<AppState>>,
    Path(org): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Answer {
    let body: CreditsBody = json_body(body)?;
    Ok(ok(admin(&state)
        .add_credits(&org, &body.amount_usd, body.note.as_deref())
        .await?))
}

async fn balance(
    _: AdminAuth,
    State(state): State<Arc<AppState>>,
    Path(org): Path<String>,
) -> Answer {
    Ok(ok(admin(&state).balance(&org).await?))
}

async fn ledger(
    _: AdminAuth,
    State(state): State<Arc<AppState>>,
    Path(org): Path<String>,
    q: Result<Query<LedgerParams>, QueryRejection>,
) -> Answer {
    let q = query(q)?;
    let page = admin(&state)
        .ledger(&org, q.limit, q.before.as_deref())
        .await?;
    Ok(Json(serde_json::json!({
        "object": "list",
        "data": page.data,
        "next_before": page.next_before,
    }))
    .into_response())
}

async fn audit(
    _: AdminAuth,
    State(state): State<Arc<AppState>>,
    q: Result<Query<AuditParams>, QueryRejection>,
) -> Answer {
    let q = query(q)?;
    Ok(list(admin(&state).audit(q.org.as_deref()).await?))
}

async fn set_provider_key(
    _: AdminAuth,
    State(state): State<Arc<AppState>>,
    Path((org, provider)): Path<(String, String)>,
    body: Result<Bytes, BytesRejection>,
) -> Answer {
    let input = ProviderKeyInput::from_json(json_body(body)?)?;
    let info = admin(&state)
        .set_provider_key(&org, &provider, input)
        .await?;
    state
        .invalidate(crate::governance::Invalidation::ProviderKeysChanged {
            org_id: info.info.org_id,
        })
        .await;
    Ok(ok(info))
}

async fn remove_provider_key(
    _: AdminAuth,
    State(state): State<Arc<AppState>>,
    Path((org, provider)): Path<(String, String)>,
    q: Result<Query<KeyNameParams>, QueryRejection>,
) -> Answer {
    let q = query(q)?;
    let removed = admin(&state)
        .remove_provider_key(&org, &provider, q.key_name.as_deref())
        .await?;
    state
        .invalidate(crate::governance::Invalidation::ProviderKeysChanged {
            org_id: removed.org_id,
        })
        .await;
    Ok(ok(removed))
}

async fn list_provider_keys(
    _: AdminAuth,
    State(state): State<Arc<AppState>>,
    Path(org): Path<String>,
) -> Answer {
    Ok(list(admin(&state).list_provider_keys(&org).await?))
}

async fn logs(
    _: AdminAuth,
    State(state): State<Arc<AppState>>,
    Path(org): Path<String>,
    q: Result<Query<LogsParams>, QueryRejection>,
) -> Answer {
    let q = query(q)?;
    Ok(list(admin(&state).logs(&org, q).await?))
}

async fn spend(
    _: AdminAuth,
    State(state): State<Arc<AppState>>,
    Path(org): Path<String>,
    q: Result<Query<DaysParams>, QueryRejection>,
) -> Answer {
    let q = query(q)?;
    Ok(ok(admin(&state).spend(&org, q.days).await?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_comparison() {
        assert!(tokens_match(
            "admin-token-0123456789",
            "admin-token-0123456789"
        ));
        assert!(!tokens_match(
            "admin-token-0123456789",
            "admin-token-012345678"
        ));
        assert!(!tokens_match("", "admin-token-0123456789"));
    }

    #[test]
    fn admin_errors_keep_their_status_over_http() {
        let e: ApiError = AdminError::invalid("bad", Some("name")).into();
        assert_eq!(e.status(), StatusCode::BAD_REQUEST);
        let e: ApiError = AdminError::Forbidden("no").into();
        assert_eq!(e.status(), StatusCode::FORBIDDEN);
        let e: ApiError = AdminError::NotFound {
            message: "x".into(),
            code: "org_not_found",
        }
        .into();
        assert_eq!(e.status(), StatusCode::NOT_FOUND);
    }
}
