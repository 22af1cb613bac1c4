//! A whole OpenAI-compatible answer: passed through as is, usage read.

use bytes::Bytes;
use serde::de::IgnoredAny;
use serde::Deserialize;
use serde_json::Value;

use crate::error::ProviderError;
use crate::exchange::{Exchange, MappedResponse};
use crate::usage;

/// Reads only what the gateway needs from a whole answer; everything else is skipped unparsed.
#[derive(Deserialize)]
struct Peek {
    #[serde(default)]
    usage: Value,
    #[serde(default)]
    error: Value,
    #[serde(default)]
    choices: Option<IgnoredAny>,
}

/// A whole answer: passed through as is, usage read.
pub fn map_response(ex: &Exchange, body: Bytes) -> Result<MappedResponse, ProviderError> {
    let peek: Peek = serde_json::from_slice(&body).map_err(|e| {
        let what = if body.iter().all(u8::is_ascii_whitespace) {
            "an empty body".to_owned()
        } else {
            format!("a body that is not a chat completion ({e})")
        };
        ProviderError::invalid_response(
            &ex.provider,
            format!("the provider answered 2xx with {what}"),
        )
    })?;
    if peek.error.is_object() || (!peek.error.is_null() && peek.choices.is_none()) {
        let v = serde_json::json!({ "error": peek.error });
        return Err(ProviderError::from_stream_event(
            &ex.provider,
            &v,
            &ex.error_message_paths,
        ));
    }
    if peek.choices.is_none() {
        return Err(ProviderError::invalid_response(
            &ex.provider,
            "the provider answered 2xx without `choices`",
        ));
    }
    Ok(MappedResponse {
        usage: usage::from_openai(&peek.usage),
        body,
    })
}
