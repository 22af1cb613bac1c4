//! Bedrock's shared types: the call's target, the signed request, errors and stream exceptions.

use crate::anthropic::TranslateError;

use super::eventstream::DecodeError;
use super::sigv4::SigningError;

/// SigV4 signing name of bedrock-runtime.
pub const SIGNING_SERVICE: &str = "bedrock";
/// `content-type` of the request body (and `x-amzn-bedrock-accept` of streamed chunks).
pub const JSON: &str = "application/json";
/// `accept` for `InvokeModelWithResponseStream`: the event-stream framing.
pub const EVENT_STREAM: &str = "application/vnd.amazon.eventstream";

/// Whether, and how widely, Bedrock may route the call to other regions.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum CrossRegion {
    /// Call the model in the signing region only.
    #[default]
    Off,
    /// A geographic inference profile: `us.`, `us-gov.`, `eu.` or `apac.` from the region.
    Geographic,
    /// The global inference profile (`global.`), any commercial region.
    Global,
}

/// Everything about one Bedrock call that is not the body or the credentials.
#[derive(Clone, Copy, Debug)]
pub struct BedrockTarget<'a> {
    /// Region of the host and of the signature, from [`resolve_region`].
    pub region: &'a str,
    /// The endpoint's provider model id, e.g. `anthropic.claude-sonnet-4-20250514-v1:0`.
    pub model_id: &'a str,
    pub cross_region: CrossRegion,
    pub stream: bool,
}

/// A request ready to send: every header is included, the signature among them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignedRequest {
    pub method: &'static str,
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

#[derive(Debug, thiserror::Error)]
pub enum BedrockError {
    #[error("Bedrock needs a region: set `region` on the key or the deployment")]
    MissingRegion,
    #[error("`{0}` is not an AWS region name")]
    InvalidRegion(String),
    #[error(
        "region `{0}` has no geographic cross-region inference profile (us-*, us-gov-*, eu-*, ap-*); \
         turn cross-region off or use the global profile"
    )]
    NoGeography(String),
    #[error(transparent)]
    Signing(#[from] SigningError),
    #[error(transparent)]
    Translate(#[from] TranslateError),
    #[error(transparent)]
    Decode(#[from] DecodeError),
    #[error("Bedrock stream chunk is not valid: {0}")]
    BadChunk(String),
    #[error("Bedrock stream {0}")]
    Exception(StreamException),
}

impl BedrockError {
    /// The HTTP status this error stands for: the documented status of a stream exception, 400
    /// for a request that cannot be built, 502 for an unreadable answer.
    pub fn status(&self) -> u16 {
        match self {
            BedrockError::Exception(e) => e.status(),
            BedrockError::Translate(e) if e.is_upstream() => 502,
            BedrockError::MissingRegion
            | BedrockError::InvalidRegion(_)
            | BedrockError::NoGeography(_)
            | BedrockError::Translate(_) => 400,
            BedrockError::Signing(_) => 500,
            BedrockError::Decode(_) | BedrockError::BadChunk(_) => 502,
        }
    }
}

/// An exception frame in a Bedrock stream.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{exception_type}: {message}")]
pub struct StreamException {
    /// `:exception-type` (or `:error-code`), e.g. `throttlingException`.
    pub exception_type: String,
    pub message: String,
}

impl StreamException {
    /// The HTTP status AWS documents for this exception in `ResponseStream`.
    pub fn status(&self) -> u16 {
        match self.exception_type.as_str() {
            "throttlingException" => 429,
            "validationException" => 400,
            "modelTimeoutException" => 408,
            "modelStreamErrorException" => 424,
            "serviceUnavailableException" => 503,
            _ => 500,
        }
    }

    /// Whether another attempt may succeed: AWS says "retry" for all but validation errors.
    pub fn retryable(&self) -> bool {
        self.status() != 400
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exception_statuses_follow_the_api_reference() {
        let e = |t: &str| StreamException {
            exception_type: t.into(),
            message: String::new(),
        };
        assert_eq!(e("throttlingException").status(), 429);
        assert!(e("throttlingException").retryable());
        assert_eq!(e("modelStreamErrorException").status(), 424);
        assert_eq!(e("validationException").status(), 400);
        assert!(!e("validationException").retryable());
        assert_eq!(e("internalServerException").status(), 500);
        assert_eq!(e("serviceUnavailableException").status(), 503);
        assert_eq!(e("modelTimeoutException").status(), 408);
    }
}
