//! The conformance suite, stamped over every provider of the embedded registry.
//!
//! Nothing here names a provider: each test loops over `Registry::embedded().providers()`, so a
//! provider added to `registry/providers.toml` is tested the moment it exists, and fails until it
//! has fixtures in `fixtures/<provider>/` (its documented wire format: `response.json`,
//! `stream.sse`, `error_<status>.json|html`; Anthropic's folder uses `responses/`, `streams/`,
//! `errors/`). Every translation is pinned by an insta snapshot.

use std::path::{Path, PathBuf};
use std::sync::LazyLock;
use std::time::{Duration, SystemTime};

use http::HeaderMap;
use serde_json::{json, Value};
use switchyard_providers::openai::{stream_usage, StreamUsage};
use switchyard_providers::{
    prepare, AnswerFormat, Credentials, ErrorKind, Exchange, Prepared, RequestOptions, Secret,
    Target,
};
use switchyard_registry::{
    AuthStyle, ConfigField, DeploymentConfig, Endpoint, Parameter, Provider, Registry, WireFormat,
};

static REGISTRY: LazyLock<Registry> =
    LazyLock::new(|| Registry::embedded().expect("embedded registry loads"));

const API_KEY: &str = "sk-test-0123456789abcdefghij";
const AWS_ACCESS_KEY: &str = "AKIDEXAMPLE";
const AWS_SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
const GOOGLE_TOKEN: &str = "ya29.test-access-token-0123456789";
/// 2025-01-01T00:00:00Z, so signed requests are reproducible.
const NOW_SECS: u64 = 1_735_689_600;

fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures")
}

/// An endpoint of the provider: the one with the most unsupported parameters (the strictest
/// test of removal), or, for a provider with no endpoints yet, a copy of another provider's
/// endpoint pointed at it.
fn endpoint_for(provider: &Provider) -> Endpoint {
    let own = REGISTRY
        .endpoints()
        .filter(|e| e.provider == provider.id)
        .max_by_key(|e| {
            (
                e.unsupported_parameters.len(),
                std::cmp::Reverse(e.id.clone()),
            )
        });
    if let Some(e) = own {
        return e.clone();
    }
    let mut e = REGISTRY
        .endpoints()
        .find(|e| {
            REGISTRY.provider(&e.provider).map(|p| p.format) == Some(provider.format)
                && !e.unsupported_parameters.is_empty()
        })
        .or_else(|| REGISTRY.endpoints().next())
        .expect("the registry has endpoints")
        .clone();
    e.provider = provider.id.clone();
    e.id = format!("{}:{}:*", e.model, provider.id);
    e.provider_model_id = format!("{}-test-model", provider.id);
    e.config = DeploymentConfig::default();
    e
}

/// One endpoint per answer format the provider produces (Vertex: Gemini as OpenAI, Claude as
/// Anthropic), so each format's fixtures are exercised.
fn variants(provider: &Provider) -> Vec<(Endpoint, AnswerFormat)> {
    let mut out: Vec<(Endpoint, AnswerFormat)> = Vec::new();
    let mut own: Vec<Endpoint> = REGISTRY
        .endpoints()
        .filter(|e| e.provider == provider.id)
        .cloned()
        .collect();
    own.sort_by_key(|e| {
        (
            std::cmp::Reverse(e.unsupported_parameters.len()),
            e.id.clone(),
        )
    });
    if own.is_empty() {
        own.push(endpoint_for(provider));
    }
    for e in own {
        let (_, p) = prepared_at(provider, e.clone(), false, None);
        if !out.iter().any(|(_, f)| *f == p.exchange.format) {
            out.push((e, p.exchange.format));
        }
    }
    out
}

/// The per-key config a key for this provider carries: every required field.
fn key_config(provider: &Provider, base_uri: Option<&str>) -> DeploymentConfig {
    let mut c = DeploymentConfig::default();
    for f in &provider.required_config {
        let v = match f {
            ConfigField::Region if provider.format == WireFormat::Vertex => "us-east5",
            ConfigField::Region => "us-east-1",
            ConfigField::ProjectId => "test-project",
            ConfigField::ResourceName => "test-resource",
            ConfigField::DeploymentName => "test-deployment",
            ConfigField::ApiVersion => "2024-10-21",
            ConfigField::BaseUri => "http://127.0.0.1:9",
        };
        set(&mut c, *f, v);
    }
    if let Some(b) = base_uri {
        c.base_uri = Some(b.to_owned());
    }
    c
}

fn set(c: &mut DeploymentConfig, f: ConfigField, v: &str) {
    let slot = match f {
        ConfigField::Region => &mut c.region,
        ConfigField::ProjectId => &mut c.project_id,
        ConfigField::ResourceName => &mut c.resource_name,
        ConfigField::DeploymentName => &mut c.deployment_name,
        ConfigField::ApiVersion => &mut c.api_version,
        ConfigField::BaseUri => &mut c.base_uri,
    };
    *slot = Some(v.to_owned());
}

fn credentials(provider: &Provider) -> Credentials {
    match provider.auth {
        AuthStyle::AwsSigv4 => Credentials::Aws {
            access_key_id: AWS_ACCESS_KEY.into(),
            secret_access_key: Secret::new(AWS_SECRET),
            session_token: None,
        },
        AuthStyle::GoogleServiceAccount => {
            Credentials::GoogleAccessToken(Secret::new(GOOGLE_TOKEN))
        }
        _ => Credentials::ApiKey(Secret::new(API_KEY)),
    }
}

/// A chat request carrying every parameter the endpoint does not support.
fn chat_request(endpoint: &Endpoint) -> Value {
    let mut req = json!({
        "model": endpoint.model,
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Hello"}
        ],
        "user": "user-42",
    });
    let obj = req.as_object_mut().unwrap();
    for p in &endpoint.unsupported_parameters {
        let v = match p {
            Parameter::Stop => json!(["\n\n"]),
            Parameter::LogitBias => json!({"50256": -100}),
            Parameter::Logprobs => json!(true),
            Parameter::Reasoning => json!({"effort": "low"}),
            Parameter::Stream => continue,
            _ => json!(1),
        };
        obj.insert(p.as_str().to_owned(), v);
    }
    if !obj.contains_key("max_tokens") && !obj.contains_key("max_completion_tokens") {
        obj.insert("max_tokens".into(), json!(100));
    }
    req
}

fn opts(stream: bool) -> RequestOptions<'static> {
    RequestOptions {
        stream,
        request_id: "req-test-1",
        now: SystemTime::UNIX_EPOCH + Duration::from_secs(NOW_SECS),
    }
}

fn prepared(provider: &Provider, stream: bool, base_uri: Option<&str>) -> (Endpoint, Prepared) {
    prepared_at(provider, endpoint_for(provider), stream, base_uri)
}

fn prepared_at(
    provider: &Provider,
    endpoint: Endpoint,
    stream: bool,
    base_uri: Option<&str>,
) -> (Endpoint, Prepared) {
    let kc = key_config(provider, base_uri);
    let target = Target::new(provider, &endpoint, &kc);
    let p = prepare(
        &target,
        &credentials(provider),
        &chat_request(&endpoint),
        &opts(stream),
    )
    .unwrap_or_else(|e| panic!("{}: prepare failed: {e}", provider.id));
    (endpoint, p)
}

fn body_json(p: &Prepared) -> Value {
    serde_json::from_slice(&p.request.body).expect("request body is JSON")
}

/// Collects failures over all providers so one run reports every broken provider.
struct Failures(Vec<String>);

impl Failures {
    fn check(&mut self, ok: bool, msg: impl FnOnce() -> String) {
        if !ok {
            self.0.push(msg());
        }
    }
    fn assert_none(self) {
        assert!(
            self.0.is_empty(),
            "conformance failures:\n  {}",
            self.0.join("\n  ")
        );
    }
}

#[test]
fn registry_has_providers_of_every_format() {
    let formats: std::collections::HashSet<_> = REGISTRY.providers().map(|p| p.format).collect();
    for f in [
        WireFormat::Openai,
        WireFormat::Anthropic,
        WireFormat::Bedrock,
        WireFormat::Vertex,
    ] {
        assert!(formats.contains(&f), "no provider of format {f:?}");
    }
}

#[test]
fn url_and_auth_are_right_for_every_provider() {
    let mut fails = Failures(Vec::new());
    for provider in REGISTRY.providers() {
        let id = &provider.id;
        for stream in [false, true] {
            let (endpoint, p) = prepared(provider, stream, None);
            let url = &p.request.url;
            fails.check(url.starts_with("https://"), || {
                format!("{id}: url {url} is not https")
            });
            fails.check(!url.contains('{'), || {
                format!("{id}: url {url} has an unfilled template")
            });
            if provider.format == WireFormat::Openai && !provider.base_url.contains('{') {
                let want = format!("{}{}", provider.base_url, provider.chat_path);
                fails.check(url == &want, || format!("{id}: url {url}, want {want}"));
            }
            let h = &p.request.headers;
            let get = |n: &str| h.get(n).and_then(|v| v.to_str().ok()).unwrap_or_default();
            let (name, ok) = match provider.auth {
                AuthStyle::Bearer => ("authorization", get("authorization") == format!("Bearer {API_KEY}")),
                AuthStyle::XApiKey => ("x-api-key", get("x-api-key") == API_KEY),
                AuthStyle::ApiKey => ("api-key", get("api-key") == API_KEY),
                AuthStyle::AwsSigv4 => (
                    "authorization",
                    get("authorization").starts_with("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20250101/us-east-1/bedrock/aws4_request"),
                ),
                AuthStyle::GoogleServiceAccount => {
                    ("authorization", get("authorization") == format!("Bearer {GOOGLE_TOKEN}"))
                }
            };
            fails.check(ok, || {
                format!("{id}: auth header {name} wrong: {:?}", h.get(name))
            });
            fails.check(h.get(name).is_some_and(|v| v.is_sensitive()), || {
                format!("{id}: auth header {name} not marked sensitive")
            });
            fails.check(
                !format!("{:?}", p.request.headers).contains(API_KEY),
                || format!("{id}: Debug of the headers shows the key"),
            );
            fails.check(!p.request.loggable_url().contains(API_KEY), || {
                format!("{id}: key in URL")
            });
            fails.check(get("content-type") == "application/json", || {
                format!("{id}: content-type")
            });

            let body = body_json(&p);
            let obj = body.as_object().expect("body is an object");
            for param in &endpoint.unsupported_parameters {
                let name = param.as_str();
                // Native translators rename fields; only OpenAI-shape bodies keep OpenAI names.
                if p.exchange.format == AnswerFormat::OpenAi {
                    fails.check(!obj.contains_key(name), || {
                        format!(
                            "{id}: unsupported `{name}` of {} still in the body",
                            endpoint.id
                        )
                    });
                }
            }
            match p.exchange.format {
                AnswerFormat::OpenAi => {
                    let model = obj.get("model").and_then(Value::as_str).unwrap_or_default();
                    fails.check(model.ends_with(&endpoint.provider_model_id), || {
                        format!("{id}: model {model}, want {}", endpoint.provider_model_id)
                    });
                    let include_usage =
                        body.pointer("/stream_options/include_usage") == Some(&json!(true));
                    let want_include = stream && stream_usage(provider) == StreamUsage::OnRequest;
                    fails.check(include_usage == want_include, || {
                        format!("{id}: stream={stream} include_usage={include_usage}")
                    });
                    fails.check((obj.get("stream") == Some(&json!(true))) == stream, || {
                        format!("{id}: stream flag in body wrong (stream={stream})")
                    });
                }
                AnswerFormat::Anthropic | AnswerFormat::BedrockAnthropic => {
                    fails.check(obj.get("messages").is_some_and(Value::is_array), || {
                        format!("{id}: Messages body without messages")
                    });
                    fails.check(obj.contains_key("max_tokens"), || {
                        format!("{id}: no max_tokens")
                    });
                }
            }
        }
    }
    fails.assert_none();
}

#[test]
fn base_uri_override_reaches_every_provider() {
    let mut fails = Failures(Vec::new());
    for provider in REGISTRY.providers() {
        let (_, p) = prepared(provider, true, Some("http://127.0.0.1:4010/"));
        fails.check(p.request.url.starts_with("http://127.0.0.1:4010/"), || {
            format!("{}: override ignored: {}", provider.id, p.request.url)
        });
        fails.check(!p.request.url["http://".len()..].contains("//"), || {
            format!("{}: double slash in {}", provider.id, p.request.url)
        });
    }
    fails.assert_none();
}

#[test]
fn request_snapshots() {
    for provider in REGISTRY.providers() {
        for stream in [false, true] {
            let (endpoint, p) = prepared(provider, stream, None);
            let mut headers: Vec<(String, String)> = p
                .request
                .headers
                .iter()
                .map(|(k, v)| {
                    let v = v.to_str().unwrap_or("<binary>").to_owned();
                    (
                        k.to_string(),
                        v.replace(API_KEY, "<key>").replace(GOOGLE_TOKEN, "<token>"),
                    )
                })
                .collect();
            headers.sort();
            let snap = json!({
                "endpoint": endpoint.id,
                "method": p.request.method.as_str(),
                "url": p.request.url,
                "headers": headers,
                "body": body_json(&p),
            });
            let name = format!(
                "request__{}__{}",
                provider.id,
                if stream { "stream" } else { "whole" }
            );
            insta::assert_json_snapshot!(name, snap);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Fixtures

struct Fixtures {
    response: Option<PathBuf>,
    stream: Option<PathBuf>,
    stream_errors: Vec<PathBuf>,
    /// (status, file)
    errors: Vec<(u16, PathBuf)>,
}

fn status_of(name: &str) -> Option<u16> {
    let stem = name.rsplit_once('.')?.0;
    stem.rsplit('_').next()?.parse().ok()
}

fn fixtures_for(provider: &Provider) -> Fixtures {
    fixtures_for_format(provider, None)
}

/// Fixtures of one answer format. A provider whose answers come in a second format (Vertex's
/// Claude answers are Anthropic Messages) keeps those under a `claude_` prefix.
fn fixtures_for_format(provider: &Provider, format: Option<AnswerFormat>) -> Fixtures {
    let dir = fixtures_dir().join(&provider.id);
    let second =
        format == Some(AnswerFormat::Anthropic) && provider.format != WireFormat::Anthropic;
    let pick = |cands: &[&str]| {
        cands
            .iter()
            .map(|c| {
                if second {
                    format!("claude_{c}")
                } else {
                    (*c).to_owned()
                }
            })
            .map(|c| dir.join(c))
            .find(|p| p.is_file())
    };
    let mut errors = Vec::new();
    let mut stream_errors = Vec::new();
    for d in [dir.clone(), dir.join("errors")] {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        let mut files: Vec<PathBuf> = rd.flatten().map(|e| e.path()).collect();
        files.sort();
        for f in files {
            let name = f.file_name().unwrap().to_string_lossy().into_owned();
            if (name.ends_with(".sse") || name.ends_with(".bin"))
                && (name.contains("error") || name.contains("exception"))
            {
                stream_errors.push(f);
            } else if (name.starts_with("error") || d.ends_with("errors"))
                && (name.ends_with(".json") || name.ends_with(".html"))
            {
                if let Some(s) = status_of(&name) {
                    errors.push((s, f));
                }
            }
        }
    }
    if let Ok(rd) = std::fs::read_dir(dir.join("streams")) {
        for f in rd.flatten().map(|e| e.path()) {
            if f.to_string_lossy().contains("error") {
                stream_errors.push(f);
            }
        }
    }
    stream_errors.sort();
    Fixtures {
        response: pick(&["response.json", "responses/text.json"]),
        stream: pick(&["stream.sse", "streams/text.sse", "stream.bin"]),
        stream_errors,
        errors,
    }
}

fn exchange(provider: &Provider, stream: bool, caller_usage: bool) -> Exchange {
    exchange_at(provider, endpoint_for(provider), stream, caller_usage)
}

fn exchange_at(
    provider: &Provider,
    endpoint: Endpoint,
    stream: bool,
    caller_usage: bool,
) -> Exchange {
    let (_, p) = prepared_at(provider, endpoint, stream, None);
    let mut ex = p.exchange;
    ex.caller_wants_usage = caller_usage;
    ex
}

/// Translates a whole stream fed in pieces of `piece` bytes.
fn run_stream(
    ex: &Exchange,
    bytes: &[u8],
    piece: usize,
) -> (
    Vec<u8>,
    Result<(), switchyard_providers::ProviderError>,
    switchyard_cost::Usage,
) {
    let mut tr = ex.stream_translator();
    let mut out = Vec::new();
    for c in bytes.chunks(piece.max(1)) {
        if let Err(e) = tr.feed(c, &mut out) {
            return (out, Err(e), tr.usage().clone());
        }
    }
    let r = tr.finish(&mut out);
    (out, r, tr.usage().clone())
}

/// Parses an OpenAI SSE output into its JSON chunks, checking the framing.
fn frames(out: &[u8]) -> Result<Vec<Value>, String> {
    let text = std::str::from_utf8(out).map_err(|e| e.to_string())?;
    let mut chunks = Vec::new();
    let mut done = 0;
    for frame in text.split_terminator("\n\n") {
        let data = frame
            .strip_prefix("data: ")
            .ok_or_else(|| format!("bad frame {frame:?}"))?;
        if data == "[DONE]" {
            done += 1;
            continue;
        }
        if done > 0 {
            return Err("data after [DONE]".into());
        }
        chunks.push(serde_json::from_str(data).map_err(|e| format!("{e}: {data}"))?);
    }
    if done != 1 || !text.ends_with("data: [DONE]\n\n") {
        return Err(format!(
            "stream must end with exactly one [DONE], got {done}"
        ));
    }
    Ok(chunks)
}

/// `created` and ids made by the translator (not the provider) vary per run.
fn stable(mut v: Value) -> Value {
    if let Some(o) = v.as_object_mut() {
        if o.contains_key("created") {
            o.insert("created".into(), json!(0));
        }
    }
    v
}

#[test]
fn every_provider_has_fixtures() {
    let mut fails = Failures(Vec::new());
    for provider in REGISTRY.providers() {
        let f = fixtures_for(provider);
        let id = &provider.id;
        fails.check(f.response.is_some(), || {
            format!("{id}: no response fixture")
        });
        fails.check(f.stream.is_some(), || format!("{id}: no stream fixture"));
        fails.check(!f.errors.is_empty(), || format!("{id}: no error fixture"));
    }
    fails.assert_none();
}

#[test]
fn responses_map_to_openai_with_usage() {
    let mut fails = Failures(Vec::new());
    for provider in REGISTRY.providers() {
        for (endpoint, format) in variants(provider) {
            let Some(path) = fixtures_for_format(provider, Some(format)).response else {
                fails.check(false, || {
                    format!("{}: no response fixture for {format:?}", provider.id)
                });
                continue;
            };
            let id = &format!(
                "{}__{}",
                provider.id,
                path.file_stem().unwrap().to_string_lossy()
            );
            let body = std::fs::read(&path).unwrap();
            let ex = exchange_at(provider, endpoint, false, false);
            match ex.map_response(body.clone().into()) {
                Ok(m) => {
                    let v: Value = serde_json::from_slice(&m.body).expect("mapped body is JSON");
                    fails.check(v["object"] == "chat.completion", || {
                        format!("{id}: object {}", v["object"])
                    });
                    fails.check(v["choices"][0]["message"].is_object(), || {
                        format!("{id}: no message")
                    });
                    fails.check(!m.usage.is_unreported(), || {
                        format!("{id}: usage not captured")
                    });
                    fails.check(m.usage.input.is_some() && m.usage.output.is_some(), || {
                        format!("{id}: input/output missing from {:?}", m.usage)
                    });
                    if ex.format == AnswerFormat::OpenAi {
                        fails.check(m.body.as_ref() == body.as_slice(), || {
                            format!(
                                "{id}: OpenAI-format answer was not passed through byte for byte"
                            )
                        });
                    }
                    insta::assert_json_snapshot!(
                        format!("response__{id}"),
                        json!({"body": stable(v), "usage": m.usage})
                    );
                }
                Err(e) => fails.check(false, || {
                    format!("{id}: {} did not map: {e}", path.display())
                }),
            }
        }
    }
    fails.assert_none();
}

#[test]
fn streams_translate_in_any_chunking() {
    let mut fails = Failures(Vec::new());
    for provider in REGISTRY.providers() {
        for (endpoint, format) in variants(provider) {
            let Some(path) = fixtures_for_format(provider, Some(format)).stream else {
                fails.check(false, || {
                    format!("{}: no stream fixture for {format:?}", provider.id)
                });
                continue;
            };
            let id = &format!(
                "{}__{}",
                provider.id,
                path.file_stem().unwrap().to_string_lossy()
            );
            let bytes = std::fs::read(&path).unwrap();
            for caller_usage in [false, true] {
                let ex = exchange_at(provider, endpoint.clone(), true, caller_usage);
                let (whole, r, usage) = run_stream(&ex, &bytes, bytes.len());
                if let Err(e) = r {
                    fails.check(false, || format!("{id}: stream failed: {e}"));
                    continue;
                }
                for piece in [1, 3, 17, 64] {
                    let (out, r, u) = run_stream(&ex, &bytes, piece);
                    let same = r.is_ok()
                        && (out == whole
                            || ex.format != AnswerFormat::OpenAi && {
                                // Translated chunks carry a `created` taken from the clock.
                                let a: Vec<Value> = frames(&out)
                                    .unwrap_or_default()
                                    .into_iter()
                                    .map(stable)
                                    .collect();
                                let b: Vec<Value> = frames(&whole)
                                    .unwrap_or_default()
                                    .into_iter()
                                    .map(stable)
                                    .collect();
                                a == b
                            });
                    fails.check(same && u == usage, || {
                        format!("{id}: output differs when fed {piece} bytes at a time")
                    });
                }
                let chunks = match frames(&whole) {
                    Ok(c) => c,
                    Err(e) => {
                        fails.check(false, || format!("{id}: {e}"));
                        continue;
                    }
                };
                fails.check(!usage.is_unreported(), || {
                    format!("{id}: stream usage not captured")
                });
                let with_usage = chunks
                    .iter()
                    .filter(|c| c.get("usage").is_some_and(|u| !u.is_null()))
                    .count();
                if caller_usage {
                    fails.check(with_usage >= 1, || {
                        format!("{id}: caller asked for usage and got none")
                    });
                } else {
                    let any_usage_key = chunks.iter().any(|c| c.get("usage").is_some());
                    fails.check(!any_usage_key, || {
                        format!("{id}: usage the caller did not ask for leaked")
                    });
                }
                let chunks: Vec<Value> = chunks.into_iter().map(stable).collect();
                insta::assert_json_snapshot!(
                    format!(
                        "stream__{id}__{}",
                        if caller_usage {
                            "with_usage"
                        } else {
                            "no_usage"
                        }
                    ),
                    json!({"chunks": chunks, "usage": usage})
                );
            }
        }
    }
    fails.assert_none();
}

#[test]
fn truncated_streams_are_interrupted_errors() {
    let mut fails = Failures(Vec::new());
    for provider in REGISTRY.providers() {
        for (endpoint, format) in variants(provider) {
            let Some(path) = fixtures_for_format(provider, Some(format)).stream else {
                continue;
            };
            let bytes = std::fs::read(&path).unwrap();
            let ex = exchange_at(provider, endpoint, true, false);
            // The first third never holds the finish: the provider stopped mid-answer.
            let cut = &bytes[..bytes.len() / 3];
            let (_, r, _) = run_stream(&ex, cut, 5);
            match r {
                Err(e) => fails.check(
                    e.kind == ErrorKind::StreamInterrupted && e.retryable,
                    || format!("{}: truncated stream gave {:?}", provider.id, e),
                ),
                Ok(()) => fails.check(false, || {
                    format!("{}: truncated stream accepted", provider.id)
                }),
            }
        }
    }
    fails.assert_none();
}

#[test]
fn stream_error_events_become_errors() {
    let mut snaps = Vec::new();
    for provider in REGISTRY.providers() {
        for path in fixtures_for(provider).stream_errors {
            let bytes = std::fs::read(&path).unwrap();
            let ex = exchange(provider, true, false);
            let (_, r, _) = run_stream(&ex, &bytes, 7);
            let e = r.expect_err(&format!("{}: error stream accepted", path.display()));
            assert_ne!(
                e.kind,
                ErrorKind::StreamInterrupted,
                "{}: error event not recognised",
                path.display()
            );
            snaps.push(json!({"fixture": rel(&path), "error": e}));
        }
    }
    assert!(!snaps.is_empty());
    insta::assert_json_snapshot!("stream_errors", snaps);
}

fn rel(p: &Path) -> String {
    p.strip_prefix(fixtures_dir())
        .unwrap()
        .to_string_lossy()
        .replace('\\', "/")
}

#[test]
fn errors_map_to_one_typed_error() {
    let mut fails = Failures(Vec::new());
    let mut snaps = Vec::new();
    for provider in REGISTRY.providers() {
        let id = &provider.id;
        for (status, path) in fixtures_for(provider).errors {
            let body = std::fs::read(&path).unwrap();
            let ex = exchange(provider, false, false);
            let mut headers = HeaderMap::new();
            if status == 429 {
                headers.insert("retry-after", "7".parse().unwrap());
            }
            let e = ex.map_error(status, &headers, &body);
            let want_retry = matches!(status, 408 | 429 | 500..=599);
            fails.check(e.retryable == want_retry, || {
                format!("{id}: {status} retryable={}", e.retryable)
            });
            fails.check(e.status == Some(status), || format!("{id}: status lost"));
            fails.check(e.provider == *id, || {
                format!("{id}: provider {}", e.provider)
            });
            fails.check(!e.message.is_empty() && !e.message.contains('<'), || {
                format!("{id}: message {:?}", e.message)
            });
            fails.check(!e.message.contains(API_KEY), || {
                format!("{id}: key in message")
            });
            if status == 429 {
                fails.check(e.retry_after == Some(Duration::from_secs(7)), || {
                    format!("{id}: retry-after")
                });
            }
            snaps.push(json!({"fixture": rel(&path), "status": status, "error": e}));
        }
    }
    fails.assert_none();
    insta::assert_json_snapshot!("errors", snaps);
}

#[test]
fn non_json_error_bodies() {
    let provider = REGISTRY.provider("openai").unwrap();
    let ex = exchange(provider, false, false);
    let e = ex.map_error(503, &HeaderMap::new(), b"");
    assert_eq!(
        e.message,
        "empty response body (HTTP 503 Service Unavailable)"
    );
    assert!(e.retryable);
    let e = ex.map_error(
        500,
        &HeaderMap::new(),
        b"upstream connect error or disconnect/reset before headers",
    );
    assert_eq!(
        e.message,
        "upstream connect error or disconnect/reset before headers"
    );
    let e = ex.map_error(
        401,
        &HeaderMap::new(),
        format!("{{\"error\":{{\"message\":\"bad key {API_KEY}\"}}}}").as_bytes(),
    );
    assert_eq!(e.message, "bad key [REDACTED]");
    assert!(!e.retryable);
}

#[test]
fn whole_answer_errors_in_a_200() {
    let provider = REGISTRY.provider("openrouter").unwrap();
    let ex = exchange(provider, false, false);
    let e = ex
        .map_response(
            br#"{"error":{"code":502,"message":"Provider returned error"}}"#
                .to_vec()
                .into(),
        )
        .unwrap_err();
    assert_eq!(
        (e.kind, e.retryable, e.status),
        (ErrorKind::Upstream5xx, true, Some(502))
    );
    let e = ex
        .map_response(b"<html>oops</html>".to_vec().into())
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::InvalidResponse);
    let e = ex.map_response(b"".to_vec().into()).unwrap_err();
    assert_eq!(e.message, "the provider answered 2xx with an empty body");
}

#[test]
fn azure_url_deployment_and_api_version() {
    let provider = REGISTRY.provider("azure").unwrap();
    let endpoint = endpoint_for(provider);
    let mut kc = DeploymentConfig {
        resource_name: Some("acme".into()),
        ..Default::default()
    };
    let target = Target::new(provider, &endpoint, &kc);
    let p = prepare(
        &target,
        &credentials(provider),
        &chat_request(&endpoint),
        &opts(false),
    )
    .unwrap();
    assert_eq!(
        p.request.url,
        format!(
            "https://acme.openai.azure.com/openai/deployments/{}/chat/completions?api-version=2025-01-01-preview",
            endpoint.provider_model_id
        )
    );
    kc.deployment_name = Some("prod-gpt".into());
    kc.api_version = Some("2024-10-21".into());
    kc.base_uri = Some("https://gw.example.com/".into());
    let target = Target::new(provider, &endpoint, &kc);
    let p = prepare(
        &target,
        &credentials(provider),
        &chat_request(&endpoint),
        &opts(true),
    )
    .unwrap();
    assert_eq!(
        p.request.url,
        "https://gw.example.com/openai/deployments/prod-gpt/chat/completions?api-version=2024-10-21"
    );
    assert_eq!(p.request.headers["api-key"], API_KEY);
    // No resource name and no base_uri: a config error naming the field, not a bad URL.
    let kc = DeploymentConfig::default();
    let target = Target::new(provider, &endpoint, &kc);
    let e = prepare(
        &target,
        &credentials(provider),
        &chat_request(&endpoint),
        &opts(false),
    )
    .unwrap_err();
    assert_eq!(e.kind, ErrorKind::Config);
    assert!(e.message.contains("resource_name"), "{}", e.message);
}

proptest::proptest! {
    // Whatever mix of parameters a caller sends, an OpenAI-format body never carries a parameter
    // the endpoint does not support, keeps every other field unchanged, and names the provider's
    // model.
    #[test]
    fn openai_body_drops_exactly_the_unsupported(
        picks in proptest::collection::vec(proptest::sample::select(Parameter::ALL.to_vec()), 0..10),
        extra in proptest::collection::btree_map("[a-z_]{1,12}", 0i64..100, 0..5),
        stream in proptest::bool::ANY,
    ) {
        let provider = REGISTRY.provider("openai").unwrap();
        let mut endpoint = endpoint_for(provider);
        endpoint.unsupported_parameters = picks.iter().copied().filter(|p| *p != Parameter::Stream).collect();
        let mut req = json!({"model": "x", "messages": [{"role": "user", "content": "hi"}]});
        let obj = req.as_object_mut().unwrap();
        for p in Parameter::ALL {
            obj.insert(p.as_str().to_owned(), json!(1));
        }
        for (k, v) in &extra {
            obj.entry(k.clone()).or_insert(json!(v));
        }
        let kc = DeploymentConfig::default();
        let target = Target::new(provider, &endpoint, &kc);
        let p = prepare(&target, &credentials(provider), &req, &opts(stream)).unwrap();
        let body: Value = serde_json::from_slice(&p.request.body).unwrap();
        let out = body.as_object().unwrap();
        proptest::prop_assert_eq!(&out["model"], &json!(endpoint.provider_model_id));
        for (k, v) in req.as_object().unwrap() {
            let unsupported = endpoint.unsupported_parameters.iter().any(|p| p.as_str() == k)
                || (k == "reasoning_effort" && endpoint.unsupported_parameters.contains(&Parameter::Reasoning));
            if unsupported {
                proptest::prop_assert!(!out.contains_key(k), "{} kept", k);
            } else if !["model", "stream", "stream_options"].contains(&k.as_str()) {
                proptest::prop_assert_eq!(out.get(k), Some(v), "{} changed", k);
            }
        }
        proptest::prop_assert_eq!(out.contains_key("stream_options"), stream);
    }
}
