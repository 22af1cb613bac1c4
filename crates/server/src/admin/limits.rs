//! Stored governance settings: an org's and a gateway key's rate-limit policy list and a key's
//! response-cache switch. Written here (checked against the policy grammar first), read by the
//! pipeline from the cached key → org record; every change is published on the invalidation
//! bus so each instance drops that record within a second.

use std::str::FromStr;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::routing::put;
use axum::{Json, Router};
use serde::Deserialize;
use switchyard_store::{GatewayKey, KeyId, Org};

use super::service::{store_err, Admin, AdminError};
use super::AdminAuth;
use crate::error::ApiError;
use crate::governance::{Invalidation, Policy};
use crate::state::AppState;

/// A policy list as stored: canonical spelling, `None` for no policy. A bad list is a 400
/// (`invalid_policy`) whose message names the part that is wrong.
pub fn normalise_policy(text: Option<&str>) -> Result<Option<String>, AdminError> {
    let Some(text) = text.map(str::trim).filter(|t| !t.is_empty()) else {
        return Ok(None);
    };
    let policies = Policy::parse_list(text).map_err(|e| AdminError::Invalid {
        message: format!("invalid rate-limit policy: {e}"),
        param: Some("rate_limit_policy"),
        code: "invalid_policy",
    })?;
    let canonical: Vec<&str> = policies.iter().map(Policy::as_str).collect();
    Ok((!canonical.is_empty()).then(|| canonical.join(",")))
}

impl Admin<'_> {
    /// Sets or clears an org's rate-limit policy list.
    pub async fn set_org_rate_limit(
        &self,
        org: &str,
        policy: Option<&str>,
    ) -> Result<Org, AdminError> {
        let policy = normalise_policy(policy)?;
        let org = self.org(org).await?;
        self.store
            .set_org_rate_limit(org.id, policy.as_deref())
            .await
            .map_err(store_err)?;
        Ok(Org {
            rate_limit_policy: policy,
            ..org
        })
    }

    /// Sets a key's policy list and cache switch; fields left out keep their value.
    pub async fn set_key_governance(
        &self,
        org: &str,
        key_id: &str,
        policy: Option<Option<&str>>,
        cache_enabled: Option<bool>,
    ) -> Result<GatewayKey, AdminError> {
        let policy = match policy {
            Some(p) => Some(normalise_policy(p)?),
            None => None,
        };
        let id = KeyId::from_str(key_id.trim()).map_err(|_| {
            AdminError::invalid(
                format!("`{}` is not a key id (a UUID)", key_id.trim()),
                None,
            )
        })?;
        let org = self.org(org).await?;
        let keys = self
            .store
            .list_gateway_keys(org.id)
            .await
            .map_err(store_err)?;
        let Some(key) = keys.into_iter().find(|k| k.id == id) else {
            return Err(AdminError::NotFound {
                message: format!("no gateway key {id} in this org"),
                code: "key_not_found",
            });
        };
        let policy = policy.unwrap_or(key.rate_limit_policy.clone());
        let cache_enabled = cache_enabled.unwrap_or(key.cache_enabled);
        self.store
            .set_gateway_key_governance(id, policy.as_deref(), cache_enabled)
            .await
            .map_err(store_err)?;
        Ok(GatewayKey {
            rate_limit_policy: policy,
            cache_enabled,
            ..key
        })
    }
}

pub fn router() -> Router<Arc<AppState>> {
    Router::new()
        .route("/admin/orgs/{org}/rate-limit", put(put_org_rate_limit))
        .route(
            "/admin/orgs/{org}/keys/{key_id}",
            axum::routing::patch(patch_key),
        )
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RateLimitBody {
    /// `null` or `""` clears it.
    rate_limit_policy: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PatchKeyBody {
    /// Absent: unchanged; `null` or `""`: cleared.
    #[serde(default, deserialize_with = "present")]
    rate_limit_policy: Option<Option<String>>,
    cache_enabled: Option<bool>,
}

/// Tells an absent field (`None`) from an explicit `null` (`Some(None)`).
fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(d).map(Some)
}

async fn put_org_rate_limit(
    _: AdminAuth,
    State(state): State<Arc<AppState>>,
    Path(org): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let body: RateLimitBody = super::http::json_body(body)?;
    let org = Admin::new(state.store.as_ref(), &state.registry)
        .set_org_rate_limit(&org, body.rate_limit_policy.as_deref())
        .await?;
    state
        .invalidate(Invalidation::PolicyChanged {
            org_id: org.id,
            key_id: None,
        })
        .await;
    Ok(Json(org).into_response())
}

async fn patch_key(
    _: AdminAuth,
    State(state): State<Arc<AppState>>,
    Path((org, key_id)): Path<(String, String)>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let body: PatchKeyBody = super::http::json_body(body)?;
    let key = Admin::new(state.store.as_ref(), &state.registry)
        .set_key_governance(
            &org,
            &key_id,
            body.rate_limit_policy.as_ref().map(|p| p.as_deref()),
            body.cache_enabled,
        )
        .await?;
    state
        .invalidate(Invalidation::PolicyChanged {
            org_id: key.org_id,
            key_id: Some(key.id),
        })
        .await;
    Ok(Json(key).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policies_are_stored_canonical_and_bad_ones_name_the_part() {
        assert_eq!(normalise_policy(None).unwrap(), None);
        assert_eq!(normalise_policy(Some("  ")).unwrap(), None);
        assert_eq!(
            normalise_policy(Some("20;w=60;s=user")).unwrap().as_deref(),
            Some("20;w=60;s=user")
        );
        let e = normalise_policy(Some("20;w=abc")).unwrap_err();
        assert!(e.to_string().contains("w must be"), "{e}");
        assert!(matches!(
            e,
            AdminError::Invalid {
                code: "invalid_policy",
                ..
            }
        ));
    }
}
