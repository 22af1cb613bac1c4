//! OpenAI-compatible providers, driven by registry data.
//!
//! A provider is its `providers.toml` entry: `base_url` + `chat_path` (with `{region}`,
//! `{project_id}`, `{resource_name}`, `{deployment}`, `{model}` templates filled from the key's or
//! the deployment's config), an `auth` header style and `error_message_paths`. Adding one touches
//! no Rust.
//!
//! Speed: the caller's body is never cloned or re-parsed; the outbound body is written from the
//! caller's top-level fields minus the removed ones plus the overrides. Answers are passed through
//! byte for byte; they are only read to capture usage, and a stream chunk is re-written only when
//! it carries usage the caller did not ask for.

mod bound;
pub(crate) mod chat_bound;
mod response;
mod stream;

/// Re-exported from its leaf module: every native format applies the same removal.
pub use crate::request::removed_fields;
pub use bound::usage_bound;
pub use chat_bound::WEB_SEARCH_FALLBACK_CALLS;
pub use response::map_response;
pub use stream::OpenAiStream;
pub use switchyard_registry::StreamUsage;

use bytes::Bytes;
use http::Method;
use serde_json::{Map, Value};
use switchyard_registry::{ConfigField, Endpoint, Provider};

use crate::error::ProviderError;
use crate::request::{
    base_headers, renamed_limits, Credentials, RequestOptions, Target, UpstreamRequest,
};

/// How a provider reports stream usage: registry data (`stream_usage` in providers.toml).
pub fn stream_usage(provider: &Provider) -> StreamUsage {
    provider.stream_usage
}

/// Fills `{field}` templates of a registry URL from the target's config. `{deployment}` is the
/// deployment name, else the provider model id; `{model}` is the provider model id.
pub fn expand_template(target: &Target<'_>, template: &str) -> Result<String, ProviderError> {
    if !template.contains('{') {
        return Ok(template.to_owned());
    }
    let mut out = String::with_capacity(template.len() + 32);
    let mut rest = template;
    while let Some(start) = rest.find('{') {
        out.push_str(&rest[..start]);
        let Some(len) = rest[start..].find('}') else {
            out.push_str(&rest[start..]);
            return Ok(out);
        };
        let name = &rest[start + 1..start + len];
        let value = match name {
            "model" => Some(target.endpoint.provider_model_id.as_str()),
            "deployment" => target
                .config(ConfigField::DeploymentName)
                .or(Some(target.endpoint.provider_model_id.as_str())),
            "region" => target.config(ConfigField::Region),
            "project_id" => target.config(ConfigField::ProjectId),
            "resource_name" => target.config(ConfigField::ResourceName),
            "deployment_name" => target.config(ConfigField::DeploymentName),
            "api_version" => target.config(ConfigField::ApiVersion),
            "author" => Some(target.endpoint.author.as_str()),
            _ => None,
        };
        let value = value.ok_or_else(|| {
            ProviderError::config(
                &target.provider.id,
                format!(
                    "provider {} needs `{name}`: set it on the key or the endpoint deployment",
                    target.provider.id
                ),
            )
        })?;
        // The value lands in a host or a path: refuse anything that could change either.
        if value
            .bytes()
            .any(|b| matches!(b, b'/' | b'?' | b'#' | b'@' | b'\\') || b.is_ascii_whitespace())
            && name != "model"
            && name != "deployment"
        {
            return Err(ProviderError::config(
                &target.provider.id,
                format!("`{name}` has characters not allowed in a URL"),
            ));
        }
        out.push_str(&encode_path_segment(value));
        rest = &rest[start + len + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// Percent-encodes what a path segment cannot carry as is (model ids contain `:` and `/` at some
/// providers; `/` is kept because several providers' ids are `org/model` and expect it raw).
fn encode_path_segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            'A'..='Z' | 'a'..='z' | '0'..='9' | '-' | '.' | '_' | '~' | '/' | ':' | '@' => {
                out.push(c)
            }
            _ => {
                let mut buf = [0u8; 4];
                for b in c.encode_utf8(&mut buf).bytes() {
                    out.push_str(&format!("%{b:02X}"));
                }
            }
        }
    }
    out
}

/// The outbound body: the caller's top-level fields minus `remove` and the overridden ones, then
/// `set`. Values are serialised straight from the caller's body, never cloned.
fn patched_body(original: &Map<String, Value>, remove: &[&str], set: &[(&str, Value)]) -> Vec<u8> {
    let mut out = Vec::with_capacity(256);
    out.push(b'{');
    let mut first = true;
    let mut field = |out: &mut Vec<u8>, k: &str, v: &Value| {
        if !first {
            out.push(b',');
        }
        first = false;
        serde_json::to_writer(&mut *out, k).expect("writing to a Vec cannot fail");
        out.push(b':');
        serde_json::to_writer(&mut *out, v).expect("writing to a Vec cannot fail");
    };
    for (k, v) in original {
        if remove.contains(&k.as_str()) || set.iter().any(|(s, _)| s == k) {
            continue;
        }
        field(&mut out, k, v);
    }
    for (k, v) in set {
        field(&mut out, k, v);
    }
    out.push(b'}');
    out
}

/// The body for an OpenAI-compatible provider.
pub fn request_body(
    provider: &Provider,
    endpoint: &Endpoint,
    model: &str,
    request: &Value,
    stream: bool,
) -> Result<Vec<u8>, ProviderError> {
    let provider_id = provider.id.as_str();
    let obj = request.as_object().ok_or_else(|| {
        ProviderError::unsupported(provider_id, "request body must be a JSON object")
    })?;
    let mut remove = removed_fields(endpoint, request);
    let mut set: Vec<(&str, Value)> = vec![("model", Value::String(model.to_owned()))];

    set.extend(
        renamed_limits(endpoint, obj)
            .into_iter()
            .map(|(to, v)| (to, v.clone())),
    );

    if stream {
        set.push(("stream", Value::Bool(true)));
        match stream_usage(provider) {
            StreamUsage::OnRequest => {
                let mut so = obj
                    .get("stream_options")
                    .and_then(Value::as_object)
                    .cloned()
                    .unwrap_or_default();
                so.insert("include_usage".into(), Value::Bool(true));
                set.push(("stream_options", Value::Object(so)));
            }
            StreamUsage::Always => remove.push("stream_options"),
        }
    } else {
        // OpenAI rejects `stream_options` without `stream: true`.
        remove.extend(["stream", "stream_options"]);
    }
    Ok(patched_body(obj, &remove, &set))
}

/// Builds the request for an OpenAI-compatible provider.
pub fn build(
    target: &Target<'_>,
    credentials: &Credentials,
    request: &Value,
    opts: &RequestOptions<'_>,
) -> Result<UpstreamRequest, ProviderError> {
    let base = expand_template(target, target.base_url())?;
    let path = expand_template(target, &target.provider.chat_path)?;
    Ok(UpstreamRequest {
        method: Method::POST,
        url: format!("{base}{path}"),
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
