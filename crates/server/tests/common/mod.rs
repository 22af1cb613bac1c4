//! Shared harness of the end-to-end tests: fake upstreams that speak each provider's wire format
//! (byte for byte, from the adapter fixtures where there is one), and a gateway started over
//! loopback with a SQLite store in a temporary directory.
//!
//! Every test file includes this module, and not every file uses every helper.
#![allow(dead_code)]

pub mod trust;

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::Response;
use axum::Router;
use base64::Engine;
use futures::StreamExt;
use rust_decimal::Decimal;
use serde_json::{json, Value};
use switchyard_registry::{Endpoint, Registry};
use switchyard_server::config::ProviderConfig;
use switchyard_server::{AppState, Config, Gateway};
use switchyard_store::{
    Balance, DeploymentConfig, LedgerCursor, LedgerEntry, LedgerKind, LedgerPage, LogQuery, LogRow,
    MasterKey, NewProviderKey, OrgId, ProviderSecret, Secret, SqliteStore, Store,
};
use tempfile::TempDir;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

// ---------------------------------------------------------------------------------------------
// Fixtures (recorded in each provider's wire format by the adapter crate)

macro_rules! fixture {
    ($path:literal) => {
        include_str!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../providers/fixtures/",
            $path
        ))
    };
}

pub const OPENAI_RESPONSE: &str = fixture!("openai/response.json");
pub const OPENAI_STREAM: &str = fixture!("openai/stream.sse");
pub const OPENAI_ERROR_429: &str = fixture!("openai/error_429.json");
/// OpenAI's rate-limit answer (a temporary 429; the `error_429.json` fixture is the permanent
/// `insufficient_quota` kind).
pub const OPENAI_RATE_LIMIT: &str = r#"{"error":{"message":"Rate limit reached for gpt-4o-mini in organization org-fake on requests per min (RPM): Limit 3, Used 3, Requested 1. Please try again in 20s. Visit https://platform.openai.com/account/rate-limits to learn more.","type":"requests","param":null,"code":"rate_limit_exceeded"}}"#;
pub const OPENAI_ERROR_401: &str = fixture!("openai/error_401.json");
pub const ANTHROPIC_RESPONSE: &str = fixture!("anthropic/responses/text.json");
pub const ANTHROPIC_STREAM: &str = fixture!("anthropic/streams/text.sse");
pub const ANTHROPIC_ERROR_400: &str = fixture!("anthropic/errors/invalid_request_error_400.json");
pub const ANTHROPIC_ERROR_429: &str = fixture!("anthropic/errors/rate_limit_error_429.json");
pub const ANTHROPIC_ERROR_529: &str = fixture!("anthropic/errors/overloaded_error_529.json");
pub const BEDROCK_RESPONSE: &str = fixture!("bedrock/response.json");
pub const BEDROCK_THROTTLING: &str = fixture!("bedrock/error_throttling_429.json");
pub const BEDROCK_TOOL_STREAM_BIN: &[u8] = include_bytes!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../providers/fixtures/bedrock/stream.bin"
));
pub const VERTEX_CLAUDE_RESPONSE: &str = fixture!("vertex/claude_response.json");
pub const VERTEX_CLAUDE_STREAM: &str = fixture!("vertex/claude_stream.sse");
pub const VERTEX_GEMINI_RESPONSE: &str = fixture!("vertex/response.json");
pub const VERTEX_GEMINI_STREAM: &str = fixture!("vertex/stream.sse");
pub const VERTEX_TOKEN_RESPONSE: &str = fixture!("vertex/token_response.json");
pub const VERTEX_TOKEN_ERROR: &str = fixture!("vertex/token_error_invalid_grant.json");
pub const VERTEX_SERVICE_ACCOUNT: &str = fixture!("vertex/test-service-account.json");
pub const VERTEX_PUBLIC_KEY: &str = fixture!("vertex/test-public-key.pem");

/// The access token the fake Google token endpoint hands out (from the fixture).
pub fn vertex_access_token() -> String {
    let v: Value = serde_json::from_str(VERTEX_TOKEN_RESPONSE).unwrap();
    v["access_token"].as_str().unwrap().to_owned()
}

/// The service-account JSON with its `token_uri` pointed at a local token endpoint.
pub fn service_account_json(token_uri: &str) -> String {
    let mut v: Value = serde_json::from_str(VERTEX_SERVICE_ACCOUNT).unwrap();
    v["token_uri"] = Value::String(token_uri.to_owned());
    v.to_string()
}

/// The SSE events of a fixture, one chunk per event (as a provider flushes them).
pub fn sse_events(text: &str) -> Vec<Bytes> {
    text.split_inclusive("\n\n")
        .filter(|e| !e.trim().is_empty())
        .map(|e| Bytes::from(e.to_owned()))
        .collect()
}

/// The `data:` payloads of an SSE text (as JSON, `[DONE]` excluded).
pub fn sse_data(text: &str) -> Vec<Value> {
    text.lines()
        .filter_map(|l| l.strip_prefix("data:"))
        .map(str::trim)
        .filter(|d| *d != "[DONE]")
        .map(|d| serde_json::from_str(d).unwrap_or_else(|e| panic!("bad SSE data {d:?}: {e}")))
        .collect()
}

/// The concatenated `delta.content` of OpenAI stream chunks.
pub fn stream_content(chunks: &[Value]) -> String {
    chunks
        .iter()
        .filter_map(|c| {
            c.pointer("/choices/0/delta/content")
                .and_then(Value::as_str)
        })
        .collect()
}

/// The last chunk's `usage` object, if any chunk had one.
pub fn stream_usage(chunks: &[Value]) -> Option<Value> {
    chunks
        .iter()
        .rev()
        .find_map(|c| c.get("usage").filter(|u| !u.is_null()).cloned())
}

// ---------------------------------------------------------------------------------------------
// AWS event-stream framing, written here independently of the adapter's decoder
// (prelude: total length, headers length, prelude CRC; headers; payload; message CRC).

fn event_stream_frame(headers: &[(&str, &str)], payload: &[u8]) -> Vec<u8> {
    let mut h = Vec::new();
    for (name, value) in headers {
        h.push(name.len() as u8);
        h.extend_from_slice(name.as_bytes());
        h.push(7); // string
        h.extend_from_slice(&(value.len() as u16).to_be_bytes());
        h.extend_from_slice(value.as_bytes());
    }
    let total = 12 + h.len() + payload.len() + 4;
    let mut out = Vec::with_capacity(total);
    out.extend_from_slice(&(total as u32).to_be_bytes());
    out.extend_from_slice(&(h.len() as u32).to_be_bytes());
    let prelude_crc = crc32fast::hash(&out);
    out.extend_from_slice(&prelude_crc.to_be_bytes());
    out.extend_from_slice(&h);
    out.extend_from_slice(payload);
    let crc = crc32fast::hash(&out);
    out.extend_from_slice(&crc.to_be_bytes());
    out
}

/// A Bedrock `chunk` event carrying one Anthropic stream event (with Bedrock's `p` padding).
pub fn bedrock_chunk(event: &Value) -> Bytes {
    let b64 = base64::engine::general_purpose::STANDARD.encode(serde_json::to_vec(event).unwrap());
    let payload = json!({"bytes": b64, "p": "abcdefghijklmnopqrstuvwxyzABCDEFGH"});
    Bytes::from(event_stream_frame(
        &[
            (":event-type", "chunk"),
            (":content-type", "application/json"),
            (":message-type", "event"),
        ],
        payload.to_string().as_bytes(),
    ))
}

/// A Bedrock exception frame inside a stream.
pub fn bedrock_exception(kind: &str, message: &str) -> Bytes {
    Bytes::from(event_stream_frame(
        &[
            (":exception-type", kind),
            (":content-type", "application/json"),
            (":message-type", "exception"),
        ],
        json!({ "message": message }).to_string().as_bytes(),
    ))
}

/// The Anthropic text stream fixture as Bedrock frames; `message_stop` carries Bedrock's
/// invocation metrics, as Bedrock sends it.
pub fn bedrock_text_stream() -> Vec<Bytes> {
    let events = sse_data(ANTHROPIC_STREAM);
    let input = events[0]
        .pointer("/message/usage/input_tokens")
        .cloned()
        .unwrap();
    events
        .into_iter()
        .filter(|e| e["type"] != "ping")
        .map(|mut e| {
            if e["type"] == "message_stop" {
                e["amazon-bedrock-invocationMetrics"] =
                    json!({"inputTokenCount": input, "outputTokenCount": 15, "invocationLatency": 420, "firstByteLatency": 180});
            }
            bedrock_chunk(&e)
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Scripted replies

/// One answer of a fake upstream.
#[derive(Clone, Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub chunks: Vec<Bytes>,
    /// Before the status line (a slow upstream).
    pub delay: Duration,
    /// Between body chunks.
    pub gap: Duration,
    /// Abort the connection after the chunks instead of ending the body.
    pub hang_up: bool,
}

impl Reply {
    pub fn bytes(status: u16, content_type: &str, body: impl Into<Bytes>) -> Reply {
        Reply {
            status,
            headers: vec![("content-type".into(), content_type.into())],
            chunks: vec![body.into()],
            delay: Duration::ZERO,
            gap: Duration::ZERO,
            hang_up: false,
        }
    }

    pub fn json(status: u16, body: &Value) -> Reply {
        Reply::bytes(status, "application/json", body.to_string())
    }

    pub fn json_text(status: u16, body: &str) -> Reply {
        Reply::bytes(status, "application/json", body.to_owned())
    }

    pub fn sse(chunks: Vec<Bytes>) -> Reply {
        Reply {
            chunks,
            ..Reply::bytes(200, "text/event-stream", Bytes::new())
        }
    }

    pub fn event_stream(frames: Vec<Bytes>) -> Reply {
        Reply {
            chunks: frames,
            ..Reply::bytes(200, "application/vnd.amazon.eventstream", Bytes::new())
        }
    }

    pub fn header(mut self, name: &str, value: &str) -> Reply {
        self.headers.push((name.into(), value.into()));
        self
    }

    pub fn delayed(mut self, d: Duration) -> Reply {
        self.delay = d;
        self
    }

    pub fn gap(mut self, d: Duration) -> Reply {
        self.gap = d;
        self
    }

    /// Sends the first `n` chunks, then drops the connection.
    pub fn hang_up_after(mut self, n: usize) -> Reply {
        self.chunks.truncate(n);
        self.hang_up = true;
        self
    }

    fn into_response(self) -> Response {
        let mut builder = Response::builder().status(self.status);
        for (k, v) in &self.headers {
            builder = builder.header(k, v);
        }
        let gap = self.gap;
        let hang_up = self.hang_up;
        let chunks: VecDeque<Bytes> = self.chunks.into();
        let stream = futures::stream::unfold(
            (chunks, true, false),
            move |(mut chunks, first, ended)| async move {
                if ended {
                    return None;
                }
                match chunks.pop_front() {
                    Some(c) => {
                        if !first && !gap.is_zero() {
                            tokio::time::sleep(gap).await;
                        }
                        Some((Ok::<Bytes, std::io::Error>(c), (chunks, false, false)))
                    }
                    None if hang_up => {
                        if !gap.is_zero() {
                            tokio::time::sleep(gap).await;
                        }
                        Some((
                            Err(std::io::Error::other("fake upstream hangs up")),
                            (chunks, false, true),
                        ))
                    }
                    None => None,
                }
            },
        );
        builder.body(Body::from_stream(stream)).unwrap()
    }
}

/// A request a fake upstream received.
#[derive(Clone, Debug)]
pub struct Recorded {
    pub method: Method,
    /// Path and query, exactly as sent (percent-encoding kept).
    pub path: String,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Recorded {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("upstream body is not JSON ({e}): {:?}", self.body))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub fn is_stream(&self) -> bool {
        serde_json::from_slice::<Value>(&self.body)
            .ok()
            .and_then(|v| v.get("stream").and_then(Value::as_bool))
            .unwrap_or(false)
    }
}

pub type Responder = Arc<dyn Fn(&Recorded) -> Reply + Send + Sync>;

struct FakeInner {
    requests: Mutex<Vec<Recorded>>,
    script: Mutex<VecDeque<Reply>>,
    responder: Responder,
}

/// A fake upstream on 127.0.0.1: answers with the scripted replies first, then its responder.
pub struct Fake {
    pub url: String,
    pub addr: SocketAddr,
    inner: Arc<FakeInner>,
}

async fn fake_handler(
    axum::extract::State(inner): axum::extract::State<Arc<FakeInner>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let rec = Recorded {
        method,
        path: uri
            .path_and_query()
            .map(|p| p.as_str().to_owned())
            .unwrap_or_default(),
        headers,
        body,
    };
    let scripted = inner.script.lock().unwrap().pop_front();
    let reply = scripted.unwrap_or_else(|| (inner.responder)(&rec));
    inner.requests.lock().unwrap().push(rec);
    if !reply.delay.is_zero() {
        tokio::time::sleep(reply.delay).await;
    }
    reply.into_response()
}

impl Fake {
    pub async fn start(responder: impl Fn(&Recorded) -> Reply + Send + Sync + 'static) -> Fake {
        let inner = Arc::new(FakeInner {
            requests: Mutex::new(Vec::new()),
            script: Mutex::new(VecDeque::new()),
            responder: Arc::new(responder),
        });
        let app = Router::new()
            .fallback(fake_handler)
            .with_state(inner.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Fake {
            url: format!("http://{addr}"),
            addr,
            inner,
        }
    }

    /// The next request gets this reply (FIFO).
    pub fn push(&self, reply: Reply) -> &Fake {
        self.inner.script.lock().unwrap().push_back(reply);
        self
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.inner.requests.lock().unwrap().clone()
    }

    pub fn hits(&self) -> usize {
        self.inner.requests.lock().unwrap().len()
    }

    pub fn last(&self) -> Recorded {
        self.requests()
            .pop()
            .expect("the fake upstream got no request")
    }

    // --- the providers

    /// OpenAI chat completions: the fixture answer (JSON, or SSE ending in `[DONE]`) with the
    /// given usage; the usage chunk only when the request asked for it, as OpenAI does.
    pub async fn openai() -> Fake {
        Fake::openai_with_usage(fixture_openai_usage()).await
    }

    pub async fn openai_with_usage(usage: Value) -> Fake {
        Fake::start(move |r| openai_reply(r, &usage)).await
    }

    /// Anthropic Messages: the text fixtures (JSON, or SSE with `event:` lines).
    pub async fn anthropic() -> Fake {
        Fake::start(|r| {
            if r.is_stream() {
                Reply::sse(sse_events(ANTHROPIC_STREAM))
            } else {
                Reply::json_text(200, ANTHROPIC_RESPONSE)
            }
        })
        .await
    }

    /// Bedrock InvokeModel (JSON) and InvokeModelWithResponseStream (binary event-stream).
    pub async fn bedrock() -> Fake {
        Fake::start(|r| {
            if r.path.ends_with("/invoke-with-response-stream") {
                Reply::event_stream(bedrock_text_stream())
            } else if r.path.ends_with("/invoke") {
                Reply::json_text(200, BEDROCK_RESPONSE)
            } else {
                Reply::json(404, &json!({"message": "Unknown operation"}))
                    .header("x-amzn-errortype", "UnknownOperationException")
            }
        })
        .await
    }

    /// Vertex AI: Claude through rawPredict / streamRawPredict (Anthropic format), Gemini through
    /// the OpenAI-compatible `endpoints/openapi/chat/completions`.
    pub async fn vertex() -> Fake {
        Fake::start(|r| {
            if r.path.ends_with(":streamRawPredict") {
                Reply::sse(sse_events(VERTEX_CLAUDE_STREAM))
            } else if r.path.ends_with(":rawPredict") {
                Reply::json_text(200, VERTEX_CLAUDE_RESPONSE)
            } else if r.path.ends_with("/endpoints/openapi/chat/completions") {
                if r.is_stream() {
                    Reply::sse(sse_events(VERTEX_GEMINI_STREAM))
                } else {
                    Reply::json_text(200, VERTEX_GEMINI_RESPONSE)
                }
            } else {
                Reply::json(
                    404,
                    &json!({"error": {"code": 404, "message": "not found", "status": "NOT_FOUND"}}),
                )
            }
        })
        .await
    }

    /// Google's OAuth token endpoint: accepts the JWT-bearer grant whose assertion is signed
    /// with the test service account's key for this audience.
    pub async fn google_token() -> Fake {
        let audience: Arc<OnceLock<String>> = Arc::new(OnceLock::new());
        let aud = audience.clone();
        let fake = Fake::start(move |r| {
            let form = parse_form(&r.body);
            let grant_ok = form.iter().any(|(k, v)| {
                k == "grant_type" && v == "urn:ietf:params:oauth:grant-type:jwt-bearer"
            });
            let assertion = form
                .iter()
                .find(|(k, _)| k == "assertion")
                .map(|(_, v)| v.clone())
                .unwrap_or_default();
            let content_type_ok = r
                .header("content-type")
                .is_some_and(|c| c.starts_with("application/x-www-form-urlencoded"));
            let key =
                jsonwebtoken::DecodingKey::from_rsa_pem(VERTEX_PUBLIC_KEY.as_bytes()).unwrap();
            let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
            validation.set_audience(&[aud.get().map(String::as_str).unwrap_or("")]);
            let claims = jsonwebtoken::decode::<Value>(&assertion, &key, &validation);
            let scope_ok = claims.as_ref().is_ok_and(|c| {
                c.claims["scope"]
                    .as_str()
                    .is_some_and(|s| s.contains("cloud-platform"))
            });
            if grant_ok && content_type_ok && scope_ok && r.method == Method::POST {
                Reply::json_text(200, VERTEX_TOKEN_RESPONSE)
            } else {
                Reply::json_text(400, VERTEX_TOKEN_ERROR)
            }
        })
        .await;
        audience.set(fake.token_uri()).unwrap();
        fake
    }

    pub fn token_uri(&self) -> String {
        format!("{}/token", self.url)
    }
}

fn parse_form(body: &[u8]) -> Vec<(String, String)> {
    let decode = |s: &str| {
        let s = s.replace('+', " ");
        let bytes = s.as_bytes();
        let mut out = Vec::with_capacity(bytes.len());
        let mut i = 0;
        while i < bytes.len() {
            if bytes[i] == b'%' && i + 3 <= bytes.len() {
                if let Ok(b) = u8::from_str_radix(&s[i + 1..i + 3], 16) {
                    out.push(b);
                    i += 3;
                    continue;
                }
            }
            out.push(bytes[i]);
            i += 1;
        }
        String::from_utf8_lossy(&out).into_owned()
    };
    String::from_utf8_lossy(body)
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .map(|(k, v)| (decode(k), decode(v)))
        .collect()
}

/// The usage object of the OpenAI fixture.
pub fn fixture_openai_usage() -> Value {
    serde_json::from_str::<Value>(OPENAI_RESPONSE).unwrap()["usage"].clone()
}

/// An OpenAI usage object.
pub fn openai_usage(prompt: u64, completion: u64, cached: u64) -> Value {
    json!({
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": {"cached_tokens": cached, "audio_tokens": 0},
        "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0, "accepted_prediction_tokens": 0, "rejected_prediction_tokens": 0}
    })
}

/// The OpenAI fixture answer for a request, with `usage` in place of the fixture's.
pub fn openai_reply(r: &Recorded, usage: &Value) -> Reply {
    if r.is_stream() {
        Reply::sse(openai_stream_chunks(
            usage,
            r.json().pointer("/stream_options/include_usage") == Some(&Value::Bool(true)),
        ))
    } else {
        let mut v: Value = serde_json::from_str(OPENAI_RESPONSE).unwrap();
        v["usage"] = usage.clone();
        Reply::json(200, &v)
    }
}

/// The OpenAI stream fixture, event by event, its usage chunk replaced (or left out).
pub fn openai_stream_chunks(usage: &Value, include_usage: bool) -> Vec<Bytes> {
    sse_events(OPENAI_STREAM)
        .into_iter()
        .filter_map(|ev| {
            let text = std::str::from_utf8(&ev).unwrap();
            let data = text.trim().strip_prefix("data:").unwrap().trim();
            if data == "[DONE]" {
                return Some(ev);
            }
            let mut v: Value = serde_json::from_str(data).unwrap();
            if v.get("usage").is_some_and(|u| !u.is_null()) {
                if !include_usage {
                    return None;
                }
                v["usage"] = usage.clone();
                return Some(Bytes::from(format!("data: {v}\n\n")));
            }
            Some(ev)
        })
        .collect()
}

/// An address nothing listens on (connect refused).
pub fn closed_port_url() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    drop(l);
    format!("http://{addr}")
}

// ---------------------------------------------------------------------------------------------
// The gateway

static REGISTRY: OnceLock<Arc<Registry>> = OnceLock::new();

pub fn registry() -> Arc<Registry> {
    REGISTRY
        .get_or_init(|| Arc::new(Registry::embedded().expect("the embedded registry loads")))
        .clone()
}

/// The registry endpoint of a provider model id.
pub fn endpoint(provider: &str, provider_model_id: &str) -> &'static Endpoint {
    registry();
    let r: &'static Registry = REGISTRY.get().unwrap();
    r.endpoint_by_provider_model_id(provider, provider_model_id)
        .unwrap_or_else(|| panic!("no registry endpoint {provider}/{provider_model_id}"))
}

/// The gateway's PTB credentials in these tests (never real).
pub const PTB_OPENAI_KEY: &str = "sk-ptb-openai-0123456789abcdef0123456789";
pub const PTB_ANTHROPIC_KEY: &str = "sk-ant-ptb-0123456789abcdef0123456789";
pub const PTB_AWS_KEY_ID: &str = "AKIAPTBTESTKEY000001";
pub const PTB_AWS_SECRET: &str = "ptbAwsSecretKey0123456789abcdefghijklmnop";
/// BYOK keys stored for orgs.
pub const BYOK_OPENAI_KEY: &str = "sk-byok-openai-fedcba9876543210fedcba98";
pub const BYOK_ANTHROPIC_KEY: &str = "sk-ant-byok-fedcba9876543210fedcba98";
pub const BYOK_AWS_KEY_ID: &str = "AKIABYOKTESTKEY00001";
pub const BYOK_AWS_SECRET: &str = "byokAwsSecretKey0123456789abcdefghijklmn";

/// Every secret the tests configure: none may ever appear in an answer or a log row.
pub fn all_secrets() -> Vec<String> {
    [
        PTB_OPENAI_KEY,
        PTB_ANTHROPIC_KEY,
        PTB_AWS_SECRET,
        BYOK_OPENAI_KEY,
        BYOK_ANTHROPIC_KEY,
        BYOK_AWS_SECRET,
    ]
    .iter()
    .map(|s| s.to_string())
    .chain(std::iter::once(vertex_access_token()))
    .collect()
}

/// A gateway config for tests: loopback, a temporary data dir, short waits.
pub fn base_config(dir: &TempDir) -> Config {
    let (_, master) = MasterKey::generate();
    Config {
        listen: "127.0.0.1:0".parse().unwrap(),
        data_dir: dir.path().to_owned(),
        master_key: Some(master),
        request_timeout_secs: 20,
        connect_timeout_secs: 2,
        max_retry_wait_ms: 300,
        log: switchyard_server::config::LogConfig {
            batch_size: 64,
            flush_interval_ms: 10,
            capacity: 65_536,
        },
        ..Config::default()
    }
}

pub fn api_key_provider(base_url: &str, key: Option<&str>) -> ProviderConfig {
    ProviderConfig {
        base_url: Some(base_url.to_owned()),
        api_key: key.map(str::to_owned),
        ..ProviderConfig::default()
    }
}

pub fn bedrock_provider(base_url: &str, ptb: bool) -> ProviderConfig {
    ProviderConfig {
        base_url: Some(base_url.to_owned()),
        aws_access_key_id: ptb.then(|| PTB_AWS_KEY_ID.to_owned()),
        aws_secret_access_key: ptb.then(|| PTB_AWS_SECRET.to_owned()),
        ..ProviderConfig::default()
    }
}

/// A running gateway over loopback.
pub struct TestGateway {
    pub url: String,
    pub state: Arc<AppState>,
    pub store: Arc<dyn Store>,
    pub client: reqwest::Client,
    pub dir: TempDir,
    master_key: String,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<std::io::Result<()>>>,
}

/// An org with a gateway key.
#[derive(Clone, Debug)]
pub struct TestOrg {
    pub id: OrgId,
    pub key: String,
}

impl TestGateway {
    /// Starts a gateway with `configure` applied to the base config.
    pub async fn start(configure: impl FnOnce(&mut Config)) -> TestGateway {
        let dir = tempfile::tempdir().unwrap();
        let mut config = base_config(&dir);
        configure(&mut config);
        let master_key = config.master_key.clone().unwrap();
        let store = switchyard_server::open_store(&config)
            .await
            .expect("store opens");
        let gw = Gateway::bind_with(config, registry(), store.clone())
            .await
            .expect("gateway binds");
        let url = format!("http://{}", gw.addr);
        let state = gw.state.clone();
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(gw.serve(async move {
            let _ = rx.await;
        }));
        TestGateway {
            url,
            state,
            store,
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .unwrap(),
            dir,
            master_key,
            shutdown: Some(tx),
            task: Some(task),
        }
    }

    /// Graceful shutdown: waits until the server drained and flushed its log.
    pub async fn shutdown(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            tokio::time::timeout(Duration::from_secs(20), task)
                .await
                .expect("shutdown in time")
                .unwrap()
                .unwrap();
        }
    }

    /// The store reopened from the data directory (after [`TestGateway::shutdown`] closed it).
    pub async fn reopen_store(&self) -> SqliteStore {
        SqliteStore::open_dir(
            self.dir.path(),
            Some(MasterKey::from_base64(&self.master_key).unwrap()),
        )
        .await
        .unwrap()
    }

    /// A new org with a gateway key and `credits_usd` of credit.
    pub async fn org(&self, credits_usd: &str) -> TestOrg {
        let org = self.store.create_org("e2e").await.unwrap();
        let key = self.store.create_gateway_key(org.id, "e2e").await.unwrap();
        let nanos = switchyard_cost::usd_to_nanos(credits_usd.parse::<Decimal>().unwrap());
        if nanos > 0 {
            self.store
                .add_credits(org.id, nanos, Some("test credits"))
                .await
                .unwrap();
        }
        TestOrg {
            id: org.id,
            key: key.plaintext.expose().to_owned(),
        }
    }

    pub async fn set_key(
        &self,
        org: &TestOrg,
        provider: &str,
        secret: ProviderSecret,
        config: DeploymentConfig,
    ) {
        self.store
            .set_provider_key(&NewProviderKey {
                org_id: org.id,
                provider: provider.into(),
                key_name: None,
                config,
                secret,
            })
            .await
            .unwrap();
        self.state.forget_org_keys(org.id);
    }

    pub async fn set_api_key(&self, org: &TestOrg, provider: &str, key: &str) {
        self.set_key(
            org,
            provider,
            ProviderSecret::ApiKey(Secret::new(key)),
            DeploymentConfig::default(),
        )
        .await;
    }

    pub async fn set_aws_key(&self, org: &TestOrg, region: Option<&str>) {
        let secret = ProviderSecret::Aws {
            access_key_id: Secret::new(BYOK_AWS_KEY_ID),
            secret_access_key: Secret::new(BYOK_AWS_SECRET),
            session_token: None,
        };
        self.set_key(
            org,
            "bedrock",
            secret,
            DeploymentConfig {
                region: region.map(str::to_owned),
                ..DeploymentConfig::default()
            },
        )
        .await;
    }

    /// `POST /v1/chat/completions` with a gateway key.
    pub async fn chat(&self, key: &str, body: &Value) -> reqwest::Response {
        self.client
            .post(format!("{}/v1/chat/completions", self.url))
            .bearer_auth(key)
            .json(body)
            .send()
            .await
            .expect("the gateway answers")
    }

    /// A whole answer: status, headers, JSON body.
    pub async fn chat_json(&self, key: &str, body: &Value) -> Answer {
        let res = self.chat(key, body).await;
        Answer::read(res).await
    }

    /// The org's balance once every settled debit is committed, with `held_nanos` the holds
    /// this gateway instance has in memory right now.
    pub async fn balance(&self, org: &TestOrg) -> Balance {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let (_, held, pending, _) = self.state.credits.position(org.id);
            if pending == 0 || Instant::now() > deadline {
                let mut b = self.store.balance(org.id).await.unwrap();
                b.held_nanos = held;
                return b;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Waits until no hold and no uncommitted debit is left, then asserts the books: balance
    /// = the sum of the ledger rows, leases consistent, balance never below zero. Returns the
    /// balance.
    pub async fn assert_ledger_consistent(&self, org: &TestOrg) -> i64 {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let (_, held, pending, holds) = self.state.credits.position(org.id);
            if held == 0 && pending == 0 && holds == 0 {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "holds left after 10 s: held {held}, pending {pending}, {holds} open"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let audit = self.store.audit(Some(org.id)).await.unwrap().remove(0);
        assert!(
            audit.is_consistent(),
            "ledger audit: {:?}",
            audit.problems()
        );
        assert!(audit.balance_nanos >= 0, "negative balance: {audit:?}");
        audit.balance_nanos
    }

    /// Every ledger row of an org, newest first (paged through).
    pub async fn ledger_rows(&self, org: &TestOrg) -> Vec<LedgerEntry> {
        let mut out = Vec::new();
        let mut before = None;
        loop {
            let page = self
                .store
                .ledger(org.id, LedgerPage { limit: 500, before })
                .await
                .unwrap();
            let Some(last) = page.last() else {
                return out;
            };
            before = Some(LedgerCursor::after(last));
            out.extend(page);
        }
    }

    /// Sum of the debit rows of an org's ledger (positive nanos), once every settled debit is
    /// committed (debits are written with the log rows, in batches).
    pub async fn debited(&self, org: &TestOrg) -> i64 {
        self.balance(org).await;
        self.ledger_rows(org)
            .await
            .iter()
            .filter(|e| e.kind == LedgerKind::Debit)
            .map(|e| -e.amount_nanos)
            .sum()
    }

    /// Waits until the org has `n` log rows (the log is written in batches off the hot path).
    pub async fn wait_logs(&self, org: &TestOrg, n: usize) -> Vec<LogRow> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let rows = self
                .store
                .recent_logs(&LogQuery::new(org.id, 10_000))
                .await
                .unwrap();
            if rows.len() >= n {
                return rows;
            }
            assert!(
                Instant::now() < deadline,
                "only {} of {n} log rows after 10 s",
                rows.len()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// The log row of one request id.
    pub async fn log_row(&self, org: &TestOrg, request_id: &str) -> LogRow {
        let id = uuid::Uuid::parse_str(request_id).unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(row) = self.store.get_log(org.id, id).await.unwrap() {
                return row;
            }
            assert!(
                Instant::now() < deadline,
                "no log row for request {request_id}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Waits until the org's ledger has `n` debit rows.
    pub async fn wait_debits(&self, org: &TestOrg, n: usize) {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let debits = self
                .ledger_rows(org)
                .await
                .iter()
                .filter(|e| e.kind == LedgerKind::Debit)
                .count();
            if debits >= n {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "only {debits} of {n} debits after 10 s"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for TestGateway {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// A whole (non-streamed) answer.
#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub text: String,
}

impl Answer {
    pub async fn read(res: reqwest::Response) -> Answer {
        let status = StatusCode::from_u16(res.status().as_u16()).unwrap();
        let headers = res.headers().clone();
        let text = res.text().await.unwrap();
        assert_no_secrets(&text);
        Answer {
            status,
            headers,
            text,
        }
    }

    pub fn json(&self) -> Value {
        serde_json::from_str(&self.text)
            .unwrap_or_else(|e| panic!("answer is not JSON ({e}): {}", self.text))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The OpenAI error shape: `{"error": {"message", "type", "param", "code"}}`.
    pub fn error(&self) -> Value {
        let v = self.json();
        let e = v
            .get("error")
            .unwrap_or_else(|| panic!("not an error body: {}", self.text))
            .clone();
        assert!(e["message"].is_string(), "error.message: {e}");
        assert!(e["type"].is_string(), "error.type: {e}");
        assert!(
            e.get("param").is_some() && e.get("code").is_some(),
            "error.param/code: {e}"
        );
        e
    }

    pub fn cost(&self) -> Decimal {
        self.header("x-switchyard-cost-usd")
            .expect("x-switchyard-cost-usd")
            .parse()
            .unwrap()
    }

    pub fn request_id(&self) -> String {
        self.header("x-switchyard-request-id")
            .expect("x-switchyard-request-id")
            .to_owned()
    }
}

/// Reads a streamed answer to its end: status, headers, the raw SSE text.
pub async fn read_stream(
    res: reqwest::Response,
) -> (StatusCode, reqwest::header::HeaderMap, String) {
    let status = StatusCode::from_u16(res.status().as_u16()).unwrap();
    let headers = res.headers().clone();
    let mut body = Vec::new();
    let mut s = res.bytes_stream();
    while let Some(chunk) = s.next().await {
        body.extend_from_slice(&chunk.expect("stream reads"));
    }
    let text = String::from_utf8(body).unwrap();
    assert_no_secrets(&text);
    (status, headers, text)
}

pub fn assert_no_secrets(text: &str) {
    for s in all_secrets() {
        assert!(!text.contains(&s), "a secret leaked: {s} in {text}");
    }
}

/// Asserts that no log row carries a secret (or the gateway key).
pub fn assert_rows_clean(rows: &[LogRow], gateway_keys: &[&str]) {
    for row in rows {
        let text = serde_json::to_string(row).unwrap();
        for s in all_secrets()
            .iter()
            .map(String::as_str)
            .chain(gateway_keys.iter().copied())
        {
            assert!(!text.contains(s), "a secret is in a log row: {s} in {text}");
        }
    }
}

/// The standard `x-switchyard-*` answer headers.
pub fn assert_switchyard_headers(
    headers: &reqwest::header::HeaderMap,
    provider: &str,
    endpoint_id: &str,
    billing: &str,
    fallback_index: usize,
) {
    let h = |n: &str| {
        headers
            .get(n)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_else(|| panic!("missing header {n}: {headers:?}"))
            .to_owned()
    };
    uuid::Uuid::parse_str(&h("x-switchyard-request-id")).expect("the request id is a UUID");
    assert_eq!(h("x-switchyard-provider"), provider);
    assert_eq!(h("x-switchyard-endpoint"), endpoint_id);
    assert_eq!(h("x-switchyard-billing"), billing);
    assert_eq!(h("x-switchyard-fallback-index"), fallback_index.to_string());
}

/// USD per token rates of an endpoint's base tier (from the registry).
pub struct Rates {
    pub input: Decimal,
    pub output: Decimal,
    pub cache_read: Decimal,
}

pub fn rates(e: &Endpoint) -> Rates {
    let t = e.pricing.base();
    Rates {
        input: t.input,
        output: t.output,
        cache_read: t.cache_read_rate(),
    }
}

/// The cost of an answer computed here from the registry's rates: `uncached` input tokens,
/// `cached` cache-read tokens and `output` tokens.
pub fn expected_cost(e: &Endpoint, uncached: u64, cached: u64, output: u64) -> Decimal {
    let r = rates(e);
    Decimal::from(uncached) * r.input
        + Decimal::from(cached) * r.cache_read
        + Decimal::from(output) * r.output
}

pub fn chat_body(model: &str, stream: bool) -> Value {
    json!({
        "model": model,
        "messages": [{"role": "user", "content": "Say hello."}],
        "max_tokens": 64,
        "stream": stream,
    })
}

/// A gateway holding PTB credentials for `openai`, pointed at the fake upstream `up`.
pub async fn ptb_gateway(up: &Fake) -> TestGateway {
    let url = up.url.clone();
    TestGateway::start(move |c| {
        c.providers.insert(
            "openai".into(),
            api_key_provider(&url, Some(PTB_OPENAI_KEY)),
        );
    })
    .await
}
