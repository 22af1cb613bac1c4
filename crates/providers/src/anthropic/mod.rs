//! Anthropic Messages API: OpenAI chat ⇄ Messages translation.
//!
//! Pure and JSON-level: the OpenAI request is a `serde_json::Value` so unknown fields never break
//! us; the answer comes back as OpenAI `chat.completion` / `chat.completion.chunk` values plus the
//! normalised [`switchyard_cost::Usage`]. Used for the native API, Bedrock InvokeModel and Vertex
//! rawPredict (the [`AnthropicOptions`] say which body fields each one wants).

pub(crate) mod bound;
mod request;
mod response;
mod stream;
mod types;
mod upstream;

pub use bound::usage_bound;
pub use request::{
    to_messages_request, to_messages_request_with, DEFAULT_MAX_TOKENS, JSON_RESPONSE_TOOL,
    WEB_SEARCH_MAX_USES,
};
pub use response::{finish_reason, openai_usage, response_to_openai};
pub use stream::StreamTranslator;
pub use types::{
    error_message, error_type, usage_from_anthropic, AnthropicOptions, TranslateError,
    ANTHROPIC_VERSION_HEADER, BEDROCK_ANTHROPIC_VERSION, VERTEX_ANTHROPIC_VERSION,
};
pub use upstream::{build, map_response, provider_error, SseStream};
