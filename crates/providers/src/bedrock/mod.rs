//! AWS Bedrock: Claude through `InvokeModel` and `InvokeModelWithResponseStream`.
//!
//! - URL `https://bedrock-runtime.{region}.amazonaws.com/model/{modelId}/invoke`, or
//!   `/invoke-with-response-stream`. The model id is a URI label, percent-encoded as the AWS SDKs
//!   do (everything but `A-Z a-z 0-9 - . _ ~`), so `anthropic.claude-3-5-haiku-20241022-v1:0`
//!   goes out as `...-v1%3A0`; SigV4 then encodes the path once more in its canonical request.
//! - One region, the key's (else the endpoint deployment's), for both the host and the signature
//!   (decisions.md; the reference signed with a different default region than it called).
//! - Cross-region inference: the model id gets a geography prefix, see [`inference_model_id`].
//! - Body: the Anthropic Messages body with `anthropic_version: bedrock-2023-05-31`, no `model`
//!   (the URL has it), no `stream` (the path says it), no automatic cache breakpoint.
//! - Answers: whole responses are Anthropic Messages JSON; streams are binary event-stream frames
//!   ([`EventStreamDecoder`]) whose `chunk` events carry base64 Anthropic stream events, turned into
//!   OpenAI chunks by [`BedrockStream`].
//! - Errors: `{"message": ...}` bodies with the error code in the `x-amzn-ErrorType` header;
//!   in a stream, `:message-type: exception` frames.
//!
//! Not covered: the `anthropic-beta` 1M-context opt-in the reference added for Sonnet 4 (it changes
//! the price tier, so it should be the caller's choice, not a silent default), Bedrock API-key
//! (Bearer) auth, and non-Anthropic models on Bedrock (Llama, Nova, ...), whose InvokeModel bodies
//! are model-specific; the Converse API would be the way to add them.

mod bound;
pub mod eventstream;
mod invoke;
pub mod sigv4;
mod stream;
mod types;
mod upstream;
mod usage;

pub use bound::usage_bound;
pub use eventstream::{
    encode_message, DecodeError, EventStreamDecoder, Header, HeaderValue, Message,
};
pub use invoke::{
    build_request, encode_model_id, error_code, error_message, geography_prefix, host,
    inference_model_id, invoke_url, request_body, resolve_region, response_to_openai, sign_request,
};
pub use sigv4::{sign_headers, AwsCredentials, SigningError, SigningScope};
pub use stream::{chunk_frame, decode_chunk, exception_frame, BedrockStream};
pub use types::{
    BedrockError, BedrockTarget, CrossRegion, SignedRequest, StreamException, EVENT_STREAM, JSON,
    SIGNING_SERVICE,
};
pub use upstream::{build, ChatStream};
pub use usage::{usage_from_converse, usage_from_invocation_metrics};
