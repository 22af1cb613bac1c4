//! The passthrough front door: a client keeps its provider's SDK and API and changes only the
//! base URL (`/{provider}/...`, or `/proxy/...` with `x-switchyard-target-url`). Its request
//! bytes go to the provider unchanged and the provider's answer comes back unchanged, while the
//! shared pipeline authenticates, rate-limits, prices and logs it.
//!
//! What differs from the unified door, phase by phase (see [`super`]):
//!
//! - before phase 1 ([`serve`]): the target ([`target::resolve`]) and, for a caller-named one,
//!   its DNS check ([`target::check_addresses`]); the gateway key is found in
//!   `x-switchyard-auth` / `Helicone-Auth` or in the provider auth header an SDK put it in
//!   ([`forward::gateway_auth`]).
//! - 3 parse: any body; the usage format and model come from the method, path and body.
//! - 4 plan: one attempt, the caller's key (forwarded) or the org's stored one (injected).
//! - 5 build: the same bytes, headers less the gateway's ([`forward::upstream_headers`]), the
//!   org's key added in the provider's style ([`forward::inject_auth`]).
//! - 6 answer: every status is forwarded with the provider's own body; a usage tap reads the
//!   bytes as they pass ([`forward::ProxyReader`]).
//!
//! PTB is not offered here: the caller pays the provider.

pub mod forward;
pub mod target;

use std::borrow::Cow;
use std::sync::Arc;

use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, Method, Uri};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use switchyard_providers::adapter::{Credentials, Target, UpstreamRequest};
use switchyard_providers::error::{scrub, ProviderError};
use switchyard_providers::tap::{request_model, TapFormat};
use switchyard_registry::ConfigField;

use super::plan::{passthrough_endpoint, Billing, OrgKeys, PlannedAttempt};
use super::{FrontDoor, RequestCtx};
use crate::billing::UsageBound;
use crate::error::ApiError;
use crate::state::AppState;
use forward::{GatewayAuth, Pricer, ProxyReader};
use target::Resolved;

pub use target::{HostResolver, ProxyState};

/// One proxied request's front door: the target and the headers to forward are known before
/// the pipeline starts, so each request gets its own.
pub struct Proxy {
    state: Arc<AppState>,
    method: Method,
    target: Resolved,
    /// The request's headers as they go upstream (before any injected key).
    headers: HeaderMap,
    /// Inject the org's stored key (the caller sent none of its own).
    inject: bool,
}

/// The request body, as received.
pub struct ProxyRequest {
    body: Bytes,
    format: Option<TapFormat>,
}

/// Whether the request asks for a stream: the body's `stream: true` or a streaming path.
fn wants_stream(path: &str, body: &[u8]) -> bool {
    let p = path.trim_end_matches('/');
    if p.ends_with(":streamGenerateContent")
        || p.ends_with(":streamRawPredict")
        || p.ends_with("/invoke-with-response-stream")
        || p.ends_with("/converse-stream")
    {
        return true;
    }
    #[derive(serde::Deserialize)]
    struct StreamField {
        stream: Option<bool>,
    }
    serde_json::from_slice::<StreamField>(body)
        .ok()
        .and_then(|s| s.stream)
        .unwrap_or(false)
}

impl Proxy {
    fn provider_hint(&self) -> &str {
        // LOCAL may be any API; an empty hint lets every path shape be read.
        if self.target.local {
            ""
        } else {
            &self.target.provider
        }
    }
}

impl FrontDoor for Proxy {
    type Request = ProxyRequest;
    type Reader = ProxyReader;

    fn route(&self) -> &'static str {
        "proxy"
    }

    /// The answers are the provider's own bytes; a cache hit would replay the unified shapes.
    fn caches(&self) -> bool {
        false
    }

    fn parse(&self, ctx: &mut RequestCtx, body: Bytes) -> Result<ProxyRequest, ApiError> {
        ctx.store_body(&body);
        ctx.target_url = Some(scrub(&self.target.url));
        let content_type = self
            .headers
            .get(http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok());
        let format = TapFormat::detect(
            self.provider_hint(),
            self.method.as_str(),
            &self.target.path,
            self.target.query.as_deref(),
            content_type,
        );
        ctx.model = format
            .and_then(|f| request_model(f, &self.target.path, &body))
            .unwrap_or_default();
        ctx.stream = wants_stream(&self.target.path, &body);
        Ok(ProxyRequest { body, format })
    }

    fn plan<'s>(
        &self,
        state: &'s AppState,
        _request: &ProxyRequest,
        ctx: &RequestCtx,
        keys: &OrgKeys,
    ) -> Result<Vec<PlannedAttempt<'s>>, ApiError> {
        let provider = state
            .proxy
            .provider(&state.registry, &self.target.provider)
            .ok_or_else(|| ApiError::Internal("the proxy target has no provider".into()))?;
        let billing = if self.inject {
            let key_index = keys
                .keys
                .iter()
                .position(|k| k.info.provider == provider.id)
                .ok_or_else(|| ApiError::ProviderKeyMissing {
                    provider: provider.id.clone(),
                })?;
            Billing::Byok { key_index }
        } else {
            Billing::Caller
        };
        let model = if ctx.model.is_empty() {
            "unknown"
        } else {
            &ctx.model
        };
        Ok(vec![PlannedAttempt {
            provider,
            endpoint: Cow::Owned(passthrough_endpoint(provider, model)),
            passthrough: true,
            billing,
        }])
    }

    fn usage_bound(
        &self,
        target: &Target<'_>,
        _request: &ProxyRequest,
    ) -> Result<UsageBound, ProviderError> {
        // Never asked: the proxy plans no PTB attempt.
        Err(ProviderError::config(
            target.provider.id.as_str(),
            "the passthrough proxy does not bill from credits",
        ))
    }

    fn build(
        &self,
        attempt: &PlannedAttempt<'_>,
        target: &Target<'_>,
        credentials: &Credentials,
        request: &ProxyRequest,
        ctx: &RequestCtx,
    ) -> Result<(UpstreamRequest, ProxyReader), ProviderError> {
        let mut headers = self.headers.clone();
        if self.inject {
            forward::inject_auth(
                &mut headers,
                attempt.provider,
                credentials,
                &self.method,
                &self.target.url,
                &request.body,
                target.config(ConfigField::Region),
            )?;
        }
        let up = UpstreamRequest {
            method: self.method.clone(),
            url: self.target.url.clone(),
            headers,
            body: request.body.clone(),
        };
        let rule_url = if self.target.caller_named {
            self.target.url.clone()
        } else {
            // An overridden base URL (a fake, a VPC endpoint) is not in the URL table; the
            // provider's registry URL is.
            format!("{}{}", attempt.provider.base_url, self.target.path)
        };
        let reader = ProxyReader {
            format: request.format,
            pricer: Pricer {
                state: self.state.clone(),
                provider: attempt.provider.id.clone(),
                rule_url,
                model: ctx.model.clone(),
            },
        };
        Ok((up, reader))
    }

    fn client<'a>(&'a self, state: &'a AppState) -> &'a reqwest::Client {
        if self.target.caller_named && !self.target.local {
            &state.proxy.client
        } else {
            &state.http
        }
    }
}

/// Serves a request whose path is not a route of its own: a proxied one when its first
/// segment is `proxy` or a registry provider, else `None` (an unknown route).
pub async fn serve(
    state: Arc<AppState>,
    method: Method,
    uri: &Uri,
    headers: HeaderMap,
    body: Body,
) -> Option<Response> {
    let target_header = headers
        .get(target::TARGET_HEADER)
        .and_then(|v| v.to_str().ok());
    let resolved = target::resolve(&state, uri.path(), uri.query(), target_header)?;
    Some(run(state, method, resolved, headers, body).await)
}

async fn run(
    state: Arc<AppState>,
    method: Method,
    resolved: Result<Resolved, ApiError>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let auth: Option<GatewayAuth> = forward::gateway_auth(
        &headers,
        resolved.as_ref().ok().and_then(|r| r.query.as_deref()),
    );
    // Phase 1 reads `Authorization`: give it the gateway key wherever the caller put it.
    let mut pipeline_headers = headers.clone();
    match &auth {
        Some(a) => match HeaderValue::from_str(&a.bearer) {
            Ok(v) => {
                pipeline_headers.insert(http::header::AUTHORIZATION, v);
            }
            Err(_) => {
                pipeline_headers.remove(http::header::AUTHORIZATION);
            }
        },
        // A provider key alone is no gateway key.
        None => {
            pipeline_headers.remove(http::header::AUTHORIZATION);
        }
    }
    // Target errors are answered after the key is checked, so an unauthenticated caller learns
    // nothing about targets.
    let key = match super::authenticate(&state, &pipeline_headers).await {
        Ok(k) => k,
        Err(e) => return e.into_response(),
    };
    let target = match resolved {
        Ok(t) => t,
        Err(e) => return refused(&state, key, &pipeline_headers, e),
    };
    if let Err(e) = target::check_addresses(&state, &target).await {
        return refused(&state, key, &pipeline_headers, e);
    }
    let door = Proxy {
        state: state.clone(),
        method,
        headers: forward::upstream_headers(&headers, auth.as_ref()),
        inject: auth.as_ref().is_some_and(|a| a.inject),
        target,
    };
    super::handle(state, Arc::new(door), pipeline_headers, body).await
}

/// A refused target: answered and logged like any request refused before its task.
fn refused(
    state: &Arc<AppState>,
    key: Arc<switchyard_store::AuthedKey>,
    headers: &HeaderMap,
    e: ApiError,
) -> Response {
    let ctx = RequestCtx::new(std::time::Instant::now(), key, headers, "proxy");
    super::refuse(state, Some(&ctx), e)
}
