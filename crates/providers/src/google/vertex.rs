//! Vertex AI: Gemini through its OpenAI-compatible endpoint, Claude (and other publishers' models)
//! through `rawPredict` / `streamRawPredict`. Auth is a Bearer OAuth token from the service account
//! (see [`super::auth`]); the caller gets it from a [`super::auth::TokenCache`] first, so building
//! the request stays synchronous and pure.

use serde_json::Value;

use crate::anthropic::{self, AnthropicOptions, TranslateError};

/// Region when cross-region is asked for by the key but the model has no global endpoint.
pub const CROSS_REGION_FALLBACK: &str = "us-east5";
/// Region when nothing says otherwise.
pub const DEFAULT_REGION: &str = "us-central1";
/// The region name served by the un-prefixed host.
pub const GLOBAL: &str = "global";

#[derive(Debug, thiserror::Error)]
pub enum VertexError {
    #[error("`{0}` is not a Google Cloud region name")]
    InvalidRegion(String),
    #[error("Vertex needs a project id: set `project_id` on the key (or in the service account)")]
    MissingProject,
    #[error("`{0}` is not a Google Cloud project id")]
    InvalidProject(String),
    #[error(transparent)]
    Translate(#[from] TranslateError),
}

fn is_name(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

/// The region to call, as the reference chooses it:
/// - `global` when both the key and the model allow cross-region;
/// - else the key's region, else the deployment's, else `us-east5` when the key asked for
///   cross-region (the model has no global endpoint), else `us-central1`.
///
/// The region goes into a host name, so only region syntax is accepted.
pub fn choose_region(
    key_region: Option<&str>,
    deployment_region: Option<&str>,
    key_cross_region: bool,
    model_cross_region: bool,
) -> Result<String, VertexError> {
    if key_cross_region && model_cross_region {
        return Ok(GLOBAL.to_owned());
    }
    let fallback = if key_cross_region {
        CROSS_REGION_FALLBACK
    } else {
        DEFAULT_REGION
    };
    let region = [key_region, deployment_region]
        .into_iter()
        .flatten()
        .map(str::trim)
        .find(|r| !r.is_empty())
        .unwrap_or(fallback);
    if is_name(region) {
        Ok(region.to_owned())
    } else {
        Err(VertexError::InvalidRegion(region.to_owned()))
    }
}

/// The project: the key's `project_id`, else the service account's.
pub fn choose_project(
    key_project: Option<&str>,
    service_account_project: Option<&str>,
) -> Result<String, VertexError> {
    let p = [key_project, service_account_project]
        .into_iter()
        .flatten()
        .map(str::trim)
        .find(|p| !p.is_empty())
        .ok_or(VertexError::MissingProject)?;
    // Project ids are lowercase letters, digits and hyphens; domain-scoped ones add `domain:`.
    let valid = p.split_once(':').map_or(is_name(p), |(d, id)| {
        !d.is_empty()
            && d.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-')
            && is_name(id)
    });
    if valid {
        Ok(p.to_owned())
    } else {
        Err(VertexError::InvalidProject(p.to_owned()))
    }
}

/// `https://{region}-aiplatform.googleapis.com`, or `https://aiplatform.googleapis.com` for global.
pub fn base_url(region: &str) -> String {
    if region == GLOBAL {
        "https://aiplatform.googleapis.com".to_owned()
    } else {
        format!("https://{region}-aiplatform.googleapis.com")
    }
}

/// Gemini models go through the OpenAI-compatible endpoint; everything else through rawPredict.
pub fn is_gemini(provider_model_id: &str) -> bool {
    provider_model_id.contains("gemini")
}

/// The OpenAI-compatible chat completions URL (Gemini).
pub fn gemini_url(region: &str, project: &str) -> String {
    format!(
        "{}/v1beta1/projects/{project}/locations/{region}/endpoints/openapi/chat/completions",
        base_url(region)
    )
}

/// The `rawPredict` / `streamRawPredict` URL of a publisher model (Claude: publisher `anthropic`).
pub fn raw_predict_url(
    region: &str,
    project: &str,
    publisher: &str,
    model_id: &str,
    stream: bool,
) -> String {
    let method = if stream {
        "streamRawPredict"
    } else {
        "rawPredict"
    };
    format!(
        "{}/v1/projects/{project}/locations/{region}/publishers/{publisher}/models/{model_id}:{method}",
        base_url(region)
    )
}

/// Everything about one Vertex call besides the body and the token.
#[derive(Clone, Copy, Debug)]
pub struct VertexTarget<'a> {
    /// From [`choose_region`].
    pub region: &'a str,
    /// From [`choose_project`].
    pub project: &'a str,
    /// The endpoint's provider model id, e.g. `claude-sonnet-4@20250514` or `gemini-2.5-pro`.
    pub model_id: &'a str,
    /// The model's publisher for rawPredict (`anthropic` for Claude).
    pub publisher: &'a str,
    pub stream: bool,
}

/// What the answer looks like, so the caller picks the right translator.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VertexFormat {
    /// OpenAI chat completions (Gemini via `endpoints/openapi`): SSE in OpenAI chunk format.
    OpenAi,
    /// Anthropic Messages (Claude via rawPredict): SSE in Anthropic event format.
    Anthropic,
}

/// A request ready to send.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VertexRequest {
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: Value,
    pub format: VertexFormat,
}

/// Builds the request for an OpenAI chat body. `access_token` is the OAuth token (without
/// `Bearer `).
pub fn build_request(
    openai: &Value,
    target: &VertexTarget<'_>,
    access_token: &str,
) -> Result<VertexRequest, VertexError> {
    let headers = vec![
        ("authorization".to_owned(), format!("Bearer {access_token}")),
        ("content-type".to_owned(), "application/json".to_owned()),
    ];
    if is_gemini(target.model_id) {
        let mut body = openai.clone();
        if let Some(o) = body.as_object_mut() {
            let model = if target.model_id.starts_with("google/") {
                target.model_id.to_owned()
            } else {
                format!("google/{}", target.model_id)
            };
            o.insert("model".into(), Value::String(model));
            set_stream(o, target.stream);
        }
        return Ok(VertexRequest {
            url: gemini_url(target.region, target.project),
            headers,
            body,
            format: VertexFormat::OpenAi,
        });
    }
    let mut body =
        anthropic::to_messages_request(openai, target.model_id, &AnthropicOptions::vertex())?;
    if let Some(o) = body.as_object_mut() {
        // streamRawPredict streams only with `stream: true` in the body; keep it in step with the
        // method the URL names.
        set_stream(o, target.stream);
    }
    Ok(VertexRequest {
        url: raw_predict_url(
            target.region,
            target.project,
            target.publisher,
            target.model_id,
            target.stream,
        ),
        headers,
        body,
        format: VertexFormat::Anthropic,
    })
}

fn set_stream(o: &mut serde_json::Map<String, Value>, stream: bool) {
    if stream {
        o.insert("stream".into(), Value::Bool(true));
    } else {
        o.remove("stream");
    }
}

/// The message of a Vertex error body: `error.message`, or `[0].error.message` (errors that
/// come as a one-element array), or an Anthropic error passed through by rawPredict.
pub fn error_message(body: &[u8]) -> Option<String> {
    let v: Value = serde_json::from_slice(body).ok()?;
    let at = |v: &Value| {
        v.get("error")
            .and_then(|e| e.get("message"))
            .and_then(Value::as_str)
            .map(str::to_owned)
    };
    at(&v)
        .or_else(|| v.get(0).and_then(at))
        .or_else(|| anthropic::error_message(body))
        .filter(|m| !m.trim().is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn region_choice_follows_the_reference() {
        assert_eq!(
            choose_region(Some("europe-west1"), None, true, true).unwrap(),
            "global"
        );
        assert_eq!(
            choose_region(Some("europe-west1"), None, true, false).unwrap(),
            "europe-west1"
        );
        assert_eq!(choose_region(None, None, true, false).unwrap(), "us-east5");
        assert_eq!(
            choose_region(None, None, false, true).unwrap(),
            "us-central1"
        );
        assert_eq!(
            choose_region(None, Some("asia-east1"), false, false).unwrap(),
            "asia-east1"
        );
        assert_eq!(
            choose_region(Some(""), Some("asia-east1"), false, false).unwrap(),
            "asia-east1"
        );
        assert!(choose_region(Some("evil.com/x"), None, false, false).is_err());
    }

    #[test]
    fn project_choice() {
        assert_eq!(
            choose_project(Some("my-proj"), Some("sa-proj")).unwrap(),
            "my-proj"
        );
        assert_eq!(choose_project(None, Some("sa-proj")).unwrap(), "sa-proj");
        assert_eq!(
            choose_project(None, Some("example.com:proj")).unwrap(),
            "example.com:proj"
        );
        assert!(matches!(
            choose_project(Some(" "), None),
            Err(VertexError::MissingProject)
        ));
        assert!(matches!(
            choose_project(Some("a/../b"), None),
            Err(VertexError::InvalidProject(_))
        ));
    }

    #[test]
    fn urls() {
        assert_eq!(
            gemini_url("global", "p"),
            "https://aiplatform.googleapis.com/v1beta1/projects/p/locations/global/endpoints/openapi/chat/completions"
        );
        assert_eq!(
            raw_predict_url("us-east5", "p", "anthropic", "claude-sonnet-4@20250514", true),
            "https://us-east5-aiplatform.googleapis.com/v1/projects/p/locations/us-east5/publishers/anthropic/models/claude-sonnet-4@20250514:streamRawPredict"
        );
        assert_eq!(
            raw_predict_url("us-east5", "p", "anthropic", "claude-3-5-haiku@20241022", false),
            "https://us-east5-aiplatform.googleapis.com/v1/projects/p/locations/us-east5/publishers/anthropic/models/claude-3-5-haiku@20241022:rawPredict"
        );
    }

    #[test]
    fn error_messages() {
        let b = br#"{"error":{"code":404,"message":"Publisher Model not found.","status":"NOT_FOUND"}}"#;
        assert_eq!(
            error_message(b).as_deref(),
            Some("Publisher Model not found.")
        );
        let b =
            br#"[{"error":{"code":429,"message":"Quota exceeded","status":"RESOURCE_EXHAUSTED"}}]"#;
        assert_eq!(error_message(b).as_deref(), Some("Quota exceeded"));
        assert_eq!(error_message(b"<html>"), None);
    }
}
