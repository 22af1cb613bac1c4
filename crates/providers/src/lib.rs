//! Provider adapters for Switchyard.
//!
//! Pure: builds the outbound request for an endpoint and maps the provider's answer (whole body,
//! stream bytes, usage, errors) back to the OpenAI chat shape. No network I/O happens here.

pub mod adapter;
pub mod anthropic;
pub mod azure;
pub mod bedrock;
pub mod bound;
pub mod error;
pub mod exchange;
pub mod google;
pub mod openai;
pub mod request;
pub mod sse;
pub mod tap;
pub mod usage;

pub use adapter::{
    prepare, usage_bound, Adapter, AnswerFormat, Credentials, Exchange, MappedResponse, Prepared,
    RequestOptions, StreamTranslator, Target, UpstreamRequest,
};
pub use error::{ErrorKind, ProviderError, Secret};
