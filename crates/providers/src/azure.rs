//! Azure OpenAI: the OpenAI chat body at a deployment URL.
//!
//! `{base_uri or https://{resource_name}.openai.azure.com}/openai/deployments/{deployment}/chat/completions?api-version={v}`
//! with an `api-key` header. The deployment is the key's or endpoint's `deployment_name`, else the
//! endpoint's provider model id (deployments are commonly named after the model). The URL pieces
//! are the registry's `base_url` and `chat_path` templates; only the `api-version` query is Azure's
//! own rule.

use bytes::Bytes;
use http::Method;
use serde_json::Value;
use switchyard_registry::{ConfigField, Provider, WireFormat};

use crate::error::ProviderError;
use crate::openai::{expand_template, request_body};
use crate::request::{base_headers, Credentials, RequestOptions, Target, UpstreamRequest};

/// The `api-version` when neither key nor deployment sets one: the latest GA-documented
/// data-plane version at the time of writing.
pub const DEFAULT_API_VERSION: &str = "2025-01-01-preview";

/// Whether an OpenAI-format provider uses Azure's deployment URLs: its chat path is templated on
/// the deployment.
pub fn is_azure(provider: &Provider) -> bool {
    provider.format == WireFormat::Openai && provider.chat_path.contains("{deployment}")
}

pub fn build(
    target: &Target<'_>,
    credentials: &Credentials,
    request: &Value,
    opts: &RequestOptions<'_>,
) -> Result<UpstreamRequest, ProviderError> {
    let id = target.provider.id.as_str();
    let base = expand_template(target, target.base_url())?;
    let path = expand_template(target, &target.provider.chat_path)?;
    let version = target
        .config(ConfigField::ApiVersion)
        .unwrap_or(DEFAULT_API_VERSION);
    if !version
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
    {
        return Err(ProviderError::config(
            id,
            "`api_version` has characters not allowed in a URL",
        ));
    }
    Ok(UpstreamRequest {
        method: Method::POST,
        url: format!("{base}{path}?api-version={version}"),
        headers: base_headers(target.provider, credentials, opts.stream)?,
        body: Bytes::from(request_body(
            target.provider,
            target.endpoint,
            &target.endpoint.provider_model_id,
            request,
            opts.stream,
        )?),
    })
}
