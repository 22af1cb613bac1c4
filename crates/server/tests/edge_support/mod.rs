//! Raw-socket helpers of the edge tests: clients that misbehave on purpose, byte by byte, which
//! an HTTP client library would not let us be. Every wait is bounded.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Longest any single read of these helpers waits before the test fails.
pub const BOUND: Duration = Duration::from_secs(15);

pub fn addr_of(url: &str) -> SocketAddr {
    url.trim_start_matches("http://").parse().unwrap()
}

pub async fn connect(addr: SocketAddr) -> TcpStream {
    let s = TcpStream::connect(addr)
        .await
        .expect("connect to the gateway");
    s.set_nodelay(true).unwrap();
    s
}

/// A response read off a raw connection.
#[derive(Debug)]
pub struct RawResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl RawResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "body is not JSON ({e}): {:?}",
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    /// The OpenAI error object, checked for its four fields.
    pub fn error(&self) -> Value {
        assert_eq!(
            self.header("content-type"),
            Some("application/json"),
            "{self:?}"
        );
        let e = self.json()["error"].clone();
        assert!(e["message"].is_string(), "{e}");
        assert!(e["type"].is_string(), "{e}");
        assert!(e.get("param").is_some(), "{e}");
        assert!(e["code"].is_string(), "{e}");
        e
    }
}

/// Reads one HTTP/1.1 response (head, then a `Content-Length` body). `None` when the connection
/// closes first.
pub async fn read_response(s: &mut TcpStream) -> Option<RawResponse> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i;
        }
        let n = tokio::time::timeout(BOUND, s.read(&mut chunk))
            .await
            .expect("a response (or a close) in time")
            .unwrap_or(0);
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let status = lines.next()?.split(' ').nth(1)?.parse().ok()?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect();
    let len: usize = headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    let mut body = buf[head_end + 4..].to_vec();
    while body.len() < len {
        let n = tokio::time::timeout(BOUND, s.read(&mut chunk))
            .await
            .expect("the body in time")
            .unwrap_or(0);
        if n == 0 {
            break;
        }
        body.extend_from_slice(&chunk[..n]);
    }
    Some(RawResponse {
        status,
        headers,
        body,
    })
}

/// Whether the peer closes the connection (EOF or reset) within [`BOUND`], reading and
/// discarding anything before it.
pub async fn closes(s: &mut TcpStream) -> bool {
    let mut chunk = [0u8; 4096];
    let deadline = Instant::now() + BOUND;
    while Instant::now() < deadline {
        match tokio::time::timeout(BOUND, s.read(&mut chunk)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return true,
            Ok(Ok(_)) => continue,
            Err(_) => return false,
        }
    }
    false
}

/// Writes a whole request and reads its response.
pub async fn exchange(addr: SocketAddr, request: &[u8]) -> (TcpStream, Option<RawResponse>) {
    let mut s = connect(addr).await;
    s.write_all(request).await.unwrap();
    let r = read_response(&mut s).await;
    (s, r)
}

/// `GET /health` on a kept-alive connection.
pub async fn health_on(s: &mut TcpStream) -> Option<RawResponse> {
    s.write_all(b"GET /health HTTP/1.1\r\nHost: t\r\n\r\n")
        .await
        .ok()?;
    read_response(s).await
}

/// The head of a chat request with a gateway key and a declared body length.
pub fn chat_head(key: &str, content_length: usize) -> Vec<u8> {
    format!(
        "POST /v1/chat/completions HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer {key}\r\nContent-Type: application/json\r\nContent-Length: {content_length}\r\n\r\n"
    )
    .into_bytes()
}

/// Median and maximum of durations, in milliseconds, for the figures the tests print.
pub fn median_max_ms(mut d: Vec<Duration>) -> (f64, f64) {
    if d.is_empty() {
        return (f64::NAN, f64::NAN);
    }
    d.sort();
    let ms = |x: Duration| x.as_secs_f64() * 1000.0;
    (ms(d[d.len() / 2]), ms(*d.last().unwrap()))
}
