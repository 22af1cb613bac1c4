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

pub mod eventstream;
pub mod sigv4;

use std::time::SystemTime;

use base64::Engine as _;
use serde_json::Value;
use switchyard_cost::Usage;

use crate::anthropic::{self, AnthropicOptions, StreamTranslator, TranslateError};
pub use eventstream::{
    encode_message, DecodeError, EventStreamDecoder, Header, HeaderValue, Message,
};
pub use sigv4::{sign_headers, AwsCredentials, SigningError, SigningScope};

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

/// The region for both URL and signature: the key's, else the endpoint deployment's. It goes into
/// a host name, so only AWS region syntax (lowercase letters, digits, `-`) is accepted.
pub fn resolve_region<'a>(
    key_region: Option<&'a str>,
    deployment_region: Option<&'a str>,
) -> Result<&'a str, BedrockError> {
    let region = [key_region, deployment_region]
        .into_iter()
        .flatten()
        .map(str::trim)
        .find(|r| !r.is_empty())
        .ok_or(BedrockError::MissingRegion)?;
    let valid = region
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !region.starts_with('-')
        && !region.ends_with('-');
    if valid {
        Ok(region)
    } else {
        Err(BedrockError::InvalidRegion(region.to_owned()))
    }
}

/// The geography prefix of a region's cross-region inference profiles: `us-gov-*` → `us-gov`,
/// `us-*` → `us`, `eu-*` → `eu`, `ap-*` → `apac`. Other regions (ca-, sa-, me-, af-, il-, ...)
/// have no geographic profile of their own and get `None`. The narrower `jp.`/`au.` profiles that
/// some newer models have are not chosen automatically: `apac.` covers Tokyo and Sydney too.
pub fn geography_prefix(region: &str) -> Option<&'static str> {
    if region.starts_with("us-gov-") {
        Some("us-gov")
    } else if region.starts_with("us-") {
        Some("us")
    } else if region.starts_with("eu-") {
        Some("eu")
    } else if region.starts_with("ap-") {
        Some("apac")
    } else {
        None
    }
}

/// Prefixes of inference-profile ids, for ids that already carry one.
const PROFILE_PREFIXES: &[&str] = &[
    "us.", "us-gov.", "eu.", "apac.", "jp.", "au.", "ca.", "global.",
];

/// The model id to call: with cross-region on, the geography (or `global.`) prefix is added, e.g.
/// `us.anthropic.claude-sonnet-4-20250514-v1:0` from us-east-1. An id that is already an
/// inference profile or an ARN is used as it is.
pub fn inference_model_id(
    model_id: &str,
    region: &str,
    cross_region: CrossRegion,
) -> Result<String, BedrockError> {
    let already =
        model_id.starts_with("arn:") || PROFILE_PREFIXES.iter().any(|p| model_id.starts_with(p));
    if already {
        return Ok(model_id.to_owned());
    }
    let prefix = match cross_region {
        CrossRegion::Off => return Ok(model_id.to_owned()),
        CrossRegion::Global => "global",
        CrossRegion::Geographic => {
            geography_prefix(region).ok_or_else(|| BedrockError::NoGeography(region.to_owned()))?
        }
    };
    Ok(format!("{prefix}.{model_id}"))
}

/// Percent-encodes a model id as a URI path label, as the AWS SDKs do: every byte but the RFC 3986
/// unreserved characters, so `:` → `%3A` and an ARN's `/` → `%2F`.
pub fn encode_model_id(model_id: &str) -> String {
    let mut out = String::with_capacity(model_id.len() + 8);
    for b in model_id.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The bedrock-runtime host of a region.
pub fn host(region: &str) -> String {
    format!("bedrock-runtime.{region}.amazonaws.com")
}

/// The InvokeModel (or InvokeModelWithResponseStream) URL.
pub fn invoke_url(region: &str, model_id: &str, stream: bool) -> String {
    let action = if stream {
        "invoke-with-response-stream"
    } else {
        "invoke"
    };
    format!(
        "https://{}/model/{}/{action}",
        host(region),
        encode_model_id(model_id)
    )
}

/// The InvokeModel body for Claude: the Anthropic Messages body as Bedrock wants it.
pub fn request_body(openai: &Value, model_id: &str) -> Result<Value, TranslateError> {
    anthropic::to_messages_request(openai, model_id, &AnthropicOptions::bedrock())
}

/// Builds and signs the whole request for an OpenAI chat body.
pub fn build_request(
    openai: &Value,
    target: &BedrockTarget<'_>,
    credentials: &AwsCredentials,
    now: SystemTime,
) -> Result<SignedRequest, BedrockError> {
    let body = request_body(openai, target.model_id)?;
    let body = serde_json::to_vec(&body).expect("a JSON value serialises");
    sign_request(target, body, credentials, now)
}

/// Signs a ready body for the target: URL, content headers and the SigV4 headers.
pub fn sign_request(
    target: &BedrockTarget<'_>,
    body: Vec<u8>,
    credentials: &AwsCredentials,
    now: SystemTime,
) -> Result<SignedRequest, BedrockError> {
    let model_id = inference_model_id(target.model_id, target.region, target.cross_region)?;
    let url = invoke_url(target.region, &model_id, target.stream);
    let host = host(target.region);
    let mut headers: Vec<(String, String)> =
        vec![("host".into(), host), ("content-type".into(), JSON.into())];
    if target.stream {
        // The HTTP answer is event-stream framed; the chunks inside it are JSON.
        headers.push(("accept".into(), EVENT_STREAM.into()));
        headers.push(("x-amzn-bedrock-accept".into(), JSON.into()));
    } else {
        headers.push(("accept".into(), JSON.into()));
    }
    let borrowed: Vec<(&str, &str)> = headers
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let scope = SigningScope {
        region: target.region,
        service: SIGNING_SERVICE,
        time: now,
        content_sha256_header: false,
    };
    let signed = sign_headers("POST", &url, &borrowed, &body, credentials, &scope)?;
    headers.extend(signed);
    Ok(SignedRequest {
        method: "POST",
        url,
        headers,
        body,
    })
}

/// A whole InvokeModel answer (Anthropic Messages JSON) as an OpenAI chat completion.
pub fn response_to_openai(body: &[u8], model: &str) -> Result<(Value, Usage), TranslateError> {
    anthropic::response_to_openai(body, model)
}

/// The error code from an `x-amzn-ErrorType` header (`ValidationException:http://...` →
/// `ValidationException`).
pub fn error_code(error_type_header: &str) -> Option<&str> {
    let code = error_type_header.split(':').next()?.trim();
    (!code.is_empty()).then_some(code)
}

/// The message of a Bedrock error answer: `message` (or `Message`) of the JSON body, else the
/// error code of the `x-amzn-ErrorType` header.
pub fn error_message(body: &[u8], error_type_header: Option<&str>) -> Option<String> {
    let from_body = serde_json::from_slice::<Value>(body).ok().and_then(|v| {
        ["message", "Message"]
            .iter()
            .find_map(|k| v.get(k).and_then(Value::as_str).map(str::to_owned))
            .or_else(|| anthropic::error_message(body))
    });
    from_body
        .filter(|m| !m.trim().is_empty())
        .or_else(|| error_type_header.and_then(error_code).map(str::to_owned))
}

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn region_comes_from_key_then_deployment_and_must_be_a_region() {
        assert_eq!(
            resolve_region(Some("eu-west-1"), Some("us-east-1")).unwrap(),
            "eu-west-1"
        );
        assert_eq!(
            resolve_region(Some("  "), Some("us-east-1")).unwrap(),
            "us-east-1"
        );
        assert_eq!(
            resolve_region(None, Some("ap-south-1")).unwrap(),
            "ap-south-1"
        );
        assert!(matches!(
            resolve_region(None, None),
            Err(BedrockError::MissingRegion)
        ));
        for bad in ["evil.com/", "US-EAST-1", "us-east-1.attacker", "-x", "a b"] {
            assert!(
                matches!(
                    resolve_region(Some(bad), None),
                    Err(BedrockError::InvalidRegion(_))
                ),
                "{bad}"
            );
        }
    }

    #[test]
    fn cross_region_prefixes() {
        let id = "anthropic.claude-sonnet-4-20250514-v1:0";
        let cases = [
            (
                "us-east-1",
                CrossRegion::Geographic,
                "us.anthropic.claude-sonnet-4-20250514-v1:0",
            ),
            (
                "us-west-2",
                CrossRegion::Geographic,
                "us.anthropic.claude-sonnet-4-20250514-v1:0",
            ),
            (
                "us-gov-west-1",
                CrossRegion::Geographic,
                "us-gov.anthropic.claude-sonnet-4-20250514-v1:0",
            ),
            (
                "eu-central-1",
                CrossRegion::Geographic,
                "eu.anthropic.claude-sonnet-4-20250514-v1:0",
            ),
            (
                "ap-northeast-1",
                CrossRegion::Geographic,
                "apac.anthropic.claude-sonnet-4-20250514-v1:0",
            ),
            (
                "ca-central-1",
                CrossRegion::Global,
                "global.anthropic.claude-sonnet-4-20250514-v1:0",
            ),
            ("us-east-1", CrossRegion::Off, id),
        ];
        for (region, cr, want) in cases {
            assert_eq!(
                inference_model_id(id, region, cr).unwrap(),
                want,
                "{region} {cr:?}"
            );
        }
        assert!(matches!(
            inference_model_id(id, "sa-east-1", CrossRegion::Geographic),
            Err(BedrockError::NoGeography(r)) if r == "sa-east-1"
        ));
        // Already a profile or an ARN: never prefixed twice.
        let profiled = "eu.anthropic.claude-3-7-sonnet-20250219-v1:0";
        assert_eq!(
            inference_model_id(profiled, "us-east-1", CrossRegion::Geographic).unwrap(),
            profiled
        );
        let arn = "arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.anthropic.claude-3-5-haiku-20241022-v1:0";
        assert_eq!(
            inference_model_id(arn, "us-east-1", CrossRegion::Global).unwrap(),
            arn
        );
    }

    #[test]
    fn model_id_is_a_percent_encoded_label() {
        assert_eq!(
            invoke_url("us-east-1", "us.anthropic.claude-3-5-haiku-20241022-v1:0", false),
            "https://bedrock-runtime.us-east-1.amazonaws.com/model/us.anthropic.claude-3-5-haiku-20241022-v1%3A0/invoke"
        );
        assert_eq!(
            invoke_url("eu-west-3", "anthropic.claude-3-haiku-20240307-v1:0", true),
            "https://bedrock-runtime.eu-west-3.amazonaws.com/model/anthropic.claude-3-haiku-20240307-v1%3A0/invoke-with-response-stream"
        );
        assert_eq!(
            encode_model_id("arn:aws:bedrock:us-east-1:1:inference-profile/x~y z"),
            "arn%3Aaws%3Abedrock%3Aus-east-1%3A1%3Ainference-profile%2Fx~y%20z"
        );
    }

    #[test]
    fn error_message_from_body_or_header() {
        let h = Some("ValidationException:http://internal.amazon.com/coral/com.amazon.bedrock/");
        assert_eq!(
            error_message(br#"{"message":"Malformed input request"}"#, h).as_deref(),
            Some("Malformed input request")
        );
        assert_eq!(
            error_message(br#"{"Message":"User is not authorized"}"#, None).as_deref(),
            Some("User is not authorized")
        );
        assert_eq!(
            error_message(b"", h).as_deref(),
            Some("ValidationException")
        );
        assert_eq!(error_message(b"<html>", None), None);
        assert_eq!(
            error_code("ThrottlingException"),
            Some("ThrottlingException")
        );
    }

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
