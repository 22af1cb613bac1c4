//! Process-level harness: the real `switchyard` binary (`serve` and `admin`) on a temporary data
//! directory, a slow fake OpenAI upstream in the test process, and a raw HTTP/1.1 client.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::process::{Child, Command};

pub const BIN: &str = env!("CARGO_BIN_EXE_switchyard");
/// 32 bytes, base64: the test store's master key.
const MASTER_KEY: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
pub const PTB_OPENAI_KEY: &str = "sk-proc-ptb-openai-0123456789abcdef";
/// Tags from here on are answered slowly (they are in flight when the gateway dies).
pub const SLOW_TAGS: u64 = 1_000;
const TAG: &str = "trust-tag:";

/// A gateway's data directory and environment; runs `switchyard serve` and `admin` on it.
pub struct Node {
    /// Shared by the instances of one store ([`Node::sibling`]).
    pub dir: Arc<tempfile::TempDir>,
    pub port: u16,
    env: BTreeMap<String, String>,
    pub child: Option<Child>,
    starts: usize,
    /// Names its `serve` logs.
    name: String,
}

impl Node {
    /// A data directory with a config file (short leases, fast log flushes) and env pointing
    /// OpenAI PTB at `upstream`.
    pub fn new(upstream: &str, lease_ttl_secs: u64) -> Node {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("switchyard.toml");
        std::fs::write(
            &config,
            format!(
                "[billing]\nlease_ttl_secs = {lease_ttl_secs}\nmaintain_interval_secs = 1\n\
                 [log]\nflush_interval_ms = 20\n"
            ),
        )
        .unwrap();
        let port = free_port();
        let env = [
            ("SWITCHYARD_CONFIG", config.to_str().unwrap()),
            ("SWITCHYARD_DATA_DIR", dir.path().to_str().unwrap()),
            ("SWITCHYARD_LISTEN", &format!("127.0.0.1:{port}")),
            ("SWITCHYARD_MASTER_KEY", MASTER_KEY),
            ("SWITCHYARD_ADMIN_TOKEN", "proc-test-admin-token-0123456789"),
            ("SWITCHYARD_PROVIDER_OPENAI_BASE_URL", upstream),
            ("SWITCHYARD_PROVIDER_OPENAI_API_KEY", PTB_OPENAI_KEY),
            ("SWITCHYARD_LOG", "info"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        Node {
            dir: Arc::new(dir),
            port,
            env,
            child: None,
            starts: 0,
            name: "a".into(),
        }
    }

    /// Another instance on the same data directory (and store), on its own port.
    pub fn sibling(&self, name: &str) -> Node {
        let port = free_port();
        let mut env = self.env.clone();
        env.insert("SWITCHYARD_LISTEN".into(), format!("127.0.0.1:{port}"));
        Node {
            dir: self.dir.clone(),
            port,
            env,
            child: None,
            starts: 0,
            name: name.into(),
        }
    }

    /// Sets (or overrides) one environment variable of this node's commands.
    pub fn set_env(&mut self, name: &str, value: &str) {
        self.env.insert(name.into(), value.into());
    }

    /// Replaces the config file (shared by siblings).
    pub fn write_config(&self, text: &str) {
        std::fs::write(self.dir.path().join("switchyard.toml"), text).unwrap();
    }

    pub fn db_path(&self) -> PathBuf {
        self.dir.path().join("switchyard.db")
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(BIN);
        c.args(args).env_clear().envs(&self.env);
        if let Ok(path) = std::env::var("PATH") {
            c.env("PATH", path);
        }
        c
    }

    /// `switchyard admin ...`: (exit code, stdout, stderr).
    pub async fn admin_raw(&self, args: &[&str]) -> (i32, String, String) {
        let mut all = vec!["admin"];
        all.extend_from_slice(args);
        let out = self.command(&all).output().await.expect("admin runs");
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    /// `switchyard admin ...`, which must succeed: its stdout, trimmed.
    pub async fn admin(&self, args: &[&str]) -> String {
        let (code, out, err) = self.admin_raw(args).await;
        assert_eq!(code, 0, "switchyard admin {args:?}: {err}");
        out.trim().to_owned()
    }

    /// `switchyard admin --json ...`.
    pub async fn admin_json(&self, args: &[&str]) -> Value {
        let mut all = vec!["--json"];
        all.extend_from_slice(args);
        let out = self.admin(&all).await;
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("{args:?}: {e}: {out}"))
    }

    /// An org with `credits` USD and a gateway key; returns the key.
    pub async fn org(&self, name: &str, credits: &str) -> String {
        self.admin(&["org", "create", name]).await;
        let key = self.admin(&["key", "create", "--org", name, "k"]).await;
        self.admin(&["credits", "add", "--org", name, credits])
            .await;
        key
    }

    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Starts `switchyard serve` (output to `serve-<name>-<n>.log`) and waits for `/health`.
    pub async fn serve(&mut self) {
        self.starts += 1;
        let log = std::fs::File::create(self.log_path(self.starts)).unwrap();
        let child = self
            .command(&["serve"])
            .stdout(Stdio::from(log.try_clone().unwrap()))
            .stderr(Stdio::from(log))
            .kill_on_drop(true)
            .spawn()
            .expect("serve starts");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(answer) = get(&self.addr(), "/health").await {
                if answer.starts_with(b"HTTP/1.1 200") {
                    return;
                }
            }
            if let Some(status) = self.child.as_mut().unwrap().try_wait().unwrap() {
                panic!("serve exited with {status}: {}", self.log(self.starts));
            }
            assert!(
                Instant::now() < deadline,
                "no /health: {}",
                self.log(self.starts)
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    fn log_path(&self, n: usize) -> PathBuf {
        self.dir.path().join(format!("serve-{}-{n}.log", self.name))
    }

    /// The output of the `n`-th `serve`.
    pub fn log(&self, n: usize) -> String {
        std::fs::read_to_string(self.log_path(n)).unwrap_or_default()
    }

    /// SIGKILL: no drain, no flush, no lease returned.
    pub async fn kill(&mut self) {
        let mut child = self.child.take().expect("running");
        child.kill().await.expect("SIGKILL");
    }

    /// SIGTERM, then waits for the graceful stop; returns the exit code.
    pub async fn terminate(&mut self) -> i32 {
        let mut child = self.child.take().expect("running");
        let pid = child.id().expect("a pid").to_string();
        let sent = Command::new("kill").args(["-TERM", &pid]).status().await;
        assert!(sent.is_ok_and(|s| s.success()), "kill -TERM {pid}");
        let status = tokio::time::timeout(Duration::from_secs(60), child.wait())
            .await
            .expect("a graceful stop in time")
            .unwrap();
        status.code().unwrap_or(-1)
    }
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

async fn get(addr: &str, path: &str) -> std::io::Result<Vec<u8>> {
    let mut s = TcpStream::connect(addr).await?;
    s.write_all(
        format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").as_bytes(),
    )
    .await?;
    let mut out = Vec::new();
    s.read_to_end(&mut out).await?;
    Ok(out)
}

/// `POST /v1/chat/completions` tagged with `tag` (in the prompt, for the upstream, and in the
/// `x-switchyard-property-client` header, for the log); reads until the connection ends.
pub async fn chat(addr: &str, key: &str, tag: u64, stream: bool) -> Vec<u8> {
    let body = serde_json::json!({
        "model": "gpt-4o-mini/openai",
        "messages": [{"role": "user", "content": format!("Say hello. [{TAG}{tag}]")}],
        "max_tokens": 64,
        "stream": stream,
    })
    .to_string();
    let req = format!(
        "POST /v1/chat/completions HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {key}\r\n\
         Content-Type: application/json\r\nx-switchyard-property-client: {tag}\r\n\
         Connection: close\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    let Ok(mut s) = TcpStream::connect(addr).await else {
        return Vec::new();
    };
    if s.write_all(req.as_bytes()).await.is_err() {
        return Vec::new();
    }
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    // A killed gateway ends the connection with an error: keep what came before it.
    while let Ok(n) = s.read(&mut buf).await {
        if n == 0 {
            break;
        }
        out.extend_from_slice(&buf[..n]);
    }
    out
}

/// Whether a raw answer is complete: a 200 whose stream reached `[DONE]`, or whose JSON
/// body arrived whole.
pub fn complete(answer: &[u8], stream: bool) -> bool {
    let text = String::from_utf8_lossy(answer);
    if !text.starts_with("HTTP/1.1 200") {
        return false;
    }
    if stream {
        text.contains("data: [DONE]") && text.ends_with("0\r\n\r\n")
    } else {
        text.trim_end().ends_with('}')
    }
}

fn tag_in(body: &[u8]) -> Option<u64> {
    let text = std::str::from_utf8(body).ok()?;
    let at = text.find(TAG)? + TAG.len();
    text[at..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect::<String>()
        .parse()
        .ok()
}

/// A fake OpenAI upstream: tags below [`SLOW_TAGS`] are answered at once, the others slowly
/// (a stream of 40 events 250 ms apart, or a whole answer after 10 s). Records each request's
/// tag as it arrives.
pub struct Upstream {
    pub url: String,
    pub seen: Arc<Mutex<Vec<u64>>>,
}

impl Upstream {
    pub async fn start() -> Upstream {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let seen = Arc::new(Mutex::new(Vec::new()));
        let record = seen.clone();
        tokio::spawn(async move {
            while let Ok((sock, _)) = listener.accept().await {
                tokio::spawn(answer(sock, record.clone()));
            }
        });
        Upstream { url, seen }
    }

    pub fn seen(&self) -> Vec<u64> {
        self.seen.lock().unwrap().clone()
    }
}

async fn answer(mut sock: TcpStream, seen: Arc<Mutex<Vec<u64>>>) -> std::io::Result<()> {
    // One request per connection: read its head, then its body by Content-Length.
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    let head_end = loop {
        let n = sock.read(&mut chunk).await?;
        if n == 0 {
            return Ok(());
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_ascii_lowercase();
    let len: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    while buf.len() < head_end + len {
        let n = sock.read(&mut chunk).await?;
        if n == 0 {
            return Ok(());
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    let body: Value = serde_json::from_slice(&buf[head_end..head_end + len]).unwrap_or(Value::Null);
    let tag = tag_in(&buf[head_end..]).unwrap_or(u64::MAX);
    seen.lock().unwrap().push(tag);
    let slow = tag >= SLOW_TAGS;
    let usage =
        serde_json::json!({"prompt_tokens": 40, "completion_tokens": 30, "total_tokens": 70});
    let chunk_of = |delta: Value, finish: Value| {
        serde_json::json!({"id": "chatcmpl-proc", "object": "chat.completion.chunk", "created": 1735689600, "model": "gpt-4o-mini-2024-07-18",
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]})
    };
    if body["stream"] == Value::Bool(true) {
        sock.write_all(
            b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\nconnection: close\r\n\r\n",
        )
        .await?;
        let words = if slow { 40 } else { 3 };
        let mut events = vec![chunk_of(
            serde_json::json!({"role": "assistant", "content": ""}),
            Value::Null,
        )];
        for i in 0..words {
            events.push(chunk_of(
                serde_json::json!({"content": format!("w{i} ")}),
                Value::Null,
            ));
        }
        events.push(chunk_of(serde_json::json!({}), Value::from("stop")));
        let mut last = chunk_of(serde_json::json!({}), Value::Null);
        last["choices"] = serde_json::json!([]);
        last["usage"] = usage;
        events.push(last);
        for e in events {
            if slow {
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
            sock.write_all(format!("data: {e}\n\n").as_bytes()).await?;
        }
        sock.write_all(b"data: [DONE]\n\n").await?;
    } else {
        if slow {
            tokio::time::sleep(Duration::from_secs(10)).await;
        }
        let body = serde_json::json!({"id": "chatcmpl-proc", "object": "chat.completion", "created": 1735689600, "model": "gpt-4o-mini-2024-07-18",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hello!"}, "finish_reason": "stop"}], "usage": usage})
        .to_string();
        sock.write_all(
            format!("HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}", body.len())
                .as_bytes(),
        )
        .await?;
    }
    sock.shutdown().await
}

/// Polls `f` until it returns `Some`, for at most `within`.
pub async fn eventually<T, F, Fut>(within: Duration, what: &str, mut f: F) -> (T, Duration)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let started = Instant::now();
    loop {
        if let Some(v) = f().await {
            return (v, started.elapsed());
        }
        assert!(started.elapsed() < within, "not within {within:?}: {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The rows of `admin logs --json`, by their client tag.
pub fn rows_by_tag(logs: &Value) -> BTreeMap<u64, Vec<Value>> {
    let mut out: BTreeMap<u64, Vec<Value>> = BTreeMap::new();
    for row in logs.as_array().expect("a list of rows") {
        let tag = row["properties"]["client"]
            .as_str()
            .and_then(|t| t.parse().ok())
            .unwrap_or(u64::MAX);
        out.entry(tag).or_default().push(row.clone());
    }
    out
}

pub fn db_url(path: &Path) -> String {
    format!("sqlite://{}", path.display())
}
