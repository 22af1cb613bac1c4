//! Google as an adapter: the Vertex request for a [`Target`] (Gemini through the OpenAI-compatible
//! endpoint, other publishers' models through rawPredict), and the native Gemini API's refusal.

use bytes::Bytes;
use http::header::{ACCEPT, AUTHORIZATION};
use http::Method;
use serde_json::Value;
use switchyard_registry::ConfigField;

use super::vertex::{self, VertexError, VertexFormat, VertexTarget};
use crate::anthropic::provider_error;
use crate::error::ProviderError;
use crate::exchange::AnswerFormat;
use crate::openai;
use crate::request::{
    accept_value, headers_from_pairs, rebase_url, without_unsupported, Credentials, RequestOptions,
    Target, UpstreamRequest,
};

fn vertex_error(provider: &str, e: VertexError) -> ProviderError {
    match e {
        VertexError::Translate(t) => provider_error(provider, t),
        other => ProviderError::config(provider, other.to_string()),
    }
}

/// The region and project a Vertex target resolves to.
fn location(target: &Target<'_>) -> Result<(String, String), ProviderError> {
    let id = target.provider_id();
    let region = vertex::choose_region(
        target.key_config.region.as_deref(),
        target.endpoint.config.region.as_deref(),
        false,
        target.endpoint.cross_region,
    )
    .map_err(|e| vertex_error(id, e))?;
    let project = vertex::choose_project(target.config(ConfigField::ProjectId), None)
        .map_err(|e| vertex_error(id, e))?;
    Ok((region, project))
}

/// The answer format of a Vertex endpoint: OpenAI for Gemini, Anthropic for rawPredict models.
pub fn vertex_answer_format(target: &Target<'_>) -> AnswerFormat {
    if vertex::is_gemini(&target.endpoint.provider_model_id) {
        AnswerFormat::OpenAi
    } else {
        AnswerFormat::Anthropic
    }
}

/// The Vertex request and the format its answer comes in.
pub fn build_vertex(
    target: &Target<'_>,
    credentials: &Credentials,
    request: &Value,
    opts: &RequestOptions<'_>,
) -> Result<(UpstreamRequest, AnswerFormat), ProviderError> {
    let id = target.provider_id();
    let token =
        match credentials {
            Credentials::GoogleAccessToken(t) | Credentials::ApiKey(t) => t.expose(),
            Credentials::GoogleServiceAccount(_) => return Err(ProviderError::config(
                id,
                "exchange the service account for an access token first (google::auth::TokenCache)",
            )),
            Credentials::Aws { .. } => {
                return Err(ProviderError::config(
                    id,
                    "Vertex needs Google credentials, not AWS keys",
                ))
            }
        };
    let (region, project) = location(target)?;
    let model_id = target.endpoint.provider_model_id.as_str();
    let vt = VertexTarget {
        region: &region,
        project: &project,
        model_id,
        publisher: &target.endpoint.author,
        stream: opts.stream,
    };
    let filtered = without_unsupported(target.endpoint, request);
    let built = vertex::build_request(&filtered, &vt, token).map_err(|e| vertex_error(id, e))?;
    let (body, format) = match built.format {
        // Gemini through the OpenAI-compatible endpoint gets the same body rules as every
        // OpenAI-format provider (stream usage requested, unsupported parameters removed).
        VertexFormat::OpenAi => {
            let model = built
                .body
                .get("model")
                .and_then(Value::as_str)
                .unwrap_or(model_id);
            (
                openai::request_body(
                    target.provider,
                    target.endpoint,
                    model,
                    request,
                    opts.stream,
                )?,
                AnswerFormat::OpenAi,
            )
        }
        VertexFormat::Anthropic => (
            serde_json::to_vec(&built.body).expect("a JSON value serialises"),
            AnswerFormat::Anthropic,
        ),
    };
    let mut headers = headers_from_pairs(id, &built.headers, |name| *name == AUTHORIZATION)?;
    headers.insert(ACCEPT, accept_value(opts.stream));
    Ok((
        UpstreamRequest {
            method: Method::POST,
            url: rebase_url(target, built.url, "/v1"),
            headers,
            body: Bytes::from(body),
        },
        format,
    ))
}

/// No registry provider speaks native Gemini: AI Studio uses its OpenAI-compatible path (see the
/// `google` module docs for why).
pub fn build_native(target: &Target<'_>) -> Result<(UpstreamRequest, AnswerFormat), ProviderError> {
    Err(ProviderError::unsupported(
        target.provider_id(),
        "the native Gemini API is not supported; use the OpenAI-compatible path",
    ))
}
