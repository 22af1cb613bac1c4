//! Clients that go away at any byte (issue 8): raw HTTP/1.1 clients close PTB streams at
//! seeded random offsets spread over the whole answer — inside the head, mid-chunk, right
//! after `data: [DONE]`, after the end — with a FIN or an RST, and others close before the
//! first byte while the upstream is still thinking. Whatever the client does, each request
//! has exactly one log row and exactly one debit equal to its row's cost (the upstream
//! finished, so the full usage), no hold is left, and the upstream saw it exactly once.

mod common;

use std::collections::HashMap;
use std::time::Duration;

use common::trust::*;
use common::*;
use futures::StreamExt;
use switchyard_registry::Endpoint;

const OPENAI: &str = "gpt-4o-mini/openai";
const ANTHROPIC: &str = "claude-4.6-sonnet/anthropic";
/// Tags from here on are answered after [`THINKING`]: the client leaves before the first byte.
const SLOW_TAGS: u64 = 100_000;
const THINKING: Duration = Duration::from_millis(400);

struct Setup {
    openai: Fake,
    anthropic: Fake,
    gw: TestGateway,
    org: TestOrg,
}

/// A gateway with PTB OpenAI and Anthropic behind fakes that stream the fixtures event by
/// event, 2 ms apart (so closes land mid-stream), and think [`THINKING`] for slow tags.
async fn setup() -> Setup {
    let pace = |reply: Reply, r: &Recorded| {
        let reply = reply.gap(Duration::from_millis(2));
        if tag_in(&r.body).is_some_and(|t| t >= SLOW_TAGS) {
            reply.delayed(THINKING)
        } else {
            reply
        }
    };
    // A usage the request could really have (the hold bounds it): 40 prompt tokens, 16 cached.
    let usage = openai_usage(40, 30, 16);
    let openai = Fake::start(move |r| pace(openai_reply(r, &usage), r)).await;
    let anthropic = Fake::start(move |r| {
        let reply = if r.is_stream() {
            Reply::sse(sse_events(ANTHROPIC_STREAM))
        } else {
            Reply::json_text(200, ANTHROPIC_RESPONSE)
        };
        pace(reply, r)
    })
    .await;
    let (o, a) = (openai.url.clone(), anthropic.url.clone());
    let gw = TestGateway::start(move |c| {
        c.providers
            .insert("openai".into(), api_key_provider(&o, Some(PTB_OPENAI_KEY)));
        c.providers.insert(
            "anthropic".into(),
            api_key_provider(&a, Some(PTB_ANTHROPIC_KEY)),
        );
    })
    .await;
    let org = gw.org("20").await;
    Setup {
        openai,
        anthropic,
        gw,
        org,
    }
}

fn model_of(tag: u64) -> &'static str {
    if tag.is_multiple_of(2) {
        OPENAI
    } else {
        ANTHROPIC
    }
}

/// The full cost of a fixture answer (what every request here must be charged).
fn full_cost(model: &str, stream: bool) -> i64 {
    let usd = if model == OPENAI {
        expected_cost(openai_endpoint(), 24, 16, 30)
    } else if stream {
        expected_cost(anthropic_endpoint(), 25, 0, 15)
    } else {
        let v: serde_json::Value = serde_json::from_str(ANTHROPIC_RESPONSE).unwrap();
        let u = |k: &str| v["usage"][k].as_u64().unwrap();
        expected_cost(
            anthropic_endpoint(),
            u("input_tokens"),
            0,
            u("output_tokens"),
        )
    };
    switchyard_cost::usd_to_nanos(usd)
}

fn openai_endpoint() -> &'static Endpoint {
    endpoint("openai", "gpt-4o-mini")
}

fn anthropic_endpoint() -> &'static Endpoint {
    endpoint("anthropic", "claude-sonnet-4-6")
}

/// Checks the three invariants for `tags` (all answered in full by the upstream).
async fn assert_every_request_settled_once(
    s: &Setup,
    tags: &[u64],
    stream_of: impl Fn(u64) -> bool,
) {
    let books = exactly_once(&s.gw, &s.org, tags).await;
    let mut seen = upstream_tags(&s.openai.requests());
    for (t, n) in upstream_tags(&s.anthropic.requests()) {
        *seen.entry(t).or_default() += n;
    }
    let wrong: HashMap<_, _> = tags
        .iter()
        .map(|t| (*t, seen.get(t).copied().unwrap_or(0)))
        .filter(|(_, n)| *n != 1)
        .collect();
    assert!(wrong.is_empty(), "upstream calls per tag, not 1: {wrong:?}");
    assert_eq!(
        seen.len(),
        tags.len(),
        "no upstream call for an unknown tag"
    );
    for tag in tags {
        let row = &books.rows[tag];
        let model = model_of(*tag);
        let cost = full_cost(model, stream_of(*tag));
        assert_eq!(
            (row.status, row.error_type.as_deref(), row.stream),
            (200, None, stream_of(*tag)),
            "tag {tag}: {row:?}"
        );
        assert_eq!(row.cost_nanos, Some(cost), "tag {tag} full cost: {row:?}");
        assert_eq!(
            books.debits.get(&row.id),
            Some(&cost),
            "tag {tag}: one debit of the full cost"
        );
    }
    assert_eq!(books.debits.len(), tags.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_closing_at_random_offsets_of_a_stream_are_settled_and_logged_once() {
    let s = setup().await;
    let addr: std::net::SocketAddr = s.gw.url.trim_start_matches("http://").parse().unwrap();
    let host = addr.to_string();
    let request = |tag: u64| {
        raw_request(
            &host,
            &s.org.key,
            &tagged_body(model_of(tag), tag, true),
            tag,
        )
    };

    // A whole answer of each format first: where its head ends, where `[DONE]` ends, its length.
    let mut shape = HashMap::new();
    for tag in [0u64, 1] {
        let full = raw_exchange(addr, &request(tag), Leave::AtEnd, false).await;
        assert_eq!(
            status_of(&full),
            Some(200),
            "{}",
            String::from_utf8_lossy(&full)
        );
        let head = find(&full, b"\r\n\r\n").unwrap() + 4;
        let done = find(&full, b"data: [DONE]\n\n").expect("the stream ends with [DONE]") + 14;
        assert!(full.ends_with(b"0\r\n\r\n"), "a chunked body, ended");
        shape.insert(tag % 2, (head, done, full.len()));
    }

    let mut rng = Rng::new(0x5EED_0008);
    let mut plans = Vec::new();
    for tag in 2..302u64 {
        let (head, done, len) = shape[&(tag % 2)];
        let leave = match tag % 10 {
            0 | 1 => Leave::AfterBytes(1 + rng.below(head as u64 - 1) as usize), // inside the head
            2 => Leave::AtDone,
            3 => Leave::AfterBytes(done), // the same, counted in bytes
            4 => Leave::AfterBytes(1),    // the first byte only
            5 => Leave::AfterFirstEvent,
            _ => Leave::AfterBytes(1 + rng.below(len as u64 + 8) as usize), // anywhere, or after the end
        };
        plans.push((tag, leave, rng.below(2) == 0));
    }
    let read: Vec<usize> = futures::stream::iter(plans.clone())
        .map(|(tag, leave, reset)| {
            let req = request(tag);
            async move { raw_exchange(addr, &req, leave, reset).await.len() }
        })
        .buffer_unordered(16)
        .collect()
        .await;
    assert!(
        read.iter().all(|n| *n > 0),
        "every client read the answer's first byte"
    );
    let shortest = shape.values().map(|(_, _, len)| *len).min().unwrap();
    let cut = read.iter().filter(|n| **n < shortest).count();
    assert!(
        cut >= 200,
        "most clients left before the end: {cut} of {}",
        read.len()
    );

    let tags: Vec<u64> = (0..302).collect();
    assert_every_request_settled_once(&s, &tags, |_| true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_closing_before_the_first_byte_are_settled_and_logged_once() {
    let s = setup().await;
    let addr: std::net::SocketAddr = s.gw.url.trim_start_matches("http://").parse().unwrap();
    let host = addr.to_string();
    // Streams and whole answers; the client leaves while the upstream is still thinking.
    let tags: Vec<u64> = (SLOW_TAGS..SLOW_TAGS + 24).collect();
    let stream_of = |tag: u64| (tag / 2).is_multiple_of(2);
    let read: Vec<usize> = futures::stream::iter(tags.clone())
        .map(|tag| {
            let req = raw_request(
                &host,
                &s.org.key,
                &tagged_body(model_of(tag), tag, stream_of(tag)),
                tag,
            );
            let fake = if model_of(tag) == OPENAI {
                &s.openai
            } else {
                &s.anthropic
            };
            // Leave once the upstream has the request: it answers THINKING later.
            let upstream_has_it = async move {
                for _ in 0..2000 {
                    if fake.requests().iter().any(|r| tag_in(&r.body) == Some(tag)) {
                        return;
                    }
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
                panic!("the upstream never got tag {tag}");
            };
            async move { raw_leave_when(addr, &req, upstream_has_it, tag.is_multiple_of(3)).await }
        })
        .buffer_unordered(24)
        .collect()
        .await;
    assert!(
        read.iter().all(|n| *n == 0),
        "the clients left before the first byte: {read:?}"
    );
    assert_every_request_settled_once(&s, &tags, stream_of).await;
}
