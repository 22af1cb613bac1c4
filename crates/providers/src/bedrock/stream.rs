//! `InvokeModelWithResponseStream`: event-stream frames whose `chunk` events carry base64
//! Anthropic stream events, turned into OpenAI chunks.

use base64::Engine as _;
use serde_json::Value;
use switchyard_cost::Usage;

use super::eventstream::{encode_message, EventStreamDecoder, Header, Message};
use super::invoke::error_message;
use super::types::{BedrockError, StreamException, JSON};
use crate::anthropic::StreamTranslator;

/// Turns a Bedrock event stream into OpenAI chunks: frames → `chunk` events → base64 Anthropic
/// stream events → P2's [`StreamTranslator`].
#[derive(Debug)]
pub struct BedrockStream {
    decoder: EventStreamDecoder,
    translator: StreamTranslator,
}

impl BedrockStream {
    /// `model` is the name reported back to the caller.
    pub fn new(model: &str, request_id: &str) -> Self {
        BedrockStream {
            decoder: EventStreamDecoder::new(),
            translator: StreamTranslator::new(model, request_id),
        }
    }

    /// Wraps a translator set up by the caller (e.g. with a fixed `created` or no usage chunk).
    pub fn from_translator(translator: StreamTranslator) -> Self {
        BedrockStream {
            decoder: EventStreamDecoder::new(),
            translator,
        }
    }

    /// Feeds body bytes (any split) and returns the OpenAI chunks they complete. An exception
    /// frame ends the stream with [`BedrockError::Exception`].
    pub fn feed(&mut self, bytes: &[u8]) -> Result<Vec<Value>, BedrockError> {
        let mut out = Vec::new();
        for message in self.decoder.feed(bytes)? {
            out.extend(self.on_message(&message)?);
        }
        Ok(out)
    }

    /// Call at the end of the body: fails when it stopped inside a frame.
    pub fn finish(&self) -> Result<(), BedrockError> {
        self.decoder.finish().map_err(BedrockError::from)
    }

    pub fn usage(&self) -> &Usage {
        self.translator.usage()
    }

    /// True once the Anthropic `message_stop` went through.
    pub fn is_done(&self) -> bool {
        self.translator.is_done()
    }

    fn on_message(&mut self, message: &Message) -> Result<Vec<Value>, BedrockError> {
        match message.header_str(":message-type") {
            Some("event") => match message.header_str(":event-type") {
                Some("chunk") => {
                    let event = decode_chunk(&message.payload)?;
                    Ok(self.translator.on_event(&event)?)
                }
                // Other event types carry nothing for us; newer ones must not break old code.
                _ => Ok(Vec::new()),
            },
            Some("exception") => Err(BedrockError::Exception(StreamException {
                exception_type: message
                    .header_str(":exception-type")
                    .unwrap_or("unknownException")
                    .to_owned(),
                message: error_message(&message.payload, None)
                    .unwrap_or_else(|| String::from_utf8_lossy(&message.payload).into_owned()),
            })),
            Some("error") => Err(BedrockError::Exception(StreamException {
                exception_type: message
                    .header_str(":error-code")
                    .unwrap_or("unknownError")
                    .to_owned(),
                message: message
                    .header_str(":error-message")
                    .unwrap_or_default()
                    .to_owned(),
            })),
            other => Err(BedrockError::BadChunk(format!(
                "frame with :message-type {other:?}"
            ))),
        }
    }
}

/// The Anthropic event JSON inside a `chunk` payload `{"bytes": "<base64>"}` (Bedrock may add a
/// random-padding field `p`, ignored).
pub fn decode_chunk(payload: &[u8]) -> Result<Vec<u8>, BedrockError> {
    let v: Value = serde_json::from_slice(payload)
        .map_err(|e| BedrockError::BadChunk(format!("payload is not JSON: {e}")))?;
    let b64 = v
        .get("bytes")
        .and_then(Value::as_str)
        .ok_or_else(|| BedrockError::BadChunk("payload has no `bytes` string".into()))?;
    base64::engine::general_purpose::STANDARD
        .decode(b64)
        .map_err(|e| BedrockError::BadChunk(format!("`bytes` is not base64: {e}")))
}

/// Builds one `chunk` frame carrying an Anthropic stream event, as Bedrock sends it (for tests and
/// fixtures).
pub fn chunk_frame(anthropic_event: &Value) -> Vec<u8> {
    let bytes = base64::engine::general_purpose::STANDARD
        .encode(serde_json::to_vec(anthropic_event).expect("a JSON value serialises"));
    let payload = serde_json::to_vec(&serde_json::json!({ "bytes": bytes }))
        .expect("a JSON value serialises");
    encode_message(
        &[
            Header::string(":event-type", "chunk"),
            Header::string(":content-type", JSON),
            Header::string(":message-type", "event"),
        ],
        &payload,
    )
}

/// Builds one exception frame as Bedrock sends it (for tests and fixtures).
pub fn exception_frame(exception_type: &str, message: &str) -> Vec<u8> {
    let payload = serde_json::to_vec(&serde_json::json!({ "message": message }))
        .expect("a JSON value serialises");
    encode_message(
        &[
            Header::string(":exception-type", exception_type),
            Header::string(":content-type", JSON),
            Header::string(":message-type", "exception"),
        ],
        &payload,
    )
}
