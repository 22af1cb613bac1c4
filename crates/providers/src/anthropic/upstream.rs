//! The native Anthropic API as an adapter: the upstream request for a [`Target`], the whole answer
//! and the SSE stream read back into the OpenAI shape. Bedrock and Vertex Claude reuse the answer
//! side: their bodies are the same Messages JSON.

use bytes::Bytes;
use http::header::{HeaderName, HeaderValue};
use http::Method;
use serde_json::Value;
use switchyard_cost::Usage;

use super::request::to_messages_request;
use super::response::response_to_openai;
use super::stream::StreamTranslator;
use super::types::{AnthropicOptions, TranslateError, ANTHROPIC_VERSION_HEADER};
use crate::error::{ErrorKind, ProviderError};
use crate::exchange::{Exchange, MappedResponse};
use crate::request::{
    base_headers, without_unsupported, Credentials, RequestOptions, Target, UpstreamRequest,
};
use crate::sse::{write_data, write_done, SseParser};

/// A translation error as the attempt's typed error: the provider's own error stays retryable
/// by its kind, an unreadable answer is an invalid response, anything else the caller's request.
pub fn provider_error(provider: &str, e: TranslateError) -> ProviderError {
    if e.is_upstream() {
        ProviderError::new(provider, ErrorKind::StreamError, e.to_string())
    } else if matches!(e, TranslateError::InvalidResponse(_)) {
        ProviderError::invalid_response(provider, e.to_string())
    } else {
        ProviderError::unsupported(provider, e.to_string())
    }
}

/// The Messages body the native API receives for an OpenAI chat request.
pub(crate) fn native_body(
    target: &Target<'_>,
    request: &Value,
    stream: bool,
) -> Result<Value, ProviderError> {
    let mut body = without_unsupported(target.endpoint, request).into_owned();
    if let Some(obj) = body.as_object_mut() {
        obj.insert("stream".into(), Value::Bool(stream));
    }
    to_messages_request(
        &body,
        &target.endpoint.provider_model_id,
        &AnthropicOptions::native(),
    )
    .map_err(|e| provider_error(target.provider_id(), e))
}

/// The request to `api.anthropic.com` (or the key's `base_uri`): Messages body, `x-api-key`,
/// `anthropic-version`.
pub fn build(
    target: &Target<'_>,
    credentials: &Credentials,
    request: &Value,
    opts: &RequestOptions<'_>,
) -> Result<UpstreamRequest, ProviderError> {
    let body = native_body(target, request, opts.stream)?;
    let mut headers = base_headers(target.provider, credentials, opts.stream)?;
    headers.insert(
        HeaderName::from_static("anthropic-version"),
        HeaderValue::from_static(ANTHROPIC_VERSION_HEADER),
    );
    Ok(UpstreamRequest {
        method: Method::POST,
        url: format!("{}{}", target.base_url(), target.provider.chat_path),
        headers,
        body: Bytes::from(serde_json::to_vec(&body).expect("a JSON value serialises")),
    })
}

/// A 2xx body that is an error object (some providers answer 200 with `{"error": ...}`).
fn embedded_error(ex: &Exchange, body: &[u8]) -> Option<ProviderError> {
    let v: Value = serde_json::from_slice(body).ok()?;
    let is_error = v.get("error").is_some_and(|e| !e.is_null())
        && v.get("choices").is_none()
        && v.get("content").is_none();
    let is_error = is_error || v.get("type").and_then(Value::as_str) == Some("error");
    is_error.then(|| ProviderError::from_stream_event(&ex.provider, &v, &ex.error_message_paths))
}

/// A whole Messages answer (native, Bedrock InvokeModel, Vertex rawPredict) → OpenAI
/// `chat.completion` + usage.
pub fn map_response(ex: &Exchange, body: Bytes) -> Result<MappedResponse, ProviderError> {
    if let Some(err) = embedded_error(ex, &body) {
        return Err(err);
    }
    response_to_openai(&body, &ex.model)
        .map(|(v, usage)| MappedResponse {
            body: Bytes::from(serde_json::to_vec(&v).expect("a JSON value serialises")),
            usage,
        })
        .map_err(|e| provider_error(&ex.provider, e))
}

/// An Anthropic SSE stream (native API, Vertex streamRawPredict) → OpenAI SSE.
#[derive(Debug)]
pub struct SseStream {
    sse: SseParser,
    tr: StreamTranslator,
    done: bool,
}

impl SseStream {
    pub fn new(ex: &Exchange) -> SseStream {
        SseStream {
            sse: SseParser::new(),
            tr: StreamTranslator::new(&ex.model, &ex.request_id)
                .with_usage_chunk(ex.caller_wants_usage),
            done: false,
        }
    }

    /// Feeds upstream bytes; writes `data: [DONE]` after `message_stop`.
    pub fn feed(
        &mut self,
        ex: &Exchange,
        bytes: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<(), ProviderError> {
        let events = self
            .sse
            .feed(bytes)
            .map_err(|e| ProviderError::invalid_response(&ex.provider, e.to_string()))?;
        for ev in events {
            write_event(ex, &mut self.tr, &ev.data, out)?;
            if self.tr.is_done() {
                write_done(out);
                self.done = true;
                break;
            }
        }
        Ok(())
    }

    /// The upstream closed: the end of the stream, or [`ErrorKind::StreamInterrupted`] before
    /// `message_stop`.
    pub fn finish(&mut self, ex: &Exchange, out: &mut Vec<u8>) -> Result<(), ProviderError> {
        if let Some(ev) = self.sse.finish() {
            // An event cut off mid-JSON: the connection dropped.
            write_event(ex, &mut self.tr, &ev.data, out).map_err(|e| {
                ProviderError::stream_interrupted(
                    &ex.provider,
                    format!("the stream ended mid-event ({})", e.message),
                )
            })?;
        }
        if !self.tr.is_done() {
            return Err(ProviderError::stream_interrupted(
                &ex.provider,
                "the stream ended before message_stop",
            ));
        }
        write_done(out);
        self.done = true;
        Ok(())
    }

    pub fn usage(&self) -> &Usage {
        self.tr.usage()
    }

    /// True once `data: [DONE]` has been written.
    pub fn is_done(&self) -> bool {
        self.done
    }
}

/// One Anthropic event → OpenAI chunks in `out`.
fn write_event(
    ex: &Exchange,
    tr: &mut StreamTranslator,
    data: &[u8],
    out: &mut Vec<u8>,
) -> Result<(), ProviderError> {
    // The error event is classified here, from its own `error.type`, so an overload mid-stream
    // stays retryable and an invalid request does not.
    if memchr::memmem::find(data, b"\"error\"").is_some() {
        if let Ok(v) = serde_json::from_slice::<Value>(data) {
            if v.get("type").and_then(Value::as_str) == Some("error") {
                return Err(ProviderError::from_stream_event(
                    &ex.provider,
                    &v,
                    &ex.error_message_paths,
                ));
            }
        }
    }
    for chunk in tr
        .on_event(data)
        .map_err(|e| provider_error(&ex.provider, e))?
    {
        write_data(
            out,
            &serde_json::to_vec(&chunk).expect("a JSON value serialises"),
        );
    }
    Ok(())
}
