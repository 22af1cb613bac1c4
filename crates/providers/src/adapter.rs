//! The provider abstraction: one closed enum, static dispatch, keyed by the registry's wire format.
//!
//! The life of one upstream attempt, in order:
//!
//! 1. [`prepare`] — endpoint + provider + credentials + per-key config + the caller's OpenAI chat
//!    body → an [`UpstreamRequest`] (method, URL, headers with the auth marked sensitive, body
//!    bytes) and an [`Exchange`], which remembers what the answer side needs (format, stream,
//!    whether the caller asked for stream usage, the model name to report, the secrets to scrub).
//! 2. The gateway sends it (this crate does no I/O).
//! 3. Status ≥ 400: [`Exchange::map_error`] → [`ProviderError`].
//!    Whole answer: [`Exchange::map_response`] → OpenAI `chat.completion` bytes + [`Usage`].
//!    Stream: [`Exchange::stream_translator`] → a [`StreamTranslator`] fed raw upstream bytes as
//!    they arrive, writing OpenAI SSE (`data: {...}\n\n` … `data: [DONE]\n\n`) and capturing usage;
//!    connect failures and timeouts are built with [`ProviderError::connect`]/[`ProviderError::timeout`].
//!
//! OpenAI-compatible providers are data only (registry `providers.toml`: base URL, chat path, auth
//! style, error message paths); native formats (Anthropic, Bedrock, Vertex) are one module each.

use std::time::SystemTime;

use bytes::Bytes;
use http::header::{HeaderName, HeaderValue, ACCEPT, AUTHORIZATION, CONTENT_TYPE};
use http::{HeaderMap, Method};
use serde_json::Value;
use switchyard_cost::Usage;
use switchyard_registry::{
    AuthStyle, ConfigField, DeploymentConfig, Endpoint, Provider, WireFormat,
};

use crate::anthropic::{self, AnthropicOptions, TranslateError};
use crate::bedrock;
use crate::error::{scrub, ErrorKind, ProviderError, Secret};
use crate::google::vertex;
use crate::sse::{write_data, write_done, SseParser};
use crate::{azure, openai};

/// The credentials of one key.
#[derive(Clone, Debug)]
pub enum Credentials {
    /// An API key sent in the provider's header style.
    ApiKey(Secret),
    /// AWS access keys, for SigV4 (Bedrock).
    Aws {
        access_key_id: String,
        secret_access_key: Secret,
        session_token: Option<Secret>,
    },
    /// A Google service-account JSON. Exchange it for a token first (`google::auth::TokenCache`)
    /// and pass [`Credentials::GoogleAccessToken`]: building a request stays synchronous.
    GoogleServiceAccount(Secret),
    /// A ready OAuth access token (Vertex).
    GoogleAccessToken(Secret),
}

impl Credentials {
    /// Every secret value, for exact scrubbing of error messages.
    pub fn secret_values(&self) -> Vec<String> {
        match self {
            Credentials::ApiKey(s)
            | Credentials::GoogleServiceAccount(s)
            | Credentials::GoogleAccessToken(s) => vec![s.expose().to_owned()],
            Credentials::Aws {
                secret_access_key,
                session_token,
                ..
            } => std::iter::once(secret_access_key)
                .chain(session_token)
                .map(|s| s.expose().to_owned())
                .collect(),
        }
    }
}

/// Where a request goes: the provider, the endpoint, and the key's own config (region,
/// project_id, resource_name, deployment_name, api_version, base_uri), which overrides the
/// endpoint deployment's field by field.
#[derive(Clone, Copy, Debug)]
pub struct Target<'a> {
    pub provider: &'a Provider,
    pub endpoint: &'a Endpoint,
    pub key_config: &'a DeploymentConfig,
}

impl<'a> Target<'a> {
    pub fn new(
        provider: &'a Provider,
        endpoint: &'a Endpoint,
        key_config: &'a DeploymentConfig,
    ) -> Self {
        Target {
            provider,
            endpoint,
            key_config,
        }
    }

    /// A config field: the key's value, else the endpoint deployment's. Blank counts as unset.
    pub fn config(&self, field: ConfigField) -> Option<&'a str> {
        [self.key_config.get(field), self.endpoint.config.get(field)]
            .into_iter()
            .flatten()
            .map(str::trim)
            .find(|v| !v.is_empty())
    }

    /// The base URL after a `base_uri` override (tests point providers at local fake upstreams
    /// this way), without a trailing slash.
    pub fn base_url(&self) -> &'a str {
        self.config(ConfigField::BaseUri)
            .unwrap_or(&self.provider.base_url)
            .trim_end_matches('/')
    }
}

/// Options of one attempt that are not in the body.
#[derive(Clone, Copy, Debug)]
pub struct RequestOptions<'a> {
    pub stream: bool,
    /// The gateway's request id: the chunk id until the provider gives its own.
    pub request_id: &'a str,
    /// Signing time (SigV4).
    pub now: SystemTime,
}

impl<'a> RequestOptions<'a> {
    pub fn new(stream: bool, request_id: &'a str) -> Self {
        RequestOptions {
            stream,
            request_id,
            now: SystemTime::now(),
        }
    }
}

/// The outbound HTTP request.
#[derive(Clone, Debug)]
pub struct UpstreamRequest {
    pub method: Method,
    pub url: String,
    /// Auth headers are marked sensitive (`HeaderValue::set_sensitive`).
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl UpstreamRequest {
    /// The URL with any credential-looking query parameter scrubbed, for logs.
    pub fn loggable_url(&self) -> String {
        scrub(&self.url)
    }
}

/// Which adapter speaks to a provider. Closed: a new wire format is a new variant.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Adapter {
    /// OpenAI chat completions, data-driven (most providers).
    OpenAi,
    /// Azure OpenAI: the OpenAI body at a deployment URL with `api-version`.
    Azure,
    /// Anthropic Messages (native API).
    Anthropic,
    /// AWS Bedrock InvokeModel (Claude), SigV4.
    Bedrock,
    /// Vertex AI: Gemini through its OpenAI-compatible endpoint, Claude through rawPredict.
    Vertex,
    /// Google's native Gemini API (no registry provider uses it: AI Studio goes through its
    /// OpenAI-compatible path).
    Google,
}

impl Adapter {
    pub fn for_provider(provider: &Provider) -> Adapter {
        match provider.format {
            // Azure is OpenAI's wire format at a URL scheme of its own (deployment in the path,
            // `api-version` in the query); the registry marks it by the `{deployment}` template.
            WireFormat::Openai if azure::is_azure(provider) => Adapter::Azure,
            WireFormat::Openai => Adapter::OpenAi,
            WireFormat::Anthropic => Adapter::Anthropic,
            WireFormat::Bedrock => Adapter::Bedrock,
            WireFormat::Vertex => Adapter::Vertex,
            WireFormat::Google => Adapter::Google,
        }
    }
}

/// The answer format of one exchange.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AnswerFormat {
    /// OpenAI chat completions (passthrough, usage read).
    OpenAi,
    /// Anthropic Messages JSON and SSE.
    Anthropic,
    /// Anthropic Messages JSON; streams in AWS event-stream frames.
    BedrockAnthropic,
}

/// What the answer side of one attempt needs to know about its request.
#[derive(Clone, Debug)]
pub struct Exchange {
    pub provider: String,
    pub adapter: Adapter,
    pub format: AnswerFormat,
    pub stream: bool,
    /// The caller set `stream_options.include_usage`; otherwise the usage-only chunk the gateway
    /// asked for is stripped from the stream.
    pub caller_wants_usage: bool,
    /// The model name reported in translated answers.
    pub model: String,
    pub request_id: String,
    pub error_message_paths: Vec<String>,
    secrets: Vec<String>,
}

/// A request ready to send, and the exchange that reads its answer.
#[derive(Clone, Debug)]
pub struct Prepared {
    pub request: UpstreamRequest,
    pub exchange: Exchange,
}

/// A whole answer in the OpenAI shape.
#[derive(Clone, Debug, PartialEq)]
pub struct MappedResponse {
    /// `chat.completion` JSON. For OpenAI-compatible providers these are the upstream's bytes.
    pub body: Bytes,
    pub usage: Usage,
}

/// Builds the upstream request for one attempt.
pub fn prepare(
    target: &Target<'_>,
    credentials: &Credentials,
    request: &Value,
    opts: &RequestOptions<'_>,
) -> Result<Prepared, ProviderError> {
    let provider = target.provider.id.as_str();
    if !request.is_object() {
        return Err(ProviderError::unsupported(
            provider,
            "request body must be a JSON object",
        ));
    }
    if opts.stream && is_unsupported(target.endpoint, "stream") {
        return Err(ProviderError::unsupported(
            provider,
            format!("endpoint {} does not support streaming", target.endpoint.id),
        ));
    }
    let adapter = Adapter::for_provider(target.provider);
    let caller_wants_usage = request
        .pointer("/stream_options/include_usage")
        .and_then(Value::as_bool)
        == Some(true);
    let mut exchange = Exchange {
        provider: provider.to_owned(),
        adapter,
        format: AnswerFormat::OpenAi,
        stream: opts.stream,
        caller_wants_usage,
        model: request
            .get("model")
            .and_then(Value::as_str)
            .unwrap_or(&target.endpoint.model)
            .to_owned(),
        request_id: opts.request_id.to_owned(),
        error_message_paths: target.provider.error_message_paths.clone(),
        secrets: credentials.secret_values(),
    };
    let request = match adapter {
        Adapter::OpenAi => openai::build(target, credentials, request, opts)?,
        Adapter::Azure => azure::build(target, credentials, request, opts)?,
        Adapter::Anthropic => {
            exchange.format = AnswerFormat::Anthropic;
            build_anthropic(target, credentials, request, opts)?
        }
        Adapter::Bedrock => {
            exchange.format = AnswerFormat::BedrockAnthropic;
            build_bedrock(target, credentials, request, opts)?
        }
        Adapter::Vertex => {
            let (req, format) = build_vertex(target, credentials, request, opts)?;
            exchange.format = format;
            req
        }
        Adapter::Google => {
            // No registry provider speaks native Gemini: AI Studio uses its OpenAI-compatible
            // path (see `google` module docs for why).
            return Err(ProviderError::unsupported(
                provider,
                "the native Gemini API is not supported; use the OpenAI-compatible path",
            ));
        }
    };
    Ok(Prepared { request, exchange })
}

/// True when the endpoint lists `name` among its unsupported parameters.
pub(crate) fn is_unsupported(endpoint: &Endpoint, name: &str) -> bool {
    endpoint
        .unsupported_parameters
        .iter()
        .any(|p| p.as_str() == name)
}

/// The caller's body without the endpoint's unsupported parameters (a copy only when one is
/// present), for the native formats whose translators read the OpenAI body.
pub(crate) fn without_unsupported<'v>(
    endpoint: &Endpoint,
    request: &'v Value,
) -> std::borrow::Cow<'v, Value> {
    let names = openai::removed_fields(endpoint, request);
    if names.is_empty() {
        return std::borrow::Cow::Borrowed(request);
    }
    let mut v = request.clone();
    if let Some(obj) = v.as_object_mut() {
        for n in names {
            obj.remove(n);
        }
    }
    std::borrow::Cow::Owned(v)
}

/// Appends `name: value`, marking it sensitive when it carries a credential.
pub(crate) fn insert_header(
    headers: &mut HeaderMap,
    provider: &str,
    name: HeaderName,
    value: &str,
    sensitive: bool,
) -> Result<(), ProviderError> {
    let mut v = HeaderValue::from_str(value).map_err(|_| {
        ProviderError::config(
            provider,
            format!("value of header `{name}` has characters not allowed in a header"),
        )
    })?;
    v.set_sensitive(sensitive);
    headers.insert(name, v);
    Ok(())
}

/// The API key of key-based providers, or a config error naming what was given instead.
pub(crate) fn api_key<'c>(
    provider: &str,
    credentials: &'c Credentials,
) -> Result<&'c str, ProviderError> {
    match credentials {
        Credentials::ApiKey(k) | Credentials::GoogleAccessToken(k) => Ok(k.expose()),
        _ => Err(ProviderError::config(
            provider,
            "this provider authenticates with an API key; the key has other credentials",
        )),
    }
}

/// Standard headers: JSON body, the accept type, the auth header in the provider's style.
pub(crate) fn base_headers(
    provider: &Provider,
    credentials: &Credentials,
    stream: bool,
) -> Result<HeaderMap, ProviderError> {
    let mut h = HeaderMap::new();
    h.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    h.insert(
        ACCEPT,
        HeaderValue::from_static(if stream {
            "text/event-stream"
        } else {
            "application/json"
        }),
    );
    let id = provider.id.as_str();
    match provider.auth {
        AuthStyle::Bearer | AuthStyle::GoogleServiceAccount => {
            let key = api_key(id, credentials)?;
            insert_header(&mut h, id, AUTHORIZATION, &format!("Bearer {key}"), true)?;
        }
        AuthStyle::XApiKey => {
            let key = api_key(id, credentials)?;
            insert_header(&mut h, id, HeaderName::from_static("x-api-key"), key, true)?;
        }
        AuthStyle::ApiKey => {
            let key = api_key(id, credentials)?;
            insert_header(&mut h, id, HeaderName::from_static("api-key"), key, true)?;
        }
        // Signed by the Bedrock module over the final headers.
        AuthStyle::AwsSigv4 => {}
    }
    Ok(h)
}

fn translate_error(provider: &str, e: TranslateError) -> ProviderError {
    if e.is_upstream() {
        ProviderError::new(provider, ErrorKind::StreamError, e.to_string())
    } else if matches!(e, TranslateError::InvalidResponse(_)) {
        ProviderError::invalid_response(provider, e.to_string())
    } else {
        ProviderError::unsupported(provider, e.to_string())
    }
}

fn build_anthropic(
    target: &Target<'_>,
    credentials: &Credentials,
    request: &Value,
    opts: &RequestOptions<'_>,
) -> Result<UpstreamRequest, ProviderError> {
    let id = target.provider.id.as_str();
    let filtered = without_unsupported(target.endpoint, request);
    let mut body = filtered.into_owned();
    if let Some(obj) = body.as_object_mut() {
        obj.insert("stream".into(), Value::Bool(opts.stream));
    }
    let body = anthropic::to_messages_request(
        &body,
        &target.endpoint.provider_model_id,
        &AnthropicOptions::native(),
    )
    .map_err(|e| translate_error(id, e))?;
    let mut headers = base_headers(target.provider, credentials, opts.stream)?;
    headers.insert(
        HeaderName::from_static("anthropic-version"),
        HeaderValue::from_static(anthropic::ANTHROPIC_VERSION_HEADER),
    );
    Ok(UpstreamRequest {
        method: Method::POST,
        url: format!("{}{}", target.base_url(), target.provider.chat_path),
        headers,
        body: Bytes::from(serde_json::to_vec(&body).expect("a JSON value serialises")),
    })
}

fn build_bedrock(
    target: &Target<'_>,
    credentials: &Credentials,
    request: &Value,
    opts: &RequestOptions<'_>,
) -> Result<UpstreamRequest, ProviderError> {
    let id = target.provider.id.as_str();
    let Credentials::Aws {
        access_key_id,
        secret_access_key,
        session_token,
    } = credentials
    else {
        return Err(ProviderError::config(id, "Bedrock needs AWS access keys"));
    };
    let bedrock_err = |e: bedrock::BedrockError| match e {
        bedrock::BedrockError::Translate(t) => translate_error(id, t),
        other => ProviderError::config(id, other.to_string()),
    };
    let region = bedrock::resolve_region(
        target.key_config.region.as_deref(),
        target.endpoint.config.region.as_deref(),
    )
    .map_err(bedrock_err)?;
    let cross_region = if target.endpoint.cross_region {
        bedrock::CrossRegion::Geographic
    } else {
        bedrock::CrossRegion::Off
    };
    let bt = bedrock::BedrockTarget {
        region,
        model_id: &target.endpoint.provider_model_id,
        cross_region,
        stream: opts.stream,
    };
    let creds = bedrock::AwsCredentials::new(
        access_key_id.clone(),
        secret_access_key.expose(),
        session_token.as_ref().map(|s| s.expose().to_owned()),
    );
    let filtered = without_unsupported(target.endpoint, request);
    let signed = bedrock::build_request(&filtered, &bt, &creds, opts.now).map_err(bedrock_err)?;
    let mut headers = HeaderMap::new();
    for (k, v) in &signed.headers {
        let name = HeaderName::from_bytes(k.as_bytes())
            .map_err(|_| ProviderError::config(id, format!("bad header name {k}")))?;
        let sensitive = name == AUTHORIZATION || k.eq_ignore_ascii_case("x-amz-security-token");
        insert_header(&mut headers, id, name, v, sensitive)?;
    }
    // A base_uri override (a local fake upstream in tests, a VPC endpoint in production) keeps
    // the signed path and query and replaces scheme and host.
    let url = match target.config(ConfigField::BaseUri) {
        Some(base) => {
            let path_start = signed.url.find("/model/").unwrap_or(signed.url.len());
            format!(
                "{}{}",
                base.trim_end_matches('/'),
                &signed.url[path_start..]
            )
        }
        None => signed.url,
    };
    Ok(UpstreamRequest {
        method: Method::POST,
        url,
        headers,
        body: Bytes::from(signed.body),
    })
}

fn build_vertex(
    target: &Target<'_>,
    credentials: &Credentials,
    request: &Value,
    opts: &RequestOptions<'_>,
) -> Result<(UpstreamRequest, AnswerFormat), ProviderError> {
    let id = target.provider.id.as_str();
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
    let vertex_err = |e: vertex::VertexError| match e {
        vertex::VertexError::Translate(t) => translate_error(id, t),
        other => ProviderError::config(id, other.to_string()),
    };
    let region = vertex::choose_region(
        target.key_config.region.as_deref(),
        target.endpoint.config.region.as_deref(),
        false,
        target.endpoint.cross_region,
    )
    .map_err(vertex_err)?;
    let project =
        vertex::choose_project(target.config(ConfigField::ProjectId), None).map_err(vertex_err)?;
    let model_id = target.endpoint.provider_model_id.as_str();
    let vt = vertex::VertexTarget {
        region: &region,
        project: &project,
        model_id,
        publisher: &target.endpoint.author,
        stream: opts.stream,
    };
    let filtered = without_unsupported(target.endpoint, request);
    let built = vertex::build_request(&filtered, &vt, token).map_err(vertex_err)?;
    let (body, format) = match built.format {
        // Gemini through the OpenAI-compatible endpoint gets the same body rules as every
        // OpenAI-format provider (stream usage requested, unsupported parameters removed).
        vertex::VertexFormat::OpenAi => {
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
        vertex::VertexFormat::Anthropic => (
            serde_json::to_vec(&built.body).expect("a JSON value serialises"),
            AnswerFormat::Anthropic,
        ),
    };
    let mut headers = HeaderMap::new();
    for (k, v) in &built.headers {
        let name = HeaderName::from_bytes(k.as_bytes())
            .map_err(|_| ProviderError::config(id, format!("bad header name {k}")))?;
        let sensitive = name == AUTHORIZATION;
        insert_header(&mut headers, id, name, v, sensitive)?;
    }
    headers.insert(
        ACCEPT,
        HeaderValue::from_static(if opts.stream {
            "text/event-stream"
        } else {
            "application/json"
        }),
    );
    let url = match target.config(ConfigField::BaseUri) {
        Some(base) => {
            let path_start = built.url.find("/v1").unwrap_or(built.url.len());
            format!("{}{}", base.trim_end_matches('/'), &built.url[path_start..])
        }
        None => built.url,
    };
    Ok((
        UpstreamRequest {
            method: Method::POST,
            url,
            headers,
            body: Bytes::from(body),
        },
        format,
    ))
}

impl Exchange {
    /// An HTTP error answer (status ≥ 400, or any status whose body is unusable).
    pub fn map_error(&self, status: u16, headers: &HeaderMap, body: &[u8]) -> ProviderError {
        ProviderError::from_response(
            &self.provider,
            status,
            headers,
            body,
            &self.error_message_paths,
        )
        .scrub_secrets(self.secrets.iter().map(String::as_str))
    }

    /// A whole (non-stream) 2xx answer → OpenAI `chat.completion` + usage.
    pub fn map_response(&self, body: Bytes) -> Result<MappedResponse, ProviderError> {
        let result = match self.format {
            AnswerFormat::OpenAi => openai::map_response(self, body),
            AnswerFormat::Anthropic | AnswerFormat::BedrockAnthropic => {
                if let Some(err) = embedded_error(self, &body) {
                    return Err(err);
                }
                anthropic::response_to_openai(&body, &self.model)
                    .map(|(v, usage)| MappedResponse {
                        body: Bytes::from(serde_json::to_vec(&v).expect("a JSON value serialises")),
                        usage,
                    })
                    .map_err(|e| translate_error(&self.provider, e))
            }
        };
        result.map_err(|e| self.scrubbed(e))
    }

    /// A translator for a 2xx stream.
    pub fn stream_translator(&self) -> StreamTranslator {
        let inner = match self.format {
            AnswerFormat::OpenAi => {
                Inner::OpenAi(openai::OpenAiStream::new(self.caller_wants_usage))
            }
            AnswerFormat::Anthropic => Inner::Anthropic {
                sse: SseParser::new(),
                tr: anthropic::StreamTranslator::new(&self.model, &self.request_id)
                    .with_usage_chunk(self.caller_wants_usage),
            },
            AnswerFormat::BedrockAnthropic => Inner::Bedrock(
                bedrock::BedrockStream::new(&self.model, &self.request_id),
                self.caller_wants_usage,
            ),
        };
        StreamTranslator {
            exchange: self.clone(),
            inner,
            usage: Usage::default(),
            done_written: false,
        }
    }

    fn scrubbed(&self, e: ProviderError) -> ProviderError {
        e.scrub_secrets(self.secrets.iter().map(String::as_str))
    }
}

/// A 2xx body that is an error object (some providers answer 200 with `{"error": ...}`).
pub(crate) fn embedded_error(ex: &Exchange, body: &[u8]) -> Option<ProviderError> {
    let v: Value = serde_json::from_slice(body).ok()?;
    let is_error = v.get("error").is_some_and(|e| !e.is_null())
        && v.get("choices").is_none()
        && v.get("content").is_none();
    let is_error = is_error || v.get("type").and_then(Value::as_str) == Some("error");
    is_error.then(|| ProviderError::from_stream_event(&ex.provider, &v, &ex.error_message_paths))
}

#[derive(Debug)]
enum Inner {
    OpenAi(openai::OpenAiStream),
    Anthropic {
        sse: SseParser,
        tr: anthropic::StreamTranslator,
    },
    /// The translator inside always emits the usage chunk; the flag says whether the caller
    /// gets it.
    Bedrock(bedrock::BedrockStream, bool),
}

/// Turns a provider's stream bytes into the OpenAI SSE stream, incrementally.
#[derive(Debug)]
pub struct StreamTranslator {
    exchange: Exchange,
    inner: Inner,
    usage: Usage,
    done_written: bool,
}

impl StreamTranslator {
    /// Feeds upstream bytes; appends the OpenAI SSE bytes they complete to `out`. On `Err`,
    /// `out` still holds what was translated before the failure, and the stream is over.
    pub fn feed(&mut self, bytes: &[u8], out: &mut Vec<u8>) -> Result<(), ProviderError> {
        if self.done_written {
            return Ok(());
        }
        let r = self.feed_inner(bytes, out);
        r.map_err(|e| self.exchange.scrubbed(e))
    }

    fn feed_inner(&mut self, bytes: &[u8], out: &mut Vec<u8>) -> Result<(), ProviderError> {
        let ex = &self.exchange;
        match &mut self.inner {
            Inner::OpenAi(s) => {
                s.feed(ex, bytes, out)?;
                self.usage = s.usage().clone();
                self.done_written = s.is_done();
            }
            Inner::Anthropic { sse, tr } => {
                let events = sse
                    .feed(bytes)
                    .map_err(|e| ProviderError::invalid_response(&ex.provider, e.to_string()))?;
                for ev in events {
                    anthropic_event(ex, tr, &ev.data, out)?;
                    if tr.is_done() {
                        write_done(out);
                        self.done_written = true;
                        break;
                    }
                }
                self.usage = tr.usage().clone();
            }
            Inner::Bedrock(s, include_usage) => {
                let chunks = s.feed(bytes).map_err(|e| bedrock_stream_error(ex, e))?;
                for c in chunks {
                    if !*include_usage && is_usage_only_chunk(&c) {
                        continue;
                    }
                    write_data(
                        out,
                        &serde_json::to_vec(&c).expect("a JSON value serialises"),
                    );
                }
                self.usage = s.usage().clone();
                if s.is_done() {
                    write_done(out);
                    self.done_written = true;
                }
            }
        }
        Ok(())
    }

    /// The upstream closed the connection. Writes the end of the stream, or fails with
    /// [`ErrorKind::StreamInterrupted`] when the provider never said it was done.
    pub fn finish(&mut self, out: &mut Vec<u8>) -> Result<(), ProviderError> {
        if self.done_written {
            return Ok(());
        }
        let ex = &self.exchange;
        let r = match &mut self.inner {
            Inner::OpenAi(s) => {
                let r = s.finish(ex, out);
                self.usage = s.usage().clone();
                r
            }
            Inner::Anthropic { sse, tr } => {
                let mut r = Ok(());
                if let Some(ev) = sse.finish() {
                    // An event cut off mid-JSON: the connection dropped.
                    r = anthropic_event(ex, tr, &ev.data, out).map_err(|e| {
                        ProviderError::stream_interrupted(
                            &ex.provider,
                            format!("the stream ended mid-event ({})", e.message),
                        )
                    });
                }
                self.usage = tr.usage().clone();
                match r {
                    Ok(()) if tr.is_done() => {
                        write_done(out);
                        Ok(())
                    }
                    Ok(()) => Err(ProviderError::stream_interrupted(
                        &ex.provider,
                        "the stream ended before message_stop",
                    )),
                    e => e,
                }
            }
            Inner::Bedrock(s, _) => match s.finish() {
                Err(bedrock::BedrockError::Decode(e)) => Err(ProviderError::stream_interrupted(
                    &ex.provider,
                    format!("the stream ended mid-frame ({e})"),
                )),
                Err(e) => Err(bedrock_stream_error(ex, e)),
                Ok(()) => Err(ProviderError::stream_interrupted(
                    &ex.provider,
                    "the stream ended before message_stop",
                )),
            },
        };
        self.done_written = true;
        r.map_err(|e| self.exchange.scrubbed(e))
    }

    /// Usage captured so far (complete once the stream is done).
    pub fn usage(&self) -> &Usage {
        &self.usage
    }

    /// True once the end of the stream (`data: [DONE]`) has been written.
    pub fn is_done(&self) -> bool {
        self.done_written
    }
}

fn anthropic_event(
    ex: &Exchange,
    tr: &mut anthropic::StreamTranslator,
    data: &[u8],
    out: &mut Vec<u8>,
) -> Result<(), ProviderError> {
    // The error event is classified here, from its own `error.type`, so an overload mid-stream
    // stays retryable and an invalid request does not.
    if memchr::memmem::find(data, b"\"error\"").is_some() {
        if let Ok(v) = serde_json::from_slice::<Value>(data) {
            if v.get("type").and_then(Value::as_str) == Some("error") {
                return Err(ProviderError::from_stream_event(
                    &ex.provider,
                    &v,
                    &ex.error_message_paths,
                ));
            }
        }
    }
    for chunk in tr
        .on_event(data)
        .map_err(|e| translate_error(&ex.provider, e))?
    {
        write_data(
            out,
            &serde_json::to_vec(&chunk).expect("a JSON value serialises"),
        );
    }
    Ok(())
}

fn bedrock_stream_error(ex: &Exchange, e: bedrock::BedrockError) -> ProviderError {
    match e {
        bedrock::BedrockError::Exception(x) => {
            let status = x.status();
            let kind = match status {
                429 => ErrorKind::RateLimited,
                400 => ErrorKind::BadRequest,
                408 => ErrorKind::Timeout,
                _ => ErrorKind::Upstream5xx,
            };
            let mut err = ProviderError::new(&ex.provider, kind, x.to_string());
            err.status = Some(status);
            err.retryable = x.retryable();
            err
        }
        bedrock::BedrockError::Translate(t) => translate_error(&ex.provider, t),
        other => ProviderError::invalid_response(&ex.provider, other.to_string()),
    }
}

/// The final usage chunk of a translated stream: `choices` empty, `usage` set.
pub(crate) fn is_usage_only_chunk(chunk: &Value) -> bool {
    chunk
        .get("choices")
        .and_then(Value::as_array)
        .is_some_and(Vec::is_empty)
        && chunk.get("usage").is_some_and(|u| !u.is_null())
}
