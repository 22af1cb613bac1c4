//! OpenAI through the gateway: BYOK and PTB, whole answers and streams, what is sent upstream.

mod common;

use common::*;
use serde_json::{json, Value};

const MODEL: &str = "gpt-4o-mini";

fn fixture_cost() -> rust_decimal::Decimal {
    // The fixture reports 1117 prompt tokens of which 1024 cached, and 46 completion tokens.
    expected_cost(endpoint("openai", MODEL), 1117 - 1024, 1024, 46)
}

#[tokio::test]
async fn byok_whole_answer() {
    let up = Fake::openai().await;
    let gw = TestGateway::start(|c| {
        c.providers
            .insert("openai".into(), api_key_provider(&up.url, None));
    })
    .await;
    let org = gw.org("0").await;
    gw.set_api_key(&org, "openai", BYOK_OPENAI_KEY).await;

    let a = gw.chat_json(&org.key, &json!({"model": MODEL, "messages": [{"role": "user", "content": "Say hello."}], "temperature": 0.2})).await;
    assert_eq!(a.status, 200, "{}", a.text);
    let v = a.json();
    assert_eq!(
        v["choices"][0]["message"]["content"],
        "Hello! How can I help?"
    );
    assert_eq!(v["usage"]["prompt_tokens"], 1117);
    assert_eq!(v["usage"]["completion_tokens"], 46);
    assert_eq!(v["usage"]["prompt_tokens_details"]["cached_tokens"], 1024);
    assert_switchyard_headers(
        &a.headers,
        "openai",
        &endpoint("openai", MODEL).id,
        "byok",
        0,
    );
    assert_eq!(a.cost(), fixture_cost());

    // What the gateway sent: the org's own key, the provider's model id, the caller's fields.
    let r = up.last();
    assert_eq!(r.method, "POST");
    assert_eq!(r.path, "/v1/chat/completions");
    assert_eq!(
        r.header("authorization"),
        Some(format!("Bearer {BYOK_OPENAI_KEY}").as_str())
    );
    let body = r.json();
    assert_eq!(body["model"], MODEL);
    assert_eq!(body["temperature"], 0.2);
    assert_eq!(body["messages"][0]["content"], "Say hello.");
    assert!(body.get("stream").is_none_or(|s| s == false), "{body}");

    // BYOK never touches credits; the log row has the tokens and the cost.
    assert_eq!(gw.debited(&org).await, 0);
    let row = gw.log_row(&org, &a.request_id()).await;
    assert_eq!(row.status, 200);
    assert_eq!(row.provider.as_deref(), Some("openai"));
    assert_eq!(row.billing, Some(switchyard_store::BillingMode::Byok));
    assert_eq!(row.prompt_tokens, Some(1117));
    assert_eq!(row.completion_tokens, Some(46));
    assert_eq!(row.cached_tokens, Some(1024));
    assert_eq!(
        row.cost_nanos,
        Some(switchyard_cost::usd_to_nanos(fixture_cost()))
    );
    assert_eq!(row.model, MODEL);
    assert!(!row.stream);
    assert_rows_clean(&[row], &[&org.key]);
}

#[tokio::test]
async fn byok_stream_asks_for_usage_and_passes_chunks_through() {
    let up = Fake::openai().await;
    let gw = TestGateway::start(|c| {
        c.providers
            .insert("openai".into(), api_key_provider(&up.url, None));
    })
    .await;
    let org = gw.org("0").await;
    gw.set_api_key(&org, "openai", BYOK_OPENAI_KEY).await;

    let res = gw.chat(&org.key, &chat_body(MODEL, true)).await;
    let (status, headers, text) = read_stream(res).await;
    assert_eq!(status, 200, "{text}");
    assert!(headers["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/event-stream"));
    assert_switchyard_headers(&headers, "openai", &endpoint("openai", MODEL).id, "byok", 0);
    assert!(
        headers.get("x-switchyard-cost-usd").is_none(),
        "a stream's cost is not known when headers go out"
    );
    let chunks = sse_data(&text);
    assert_eq!(stream_content(&chunks), "Hello! How can I help?");
    assert!(text.trim_end().ends_with("data: [DONE]"), "{text}");
    assert!(
        chunks
            .iter()
            .all(|c| c["object"] == "chat.completion.chunk"),
        "{text}"
    );

    // The gateway asked the provider for usage although the caller did not.
    let body = up.last().json();
    assert_eq!(body["stream"], true);
    assert_eq!(body["stream_options"]["include_usage"], true);

    // ... and used it for the cost.
    let row = gw
        .log_row(&org, headers["x-switchyard-request-id"].to_str().unwrap())
        .await;
    assert!(row.stream);
    assert_eq!(row.prompt_tokens, Some(1117));
    assert_eq!(row.completion_tokens, Some(46));
    assert_eq!(
        row.cost_nanos,
        Some(switchyard_cost::usd_to_nanos(fixture_cost()))
    );
    assert!(row.ttft_ms.is_some());
}

#[tokio::test]
async fn ptb_whole_answer_debits_the_exact_cost() {
    let up = Fake::openai().await;
    let gw = TestGateway::start(|c| {
        c.providers.insert(
            "openai".into(),
            api_key_provider(&up.url, Some(PTB_OPENAI_KEY)),
        );
    })
    .await;
    let org = gw.org("1").await;
    let before = gw.balance(&org).await.balance_nanos;

    let a = gw.chat_json(&org.key, &chat_body(MODEL, false)).await;
    assert_eq!(a.status, 200, "{}", a.text);
    assert_eq!(
        a.json()["choices"][0]["message"]["content"],
        "Hello! How can I help?"
    );
    assert_switchyard_headers(
        &a.headers,
        "openai",
        &endpoint("openai", MODEL).id,
        "ptb",
        0,
    );
    assert_eq!(a.cost(), fixture_cost());
    assert_eq!(
        up.last().header("authorization"),
        Some(format!("Bearer {PTB_OPENAI_KEY}").as_str())
    );

    let cost = switchyard_cost::usd_to_nanos(fixture_cost());
    assert_eq!(gw.debited(&org).await, cost);
    let balance = gw.assert_ledger_consistent(&org).await;
    assert_eq!(balance, before - cost);
    assert_eq!(
        gw.balance(&org).await.held_nanos,
        0,
        "the hold ended with the settlement"
    );
    let row = gw.log_row(&org, &a.request_id()).await;
    assert_eq!(row.billing, Some(switchyard_store::BillingMode::Ptb));
    assert_eq!(row.cost_nanos, Some(cost));
}

#[tokio::test]
async fn ptb_stream_with_usage_requested_settles_exactly() {
    let up = Fake::openai_with_usage(openai_usage(40, 12, 0)).await;
    let gw = TestGateway::start(|c| {
        c.providers.insert(
            "openai".into(),
            api_key_provider(&up.url, Some(PTB_OPENAI_KEY)),
        );
    })
    .await;
    let org = gw.org("1").await;

    let mut body = chat_body(MODEL, true);
    body["stream_options"] = json!({"include_usage": true});
    let (status, headers, text) = read_stream(gw.chat(&org.key, &body).await).await;
    assert_eq!(status, 200, "{text}");
    assert_eq!(headers["x-switchyard-billing"], "ptb");
    let chunks = sse_data(&text);
    assert_eq!(stream_content(&chunks), "Hello! How can I help?");
    let usage = stream_usage(&chunks).expect("the caller asked for the usage chunk");
    assert_eq!(usage["prompt_tokens"], 40);
    assert_eq!(usage["completion_tokens"], 12);

    gw.wait_debits(&org, 1).await;
    let expected =
        switchyard_cost::usd_to_nanos(expected_cost(endpoint("openai", MODEL), 40, 0, 12));
    assert_eq!(gw.debited(&org).await, expected);
    gw.assert_ledger_consistent(&org).await;
    assert_eq!(gw.balance(&org).await.held_nanos, 0);
}

#[tokio::test]
async fn byok_key_is_used_before_the_gateways_own() {
    let up = Fake::openai().await;
    let gw = TestGateway::start(|c| {
        c.providers.insert(
            "openai".into(),
            api_key_provider(&up.url, Some(PTB_OPENAI_KEY)),
        );
    })
    .await;
    let org = gw.org("1").await;
    gw.set_api_key(&org, "openai", BYOK_OPENAI_KEY).await;
    let a = gw.chat_json(&org.key, &chat_body(MODEL, false)).await;
    assert_eq!(a.status, 200, "{}", a.text);
    assert_eq!(a.header("x-switchyard-billing"), Some("byok"));
    assert_eq!(
        up.last().header("authorization"),
        Some(format!("Bearer {BYOK_OPENAI_KEY}").as_str())
    );
    assert_eq!(gw.debited(&org).await, 0);
}

#[tokio::test]
async fn unsupported_parameters_are_removed_and_token_limit_renamed() {
    // gpt-5 takes neither `temperature` nor `max_tokens` (registry: unsupported_parameters).
    let up = Fake::openai().await;
    let gw = TestGateway::start(|c| {
        c.providers
            .insert("openai".into(), api_key_provider(&up.url, None));
    })
    .await;
    let org = gw.org("0").await;
    gw.set_api_key(&org, "openai", BYOK_OPENAI_KEY).await;
    let a = gw
        .chat_json(
            &org.key,
            &json!({"model": "gpt-5", "messages": [{"role": "user", "content": "hi"}], "temperature": 0.7, "max_tokens": 50, "seed": 7}),
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.text);
    let body: Value = up.last().json();
    assert_eq!(body["model"], "gpt-5");
    assert!(body.get("temperature").is_none(), "{body}");
    assert!(body.get("max_tokens").is_none(), "{body}");
    assert_eq!(
        body["max_completion_tokens"], 50,
        "the caller's cap is kept under the name the model takes"
    );
    assert_eq!(body["seed"], 7, "supported fields pass through");
}
