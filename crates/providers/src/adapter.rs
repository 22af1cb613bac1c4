//! The provider abstraction: one closed enum, static dispatch, keyed by the registry's wire format.
//! This file only dispatches: each wire format's module owns its build, answer and stream code,
//! and the shared request/answer types live in the leaf modules `request` and `exchange`
//! (re-exported here).
//!
//! The life of one upstream attempt, in order:
//!
//! 1. [`prepare`] — endpoint + provider + credentials + per-key config + the caller's OpenAI chat
//!    body → an [`UpstreamRequest`] (method, URL, headers with the auth marked sensitive, body
//!    bytes) and an [`Exchange`], which remembers what the answer side needs (format, stream,
//!    whether the caller asked for stream usage, the model name to report, the secrets to scrub).
//! 2. The gateway sends it (this crate does no I/O).
//! 3. Status ≥ 400: [`Exchange::map_error`] → [`ProviderError`].
//!    Whole answer: [`Exchange::map_response`] → OpenAI `chat.completion` bytes + [`Usage`].
//!    Stream: [`Exchange::stream_translator`] → a [`StreamTranslator`] fed raw upstream bytes as
//!    they arrive, writing OpenAI SSE (`data: {...}\n\n` … `data: [DONE]\n\n`) and capturing usage;
//!    connect failures and timeouts are built with [`ProviderError::connect`]/[`ProviderError::timeout`].
//!
//! OpenAI-compatible providers are data only (registry `providers.toml`: base URL, chat path, auth
//! style, error message paths); native formats (Anthropic, Bedrock, Vertex) are one module each.

use bytes::Bytes;
use http::HeaderMap;
use serde_json::Value;
use switchyard_cost::Usage;
use switchyard_registry::{Provider, WireFormat};

pub use crate::bound::UsageBound;
pub use crate::exchange::{Adapter, AnswerFormat, Exchange, MappedResponse, Prepared};
pub use crate::request::{Credentials, RequestOptions, Target, UpstreamRequest};

use crate::error::ProviderError;
use crate::request::is_unsupported;
use crate::{anthropic, azure, bedrock, google, openai};

impl Adapter {
    pub fn for_provider(provider: &Provider) -> Adapter {
        match provider.format {
            // Azure is OpenAI's wire format at a URL scheme of its own (deployment in the path,
            // `api-version` in the query); the registry marks it by the `{deployment}` template.
            WireFormat::Openai if azure::is_azure(provider) => Adapter::Azure,
            WireFormat::Openai => Adapter::OpenAi,
            WireFormat::Anthropic => Adapter::Anthropic,
            WireFormat::Bedrock => Adapter::Bedrock,
            WireFormat::Vertex => Adapter::Vertex,
            WireFormat::Google => Adapter::Google,
        }
    }
}

/// Builds the upstream request for one attempt.
pub fn prepare(
    target: &Target<'_>,
    credentials: &Credentials,
    request: &Value,
    opts: &RequestOptions<'_>,
) -> Result<Prepared, ProviderError> {
    let provider = target.provider_id();
    if !request.is_object() {
        return Err(ProviderError::unsupported(
            provider,
            "request body must be a JSON object",
        ));
    }
    if opts.stream && is_unsupported(target.endpoint, "stream") {
        return Err(ProviderError::unsupported(
            provider,
            format!("endpoint {} does not support streaming", target.endpoint.id),
        ));
    }
    let (t, c, r, o) = (target, credentials, request, opts);
    let adapter = Adapter::for_provider(target.provider);
    let (upstream, format) = match adapter {
        Adapter::OpenAi => (openai::build(t, c, r, o)?, AnswerFormat::OpenAi),
        Adapter::Azure => (azure::build(t, c, r, o)?, AnswerFormat::OpenAi),
        Adapter::Anthropic => (anthropic::build(t, c, r, o)?, AnswerFormat::Anthropic),
        Adapter::Bedrock => (bedrock::build(t, c, r, o)?, AnswerFormat::BedrockAnthropic),
        Adapter::Vertex => google::build_vertex(t, c, r, o)?,
        Adapter::Google => google::build_native(t)?,
    };
    Ok(Prepared {
        request: upstream,
        exchange: Exchange::new(target, credentials, request, opts, adapter, format),
    })
}

/// An upper bound of what the provider can bill for `request` as [`prepare`] would send it to
/// `target`: for the pass-through-billing hold, priced with [`UsageBound::max_cost`]. Fails
/// where `prepare` would (the request cannot be expressed for this provider) and when no bound
/// is known (parts bounded only by an unknown context length).
pub fn usage_bound(target: &Target<'_>, request: &Value) -> Result<UsageBound, ProviderError> {
    if !request.is_object() {
        return Err(ProviderError::unsupported(
            target.provider_id(),
            "request body must be a JSON object",
        ));
    }
    match Adapter::for_provider(target.provider) {
        Adapter::OpenAi => openai::usage_bound(target, request),
        Adapter::Azure => openai::usage_bound(target, request),
        Adapter::Anthropic => anthropic::usage_bound(target, request),
        Adapter::Bedrock => bedrock::usage_bound(target, request),
        Adapter::Vertex => google::vertex_usage_bound(target, request),
        Adapter::Google => google::build_native(target).map(|_| UsageBound::default()),
    }
}

impl Exchange {
    /// An HTTP error answer (status ≥ 400, or any status whose body is unusable). Every format
    /// reads it the same way: the provider's `error_message_paths` are registry data.
    pub fn map_error(&self, status: u16, headers: &HeaderMap, body: &[u8]) -> ProviderError {
        self.scrub(ProviderError::from_response(
            &self.provider,
            status,
            headers,
            body,
            &self.error_message_paths,
        ))
    }

    /// A whole (non-stream) 2xx answer → OpenAI `chat.completion` + usage.
    pub fn map_response(&self, body: Bytes) -> Result<MappedResponse, ProviderError> {
        let result = match self.format {
            AnswerFormat::OpenAi => openai::map_response(self, body),
            AnswerFormat::Anthropic => anthropic::map_response(self, body),
            AnswerFormat::BedrockAnthropic => anthropic::map_response(self, body),
        };
        result.map_err(|e| self.scrub(e))
    }

    /// A translator for a 2xx stream.
    pub fn stream_translator(&self) -> StreamTranslator {
        let inner = match self.format {
            AnswerFormat::OpenAi => {
                Inner::OpenAi(openai::OpenAiStream::new(self.caller_wants_usage))
            }
            AnswerFormat::Anthropic => Inner::Anthropic(anthropic::SseStream::new(self)),
            AnswerFormat::BedrockAnthropic => Inner::Bedrock(bedrock::ChatStream::new(self)),
        };
        StreamTranslator {
            exchange: self.clone(),
            inner,
            done_written: false,
        }
    }
}

#[derive(Debug)]
enum Inner {
    OpenAi(openai::OpenAiStream),
    Anthropic(anthropic::SseStream),
    Bedrock(bedrock::ChatStream),
}

/// Turns a provider's stream bytes into the OpenAI SSE stream, incrementally.
#[derive(Debug)]
pub struct StreamTranslator {
    exchange: Exchange,
    inner: Inner,
    done_written: bool,
}

impl StreamTranslator {
    /// Feeds upstream bytes; appends the OpenAI SSE bytes they complete to `out`. On `Err`,
    /// `out` still holds what was translated before the failure, and the stream is over.
    pub fn feed(&mut self, bytes: &[u8], out: &mut Vec<u8>) -> Result<(), ProviderError> {
        if self.done_written {
            return Ok(());
        }
        let ex = &self.exchange;
        let r = match &mut self.inner {
            Inner::OpenAi(s) => s.feed(ex, bytes, out),
            Inner::Anthropic(s) => s.feed(ex, bytes, out),
            Inner::Bedrock(s) => s.feed(ex, bytes, out),
        };
        self.done_written = self.inner_done();
        r.map_err(|e| self.exchange.scrub(e))
    }

    /// The upstream closed the connection. Writes the end of the stream, or fails with
    /// [`crate::ErrorKind::StreamInterrupted`] when the provider never said it was done.
    pub fn finish(&mut self, out: &mut Vec<u8>) -> Result<(), ProviderError> {
        if self.done_written {
            return Ok(());
        }
        let ex = &self.exchange;
        let r = match &mut self.inner {
            Inner::OpenAi(s) => s.finish(ex, out),
            Inner::Anthropic(s) => s.finish(ex, out),
            Inner::Bedrock(s) => s.finish(ex, out),
        };
        self.done_written = true;
        r.map_err(|e| self.exchange.scrub(e))
    }

    /// Usage captured so far (complete once the stream is done).
    pub fn usage(&self) -> &Usage {
        match &self.inner {
            Inner::OpenAi(s) => s.usage(),
            Inner::Anthropic(s) => s.usage(),
            Inner::Bedrock(s) => s.usage(),
        }
    }

    /// True once the end of the stream (`data: [DONE]`) has been written.
    pub fn is_done(&self) -> bool {
        self.done_written
    }

    fn inner_done(&self) -> bool {
        match &self.inner {
            Inner::OpenAi(s) => s.is_done(),
            Inner::Anthropic(s) => s.is_done(),
            Inner::Bedrock(s) => s.is_done(),
        }
    }
}
