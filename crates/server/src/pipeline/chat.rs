//! The unified front door, `POST /v1/chat/completions`: an OpenAI chat request routed by its
//! model string and translated to each provider's wire format.

use axum::http::{HeaderMap, HeaderValue};
use bytes::Bytes;
use serde_json::Value;
use switchyard_cost::Usage;
use switchyard_providers::adapter::{
    self, Credentials, Exchange, RequestOptions, StreamTranslator, Target, UpstreamRequest,
};
use switchyard_providers::error::ProviderError;

use super::answer::sse_headers;
use super::plan::{self, OrgKeys, PlannedAttempt};
use super::{AnswerReader, FrontDoor, RequestCtx, StreamReader, Whole};
use crate::billing::UsageBound;
use crate::error::ApiError;
use crate::state::AppState;

/// The OpenAI chat completions front door.
pub struct Chat;

/// A parsed chat request.
pub struct ChatRequest {
    pub body: Value,
}

/// Checks the few fields the gateway itself needs; the rest is the provider's to judge.
fn parse_request(bytes: &[u8]) -> Result<Value, ApiError> {
    let v: Value = serde_json::from_slice(bytes)
        .map_err(|e| ApiError::bad_request(format!("request body is not valid JSON: {e}"), None))?;
    let Some(obj) = v.as_object() else {
        return Err(ApiError::bad_request(
            "request body must be a JSON object",
            None,
        ));
    };
    match obj.get("model") {
        Some(Value::String(s)) if !s.trim().is_empty() => {}
        Some(_) => {
            return Err(ApiError::bad_request(
                "`model` must be a non-empty string",
                Some("model"),
            ))
        }
        None => return Err(ApiError::bad_request("`model` is required", Some("model"))),
    }
    match obj.get("messages") {
        Some(Value::Array(m)) if !m.is_empty() => {}
        _ => {
            return Err(ApiError::bad_request(
                "`messages` must be a non-empty array",
                Some("messages"),
            ))
        }
    }
    if let Some(s) = obj.get("stream") {
        if !s.is_boolean() && !s.is_null() {
            return Err(ApiError::bad_request(
                "`stream` must be a boolean",
                Some("stream"),
            ));
        }
    }
    if let Some(n) = obj.get("n") {
        if !n.is_null() && n.as_u64().is_none_or(|n| n == 0 || n > 128) {
            return Err(ApiError::bad_request(
                "`n` must be a whole number from 1 to 128",
                Some("n"),
            ));
        }
    }
    Ok(v)
}

impl FrontDoor for Chat {
    type Request = ChatRequest;
    type Reader = ChatReader;

    fn route(&self) -> &'static str {
        "chat"
    }

    fn parse(&self, ctx: &mut RequestCtx, body: Bytes) -> Result<ChatRequest, ApiError> {
        ctx.store_body(&body);
        let value = parse_request(&body)?;
        ctx.model = value["model"].as_str().unwrap_or_default().to_owned();
        ctx.stream = value
            .get("stream")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        Ok(ChatRequest { body: value })
    }

    fn plan<'s>(
        &self,
        state: &'s AppState,
        _request: &ChatRequest,
        ctx: &RequestCtx,
        keys: &OrgKeys,
    ) -> Result<Vec<PlannedAttempt<'s>>, ApiError> {
        plan::plan(&state.registry, &ctx.model, keys, &state.config.server)
    }

    fn usage_bound(
        &self,
        target: &Target<'_>,
        request: &ChatRequest,
    ) -> Result<UsageBound, ProviderError> {
        adapter::usage_bound(target, &request.body)
    }

    fn build(
        &self,
        _attempt: &PlannedAttempt<'_>,
        target: &Target<'_>,
        credentials: &Credentials,
        request: &ChatRequest,
        ctx: &RequestCtx,
    ) -> Result<(UpstreamRequest, ChatReader), ProviderError> {
        let request_id = ctx.id.to_string();
        let opts = RequestOptions::new(ctx.stream, &request_id);
        let prepared = adapter::prepare(target, credentials, &request.body, &opts)?;
        Ok((prepared.request, ChatReader(prepared.exchange)))
    }
}

/// Reads a provider's answer into the OpenAI chat shape.
pub struct ChatReader(Exchange);

impl AnswerReader for ChatReader {
    type Stream = ChatStream;

    fn map_error(&self, status: u16, headers: &HeaderMap, body: &[u8]) -> ProviderError {
        self.0.map_error(status, headers, body)
    }

    fn whole(&self, _headers: &HeaderMap, body: Bytes) -> Result<Whole, ProviderError> {
        let mapped = self.0.map_response(body)?;
        let mut headers = HeaderMap::new();
        headers.insert(
            http::header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        Ok(Whole {
            headers,
            body: mapped.body,
            usage: mapped.usage,
        })
    }

    fn is_stream(&self, _headers: &HeaderMap) -> bool {
        self.0.stream
    }

    fn stream(&self, _headers: &HeaderMap) -> (ChatStream, HeaderMap) {
        (ChatStream(self.0.stream_translator()), sse_headers())
    }
}

/// Translates a provider's stream into OpenAI SSE chunks.
pub struct ChatStream(StreamTranslator);

impl StreamReader for ChatStream {
    fn feed(&mut self, bytes: &[u8], out: &mut Vec<u8>) -> Result<(), ProviderError> {
        self.0.feed(bytes, out)
    }

    fn finish(&mut self, out: &mut Vec<u8>) -> Result<(), ProviderError> {
        self.0.finish(out)
    }

    fn usage(&self) -> &Usage {
        self.0.usage()
    }
}
