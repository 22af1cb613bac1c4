//! Helpers of the `trust_*` tests (issue 8): hostile raw HTTP/1.1 clients, request tags that
//! tie a client's request to its log row and to what the fake upstream saw, and the
//! exactly-once check of rows and debits.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use serde_json::Value;
use switchyard_store::{LedgerKind, LogQuery, LogRow};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::{TestGateway, TestOrg};

/// A small seeded generator (SplitMix64): the same seed gives the same run.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n`.
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }
}

/// The marker a tagged request carries in its prompt (so the fake upstream can tell requests
/// apart) and in the `x-switchyard-property-client` header (so its log row can be found).
const TAG: &str = "trust-tag:";

/// The tag in a request body the fake upstream received.
pub fn tag_in(body: &[u8]) -> Option<u64> {
    let text = std::str::from_utf8(body).ok()?;
    let at = text.find(TAG)? + TAG.len();
    let digits: String = text[at..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().ok()
}

/// An OpenAI-format chat body carrying `tag`.
pub fn tagged_body(model: &str, tag: u64, stream: bool) -> Value {
    let mut body = serde_json::json!({
        "model": model,
        "messages": [{"role": "user", "content": format!("Say hello. [{TAG}{tag}]")}],
        "max_tokens": 64,
        "stream": stream,
    });
    if stream {
        body["stream_options"] = serde_json::json!({"include_usage": true});
    }
    body
}

/// `POST /v1/chat/completions` written by hand, HTTP/1.1, `Connection: close`.
pub fn raw_request(addr: &str, key: &str, body: &Value, tag: u64) -> Vec<u8> {
    let body = body.to_string();
    format!(
        "POST /v1/chat/completions HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {key}\r\n\
         Content-Type: application/json\r\nAccept: text/event-stream\r\n\
         x-switchyard-property-client: {tag}\r\nConnection: close\r\n\
         Content-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// How a raw client leaves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Leave {
    /// Reads to the end (the server closes: `Connection: close`).
    AtEnd,
    /// Closes once it has read this many bytes of the response (0: before the first byte).
    AfterBytes(usize),
    /// Closes right after the `data: [DONE]` event, before the body's end.
    AtDone,
    /// Closes after the first body chunk of a stream (the first `data:` event).
    AfterFirstEvent,
}

/// Sends `request` and leaves as `leave` says; with `reset`, the close is an RST (linger 0),
/// else a FIN. Returns what it read.
pub async fn raw_exchange(addr: SocketAddr, request: &[u8], leave: Leave, reset: bool) -> Vec<u8> {
    let mut sock = TcpStream::connect(addr).await.expect("connects");
    sock.set_nodelay(true).unwrap();
    sock.write_all(request).await.expect("request written");
    let mut got = Vec::new();
    let mut buf = vec![0u8; 4096];
    loop {
        let enough = match leave {
            Leave::AtEnd => false,
            Leave::AfterBytes(n) => got.len() >= n,
            Leave::AtDone => find(&got, b"data: [DONE]\n\n").is_some(),
            Leave::AfterFirstEvent => find(&got, b"\r\n\r\n")
                .is_some_and(|head| find(&got[head + 4..], b"\n\n").is_some()),
        };
        if enough {
            break;
        }
        // Never read past the offset asked for: the rest stays unread in the socket.
        let room = match leave {
            Leave::AfterBytes(n) => (n - got.len()).min(buf.len()),
            _ => buf.len(),
        };
        match sock.read(&mut buf[..room]).await {
            Ok(0) | Err(_) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
        }
    }
    if reset {
        // Linger 0: the close sends an RST at once (it does not block, the deprecation's
        // concern is a non-zero linger).
        #[allow(deprecated)]
        sock.set_linger(Some(Duration::ZERO)).unwrap();
    }
    drop(sock);
    got
}

/// Sends `request`, waits for `until` (e.g. the upstream has the request), then closes without
/// reading. Returns how many answer bytes had arrived by then.
pub async fn raw_leave_when(
    addr: SocketAddr,
    request: &[u8],
    until: impl std::future::Future<Output = ()>,
    reset: bool,
) -> usize {
    let mut sock = TcpStream::connect(addr).await.expect("connects");
    sock.write_all(request).await.expect("request written");
    until.await;
    let mut buf = vec![0u8; 65536];
    let arrived = sock.try_read(&mut buf).unwrap_or(0);
    if reset {
        // Linger 0: the close sends an RST at once (it does not block, the deprecation's
        // concern is a non-zero linger).
        #[allow(deprecated)]
        sock.set_linger(Some(Duration::ZERO)).unwrap();
    }
    drop(sock);
    arrived
}

pub fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// The status of a raw HTTP/1.1 answer (`None` when the head was not read).
pub fn status_of(answer: &[u8]) -> Option<u16> {
    let line = std::str::from_utf8(answer.get(..answer.len().min(64))?).ok()?;
    line.strip_prefix("HTTP/1.1 ")?.get(..3)?.parse().ok()
}

/// Each upstream request's tag, counted.
pub fn upstream_tags(requests: &[super::Recorded]) -> HashMap<u64, usize> {
    let mut out = HashMap::new();
    for r in requests {
        let tag = tag_in(&r.body).expect("every upstream request carries its tag");
        *out.entry(tag).or_default() += 1;
    }
    out
}

/// What [`exactly_once`] found.
#[derive(Debug)]
pub struct Books {
    /// The one log row of each tag.
    pub rows: HashMap<u64, LogRow>,
    /// Nano-USD debited, per request id.
    pub debits: HashMap<uuid::Uuid, i64>,
    pub granted: i64,
    pub balance: i64,
}

impl Books {
    pub fn charged(&self) -> i64 {
        self.debits.values().sum()
    }
}

/// Waits until every tag has its log row and every debit is committed, then checks the
/// invariants: exactly one row per tag (and no other row), at most one debit per request and
/// only for logged requests, each debit equal to its row's cost, no row with a cost left
/// uncharged, no hold left, balance = credits granted − Σ debits = Σ ledger rows =
/// credits − Σ the log's cost column, never below zero.
pub async fn exactly_once(gw: &TestGateway, org: &TestOrg, tags: &[u64]) -> Books {
    // No hold and no uncommitted debit left first: then every row of a request is queued.
    let balance = gw.assert_ledger_consistent(org).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    let rows = loop {
        let rows = gw
            .store
            .recent_logs(&LogQuery::new(org.id, 100_000))
            .await
            .unwrap();
        if rows.len() >= tags.len() {
            break rows;
        }
        assert!(
            Instant::now() < deadline,
            "only {} of {} log rows after 30 s",
            rows.len(),
            tags.len()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let mut by_tag: HashMap<u64, LogRow> = HashMap::new();
    for row in rows {
        let tag: u64 = row
            .properties
            .get("client")
            .and_then(|t| t.parse().ok())
            .unwrap_or_else(|| panic!("a row without its client tag: {row:?}"));
        if let Some(first) = by_tag.insert(tag, row) {
            panic!("tag {tag} logged twice, first {first:?}");
        }
    }
    let mut missing: Vec<_> = tags.iter().filter(|t| !by_tag.contains_key(t)).collect();
    missing.sort();
    assert!(missing.is_empty(), "tags without a log row: {missing:?}");
    assert_eq!(by_tag.len(), tags.len(), "no row for a request never sent");

    let entries = gw.ledger_rows(org).await;
    let mut debits: HashMap<uuid::Uuid, i64> = HashMap::new();
    let mut granted = 0;
    for e in &entries {
        match e.kind {
            LedgerKind::Debit => {
                let id = e.request_id.expect("a debit names its request");
                assert!(
                    debits.insert(id, -e.amount_nanos).is_none(),
                    "request {id} debited twice"
                );
            }
            LedgerKind::Credit => granted += e.amount_nanos,
            other => panic!("unexpected ledger row {other:?}: {e:?}"),
        }
    }
    let by_id: HashMap<uuid::Uuid, &LogRow> = by_tag.values().map(|r| (r.id, r)).collect();
    for (id, nanos) in &debits {
        let row = by_id
            .get(id)
            .unwrap_or_else(|| panic!("debit of {id}, which has no log row"));
        assert_eq!(
            Some(*nanos),
            row.cost_nanos.or(Some(0)),
            "debit equals the row's cost: {row:?}"
        );
    }
    for row in by_id.values() {
        if !debits.contains_key(&row.id) {
            assert!(
                row.cost_nanos.unwrap_or(0) == 0,
                "a row with a cost and no debit: {row:?}"
            );
        }
    }
    let charged: i64 = debits.values().sum();
    let logged: i64 = by_id.values().filter_map(|r| r.cost_nanos).sum();
    assert_eq!(balance, granted - charged, "balance = credits − debits");
    assert_eq!(charged, logged, "the log's cost column sums to the debits");
    assert_eq!(
        balance,
        entries.iter().map(|e| e.amount_nanos).sum::<i64>(),
        "balance = Σ ledger rows"
    );
    assert!(balance >= 0);
    Books {
        rows: by_tag,
        debits,
        granted,
        balance,
    }
}
