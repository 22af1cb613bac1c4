//! The request side shared by every adapter: where a request goes ([`Target`]), with which key
//! ([`Credentials`]), how ([`RequestOptions`]), the outbound HTTP request ([`UpstreamRequest`]) and
//! the header and body helpers every wire format uses.
//!
//! A leaf: it imports nothing from the provider modules, which all import it.

use std::borrow::Cow;
use std::time::SystemTime;

use bytes::Bytes;
use http::header::{HeaderName, HeaderValue, ACCEPT, AUTHORIZATION, CONTENT_TYPE};
use http::{HeaderMap, Method};
use serde_json::{Map, Value};
use switchyard_registry::{
    AuthStyle, ConfigField, DeploymentConfig, Endpoint, Parameter, Provider,
};

use crate::error::{scrub, ProviderError, Secret};

/// The credentials of one key.
#[derive(Clone, Debug)]
pub enum Credentials {
    /// An API key sent in the provider's header style.
    ApiKey(Secret),
    /// AWS access keys, for SigV4 (Bedrock).
    Aws {
        access_key_id: String,
        secret_access_key: Secret,
        session_token: Option<Secret>,
    },
    /// A Google service-account JSON. Exchange it for a token first (`google::auth::TokenCache`)
    /// and pass [`Credentials::GoogleAccessToken`]: building a request stays synchronous.
    GoogleServiceAccount(Secret),
    /// A ready OAuth access token (Vertex).
    GoogleAccessToken(Secret),
}

impl Credentials {
    /// Every secret value, for exact scrubbing of error messages.
    pub fn secret_values(&self) -> Vec<String> {
        match self {
            Credentials::ApiKey(s)
            | Credentials::GoogleServiceAccount(s)
            | Credentials::GoogleAccessToken(s) => vec![s.expose().to_owned()],
            Credentials::Aws {
                secret_access_key,
                session_token,
                ..
            } => std::iter::once(secret_access_key)
                .chain(session_token)
                .map(|s| s.expose().to_owned())
                .collect(),
        }
    }
}

/// Where a request goes: the provider, the endpoint, and the key's own config (region,
/// project_id, resource_name, deployment_name, api_version, base_uri), which overrides the
/// endpoint deployment's field by field.
#[derive(Clone, Copy, Debug)]
pub struct Target<'a> {
    pub provider: &'a Provider,
    pub endpoint: &'a Endpoint,
    pub key_config: &'a DeploymentConfig,
}

impl<'a> Target<'a> {
    pub fn new(
        provider: &'a Provider,
        endpoint: &'a Endpoint,
        key_config: &'a DeploymentConfig,
    ) -> Self {
        Target {
            provider,
            endpoint,
            key_config,
        }
    }

    /// A config field: the key's value, else the endpoint deployment's. Blank counts as unset.
    pub fn config(&self, field: ConfigField) -> Option<&'a str> {
        [self.key_config.get(field), self.endpoint.config.get(field)]
            .into_iter()
            .flatten()
            .map(str::trim)
            .find(|v| !v.is_empty())
    }

    /// The base URL after a `base_uri` override (tests point providers at local fake upstreams
    /// this way), without a trailing slash.
    pub fn base_url(&self) -> &'a str {
        self.config(ConfigField::BaseUri)
            .unwrap_or(&self.provider.base_url)
            .trim_end_matches('/')
    }

    /// The id errors are reported under.
    pub fn provider_id(&self) -> &'a str {
        self.provider.id.as_str()
    }
}

/// Options of one attempt that are not in the body.
#[derive(Clone, Copy, Debug)]
pub struct RequestOptions<'a> {
    pub stream: bool,
    /// The gateway's request id: the chunk id until the provider gives its own.
    pub request_id: &'a str,
    /// Signing time (SigV4).
    pub now: SystemTime,
}

impl<'a> RequestOptions<'a> {
    pub fn new(stream: bool, request_id: &'a str) -> Self {
        RequestOptions {
            stream,
            request_id,
            now: SystemTime::now(),
        }
    }
}

/// The outbound HTTP request.
#[derive(Clone, Debug)]
pub struct UpstreamRequest {
    pub method: Method,
    pub url: String,
    /// Auth headers are marked sensitive (`HeaderValue::set_sensitive`).
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl UpstreamRequest {
    /// The URL with any credential-looking query parameter scrubbed, for logs.
    pub fn loggable_url(&self) -> String {
        scrub(&self.url)
    }
}

/// True when the endpoint lists `name` among its unsupported parameters.
pub(crate) fn is_unsupported(endpoint: &Endpoint, name: &str) -> bool {
    endpoint
        .unsupported_parameters
        .iter()
        .any(|p| p.as_str() == name)
}

/// Body fields to remove for this endpoint: its unsupported parameters present in the body.
pub fn removed_fields(endpoint: &Endpoint, request: &Value) -> Vec<&'static str> {
    let Some(obj) = request.as_object() else {
        return Vec::new();
    };
    let mut out = Vec::new();
    let mut push = |n: &'static str| {
        if obj.contains_key(n) && !out.contains(&n) {
            out.push(n);
        }
    };
    for p in &endpoint.unsupported_parameters {
        match p {
            // `reasoning_effort` is OpenAI's spelling of the same request.
            Parameter::Reasoning => ["reasoning", "reasoning_effort"]
                .into_iter()
                .for_each(&mut push),
            // Decided by the gateway before it asks for a stream (see `adapter::prepare`).
            Parameter::Stream => {}
            other => push(other.as_str()),
        }
    }
    out
}

/// Token limits in the spelling the endpoint does not take, renamed (not dropped: dropping one
/// would silently lift the caller's cap): `(new name, value)`.
pub(crate) fn renamed_limits<'v>(
    endpoint: &Endpoint,
    obj: &'v Map<String, Value>,
) -> Vec<(&'static str, &'v Value)> {
    let unsupported = |p: Parameter| endpoint.unsupported_parameters.contains(&p);
    let mut out = Vec::new();
    for (from, to, p_from, p_to) in [
        (
            "max_tokens",
            "max_completion_tokens",
            Parameter::MaxTokens,
            Parameter::MaxCompletionTokens,
        ),
        (
            "max_completion_tokens",
            "max_tokens",
            Parameter::MaxCompletionTokens,
            Parameter::MaxTokens,
        ),
    ] {
        if unsupported(p_from) && !unsupported(p_to) && !obj.contains_key(to) {
            if let Some(v) = obj.get(from) {
                out.push((to, v));
            }
        }
    }
    out
}

/// The value the outbound body carries for a top-level field: the caller's, unless removed for
/// this endpoint, or the renamed token limit (what `openai::request_body` writes, without writing it).
pub(crate) fn sent_value<'v>(
    endpoint: &Endpoint,
    request: &'v Value,
    name: &str,
) -> Option<&'v Value> {
    let obj = request.as_object()?;
    if let Some((_, v)) = renamed_limits(endpoint, obj)
        .into_iter()
        .find(|(to, _)| *to == name)
    {
        return Some(v);
    }
    if removed_fields(endpoint, request).contains(&name) {
        return None;
    }
    obj.get(name)
}

/// The caller's body without the endpoint's unsupported parameters (a copy only when one is
/// present), for the native formats whose translators read the OpenAI body.
pub(crate) fn without_unsupported<'v>(endpoint: &Endpoint, request: &'v Value) -> Cow<'v, Value> {
    let names = removed_fields(endpoint, request);
    if names.is_empty() {
        return Cow::Borrowed(request);
    }
    let mut v = request.clone();
    if let Some(obj) = v.as_object_mut() {
        for n in names {
            obj.remove(n);
        }
    }
    Cow::Owned(v)
}

/// Appends `name: value`, marking it sensitive when it carries a credential.
pub(crate) fn insert_header(
    headers: &mut HeaderMap,
    provider: &str,
    name: HeaderName,
    value: &str,
    sensitive: bool,
) -> Result<(), ProviderError> {
    let mut v = HeaderValue::from_str(value).map_err(|_| {
        ProviderError::config(
            provider,
            format!("value of header `{name}` has characters not allowed in a header"),
        )
    })?;
    v.set_sensitive(sensitive);
    headers.insert(name, v);
    Ok(())
}

/// Copies `(name, value)` pairs built by a signer into a header map; `sensitive` says which
/// carry credentials.
pub(crate) fn headers_from_pairs(
    provider: &str,
    pairs: &[(String, String)],
    sensitive: impl Fn(&HeaderName) -> bool,
) -> Result<HeaderMap, ProviderError> {
    let mut headers = HeaderMap::new();
    for (k, v) in pairs {
        let name = HeaderName::from_bytes(k.as_bytes())
            .map_err(|_| ProviderError::config(provider, format!("bad header name {k}")))?;
        let s = sensitive(&name);
        insert_header(&mut headers, provider, name, v, s)?;
    }
    Ok(headers)
}

/// The `accept` value of an attempt: SSE for streams, JSON otherwise.
pub(crate) fn accept_value(stream: bool) -> HeaderValue {
    HeaderValue::from_static(if stream {
        "text/event-stream"
    } else {
        "application/json"
    })
}

/// The API key of key-based providers, or a config error naming what was given instead.
pub(crate) fn api_key<'c>(
    provider: &str,
    credentials: &'c Credentials,
) -> Result<&'c str, ProviderError> {
    match credentials {
        Credentials::ApiKey(k) | Credentials::GoogleAccessToken(k) => Ok(k.expose()),
        _ => Err(ProviderError::config(
            provider,
            "this provider authenticates with an API key; the key has other credentials",
        )),
    }
}

/// Standard headers: JSON body, the accept type, the auth header in the provider's style.
pub(crate) fn base_headers(
    provider: &Provider,
    credentials: &Credentials,
    stream: bool,
) -> Result<HeaderMap, ProviderError> {
    let mut h = HeaderMap::new();
    h.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    h.insert(ACCEPT, accept_value(stream));
    let id = provider.id.as_str();
    match provider.auth {
        AuthStyle::Bearer | AuthStyle::GoogleServiceAccount => {
            let key = api_key(id, credentials)?;
            insert_header(&mut h, id, AUTHORIZATION, &format!("Bearer {key}"), true)?;
        }
        AuthStyle::XApiKey => {
            let key = api_key(id, credentials)?;
            insert_header(&mut h, id, HeaderName::from_static("x-api-key"), key, true)?;
        }
        AuthStyle::ApiKey => {
            let key = api_key(id, credentials)?;
            insert_header(&mut h, id, HeaderName::from_static("api-key"), key, true)?;
        }
        // Signed by the Bedrock module over the final headers.
        AuthStyle::AwsSigv4 => {}
    }
    Ok(h)
}

/// A `base_uri` override (a local fake upstream in tests, a VPC endpoint in production) keeps
/// the built URL's path and query from `path_marker` on and replaces scheme and host.
pub(crate) fn rebase_url(target: &Target<'_>, url: String, path_marker: &str) -> String {
    match target.config(ConfigField::BaseUri) {
        Some(base) => {
            let path_start = url.find(path_marker).unwrap_or(url.len());
            format!("{}{}", base.trim_end_matches('/'), &url[path_start..])
        }
        None => url,
    }
}
