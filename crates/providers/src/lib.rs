//! Provider adapters for Switchyard.
//!
//! Pure: builds the outbound request for an endpoint and maps the provider's answer (whole body,
//! stream bytes, usage, errors) back to the OpenAI chat shape. No network I/O happens here.
//!
//! - [`adapter`] dispatches each operation to the module of the endpoint's wire format
//!   ([`openai`], [`azure`], [`anthropic`], [`bedrock`], [`google`]); the types they share are
//!   in the leaf modules [`request`] and [`exchange`] (plus [`error`], [`sse`], [`usage`]).
//! - [`adapter::usage_bound`] ([`bound`]): the most a request can be billed, for the
//!   pass-through-billing hold.
//! - [`tap`]: usage read from a provider's own answer bytes, for the passthrough proxy.

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
