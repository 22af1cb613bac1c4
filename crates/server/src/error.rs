//! The one error type of the HTTP API and its mapping to responses, in one place.
//!
//! Every error body has the OpenAI shape that SDKs parse, `{"error": {"message", "type", "param",
//! "code"}}`, extended with `attempts` (one entry per upstream attempt, at most
//! [`MAX_REPORTED_ATTEMPTS`], then `attempts_omitted`) when upstream calls were made. Messages
//! never carry secrets: provider messages are scrubbed by the adapter.
//!
//! Every `code` has one meaning; [`ApiError::catalog`] lists them all with their statuses, and a
//! test checks that `notes/ERRORS.md` lists the same.

use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use std::time::Duration;
use switchyard_providers::error::{ErrorKind, ProviderError};

/// Error bodies list this many attempts, then count the rest in `attempts_omitted`.
pub const MAX_REPORTED_ATTEMPTS: usize = 10;

/// One upstream attempt, as reported in error bodies and the request log.
#[derive(Clone, Debug, Serialize)]
pub struct AttemptReport {
    pub provider: String,
    pub endpoint: String,
    pub billing: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    pub error_type: &'static str,
    pub message: String,
}

impl AttemptReport {
    pub fn from_error(endpoint: &str, billing: &'static str, e: &ProviderError) -> AttemptReport {
        AttemptReport {
            provider: e.provider.clone(),
            endpoint: endpoint.to_owned(),
            billing,
            status: e.status,
            error_type: e.kind.label(),
            message: e.message.clone(),
        }
    }
}

/// Everything the API can answer with other than success.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{message}")]
    BadRequest {
        message: String,
        param: Option<&'static str>,
        code: &'static str,
    },
    #[error("request body is larger than the limit of {limit} bytes")]
    PayloadTooLarge { limit: usize },
    #[error("{0}")]
    Unauthorized(&'static str),
    #[error("{0}")]
    Forbidden(&'static str),
    #[error("{message}")]
    NotFound { message: String, code: &'static str },
    #[error("{0}")]
    Routing(#[from] switchyard_routing::RoutingError),
    #[error("insufficient credits: balance {balance} USD, this request may cost up to {needed} USD; add credits or use your own provider key (BYOK)")]
    InsufficientCredits { balance: String, needed: String },
    #[error("{message}")]
    Upstream {
        status: u16,
        message: String,
        kind: ErrorKind,
        retry_after: Option<Duration>,
        attempts: Vec<AttemptReport>,
    },
    #[error("internal error: {0}")]
    Internal(String),
    /// The route exists but not with this method; `allow` lists the methods it has.
    #[error("method not allowed; this route accepts {allow}")]
    MethodNotAllowed { allow: String },
    /// A path segment is not valid percent-encoded UTF-8.
    #[error("the request path is not valid percent-encoded UTF-8")]
    InvalidPathEncoding,
    #[error("request headers are larger than the limit of {limit} bytes")]
    HeadersTooLarge { limit: usize },
    /// The body did not arrive in time: `idle` between two chunks, else in total.
    #[error("the request body did not arrive in time: {}", if *.idle { format!("nothing received for {secs} s", secs = .secs) } else { format!("not complete after {secs} s", secs = .secs) })]
    BodyTimeout { idle: bool, secs: u64 },
    /// The gateway is at `server.max_connections`; sent before closing a new connection.
    #[error("the gateway is at its connection limit; retry shortly")]
    TooManyConnections,
    /// A rejection produced by the HTTP framework rather than a handler (the safety net that
    /// keeps every error in one shape); `status` is one of [`FRAMEWORK_STATUSES`].
    #[error("{message}")]
    Framework { status: u16, message: String },
    /// A rate-limit policy of the org, the key or the request refused: no upstream call was
    /// made. `Retry-After` says when one can pass.
    #[error("rate limit exceeded: policy {policy}; retry after {retry_after_secs} s")]
    RateLimited {
        policy: String,
        retry_after_secs: u64,
    },
    /// The passthrough proxy refused a target (not an approved domain, not https, or an
    /// address that is not public); the message names the host.
    #[error("{0}")]
    TargetNotAllowed(String),
    /// The passthrough proxy was to inject the org's stored key for a provider it has none for.
    #[error("no provider key for `{provider}`: send your own {provider} key in its usual header, or store one for the org (admin API `PUT /admin/orgs/{{org}}/provider-keys/{provider}`)")]
    ProviderKeyMissing { provider: String },
}

/// The statuses a [`ApiError::Framework`] error keeps; others become 400 (4xx) or 500.
pub const FRAMEWORK_STATUSES: &[u16] = &[400, 404, 405, 413, 431, 500];

/// Codes given by handlers to [`ApiError::BadRequest`] and [`ApiError::NotFound`] (free text in
/// the type, so listed here for the catalogue; a test checks the source has no others).
pub const HANDLER_CODES: &[(&str, u16)] = &[
    ("invalid_request", 400),
    ("invalid_policy", 400),
    ("org_exists", 400),
    ("unknown_route", 404),
    ("org_not_found", 404),
    ("key_not_found", 404),
    ("provider_key_not_found", 404),
];

impl ApiError {
    pub fn bad_request(message: impl Into<String>, param: Option<&'static str>) -> ApiError {
        ApiError::BadRequest {
            message: message.into(),
            param,
            code: "invalid_request",
        }
    }

    /// A rejection the framework answered with `status` and a plain-text `message`.
    pub fn framework(status: u16, message: impl Into<String>) -> ApiError {
        let status = if FRAMEWORK_STATUSES.contains(&status) {
            status
        } else if status >= 500 {
            500
        } else {
            400
        };
        ApiError::Framework {
            status,
            message: message.into(),
        }
    }

    pub fn status(&self) -> StatusCode {
        let code = match self {
            ApiError::BadRequest { .. } => 400,
            ApiError::PayloadTooLarge { .. } => 413,
            ApiError::Unauthorized(_) => 401,
            ApiError::Forbidden(_) => 403,
            ApiError::NotFound { .. } => 404,
            ApiError::Routing(e) => e.http_status(),
            ApiError::InsufficientCredits { .. } => 402,
            ApiError::Upstream { status, .. } => *status,
            ApiError::Internal(_) => 500,
            ApiError::MethodNotAllowed { .. } => 405,
            ApiError::InvalidPathEncoding => 400,
            ApiError::HeadersTooLarge { .. } => 431,
            ApiError::BodyTimeout { .. } => 408,
            ApiError::TooManyConnections => 503,
            ApiError::Framework { status, .. } => *status,
            ApiError::RateLimited { .. } => 429,
            ApiError::TargetNotAllowed(_) => 403,
            ApiError::ProviderKeyMissing { .. } => 401,
        };
        StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    /// A low-cardinality label for logs and metrics.
    pub fn error_type(&self) -> &'static str {
        match self {
            ApiError::BadRequest { .. }
            | ApiError::PayloadTooLarge { .. }
            | ApiError::MethodNotAllowed { .. }
            | ApiError::InvalidPathEncoding
            | ApiError::HeadersTooLarge { .. }
            | ApiError::BodyTimeout { .. } => "invalid_request_error",
            ApiError::TooManyConnections => "server_error",
            ApiError::RateLimited { .. } => "rate_limited",
            ApiError::Framework { status, .. } if *status >= 500 => "server_error",
            ApiError::Framework { status: 404, .. } => "not_found_error",
            ApiError::Framework { .. } => "invalid_request_error",
            ApiError::Unauthorized(_) | ApiError::ProviderKeyMissing { .. } => {
                "authentication_error"
            }
            ApiError::Forbidden(_) | ApiError::TargetNotAllowed(_) => "permission_error",
            ApiError::NotFound { .. } => "not_found_error",
            ApiError::Routing(e) if e.http_status() == 404 => "not_found_error",
            ApiError::Routing(_) => "invalid_request_error",
            ApiError::InsufficientCredits { .. } => "insufficient_credits",
            ApiError::Upstream { kind, status, .. } => match kind {
                ErrorKind::RateLimited | ErrorKind::QuotaExceeded => "rate_limit_error",
                // The org's own provider key (4xx) or the gateway's (5xx): see `from_attempts`.
                ErrorKind::Auth | ErrorKind::PaymentRequired if *status < 500 => {
                    "invalid_request_error"
                }
                ErrorKind::BadRequest | ErrorKind::Unsupported | ErrorKind::Config => {
                    "invalid_request_error"
                }
                ErrorKind::NotFound => "not_found_error",
                ErrorKind::Timeout => "timeout_error",
                _ => "upstream_error",
            },
            ApiError::Internal(_) => "server_error",
        }
    }

    /// The stable `error.code`: what a client branches on (listed in `notes/ERRORS.md`).
    pub fn code(&self) -> &'static str {
        match self {
            ApiError::BadRequest { code, .. } | ApiError::NotFound { code, .. } => code,
            ApiError::PayloadTooLarge { .. } => "payload_too_large",
            ApiError::Unauthorized(_) => "invalid_api_key",
            ApiError::Forbidden(_) => "forbidden",
            ApiError::Routing(e) => e.code(),
            ApiError::InsufficientCredits { .. } => "insufficient_credits",
            ApiError::Upstream { kind, .. } => kind.label(),
            ApiError::Internal(_) => "internal_error",
            ApiError::MethodNotAllowed { .. } => "method_not_allowed",
            ApiError::InvalidPathEncoding => "invalid_path_encoding",
            ApiError::HeadersTooLarge { .. } => "headers_too_large",
            ApiError::BodyTimeout { .. } => "body_timeout",
            ApiError::TooManyConnections => "too_many_connections",
            // Not `rate_limited`, which means every upstream attempt was limited.
            ApiError::RateLimited { .. } => "rate_limit_exceeded",
            ApiError::TargetNotAllowed(_) => "target_not_allowed",
            ApiError::ProviderKeyMissing { .. } => "provider_key_missing",
            ApiError::Framework { status, .. } => match status {
                404 => "unknown_route",
                405 => "method_not_allowed",
                413 => "payload_too_large",
                431 => "headers_too_large",
                500 => "internal_error",
                _ => "invalid_request",
            },
        }
    }

    fn attempts(&self) -> &[AttemptReport] {
        match self {
            ApiError::Upstream { attempts, .. } => attempts,
            _ => &[],
        }
    }

    /// The answer when every attempt failed: the status reflects the real cause (decisions.md).
    pub fn from_attempts(mut failures: Vec<(ProviderError, AttemptReport)>) -> ApiError {
        let retry_after = failures.iter().filter_map(|(e, _)| e.retry_after).min();
        let all_rate_limited = failures
            .iter()
            .all(|(e, _)| matches!(e.kind, ErrorKind::RateLimited | ErrorKind::QuotaExceeded));
        // The last failure decides unless a caller-side error (4xx) came earlier: that is the
        // most useful thing to show.
        let decisive = failures
            .iter()
            .rposition(|(e, _)| !e.retryable)
            .unwrap_or(failures.len().saturating_sub(1));
        let (status, kind, message) = match failures.get(decisive) {
            None => (
                502,
                ErrorKind::Upstream5xx,
                "no upstream attempt was made".to_owned(),
            ),
            Some((e, report)) => {
                let status = if all_rate_limited {
                    429
                } else {
                    status_of(e, report.billing)
                };
                let whose = match (e.kind, report.billing) {
                    (ErrorKind::Auth | ErrorKind::PaymentRequired, "byok") => {
                        "; your org's stored key for this provider was refused: update it with the admin API"
                    }
                    (ErrorKind::Auth | ErrorKind::PaymentRequired, _) => {
                        "; the gateway's own credentials for this provider were refused: the gateway operator must fix them"
                    }
                    _ => "",
                };
                (
                    status,
                    e.kind,
                    format!(
                        "{} (provider {}{}){whose}",
                        e.message,
                        e.provider,
                        e.status.map(|s| format!(", HTTP {s}")).unwrap_or_default()
                    ),
                )
            }
        };
        let attempts = failures.drain(..).map(|(_, a)| a).collect();
        ApiError::Upstream {
            status,
            message,
            kind,
            retry_after,
            attempts,
        }
    }
}

/// The gateway's status for one upstream failure. A provider refusing the key (401/403) or
/// asking for payment (402) is the caller's to fix when the key is the org's own (BYOK): 400,
/// never 401, which would tell an SDK that its *gateway* key is wrong. When the key is the
/// gateway's own (PTB) the caller can do nothing: 502, the gateway's upstream failed it.
fn status_of(e: &ProviderError, billing: &str) -> u16 {
    match e.kind {
        ErrorKind::Auth | ErrorKind::PaymentRequired if billing == "byok" => 400,
        ErrorKind::Auth | ErrorKind::PaymentRequired => 502,
        _ => e.gateway_status(),
    }
}

#[derive(Serialize)]
struct Body<'a> {
    error: Inner<'a>,
}

#[derive(Serialize)]
struct Inner<'a> {
    message: String,
    #[serde(rename = "type")]
    kind: &'static str,
    param: Option<&'static str>,
    code: &'static str,
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    attempts: &'a [AttemptReport],
    #[serde(skip_serializing_if = "is_zero")]
    attempts_omitted: usize,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

impl ApiError {
    /// The JSON error body.
    pub fn body(&self) -> Vec<u8> {
        let param = match self {
            ApiError::BadRequest { param, .. } => *param,
            ApiError::Routing(e) => Some(e.param()),
            _ => None,
        };
        let attempts = self.attempts();
        let shown = &attempts[..attempts.len().min(MAX_REPORTED_ATTEMPTS)];
        serde_json::to_vec(&Body {
            error: Inner {
                message: self.to_string(),
                kind: self.error_type(),
                param,
                code: self.code(),
                attempts: shown,
                attempts_omitted: attempts.len() - shown.len(),
            },
        })
        .expect("error body serialises")
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut res = (
            self.status(),
            [(http::header::CONTENT_TYPE, "application/json")],
            self.body(),
        )
            .into_response();
        match &self {
            ApiError::MethodNotAllowed { allow } => {
                if let Ok(v) = HeaderValue::from_str(allow) {
                    res.headers_mut().insert(http::header::ALLOW, v);
                }
            }
            ApiError::TooManyConnections => {
                res.headers_mut()
                    .insert(http::header::RETRY_AFTER, HeaderValue::from_static("1"));
            }
            ApiError::RateLimited {
                retry_after_secs, ..
            } => {
                res.headers_mut().insert(
                    http::header::RETRY_AFTER,
                    HeaderValue::from((*retry_after_secs).max(1)),
                );
            }
            _ => {}
        }
        if let ApiError::Upstream {
            retry_after: Some(after),
            status: 429,
            ..
        } = &self
        {
            let secs = after.as_secs().max(1);
            res.headers_mut()
                .insert(http::header::RETRY_AFTER, HeaderValue::from(secs));
        }
        res
    }
}

/// Every [`ErrorKind`], for the catalogue.
const ALL_KINDS: [ErrorKind; 15] = [
    ErrorKind::Connect,
    ErrorKind::Timeout,
    ErrorKind::RateLimited,
    ErrorKind::QuotaExceeded,
    ErrorKind::Upstream5xx,
    ErrorKind::BadRequest,
    ErrorKind::Auth,
    ErrorKind::PaymentRequired,
    ErrorKind::NotFound,
    ErrorKind::StreamInterrupted,
    ErrorKind::StreamError,
    ErrorKind::InvalidResponse,
    ErrorKind::Unsupported,
    ErrorKind::Config,
    ErrorKind::Redirect,
];

impl ApiError {
    /// Every `(code, HTTP status)` pair the gateway can answer with, sorted. Built from the
    /// types themselves (a new variant or kind does not compile until it is placed here), so the
    /// test that compares it with `notes/ERRORS.md` catches an undocumented code.
    pub fn catalog() -> Vec<(&'static str, u16)> {
        let mut out: Vec<(&'static str, u16)> = Vec::new();
        let fixed = [
            ApiError::PayloadTooLarge { limit: 0 },
            ApiError::Unauthorized(""),
            ApiError::Forbidden(""),
            ApiError::InsufficientCredits {
                balance: String::new(),
                needed: String::new(),
            },
            ApiError::Internal(String::new()),
            ApiError::MethodNotAllowed {
                allow: String::new(),
            },
            ApiError::InvalidPathEncoding,
            ApiError::HeadersTooLarge { limit: 0 },
            ApiError::BodyTimeout {
                idle: true,
                secs: 0,
            },
            ApiError::TooManyConnections,
            ApiError::RateLimited {
                policy: String::new(),
                retry_after_secs: 0,
            },
            ApiError::TargetNotAllowed(String::new()),
            ApiError::ProviderKeyMissing {
                provider: String::new(),
            },
        ];
        for e in &fixed {
            // Variants whose code is data are catalogued below from where that data comes.
            match e {
                ApiError::BadRequest { .. }
                | ApiError::NotFound { .. }
                | ApiError::Routing(_)
                | ApiError::Upstream { .. }
                | ApiError::Framework { .. } => {}
                ApiError::PayloadTooLarge { .. }
                | ApiError::Unauthorized(_)
                | ApiError::Forbidden(_)
                | ApiError::InsufficientCredits { .. }
                | ApiError::Internal(_)
                | ApiError::MethodNotAllowed { .. }
                | ApiError::InvalidPathEncoding
                | ApiError::HeadersTooLarge { .. }
                | ApiError::BodyTimeout { .. }
                | ApiError::TooManyConnections
                | ApiError::RateLimited { .. }
                | ApiError::TargetNotAllowed(_)
                | ApiError::ProviderKeyMissing { .. } => out.push((e.code(), e.status().as_u16())),
            }
        }
        out.extend_from_slice(HANDLER_CODES);
        out.extend(switchyard_routing::RoutingError::catalog());
        for &status in FRAMEWORK_STATUSES {
            let e = ApiError::framework(status, "");
            out.push((e.code(), e.status().as_u16()));
        }
        for kind in ALL_KINDS {
            // Exhaustive: a new kind fails to compile here until added to ALL_KINDS.
            match kind {
                ErrorKind::Connect
                | ErrorKind::Timeout
                | ErrorKind::RateLimited
                | ErrorKind::QuotaExceeded
                | ErrorKind::Upstream5xx
                | ErrorKind::BadRequest
                | ErrorKind::Auth
                | ErrorKind::PaymentRequired
                | ErrorKind::NotFound
                | ErrorKind::StreamInterrupted
                | ErrorKind::StreamError
                | ErrorKind::InvalidResponse
                | ErrorKind::Unsupported
                | ErrorKind::Config
                | ErrorKind::Redirect => {}
            }
            for billing in ["byok", "ptb"] {
                for upstream_status in [None, Some(500), Some(503)] {
                    let mut p = ProviderError::new("p", kind, "");
                    p.status = upstream_status;
                    let a = AttemptReport::from_error("e", billing, &p);
                    let e = ApiError::from_attempts(vec![(p, a)]);
                    out.push((e.code(), e.status().as_u16()));
                }
            }
        }
        let none = ApiError::from_attempts(Vec::new());
        out.push((none.code(), none.status().as_u16()));
        out.sort_unstable();
        out.dedup();
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failure(kind: ErrorKind, status: u16, retry: Option<u64>) -> (ProviderError, AttemptReport) {
        let mut e = ProviderError::new("openai", kind, "boom");
        e.status = Some(status);
        e.retry_after = retry.map(Duration::from_secs);
        let a = AttemptReport::from_error("gpt-4o:openai:*", "byok", &e);
        (e, a)
    }

    #[test]
    fn all_rate_limited_is_429_with_the_shortest_retry_after() {
        let e = ApiError::from_attempts(vec![
            failure(ErrorKind::RateLimited, 429, Some(7)),
            failure(ErrorKind::RateLimited, 429, Some(3)),
        ]);
        assert_eq!(e.status(), StatusCode::TOO_MANY_REQUESTS);
        let res = e.into_response();
        assert_eq!(res.headers()[http::header::RETRY_AFTER], "3");
    }

    #[test]
    fn a_caller_error_wins_over_later_outages() {
        let e = ApiError::from_attempts(vec![
            failure(ErrorKind::BadRequest, 400, None),
            failure(ErrorKind::Upstream5xx, 500, None),
        ]);
        assert_eq!(e.status(), StatusCode::BAD_REQUEST);
    }

    #[test]
    fn outages_are_502_and_body_lists_attempts() {
        let e = ApiError::from_attempts(vec![
            failure(ErrorKind::Connect, 0, None),
            failure(ErrorKind::Upstream5xx, 500, None),
        ]);
        assert_eq!(e.status(), StatusCode::BAD_GATEWAY);
        let body: serde_json::Value = serde_json::from_slice(&e.body()).unwrap();
        assert_eq!(body["error"]["type"], "upstream_error");
        assert_eq!(body["error"]["attempts"].as_array().unwrap().len(), 2);
        assert_eq!(body["error"]["attempts"][1]["status"], 500);
    }

    #[test]
    fn upstream_auth_is_the_callers_400_with_their_key_and_a_502_with_the_gateways() {
        let (mut e, _) = failure(ErrorKind::Auth, 401, None);
        e.retryable = false;
        let byok = AttemptReport::from_error("gpt-4o:openai:*", "byok", &e);
        let ptb = AttemptReport::from_error("gpt-4o:openai:*", "ptb", &e);
        let a = ApiError::from_attempts(vec![(e.clone(), byok)]);
        assert_eq!(a.status(), StatusCode::BAD_REQUEST);
        assert_eq!(a.error_type(), "invalid_request_error");
        assert!(a.to_string().contains("your org's stored key"), "{a}");
        let b = ApiError::from_attempts(vec![(e, ptb)]);
        assert_eq!(b.status(), StatusCode::BAD_GATEWAY);
        assert_eq!(b.error_type(), "upstream_error");
        assert!(b.to_string().contains("gateway operator"), "{b}");
    }

    #[test]
    fn error_bodies_list_a_bounded_number_of_attempts_then_a_count() {
        let failures: Vec<_> = (0..MAX_REPORTED_ATTEMPTS + 7)
            .map(|_| failure(ErrorKind::Upstream5xx, 500, None))
            .collect();
        let body: serde_json::Value =
            serde_json::from_slice(&ApiError::from_attempts(failures).body()).unwrap();
        assert_eq!(
            body["error"]["attempts"].as_array().unwrap().len(),
            MAX_REPORTED_ATTEMPTS
        );
        assert_eq!(body["error"]["attempts_omitted"], 7);
        let few = ApiError::from_attempts(vec![failure(ErrorKind::Upstream5xx, 500, None)]);
        let body: serde_json::Value = serde_json::from_slice(&few.body()).unwrap();
        assert!(body["error"].get("attempts_omitted").is_none());
    }

    #[test]
    fn framework_rejections_keep_known_statuses_and_fold_the_rest() {
        assert_eq!(ApiError::framework(405, "x").status().as_u16(), 405);
        assert_eq!(ApiError::framework(405, "x").code(), "method_not_allowed");
        assert_eq!(ApiError::framework(422, "x").status().as_u16(), 400);
        assert_eq!(ApiError::framework(422, "x").code(), "invalid_request");
        assert_eq!(ApiError::framework(503, "x").status().as_u16(), 500);
    }

    #[test]
    fn every_code_has_one_meaning_per_status_and_no_code_is_empty() {
        let catalog = ApiError::catalog();
        assert!(catalog.iter().all(|(c, _)| !c.is_empty()));
        assert!(catalog.contains(&("auth", 400)) && catalog.contains(&("auth", 502)));
        assert!(catalog.contains(&("too_many_models", 400)));
        assert!(catalog.contains(&("too_many_connections", 503)));
    }
}
