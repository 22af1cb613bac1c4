//! Streaming: chunks pass through as they come (no buffering of the whole answer), usage is
//! captured for the cost, and a stream settles however it ends — also when the client leaves or
//! the provider hangs up mid-stream.

mod common;

use std::time::{Duration, Instant};

use common::*;
use futures::StreamExt;
use serde_json::json;

const MODEL: &str = "gpt-4o-mini";

#[tokio::test]
async fn chunks_arrive_as_the_provider_sends_them() {
    let gap = Duration::from_millis(150);
    let up = Fake::start(move |r| openai_reply(r, &openai_usage(10, 5, 0)).gap(gap)).await;
    let gw = ptb_gateway(&up).await;
    let org = gw.org("1").await;
    let started = Instant::now();
    let res = gw.chat(&org.key, &chat_body(MODEL, true)).await;
    assert_eq!(res.status(), 200);
    let mut stream = res.bytes_stream();
    let mut first_content_at = None;
    let mut text = String::new();
    while let Some(chunk) = stream.next().await {
        text.push_str(std::str::from_utf8(&chunk.unwrap()).unwrap());
        if first_content_at.is_none() && text.contains("Hello!") {
            first_content_at = Some(started.elapsed());
        }
    }
    let total = started.elapsed();
    let first = first_content_at.expect("content arrived");
    // The fixture has 6 events, 5 gaps: the first content must come long before the end.
    assert!(total >= gap * 4, "{total:?}");
    assert!(
        total - first >= gap * 3,
        "first content at {first:?} of {total:?}: the stream was buffered"
    );
    assert_eq!(stream_content(&sse_data(&text)), "Hello! How can I help?");
}

#[tokio::test]
async fn the_extra_usage_chunk_is_stripped_when_the_caller_did_not_ask() {
    let up = Fake::openai_with_usage(openai_usage(10, 5, 0)).await;
    let gw = ptb_gateway(&up).await;
    let org = gw.org("1").await;
    let (status, _, text) = read_stream(gw.chat(&org.key, &chat_body(MODEL, true)).await).await;
    assert_eq!(status, 200);
    assert_eq!(
        up.last().json()["stream_options"]["include_usage"],
        true,
        "asked upstream"
    );
    assert!(
        stream_usage(&sse_data(&text)).is_none(),
        "the caller sees exactly the stream it asked for: {text}"
    );
    assert!(text.trim_end().ends_with("data: [DONE]"));
    // ... and the usage was still used for billing.
    gw.wait_debits(&org, 1).await;
    assert_eq!(
        gw.debited(&org).await,
        switchyard_cost::usd_to_nanos(expected_cost(endpoint("openai", MODEL), 10, 0, 5))
    );
}

#[tokio::test]
async fn a_client_that_disconnects_mid_stream_is_still_billed_and_logged() {
    let up =
        Fake::start(|r| openai_reply(r, &openai_usage(15, 9, 0)).gap(Duration::from_millis(120)))
            .await;
    let gw = ptb_gateway(&up).await;
    let org = gw.org("1").await;
    let mut body = chat_body(MODEL, true);
    body["stream_options"] = json!({"include_usage": true});
    let res = gw.chat(&org.key, &body).await;
    assert_eq!(res.status(), 200);
    let id = res.headers()["x-switchyard-request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    let mut stream = res.bytes_stream();
    let first = stream.next().await.expect("a first chunk").unwrap();
    assert!(!first.is_empty());
    // The client goes away with most of the answer still to come.
    drop(stream);
    assert!(
        gw.debited(&org).await == 0,
        "not settled before the provider finished"
    );

    // The gateway drains the provider to learn the usage, then settles at the exact cost.
    gw.wait_debits(&org, 1).await;
    let cost = switchyard_cost::usd_to_nanos(expected_cost(endpoint("openai", MODEL), 15, 0, 9));
    assert_eq!(gw.debited(&org).await, cost);
    gw.assert_ledger_consistent(&org).await;
    assert_eq!(gw.balance(&org).await.held_nanos, 0);
    let row = gw.log_row(&org, &id).await;
    assert_eq!(row.prompt_tokens, Some(15));
    assert_eq!(row.completion_tokens, Some(9));
    assert_eq!(row.cost_nanos, Some(cost));
    assert!(row.stream);
}

#[tokio::test]
async fn a_provider_that_hangs_up_mid_stream_ends_the_stream_with_an_error_and_frees_the_hold() {
    let up = Fake::start(|r| {
        openai_reply(r, &openai_usage(15, 9, 0))
            .hang_up_after(2)
            .gap(Duration::from_millis(40))
    })
    .await;
    let gw = ptb_gateway(&up).await;
    let org = gw.org("1").await;
    let res = gw.chat(&org.key, &chat_body(MODEL, true)).await;
    assert_eq!(res.status(), 200);
    let id = res.headers()["x-switchyard-request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    let (_, _, text) = read_stream(res).await;
    let chunks = sse_data(&text);
    assert_eq!(
        stream_content(&chunks),
        "Hello!",
        "what came before the hang-up is delivered"
    );
    let err = chunks
        .iter()
        .find_map(|c| c.get("error"))
        .unwrap_or_else(|| panic!("an error chunk at the end: {text}"));
    assert!(err["message"].is_string());
    assert!(
        !text.contains("[DONE]"),
        "an interrupted stream does not pretend to be complete: {text}"
    );

    let row = gw.log_row(&org, &id).await;
    assert_eq!(
        row.error_type.as_deref(),
        Some("stream_interrupted"),
        "{row:?}"
    );
    // No usage was reported before the hang-up: nothing is charged, and no hold is left.
    for _ in 0..200 {
        if gw.balance(&org).await.held_nanos == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    gw.assert_ledger_consistent(&org).await;
    let b = gw.balance(&org).await;
    assert_eq!(b.held_nanos, 0);
    assert_eq!(b.balance_nanos, 1_000_000_000 - gw.debited(&org).await);
}

#[tokio::test]
async fn an_anthropic_stream_cut_before_message_stop_is_reported() {
    let up = Fake::start(|_| {
        Reply::sse(sse_events(ANTHROPIC_STREAM))
            .hang_up_after(4)
            .gap(Duration::from_millis(40))
    })
    .await;
    let url = up.url.clone();
    let gw = TestGateway::start(move |c| {
        c.providers.insert(
            "anthropic".into(),
            api_key_provider(&url, Some(PTB_ANTHROPIC_KEY)),
        );
    })
    .await;
    let org = gw.org("1").await;
    let res = gw
        .chat(&org.key, &chat_body("claude-4.6-sonnet", true))
        .await;
    assert_eq!(res.status(), 200);
    let id = res.headers()["x-switchyard-request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    let (_, _, text) = read_stream(res).await;
    let chunks = sse_data(&text);
    assert_eq!(stream_content(&chunks), "Hello");
    assert!(chunks.iter().any(|c| c.get("error").is_some()), "{text}");
    let row = gw.log_row(&org, &id).await;
    assert!(row.error_type.is_some());
    // The input tokens were known from message_start: whatever was charged is in the ledger.
    gw.assert_ledger_consistent(&org).await;
    assert_eq!(gw.balance(&org).await.held_nanos, 0);
    assert_eq!(row.prompt_tokens, Some(25));
}

#[tokio::test]
async fn an_error_event_inside_an_openai_stream_is_forwarded() {
    let up = Fake::start(|_| {
        Reply::sse(sse_events(include_str!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../providers/fixtures/openai/stream_error.sse"
        ))))
    })
    .await;
    let gw = ptb_gateway(&up).await;
    let org = gw.org("1").await;
    let (status, _, text) = read_stream(gw.chat(&org.key, &chat_body(MODEL, true)).await).await;
    assert_eq!(status, 200);
    let err = sse_data(&text)
        .into_iter()
        .find_map(|c| c.get("error").cloned())
        .unwrap_or_else(|| panic!("{text}"));
    assert!(
        err["message"]
            .as_str()
            .unwrap()
            .contains("The server had an error"),
        "{err}"
    );
    gw.assert_ledger_consistent(&org).await;
}
