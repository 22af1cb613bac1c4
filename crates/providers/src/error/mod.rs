//! The one typed error of an upstream attempt, and secret scrubbing.
//!
//! Every failure of a provider call (connect, timeout, an HTTP error body in the provider's own
//! shape, an HTML page from a load balancer, a stream that stops or carries an error event) ends
//! up as one [`ProviderError`]. It knows whether the attempt may be retried, how long the provider
//! asked us to wait, and carries the provider's message with secrets scrubbed, so fallback logic
//! reads fields instead of guessing from strings.

mod message;
mod secret;

pub use message::{json_message, json_path, retry_after};
pub use secret::{scrub, scrub_known, Secret};

use std::fmt;
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use message::{clip, text_message};

/// What went wrong, at the granularity fallback and the HTTP status of the gateway need.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// The TCP/TLS connection could not be made.
    Connect,
    /// No answer (or no next stream byte) in time; also HTTP 408.
    Timeout,
    /// HTTP 429 or a rate-limit error event.
    RateLimited,
    /// A 429 that is not temporary: the account is out of quota or credit.
    QuotaExceeded,
    /// HTTP 5xx (including Anthropic's 529 "overloaded").
    Upstream5xx,
    /// HTTP 400, 413, 422 and other 4xx the caller's request caused.
    BadRequest,
    /// HTTP 401 or 403: the key is wrong, revoked or lacks access.
    Auth,
    /// HTTP 402: the provider wants payment.
    PaymentRequired,
    /// HTTP 404: unknown model, deployment or path.
    NotFound,
    /// The stream ended before the provider said it was done.
    StreamInterrupted,
    /// A 200 stream carried an error event whose cause is not one of the above.
    StreamError,
    /// The provider answered 2xx with something we could not read.
    InvalidResponse,
    /// The caller's request cannot be expressed for this provider (a gateway-side 400).
    Unsupported,
    /// The key or endpoint lacks a config field the provider needs (region, resource name...).
    Config,
    /// HTTP 3xx: a chat API never redirects, and the gateway never follows one (it could send
    /// the request, and its key, elsewhere). Another attempt may answer.
    Redirect,
}

impl ErrorKind {
    /// A low-cardinality label for metrics and logs.
    pub fn label(self) -> &'static str {
        match self {
            ErrorKind::Connect => "connect",
            ErrorKind::Timeout => "timeout",
            ErrorKind::RateLimited => "rate_limited",
            ErrorKind::QuotaExceeded => "quota_exceeded",
            ErrorKind::Upstream5xx => "upstream_5xx",
            ErrorKind::BadRequest => "bad_request",
            ErrorKind::Auth => "auth",
            ErrorKind::PaymentRequired => "payment_required",
            ErrorKind::NotFound => "not_found",
            ErrorKind::StreamInterrupted => "stream_interrupted",
            ErrorKind::StreamError => "stream_error",
            ErrorKind::InvalidResponse => "invalid_response",
            ErrorKind::Unsupported => "unsupported",
            ErrorKind::Config => "config",
            ErrorKind::Redirect => "upstream_redirect",
        }
    }

    /// Whether the next attempt (another key, deployment or provider) can succeed where this
    /// one failed. Transient causes are; so is an exhausted quota, which is the key's account,
    /// not the request. Anything the request itself caused is not.
    pub fn is_retryable(self) -> bool {
        matches!(
            self,
            ErrorKind::Connect
                | ErrorKind::Timeout
                | ErrorKind::RateLimited
                | ErrorKind::QuotaExceeded
                | ErrorKind::Upstream5xx
                | ErrorKind::StreamInterrupted
                | ErrorKind::StreamError
                | ErrorKind::Redirect
        )
    }

    /// The kind an HTTP status means.
    pub fn from_status(status: u16) -> ErrorKind {
        match status {
            408 => ErrorKind::Timeout,
            429 => ErrorKind::RateLimited,
            401 | 403 => ErrorKind::Auth,
            402 => ErrorKind::PaymentRequired,
            404 => ErrorKind::NotFound,
            500..=599 => ErrorKind::Upstream5xx,
            300..=399 => ErrorKind::Redirect,
            // 2xx reaching the error path means the body was unusable.
            200..=299 => ErrorKind::InvalidResponse,
            _ => ErrorKind::BadRequest,
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

/// One failed upstream attempt.
#[derive(Clone, Debug, PartialEq, thiserror::Error, Serialize)]
#[error("{provider}: {kind}{}: {message}", status.map(|s| format!(" (HTTP {s})")).unwrap_or_default())]
pub struct ProviderError {
    /// Registry provider id (`openai`, `bedrock`, ...).
    pub provider: String,
    /// The upstream HTTP status, when an answer arrived.
    pub status: Option<u16>,
    pub kind: ErrorKind,
    pub retryable: bool,
    /// How long the provider asked us to wait (`Retry-After`, `retry-after-ms`).
    pub retry_after: Option<Duration>,
    /// The provider's own message, secrets scrubbed, at most ~600 characters.
    pub message: String,
}

impl ProviderError {
    /// An error of `kind` with the retry flag the kind implies. The message is scrubbed.
    pub fn new(provider: &str, kind: ErrorKind, message: impl AsRef<str>) -> ProviderError {
        ProviderError {
            provider: provider.to_owned(),
            status: None,
            kind,
            retryable: kind.is_retryable(),
            retry_after: None,
            message: clip(&scrub(message.as_ref())),
        }
    }

    pub fn connect(provider: &str, detail: impl AsRef<str>) -> ProviderError {
        ProviderError::new(provider, ErrorKind::Connect, detail)
    }

    pub fn timeout(provider: &str, detail: impl AsRef<str>) -> ProviderError {
        ProviderError::new(provider, ErrorKind::Timeout, detail)
    }

    pub fn stream_interrupted(provider: &str, detail: impl AsRef<str>) -> ProviderError {
        ProviderError::new(provider, ErrorKind::StreamInterrupted, detail)
    }

    pub fn invalid_response(provider: &str, detail: impl AsRef<str>) -> ProviderError {
        ProviderError::new(provider, ErrorKind::InvalidResponse, detail)
    }

    pub fn unsupported(provider: &str, detail: impl AsRef<str>) -> ProviderError {
        ProviderError::new(provider, ErrorKind::Unsupported, detail)
    }

    pub fn config(provider: &str, detail: impl AsRef<str>) -> ProviderError {
        ProviderError::new(provider, ErrorKind::Config, detail)
    }

    /// Scrubs exact secret values (the key used for this attempt) from the message, on top of
    /// the pattern-based scrubbing every message gets.
    pub fn scrub_secrets<'a>(mut self, secrets: impl IntoIterator<Item = &'a str>) -> Self {
        self.message = scrub_known(&self.message, secrets);
        self
    }

    /// An HTTP error answer: status, headers and body as received.
    ///
    /// `message_paths` are the provider's `error_message_paths` (dotted, numeric segments index
    /// arrays); the first that yields a value wins, then common shapes are tried.
    pub fn from_response(
        provider: &str,
        status: u16,
        headers: &http::HeaderMap,
        body: &[u8],
        message_paths: &[String],
    ) -> ProviderError {
        Self::from_response_at(
            provider,
            status,
            headers,
            body,
            message_paths,
            SystemTime::now(),
        )
    }

    /// [`ProviderError::from_response`] with an explicit clock, for HTTP-date `Retry-After`.
    pub fn from_response_at(
        provider: &str,
        status: u16,
        headers: &http::HeaderMap,
        body: &[u8],
        message_paths: &[String],
        now: SystemTime,
    ) -> ProviderError {
        let json: Option<Value> = serde_json::from_slice(body).ok();
        let message = match &json {
            Some(v) => json_message(v, message_paths)
                .unwrap_or_else(|| text_message(status, &String::from_utf8_lossy(body))),
            None => text_message(status, &String::from_utf8_lossy(body)),
        };
        let mut kind = ErrorKind::from_status(status);
        if kind == ErrorKind::RateLimited && json.as_ref().is_some_and(is_quota_exhausted) {
            kind = ErrorKind::QuotaExceeded;
        }
        let mut err = ProviderError::new(provider, kind, message);
        err.status = Some(status);
        err.retry_after = retry_after(headers, now);
        err
    }

    /// An error event inside a 2xx stream (OpenAI/OpenRouter `{"error": {...}}`, Anthropic
    /// `{"type":"error","error":{"type":"overloaded_error",...}}`). Its cause is read from the
    /// error's `type`/`code` so an overload mid-stream stays retryable and a bad request doesn't.
    pub fn from_stream_event(provider: &str, event: &Value, message_paths: &[String]) -> Self {
        let message = json_message(event, message_paths)
            .unwrap_or_else(|| "the provider sent an error event in the stream".to_owned());
        let err_obj = event.get("error").unwrap_or(event);
        let code_status = err_obj
            .get("code")
            .and_then(|c| {
                c.as_u64()
                    .or_else(|| c.as_str().and_then(|s| s.parse().ok()))
            })
            .and_then(|c| u16::try_from(c).ok())
            .filter(|c| (400..600).contains(c));
        let type_kind = ["type", "code", "status"]
            .iter()
            .filter_map(|k| err_obj.get(*k).and_then(Value::as_str))
            .find_map(kind_from_error_type);
        let kind = type_kind
            .or(code_status.map(ErrorKind::from_status))
            .unwrap_or(ErrorKind::StreamError);
        let mut err = ProviderError::new(provider, kind, message);
        err.status = code_status;
        err
    }

    /// The HTTP status the gateway should answer with if this is the only failure.
    pub fn gateway_status(&self) -> u16 {
        match self.kind {
            ErrorKind::RateLimited | ErrorKind::QuotaExceeded => 429,
            ErrorKind::BadRequest | ErrorKind::Unsupported => 400,
            ErrorKind::NotFound => 404,
            ErrorKind::Timeout => 504,
            ErrorKind::Upstream5xx if self.status == Some(503) => 503,
            // The caller's key for the provider is wrong: their problem, but not our auth, so not
            // 401 (which would tell an SDK its gateway key is bad).
            ErrorKind::Auth | ErrorKind::PaymentRequired => 424,
            ErrorKind::Config => 400,
            _ => 502,
        }
    }
}

/// Maps provider error type strings (OpenAI `type`/`code`, Anthropic `error.type`, Google
/// `status`) to kinds.
fn kind_from_error_type(t: &str) -> Option<ErrorKind> {
    Some(match t {
        "rate_limit_error"
        | "rate_limit_exceeded"
        | "RESOURCE_EXHAUSTED"
        | "ThrottlingException" => ErrorKind::RateLimited,
        "insufficient_quota" => ErrorKind::QuotaExceeded,
        "overloaded_error"
        | "server_error"
        | "api_error"
        | "internal_error"
        | "INTERNAL"
        | "UNAVAILABLE"
        | "ServiceUnavailableException"
        | "InternalServerException"
        | "ModelStreamErrorException" => ErrorKind::Upstream5xx,
        "timeout_error" | "DEADLINE_EXCEEDED" | "ModelTimeoutException" => ErrorKind::Timeout,
        "invalid_request_error"
        | "INVALID_ARGUMENT"
        | "ValidationException"
        | "request_too_large" => ErrorKind::BadRequest,
        "authentication_error"
        | "permission_error"
        | "UNAUTHENTICATED"
        | "PERMISSION_DENIED"
        | "AccessDeniedException" => ErrorKind::Auth,
        "not_found_error" | "NOT_FOUND" | "ResourceNotFoundException" => ErrorKind::NotFound,
        _ => return None,
    })
}

/// OpenAI answers 429 both for "slow down" and for "your account has no credit left"; only the
/// first is worth retrying.
fn is_quota_exhausted(v: &Value) -> bool {
    let e = v.get("error").unwrap_or(v);
    ["code", "type"]
        .iter()
        .any(|k| e.get(*k).and_then(Value::as_str) == Some("insufficient_quota"))
}

#[cfg(test)]
mod tests {
    use super::message::MAX_MESSAGE_CHARS;
    use super::*;
    use http::HeaderMap;
    #[test]
    fn retryable_by_status() {
        for (status, retryable) in [
            (400, false),
            (401, false),
            (403, false),
            (404, false),
            (408, true),
            (422, false),
            (429, true),
            (500, true),
            (502, true),
            (503, true),
            (529, true),
        ] {
            let e = ProviderError::from_response("openai", status, &HeaderMap::new(), b"", &[]);
            assert_eq!(e.retryable, retryable, "status {status}");
            assert_eq!(e.status, Some(status));
        }
        assert!(ProviderError::connect("groq", "refused").retryable);
        assert!(ProviderError::timeout("groq", "30s").retryable);
    }

    #[test]
    fn insufficient_quota_falls_through_to_the_next_attempt() {
        let body = br#"{"error":{"message":"You exceeded your current quota","type":"insufficient_quota","code":"insufficient_quota"}}"#;
        let e = ProviderError::from_response("openai", 429, &HeaderMap::new(), body, &[]);
        assert_eq!(e.kind, ErrorKind::QuotaExceeded);
        // Another key or provider can still answer; the gateway never retries the same attempt.
        assert!(e.retryable);
    }

    #[test]
    fn html_page_is_summarised() {
        let body = b"<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>cloudflare</center>\r\n</body>\r\n</html>\r\n";
        let e = ProviderError::from_response("groq", 502, &HeaderMap::new(), body, &[]);
        assert_eq!(
            e.message,
            "upstream returned an HTML error page (HTTP 502): 502 Bad Gateway"
        );
        assert!(e.retryable);
        assert_eq!(e.kind, ErrorKind::Upstream5xx);
    }

    #[test]
    fn empty_and_plain_text_bodies() {
        let e = ProviderError::from_response("x", 503, &HeaderMap::new(), b"", &[]);
        assert_eq!(
            e.message,
            "empty response body (HTTP 503 Service Unavailable)"
        );
        let e = ProviderError::from_response(
            "x",
            500,
            &HeaderMap::new(),
            b"  upstream\n connect error  ",
            &[],
        );
        assert_eq!(e.message, "upstream connect error");
    }

    #[test]
    fn long_messages_are_clipped() {
        let long = "x ".repeat(2000);
        let e = ProviderError::from_response("x", 500, &HeaderMap::new(), long.as_bytes(), &[]);
        assert_eq!(e.message.chars().count(), MAX_MESSAGE_CHARS + 1);
        assert!(e.message.ends_with('…'));
    }

    #[test]
    fn scrubs_known_secret_values() {
        let e = ProviderError::from_response(
            "azure",
            401,
            &HeaderMap::new(),
            br#"{"error":{"message":"key 0123456789abcdef0123456789abcdef rejected"}}"#,
            &[],
        )
        .scrub_secrets(["0123456789abcdef0123456789abcdef"]);
        assert_eq!(e.message, "key [REDACTED] rejected");
    }

    #[test]
    fn stream_error_events_classified() {
        let ev: Value = serde_json::from_str(
            r#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#,
        )
        .unwrap();
        let e = ProviderError::from_stream_event("anthropic", &ev, &["error.message".into()]);
        assert_eq!(
            (e.kind, e.retryable, e.message.as_str()),
            (ErrorKind::Upstream5xx, true, "Overloaded")
        );

        let ev: Value =
            serde_json::from_str(r#"{"error":{"code":400,"message":"bad tool schema"}}"#).unwrap();
        let e = ProviderError::from_stream_event("openrouter", &ev, &[]);
        assert_eq!(
            (e.kind, e.retryable, e.status),
            (ErrorKind::BadRequest, false, Some(400))
        );

        let ev: Value = serde_json::from_str(r#"{"error":{"message":"something broke"}}"#).unwrap();
        let e = ProviderError::from_stream_event("openai", &ev, &[]);
        assert_eq!((e.kind, e.retryable), (ErrorKind::StreamError, true));
    }
}
