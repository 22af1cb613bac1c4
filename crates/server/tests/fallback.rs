//! Fallbacks: a retryable failure (429, 5xx, timeout, connect refused) moves to the next attempt;
//! a caller error (400) is answered at once in the OpenAI error shape with `attempts`.

mod common;

use std::time::{Duration, Instant};

use common::*;
use serde_json::{json, Value};

/// openai first, anthropic second, both BYOK.
const CHAIN: &str = "gpt-4o-mini/openai,claude-4.6-sonnet/anthropic";

async fn two_providers(
    openai_url: &str,
    anthropic_url: &str,
    timeout_secs: Option<u64>,
) -> (TestGateway, TestOrg) {
    let (o, a) = (openai_url.to_owned(), anthropic_url.to_owned());
    let gw = TestGateway::start(move |c| {
        c.providers
            .insert("openai".into(), api_key_provider(&o, None));
        c.providers
            .insert("anthropic".into(), api_key_provider(&a, None));
        if let Some(t) = timeout_secs {
            c.request_timeout_secs = t;
        }
    })
    .await;
    let org = gw.org("0").await;
    gw.set_api_key(&org, "openai", BYOK_OPENAI_KEY).await;
    gw.set_api_key(&org, "anthropic", BYOK_ANTHROPIC_KEY).await;
    (gw, org)
}

fn body(stream: bool) -> Value {
    chat_body(CHAIN, stream)
}

async fn assert_fell_back(gw: &TestGateway, org: &TestOrg, a: &Answer, first_error: &str) {
    assert_eq!(a.status, 200, "{}", a.text);
    assert_eq!(
        a.json()["choices"][0]["message"]["content"],
        "Hello! How can I help you today?"
    );
    assert_switchyard_headers(
        &a.headers,
        "anthropic",
        &endpoint("anthropic", "claude-sonnet-4-6").id,
        "byok",
        1,
    );
    let row = gw.log_row(org, &a.request_id()).await;
    let attempts = row.attempts.as_array().expect("attempts array");
    assert_eq!(
        attempts.len(),
        1,
        "the failed attempt is recorded: {attempts:?}"
    );
    assert_eq!(attempts[0]["provider"], "openai");
    assert_eq!(attempts[0]["error_type"], first_error, "{attempts:?}");
    assert_eq!(row.provider.as_deref(), Some("anthropic"));
}

#[tokio::test]
async fn rate_limited_moves_to_the_next_provider() {
    let openai = Fake::openai().await;
    openai.push(Reply::json_text(429, OPENAI_RATE_LIMIT).header("retry-after", "20"));
    let anthropic = Fake::anthropic().await;
    let (gw, org) = two_providers(&openai.url, &anthropic.url, None).await;
    let started = Instant::now();
    let a = gw.chat_json(&org.key, &body(false)).await;
    // Retry-After is for the same provider; another provider is tried at once.
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!((openai.hits(), anthropic.hits()), (1, 1));
    let row = gw.log_row(&org, &a.request_id()).await;
    assert_eq!(row.attempts[0]["status"], 429);
    assert_fell_back(
        &gw,
        &org,
        &a,
        row.attempts[0]["error_type"].as_str().unwrap(),
    )
    .await;
    assert_eq!(row.attempts[0]["error_type"], "rate_limited");
}

#[tokio::test]
async fn server_errors_move_to_the_next_provider() {
    for status in [500u16, 502, 503] {
        let openai = Fake::openai().await;
        openai.push(Reply::json(status, &json!({"error": {"message": "The server had an error", "type": "server_error", "param": null, "code": null}})));
        let anthropic = Fake::anthropic().await;
        let (gw, org) = two_providers(&openai.url, &anthropic.url, None).await;
        let a = gw.chat_json(&org.key, &body(false)).await;
        assert_eq!((openai.hits(), anthropic.hits()), (1, 1), "status {status}");
        let row = gw.log_row(&org, &a.request_id()).await;
        assert_eq!(row.attempts[0]["status"], status);
        assert_fell_back(
            &gw,
            &org,
            &a,
            row.attempts[0]["error_type"].as_str().unwrap(),
        )
        .await;
    }
}

#[tokio::test]
async fn anthropic_overloaded_529_moves_on_too() {
    let anthropic = Fake::anthropic().await;
    anthropic.push(Reply::json_text(529, ANTHROPIC_ERROR_529));
    let openai = Fake::openai().await;
    let (gw, org) = two_providers(&openai.url, &anthropic.url, None).await;
    let a = gw
        .chat_json(
            &org.key,
            &chat_body("claude-4.6-sonnet/anthropic,gpt-4o-mini/openai", false),
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.text);
    assert_eq!(a.header("x-switchyard-provider"), Some("openai"));
    assert_eq!(a.header("x-switchyard-fallback-index"), Some("1"));
}

#[tokio::test]
async fn a_timeout_moves_to_the_next_provider() {
    let openai = Fake::openai().await;
    openai.push(Reply::json_text(200, OPENAI_RESPONSE).delayed(Duration::from_secs(4)));
    let anthropic = Fake::anthropic().await;
    let (gw, org) = two_providers(&openai.url, &anthropic.url, Some(1)).await;
    let started = Instant::now();
    let a = gw.chat_json(&org.key, &body(false)).await;
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_secs(4),
        "{took:?}"
    );
    let row = gw.log_row(&org, &a.request_id()).await;
    assert_fell_back(&gw, &org, &a, "timeout").await;
    assert!(row.attempts[0].get("status").is_none_or(Value::is_null));
}

#[tokio::test]
async fn a_refused_connection_moves_to_the_next_provider() {
    let anthropic = Fake::anthropic().await;
    let (gw, org) = two_providers(&closed_port_url(), &anthropic.url, None).await;
    let a = gw.chat_json(&org.key, &body(false)).await;
    let row = gw.log_row(&org, &a.request_id()).await;
    assert_fell_back(
        &gw,
        &org,
        &a,
        row.attempts[0]["error_type"].as_str().unwrap(),
    )
    .await;
    assert!(
        row.attempts[0]["error_type"]
            .as_str()
            .unwrap()
            .contains("connect"),
        "{:?}",
        row.attempts
    );
    assert!(
        !row.attempts.to_string().contains("127.0.0.1"),
        "the upstream URL stays out of messages: {}",
        row.attempts
    );
}

#[tokio::test]
async fn a_stream_falls_back_before_the_first_byte() {
    let openai = Fake::openai().await;
    openai.push(Reply::json(
        503,
        &json!({"error": {"message": "overloaded", "type": "server_error"}}),
    ));
    let anthropic = Fake::anthropic().await;
    let (gw, org) = two_providers(&openai.url, &anthropic.url, None).await;
    let (status, headers, text) = read_stream(gw.chat(&org.key, &body(true)).await).await;
    assert_eq!(status, 200, "{text}");
    assert_eq!(headers["x-switchyard-provider"], "anthropic");
    assert_eq!(headers["x-switchyard-fallback-index"], "1");
    assert_eq!(stream_content(&sse_data(&text)), "Hello!");
}

#[tokio::test]
async fn a_bad_request_is_not_retried_elsewhere() {
    let openai = Fake::openai().await;
    openai.push(Reply::json(
        400,
        &json!({"error": {"message": "Invalid value for 'messages[0].role': 'robot'.", "type": "invalid_request_error", "param": "messages[0].role", "code": "invalid_value"}}),
    ));
    let anthropic = Fake::anthropic().await;
    let (gw, org) = two_providers(&openai.url, &anthropic.url, None).await;
    let a = gw.chat_json(&org.key, &body(false)).await;
    assert_eq!(a.status, 400, "{}", a.text);
    assert_eq!(
        (openai.hits(), anthropic.hits()),
        (1, 0),
        "no fallback on a caller error"
    );
    let err = a.error();
    assert_eq!(err["type"], "invalid_request_error");
    assert!(
        err["message"].as_str().unwrap().contains("robot"),
        "the provider's message is kept: {err}"
    );
    let attempts = err["attempts"].as_array().expect("attempts");
    assert_eq!(attempts.len(), 1);
    assert_eq!(attempts[0]["provider"], "openai");
    assert_eq!(attempts[0]["status"], 400);
    uuid::Uuid::parse_str(a.header("x-switchyard-request-id").unwrap()).unwrap();
    let row = gw.log_row(&org, &a.request_id()).await;
    assert_eq!(row.status, 400);
    assert_eq!(row.error_type.as_deref(), Some("invalid_request_error"));
}

#[tokio::test]
async fn anthropic_bad_request_is_returned_in_openai_shape() {
    let anthropic = Fake::anthropic().await;
    anthropic.push(Reply::json_text(400, ANTHROPIC_ERROR_400));
    let openai = Fake::openai().await;
    let (gw, org) = two_providers(&openai.url, &anthropic.url, None).await;
    let a = gw
        .chat_json(
            &org.key,
            &chat_body("claude-4.6-sonnet/anthropic,gpt-4o-mini/openai", false),
        )
        .await;
    assert_eq!(a.status, 400, "{}", a.text);
    assert_eq!(openai.hits(), 0);
    let err = a.error();
    assert_eq!(err["attempts"][0]["provider"], "anthropic");
    let upstream: Value = serde_json::from_str(ANTHROPIC_ERROR_400).unwrap();
    let msg = upstream["error"]["message"].as_str().unwrap();
    assert!(err["message"].as_str().unwrap().contains(msg), "{err}");
}

#[tokio::test]
async fn all_rate_limited_is_429_with_the_shortest_retry_after() {
    let openai = Fake::openai().await;
    openai.push(Reply::json_text(429, OPENAI_RATE_LIMIT).header("retry-after", "7"));
    let anthropic = Fake::anthropic().await;
    anthropic.push(Reply::json_text(429, ANTHROPIC_ERROR_429).header("retry-after", "3"));
    let (gw, org) = two_providers(&openai.url, &anthropic.url, None).await;
    let a = gw.chat_json(&org.key, &body(false)).await;
    assert_eq!(a.status, 429, "{}", a.text);
    assert_eq!(a.header("retry-after"), Some("3"));
    let err = a.error();
    assert_eq!(err["type"], "rate_limit_error");
    assert_eq!(err["attempts"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn all_outages_are_502_listing_every_attempt() {
    let anthropic = Fake::anthropic().await;
    anthropic.push(Reply::json_text(529, ANTHROPIC_ERROR_529));
    let (gw, org) = two_providers(&closed_port_url(), &anthropic.url, None).await;
    let a = gw.chat_json(&org.key, &body(false)).await;
    assert_eq!(a.status, 502, "{}", a.text);
    let err = a.error();
    let attempts = err["attempts"].as_array().unwrap();
    assert_eq!(attempts.len(), 2);
    assert_eq!(attempts[0]["provider"], "openai");
    assert_eq!(attempts[1]["provider"], "anthropic");
}

#[tokio::test]
async fn byok_then_ptb_on_the_same_provider_waits_for_retry_after() {
    let openai = Fake::openai().await;
    openai.push(Reply::json_text(429, OPENAI_RATE_LIMIT).header("retry-after", "1"));
    let url = openai.url.clone();
    let gw = TestGateway::start(move |c| {
        c.providers.insert(
            "openai".into(),
            api_key_provider(&url, Some(PTB_OPENAI_KEY)),
        );
        c.max_retry_wait_ms = 250;
    })
    .await;
    let org = gw.org("1").await;
    gw.set_api_key(&org, "openai", BYOK_OPENAI_KEY).await;
    let started = Instant::now();
    let a = gw
        .chat_json(&org.key, &chat_body("gpt-4o-mini", false))
        .await;
    let took = started.elapsed();
    assert_eq!(a.status, 200, "{}", a.text);
    assert_switchyard_headers(
        &a.headers,
        "openai",
        &endpoint("openai", "gpt-4o-mini").id,
        "ptb",
        1,
    );
    // Retry-After 1 s, capped by max_retry_wait_ms = 250.
    assert!(
        took >= Duration::from_millis(240) && took < Duration::from_millis(950),
        "{took:?}"
    );
    let reqs = openai.requests();
    assert_eq!(
        reqs[0].header("authorization"),
        Some(format!("Bearer {BYOK_OPENAI_KEY}").as_str())
    );
    assert_eq!(
        reqs[1].header("authorization"),
        Some(format!("Bearer {PTB_OPENAI_KEY}").as_str())
    );
    assert!(
        gw.debited(&org).await > 0,
        "the PTB attempt is paid from credits"
    );
}

#[tokio::test]
async fn an_exhausted_quota_moves_to_the_next_provider() {
    // OpenAI's documented `insufficient_quota` 429: this key's account is out of credit, but
    // another provider can still answer.
    let quota = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../providers/fixtures/openai/error_429.json"
    ))
    .unwrap();
    assert!(
        quota.contains("insufficient_quota"),
        "fixture is the quota kind"
    );
    let openai = Fake::openai().await;
    openai.push(Reply::json_text(429, &quota));
    let anthropic = Fake::anthropic().await;
    let (gw, org) = two_providers(&openai.url, &anthropic.url, None).await;
    let a = gw.chat_json(&org.key, &body(false)).await;
    assert_eq!((openai.hits(), anthropic.hits()), (1, 1));
    let row = gw.log_row(&org, &a.request_id()).await;
    assert_eq!(row.attempts[0]["error_type"], "quota_exceeded");
    assert_fell_back(&gw, &org, &a, "quota_exceeded").await;
}
