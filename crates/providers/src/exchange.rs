//! The answer side shared by every adapter: which adapter and answer format an attempt uses, and
//! the [`Exchange`] that remembers what reading its answer needs.
//!
//! A leaf: it imports nothing from the provider modules, which all import it. The dispatching
//! methods (`map_response`, `stream_translator`, ...) live in [`crate::adapter`].

use bytes::Bytes;
use serde_json::Value;
use switchyard_cost::Usage;

use crate::error::ProviderError;
use crate::request::{Credentials, RequestOptions, Target, UpstreamRequest};

/// Which adapter speaks to a provider. Closed: a new wire format is a new variant.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Adapter {
    /// OpenAI chat completions, data-driven (most providers).
    OpenAi,
    /// Azure OpenAI: the OpenAI body at a deployment URL with `api-version`.
    Azure,
    /// Anthropic Messages (native API).
    Anthropic,
    /// AWS Bedrock InvokeModel (Claude), SigV4.
    Bedrock,
    /// Vertex AI: Gemini through its OpenAI-compatible endpoint, Claude through rawPredict.
    Vertex,
    /// Google's native Gemini API (no registry provider uses it: AI Studio goes through its
    /// OpenAI-compatible path).
    Google,
}

/// The answer format of one exchange.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AnswerFormat {
    /// OpenAI chat completions (passthrough, usage read).
    OpenAi,
    /// Anthropic Messages JSON and SSE.
    Anthropic,
    /// Anthropic Messages JSON; streams in AWS event-stream frames.
    BedrockAnthropic,
}

/// What the answer side of one attempt needs to know about its request.
#[derive(Clone, Debug)]
pub struct Exchange {
    pub provider: String,
    pub adapter: Adapter,
    pub format: AnswerFormat,
    pub stream: bool,
    /// The caller set `stream_options.include_usage`; otherwise the usage-only chunk the gateway
    /// asked for is stripped from the stream.
    pub caller_wants_usage: bool,
    /// The model name reported in translated answers.
    pub model: String,
    pub request_id: String,
    pub error_message_paths: Vec<String>,
    secrets: Vec<String>,
}

impl Exchange {
    /// The exchange of an attempt about to be built: the model name the caller used (else the
    /// endpoint's), the caller's stream-usage wish and the key's secrets for scrubbing.
    pub(crate) fn new(
        target: &Target<'_>,
        credentials: &Credentials,
        request: &Value,
        opts: &RequestOptions<'_>,
        adapter: Adapter,
        format: AnswerFormat,
    ) -> Exchange {
        Exchange {
            provider: target.provider.id.clone(),
            adapter,
            format,
            stream: opts.stream,
            caller_wants_usage: request
                .pointer("/stream_options/include_usage")
                .and_then(Value::as_bool)
                == Some(true),
            model: request
                .get("model")
                .and_then(Value::as_str)
                .unwrap_or(&target.endpoint.model)
                .to_owned(),
            request_id: opts.request_id.to_owned(),
            error_message_paths: target.provider.error_message_paths.clone(),
            secrets: credentials.secret_values(),
        }
    }

    /// `e` with this key's secret values removed from its message.
    pub(crate) fn scrub(&self, e: ProviderError) -> ProviderError {
        e.scrub_secrets(self.secrets.iter().map(String::as_str))
    }
}

/// A request ready to send, and the exchange that reads its answer.
#[derive(Clone, Debug)]
pub struct Prepared {
    pub request: UpstreamRequest,
    pub exchange: Exchange,
}

/// A whole answer in the OpenAI shape.
#[derive(Clone, Debug, PartialEq)]
pub struct MappedResponse {
    /// `chat.completion` JSON. For OpenAI-compatible providers these are the upstream's bytes.
    pub body: Bytes,
    pub usage: Usage,
}
