//! Anthropic through the gateway: the OpenAI request becomes a Messages request, the Messages
//! answer (JSON or `event:` SSE) comes back in the OpenAI shape, BYOK and PTB.

mod common;

use common::*;
use serde_json::json;

const MODEL: &str = "claude-4.6-sonnet";
const PROVIDER_MODEL: &str = "claude-sonnet-4-6";

#[tokio::test]
async fn byok_whole_answer() {
    let up = Fake::anthropic().await;
    let gw = TestGateway::start(|c| {
        c.providers
            .insert("anthropic".into(), api_key_provider(&up.url, None));
    })
    .await;
    let org = gw.org("0").await;
    gw.set_api_key(&org, "anthropic", BYOK_ANTHROPIC_KEY).await;

    let body = json!({
        "model": MODEL,
        "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Say hello."}],
        "max_tokens": 64,
    });
    let a = gw.chat_json(&org.key, &body).await;
    assert_eq!(a.status, 200, "{}", a.text);
    let v = a.json();
    assert_eq!(v["object"], "chat.completion");
    assert_eq!(v["choices"][0]["message"]["role"], "assistant");
    assert_eq!(
        v["choices"][0]["message"]["content"],
        "Hello! How can I help you today?"
    );
    assert_eq!(v["choices"][0]["finish_reason"], "stop");
    assert_eq!(v["usage"]["prompt_tokens"], 12);
    assert_eq!(v["usage"]["completion_tokens"], 10);
    let e = endpoint("anthropic", PROVIDER_MODEL);
    assert_switchyard_headers(&a.headers, "anthropic", &e.id, "byok", 0);
    assert_eq!(a.cost(), expected_cost(e, 12, 0, 10));

    // A Messages request: x-api-key, anthropic-version, the provider's model id, system apart.
    let r = up.last();
    assert_eq!(r.path, "/v1/messages");
    assert_eq!(r.header("x-api-key"), Some(BYOK_ANTHROPIC_KEY));
    assert!(r.header("authorization").is_none());
    assert!(r.header("anthropic-version").is_some());
    let sent = r.json();
    assert_eq!(sent["model"], PROVIDER_MODEL);
    assert_eq!(sent["max_tokens"], 64);
    assert_eq!(sent["stream"], false);
    assert!(sent["system"].to_string().contains("Be brief."), "{sent}");
    assert_eq!(
        sent["messages"].as_array().unwrap().len(),
        1,
        "the system message is not a message: {sent}"
    );
    assert_eq!(sent["messages"][0]["role"], "user");

    let row = gw.log_row(&org, &a.request_id()).await;
    assert_eq!(row.prompt_tokens, Some(12));
    assert_eq!(row.completion_tokens, Some(10));
    assert_eq!(
        row.cost_nanos,
        Some(switchyard_cost::usd_to_nanos(expected_cost(e, 12, 0, 10)))
    );
    assert_eq!(row.endpoint.as_deref(), Some(e.id.as_str()));
}

#[tokio::test]
async fn byok_stream() {
    let up = Fake::anthropic().await;
    let gw = TestGateway::start(|c| {
        c.providers
            .insert("anthropic".into(), api_key_provider(&up.url, None));
    })
    .await;
    let org = gw.org("0").await;
    gw.set_api_key(&org, "anthropic", BYOK_ANTHROPIC_KEY).await;

    let (status, headers, text) =
        read_stream(gw.chat(&org.key, &chat_body(MODEL, true)).await).await;
    assert_eq!(status, 200, "{text}");
    assert_switchyard_headers(
        &headers,
        "anthropic",
        &endpoint("anthropic", PROVIDER_MODEL).id,
        "byok",
        0,
    );
    // OpenAI chunks, not Anthropic events.
    assert!(!text.contains("event:"), "{text}");
    let chunks = sse_data(&text);
    assert_eq!(stream_content(&chunks), "Hello!");
    assert!(
        chunks
            .iter()
            .all(|c| c["object"] == "chat.completion.chunk"),
        "{text}"
    );
    assert!(
        chunks
            .iter()
            .any(|c| c.pointer("/choices/0/finish_reason") == Some(&json!("stop"))),
        "{text}"
    );
    assert!(text.trim_end().ends_with("data: [DONE]"));
    assert_eq!(up.last().json()["stream"], true);

    let row = gw
        .log_row(&org, headers["x-switchyard-request-id"].to_str().unwrap())
        .await;
    assert_eq!(row.prompt_tokens, Some(25));
    assert_eq!(row.completion_tokens, Some(15));
    let e = endpoint("anthropic", PROVIDER_MODEL);
    assert_eq!(
        row.cost_nanos,
        Some(switchyard_cost::usd_to_nanos(expected_cost(e, 25, 0, 15)))
    );
}

#[tokio::test]
async fn ptb_whole_answer_and_stream_debit_exactly() {
    let up = Fake::anthropic().await;
    let gw = TestGateway::start(|c| {
        c.providers.insert(
            "anthropic".into(),
            api_key_provider(&up.url, Some(PTB_ANTHROPIC_KEY)),
        );
    })
    .await;
    let org = gw.org("5").await;
    let e = endpoint("anthropic", PROVIDER_MODEL);

    let a = gw.chat_json(&org.key, &chat_body(MODEL, false)).await;
    assert_eq!(a.status, 200, "{}", a.text);
    assert_switchyard_headers(&a.headers, "anthropic", &e.id, "ptb", 0);
    assert_eq!(up.last().header("x-api-key"), Some(PTB_ANTHROPIC_KEY));
    assert_eq!(a.cost(), expected_cost(e, 12, 0, 10));

    let mut body = chat_body(MODEL, true);
    body["stream_options"] = json!({"include_usage": true});
    let (status, headers, text) = read_stream(gw.chat(&org.key, &body).await).await;
    assert_eq!(status, 200, "{text}");
    assert_eq!(headers["x-switchyard-billing"], "ptb");
    let usage = stream_usage(&sse_data(&text)).expect("usage chunk");
    assert_eq!(usage["prompt_tokens"], 25);
    assert_eq!(usage["completion_tokens"], 15);

    gw.wait_debits(&org, 2).await;
    let expected = switchyard_cost::usd_to_nanos(expected_cost(e, 12, 0, 10))
        + switchyard_cost::usd_to_nanos(expected_cost(e, 25, 0, 15));
    assert_eq!(gw.debited(&org).await, expected);
    gw.assert_ledger_consistent(&org).await;
    assert_eq!(gw.balance(&org).await.held_nanos, 0);
}
