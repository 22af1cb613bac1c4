//! `InvokeModel`: region, cross-region model ids, the URL, the Claude body and its signature, and
//! error bodies.

use std::time::SystemTime;

use serde_json::Value;
use switchyard_cost::Usage;

use super::sigv4::{sign_headers, AwsCredentials, SigningScope};
use super::types::{
    BedrockError, BedrockTarget, CrossRegion, SignedRequest, EVENT_STREAM, JSON, SIGNING_SERVICE,
};
use crate::anthropic::{self, AnthropicOptions, TranslateError};

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
}
