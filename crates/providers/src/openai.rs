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

use bytes::Bytes;
use http::Method;
use memchr::memmem;
use serde::de::IgnoredAny;
use serde::Deserialize;
use serde_json::{Map, Value};
use switchyard_cost::Usage;
pub use switchyard_registry::StreamUsage;
use switchyard_registry::{ConfigField, Endpoint, Parameter, Provider};

use crate::adapter::{
    base_headers, Credentials, Exchange, MappedResponse, RequestOptions, Target, UpstreamRequest,
};
use crate::error::ProviderError;
use crate::sse::{write_data, write_done, SseParser};
use crate::usage;

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

/// Body fields to remove for this endpoint: its unsupported parameters present in the body.
pub fn removed_fields(endpoint: &Endpoint, request: &Value) -> Vec<&'static str> {
    let Some(obj) = request.as_object() else {
        return Vec::new();
    };
    let mut out = Vec::new();
    let mut push = |n: &'static str| {
        if obj.contains_key(n) && !out.contains(&n) {
            out.push(n);
        }
    };
    for p in &endpoint.unsupported_parameters {
        match p {
            // `reasoning_effort` is OpenAI's spelling of the same request.
            Parameter::Reasoning => ["reasoning", "reasoning_effort"]
                .into_iter()
                .for_each(&mut push),
            // Decided by the gateway before it asks for a stream (see `adapter::prepare`).
            Parameter::Stream => {}
            other => push(other.as_str()),
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

    // A token limit in the spelling the endpoint does not take is renamed, not dropped: dropping
    // it would silently lift the caller's cap.
    let unsupported = |p: Parameter| endpoint.unsupported_parameters.contains(&p);
    for (from, to, p_from, p_to) in [
        (
            "max_tokens",
            "max_completion_tokens",
            Parameter::MaxTokens,
            Parameter::MaxCompletionTokens,
        ),
        (
            "max_completion_tokens",
            "max_tokens",
            Parameter::MaxCompletionTokens,
            Parameter::MaxTokens,
        ),
    ] {
        if unsupported(p_from) && !unsupported(p_to) && !obj.contains_key(to) {
            if let Some(v) = obj.get(from) {
                set.push((to, v.clone()));
            }
        }
    }

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

/// Reads only what the gateway needs from a whole answer; everything else is skipped unparsed.
#[derive(Deserialize)]
struct Peek {
    #[serde(default)]
    usage: Value,
    #[serde(default)]
    error: Value,
    #[serde(default)]
    choices: Option<IgnoredAny>,
}

/// A whole answer: passed through as is, usage read.
pub fn map_response(ex: &Exchange, body: Bytes) -> Result<MappedResponse, ProviderError> {
    let peek: Peek = serde_json::from_slice(&body).map_err(|e| {
        let what = if body.iter().all(u8::is_ascii_whitespace) {
            "an empty body".to_owned()
        } else {
            format!("a body that is not a chat completion ({e})")
        };
        ProviderError::invalid_response(
            &ex.provider,
            format!("the provider answered 2xx with {what}"),
        )
    })?;
    if peek.error.is_object() || (!peek.error.is_null() && peek.choices.is_none()) {
        let v = serde_json::json!({ "error": peek.error });
        return Err(ProviderError::from_stream_event(
            &ex.provider,
            &v,
            &ex.error_message_paths,
        ));
    }
    if peek.choices.is_none() {
        return Err(ProviderError::invalid_response(
            &ex.provider,
            "the provider answered 2xx without `choices`",
        ));
    }
    Ok(MappedResponse {
        usage: usage::from_openai(&peek.usage),
        body,
    })
}

/// The stream translator of OpenAI-compatible providers: re-frames each event as
/// `data: <json>\n\n`, captures usage, strips the usage the caller did not ask for, turns error
/// events into errors and ends with exactly one `data: [DONE]`.
#[derive(Debug)]
pub struct OpenAiStream {
    sse: SseParser,
    caller_wants_usage: bool,
    usage: Usage,
    /// The provider's own usage object, for a usage chunk we may have to write (Groq reports
    /// usage only inside `x_groq`).
    raw_usage: Option<Value>,
    /// `id`, `created`, `model` of the last parsed chunk, for that synthetic chunk.
    envelope: Option<(Value, Value, Value)>,
    usage_written: bool,
    saw_finish: bool,
    done: bool,
}

impl OpenAiStream {
    pub fn new(caller_wants_usage: bool) -> Self {
        OpenAiStream {
            sse: SseParser::new(),
            caller_wants_usage,
            usage: Usage::default(),
            raw_usage: None,
            envelope: None,
            usage_written: false,
            saw_finish: false,
            done: false,
        }
    }

    pub fn usage(&self) -> &Usage {
        &self.usage
    }

    pub fn is_done(&self) -> bool {
        self.done
    }

    pub fn feed(
        &mut self,
        ex: &Exchange,
        bytes: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<(), ProviderError> {
        let events = self
            .sse
            .feed(bytes)
            .map_err(|e| ProviderError::invalid_response(&ex.provider, e.to_string()))?;
        for ev in events {
            self.event(ex, &ev.data, out)?;
            if self.done {
                break;
            }
        }
        Ok(())
    }

    pub fn finish(&mut self, ex: &Exchange, out: &mut Vec<u8>) -> Result<(), ProviderError> {
        if !self.done {
            if let Some(ev) = self.sse.finish() {
                // A last event cut off mid-JSON is the connection dropping, not a bad provider.
                self.event(ex, &ev.data, out).map_err(|e| {
                    ProviderError::stream_interrupted(
                        &ex.provider,
                        format!("the stream ended mid-event ({})", e.message),
                    )
                })?;
            }
        }
        if self.done {
            return Ok(());
        }
        if self.saw_finish {
            self.write_missing_usage(out);
            // Some providers close right after the last chunk without `[DONE]`; the answer is
            // complete, so the caller gets the terminator it expects.
            write_done(out);
            self.done = true;
            return Ok(());
        }
        Err(ProviderError::stream_interrupted(
            &ex.provider,
            "the stream ended before a finish_reason or [DONE]",
        ))
    }

    fn event(
        &mut self,
        ex: &Exchange,
        data: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<(), ProviderError> {
        let data = data.trim_ascii();
        if data.is_empty() {
            return Ok(());
        }
        if data == b"[DONE]" {
            self.write_missing_usage(out);
            write_done(out);
            self.done = true;
            return Ok(());
        }
        if memmem::find(data, b"\"finish_reason\":\"").is_some()
            || memmem::find(data, b"\"finish_reason\": \"").is_some()
        {
            self.saw_finish = true;
        }
        let interesting = memmem::find(data, b"\"usage\"").is_some()
            || memmem::find(data, b"\"error\"").is_some()
            || memmem::find(data, b"\"x_groq\"").is_some();
        if !interesting {
            write_data(out, data);
            return Ok(());
        }
        // `"usage":null` on every chunk (OpenAI, once include_usage is set) is cut at byte level:
        // the pattern cannot occur inside a JSON string, where every quote is escaped.
        if !self.caller_wants_usage {
            if let Some(stripped) = strip_null_usage(data) {
                if memmem::find(&stripped, b"\"usage\"").is_none()
                    && memmem::find(&stripped, b"\"error\"").is_none()
                    && memmem::find(&stripped, b"\"x_groq\"").is_none()
                {
                    write_data(out, &stripped);
                    return Ok(());
                }
            }
        }
        let mut v: Value = serde_json::from_slice(data).map_err(|e| {
            ProviderError::invalid_response(&ex.provider, format!("stream event is not JSON: {e}"))
        })?;
        // OpenAI sends `{"error": {...}}` alone; OpenRouter adds a choice with finish_reason
        // "error". Either way the answer is broken off.
        if v.get("error").is_some_and(Value::is_object) {
            return Err(ProviderError::from_stream_event(
                &ex.provider,
                &v,
                &ex.error_message_paths,
            ));
        }
        if v.pointer("/choices/0/finish_reason")
            .is_some_and(|f| !f.is_null())
        {
            self.saw_finish = true;
        }
        // Groq reports stream usage in `x_groq.usage`.
        for u in [v.pointer("/x_groq/usage"), v.get("usage")]
            .into_iter()
            .flatten()
        {
            if u.is_object() {
                self.usage = usage::from_openai(u);
                self.raw_usage = Some(u.clone());
            }
        }
        let field = |k: &str| v.get(k).cloned().unwrap_or(Value::Null);
        self.envelope = Some((field("id"), field("created"), field("model")));
        if self.caller_wants_usage || v.get("usage").is_none() {
            if v.get("usage").is_some_and(Value::is_object) {
                self.usage_written = true;
            }
            write_data(out, data);
            return Ok(());
        }
        let usage_only = v
            .get("choices")
            .and_then(Value::as_array)
            .is_some_and(Vec::is_empty)
            && v.get("usage").is_some_and(|u| !u.is_null());
        if usage_only {
            return Ok(());
        }
        if let Some(obj) = v.as_object_mut() {
            obj.remove("usage");
        }
        write_data(
            out,
            &serde_json::to_vec(&v).expect("a JSON value serialises"),
        );
        Ok(())
    }
}

impl OpenAiStream {
    /// The caller asked for usage and the provider reported it only outside `usage` (Groq's
    /// `x_groq.usage`): the caller gets the standard usage-only chunk before `[DONE]`.
    fn write_missing_usage(&mut self, out: &mut Vec<u8>) {
        if !self.caller_wants_usage || self.usage_written {
            return;
        }
        let (Some(usage), Some((id, created, model))) = (&self.raw_usage, &self.envelope) else {
            return;
        };
        let chunk = serde_json::json!({
            "id": id, "object": "chat.completion.chunk", "created": created, "model": model,
            "choices": [], "usage": usage,
        });
        write_data(
            out,
            &serde_json::to_vec(&chunk).expect("a JSON value serialises"),
        );
        self.usage_written = true;
    }
}

/// `data` without its `"usage":null` member, if it has exactly that form.
fn strip_null_usage(data: &[u8]) -> Option<Vec<u8>> {
    for pat in [&b",\"usage\":null"[..], &b"\"usage\":null,"[..]] {
        if let Some(i) = memmem::find(data, pat) {
            let mut v = Vec::with_capacity(data.len());
            v.extend_from_slice(&data[..i]);
            v.extend_from_slice(&data[i + pat.len()..]);
            return Some(v);
        }
    }
    None
}
