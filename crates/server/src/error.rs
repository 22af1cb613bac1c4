//! The one error type of the HTTP API and its mapping to responses, in one place.
//!
//! Every error body has the OpenAI shape that SDKs parse, `{"error": {"message", "type", "param",
//! "code"}}`, extended with `attempts` (one entry per upstream attempt) when upstream calls were
//! made. Messages never carry secrets: provider messages are scrubbed by the adapter.

use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use std::time::Duration;
use switchyard_providers::error::{ErrorKind, ProviderError};

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
}

impl ApiError {
    pub fn bad_request(message: impl Into<String>, param: Option<&'static str>) -> ApiError {
        ApiError::BadRequest {
            message: message.into(),
            param,
            code: "invalid_request",
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
        };
        StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    /// A low-cardinality label for logs and metrics.
    pub fn error_type(&self) -> &'static str {
        match self {
            ApiError::BadRequest { .. } | ApiError::PayloadTooLarge { .. } => {
                "invalid_request_error"
            }
            ApiError::Unauthorized(_) => "authentication_error",
            ApiError::Forbidden(_) => "permission_error",
            ApiError::NotFound { .. } => "not_found_error",
            ApiError::Routing(e) if e.http_status() == 404 => "not_found_error",
            ApiError::Routing(_) => "invalid_request_error",
            ApiError::InsufficientCredits { .. } => "insufficient_credits",
            ApiError::Upstream { kind, .. } => match kind {
                ErrorKind::RateLimited | ErrorKind::QuotaExceeded => "rate_limit_error",
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

    fn code(&self) -> Option<&'static str> {
        match self {
            ApiError::BadRequest { code, .. } | ApiError::NotFound { code, .. } => Some(code),
            ApiError::PayloadTooLarge { .. } => Some("payload_too_large"),
            ApiError::Unauthorized(_) => Some("invalid_api_key"),
            ApiError::Routing(e) => Some(e.code()),
            ApiError::InsufficientCredits { .. } => Some("insufficient_credits"),
            ApiError::Upstream { kind, .. } => Some(kind.label()),
            _ => None,
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
            Some((e, _)) => {
                let status = if all_rate_limited {
                    429
                } else {
                    e.gateway_status()
                };
                (
                    status,
                    e.kind,
                    format!(
                        "{} (provider {}{})",
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
    code: Option<&'static str>,
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    attempts: &'a [AttemptReport],
}

impl ApiError {
    /// The JSON error body.
    pub fn body(&self) -> Vec<u8> {
        let param = match self {
            ApiError::BadRequest { param, .. } => *param,
            _ => None,
        };
        serde_json::to_vec(&Body {
            error: Inner {
                message: self.to_string(),
                kind: self.error_type(),
                param,
                code: self.code(),
                attempts: self.attempts(),
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
}
