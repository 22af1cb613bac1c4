//! The Anthropic types every part of the translation shares: body options per host, the
//! translation error, usage and error-body readers.

use serde_json::Value;
use switchyard_cost::Usage;

/// Name of the tool a `response_format: json_schema` request is forced to call. The response and
/// stream translators turn a call of this tool back into plain JSON `content`.
pub const JSON_RESPONSE_TOOL: &str = "json_response";
/// The `anthropic-version` header value for the native API.
pub const ANTHROPIC_VERSION_HEADER: &str = "2023-06-01";
/// The `anthropic_version` body field Bedrock InvokeModel wants.
pub const BEDROCK_ANTHROPIC_VERSION: &str = "bedrock-2023-05-31";
/// The `anthropic_version` body field Vertex rawPredict wants.
pub const VERTEX_ANTHROPIC_VERSION: &str = "vertex-2023-10-16";

/// How the Messages body is shaped for the host that receives it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AnthropicOptions {
    /// Body field `anthropic_version`: `Some` for Bedrock/Vertex, `None` for the native API (which
    /// takes it as a header instead).
    pub anthropic_version: Option<&'static str>,
    /// Whether `model` goes in the body (false for Bedrock/Vertex: the URL carries it).
    pub include_model: bool,
    /// Whether `stream` goes in the body (false for Bedrock: the URL path says it).
    pub include_stream: bool,
    /// Whether to add the automatic prompt-cache breakpoint (native API only in the reference).
    pub cache_breakpoints: bool,
}

impl AnthropicOptions {
    /// The native `api.anthropic.com` API.
    pub const fn native() -> Self {
        AnthropicOptions {
            anthropic_version: None,
            include_model: true,
            include_stream: true,
            cache_breakpoints: true,
        }
    }

    /// Bedrock InvokeModel / InvokeModelWithResponseStream.
    pub const fn bedrock() -> Self {
        AnthropicOptions {
            anthropic_version: Some(BEDROCK_ANTHROPIC_VERSION),
            include_model: false,
            include_stream: false,
            cache_breakpoints: false,
        }
    }

    /// Vertex rawPredict / streamRawPredict (which does take `stream` in the body).
    pub const fn vertex() -> Self {
        AnthropicOptions {
            anthropic_version: Some(VERTEX_ANTHROPIC_VERSION),
            include_model: false,
            include_stream: true,
            cache_breakpoints: false,
        }
    }
}

/// A request that cannot be expressed for Anthropic, or an answer we cannot read.
///
/// Request-side variants are the caller's fault (the gateway answers 400); `Upstream` is an error
/// the provider reported (an `error` body or a stream `error` event); `InvalidResponse` is a body
/// that is not the Messages shape.
#[derive(Debug, thiserror::Error)]
pub enum TranslateError {
    #[error("request body must be a JSON object with a `messages` array")]
    NotAChatRequest,
    #[error("request with Anthropic models must contain at least one non-system message")]
    NoNonSystemMessage,
    #[error("messages[{index}]: {reason}")]
    InvalidMessage { index: usize, reason: String },
    #[error(
        "messages[{index}].tool_calls[{call}].function.arguments is not a JSON object: {reason}"
    )]
    InvalidToolArguments {
        index: usize,
        call: usize,
        reason: String,
    },
    #[error("`{field}` is not supported by Anthropic: {reason}")]
    Unsupported { field: &'static str, reason: String },
    #[error("`{field}` is invalid: {reason}")]
    InvalidParameter { field: &'static str, reason: String },
    #[error("Anthropic answer is not valid: {0}")]
    InvalidResponse(String),
    #[error("Anthropic returned {error_type}: {message}")]
    Upstream { error_type: String, message: String },
}

impl TranslateError {
    /// True when the provider itself reported the error (a retry elsewhere may help), false when
    /// the caller's request or the answer's shape is at fault.
    pub fn is_upstream(&self) -> bool {
        matches!(self, TranslateError::Upstream { .. })
    }
}

/// Normalised usage from an Anthropic `usage` object (whole response, `message_start` or
/// `message_delta`). Absent fields stay `None` ("not reported" is not 0).
///
/// `input_tokens` already excludes cache reads and writes on Anthropic. Cache writes are split by
/// lifetime from `cache_creation.ephemeral_{5m,1h}_input_tokens`; a bare
/// `cache_creation_input_tokens` without that breakdown (older API versions, Bedrock) is 5-minute
/// writes, the only lifetime that existed before the breakdown.
pub fn usage_from_anthropic(usage: &Value) -> Usage {
    let n = |v: Option<&Value>| v.and_then(Value::as_u64);
    let mut u = Usage {
        input: n(usage.get("input_tokens")),
        output: n(usage.get("output_tokens")),
        cache_read: n(usage.get("cache_read_input_tokens")),
        ..Usage::default()
    };
    match usage.get("cache_creation").filter(|c| c.is_object()) {
        Some(c) => {
            u.cache_write_5m = n(c.get("ephemeral_5m_input_tokens"));
            u.cache_write_1h = n(c.get("ephemeral_1h_input_tokens"));
            // A breakdown that leaves tokens unexplained: count the rest as 5m writes so the
            // prompt size stays what the provider billed.
            if let Some(total) = n(usage.get("cache_creation_input_tokens")) {
                let known = u.cache_write();
                if total > known {
                    u.cache_write_5m = Some(u.cache_write_5m.unwrap_or(0) + total - known);
                }
            }
        }
        None => u.cache_write_5m = n(usage.get("cache_creation_input_tokens")),
    }
    u.web_search = usage
        .get("server_tool_use")
        .and_then(|s| n(s.get("web_search_requests")));
    u
}

/// The provider's message from an Anthropic error body (`{"type":"error","error":{"type",
/// "message"}}`), or from Bedrock's `{"message": ...}` / a bare `{"error": "..."}`.
pub fn error_message(body: &[u8]) -> Option<String> {
    let v: Value = serde_json::from_slice(body).ok()?;
    let from_error = v.get("error").and_then(|e| match e {
        Value::String(s) => Some(s.clone()),
        Value::Object(o) => o.get("message").and_then(Value::as_str).map(str::to_owned),
        _ => None,
    });
    from_error
        .or_else(|| v.get("message").and_then(Value::as_str).map(str::to_owned))
        .filter(|m| !m.is_empty())
}

/// The Anthropic error `type` (`overloaded_error`, `rate_limit_error`, ...) of an error body.
pub fn error_type(body: &[u8]) -> Option<String> {
    let v: Value = serde_json::from_slice(body).ok()?;
    v.get("error")?.get("type")?.as_str().map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn usage_breakdown_and_fallback() {
        let u = usage_from_anthropic(&json!({
            "input_tokens": 10, "output_tokens": 5, "cache_read_input_tokens": 100,
            "cache_creation_input_tokens": 30,
            "cache_creation": {"ephemeral_5m_input_tokens": 10, "ephemeral_1h_input_tokens": 20}
        }));
        assert_eq!(
            (u.input, u.cache_read, u.cache_write_5m, u.cache_write_1h),
            (Some(10), Some(100), Some(10), Some(20))
        );
        let u = usage_from_anthropic(&json!({"input_tokens": 1, "cache_creation_input_tokens": 7}));
        assert_eq!((u.cache_write_5m, u.cache_write_1h), (Some(7), None));
        let u = usage_from_anthropic(&json!({"output_tokens": 3}));
        assert_eq!((u.input, u.output, u.cache_read), (None, Some(3), None));
    }

    #[test]
    fn error_messages() {
        let b = br#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#;
        assert_eq!(error_message(b).as_deref(), Some("Overloaded"));
        assert_eq!(error_type(b).as_deref(), Some("overloaded_error"));
        assert_eq!(
            error_message(
                br#"{"message":"The security token included in the request is invalid."}"#
            )
            .as_deref(),
            Some("The security token included in the request is invalid.")
        );
        assert_eq!(error_message(b"<html>502</html>"), None);
    }
}
