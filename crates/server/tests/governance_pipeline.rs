//! Governance wired into the pipeline, embedded (SQLite, no Redis): stored and per-request
//! rate-limit policies, the response cache (whole and replayed as SSE), and revocation through
//! the in-process bus. The same behaviour on PostgreSQL + Redis across three instances is
//! `crates/switchyard/tests/multi_instance.rs`.

mod common;

use std::time::Duration;

use common::*;
use serde_json::{json, Value};
use switchyard_store::LogRow;

const MODEL: &str = "gpt-4o-mini";
const ADMIN: &str = "admin-token-0123456789abcdef";

async fn gateway(up: &Fake) -> TestGateway {
    let url = up.url.clone();
    TestGateway::start(move |c| {
        c.admin_token = Some(ADMIN.into());
        c.providers.insert(
            "openai".into(),
            api_key_provider(&url, Some(PTB_OPENAI_KEY)),
        );
    })
    .await
}

async fn chat_with(
    gw: &TestGateway,
    key: &str,
    body: &Value,
    headers: &[(&str, &str)],
) -> reqwest::Response {
    let mut req = gw
        .client
        .post(format!("{}/v1/chat/completions", gw.url))
        .bearer_auth(key)
        .json(body);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    req.send().await.unwrap()
}

async fn admin_put(gw: &TestGateway, path: &str, method: reqwest::Method, body: Value) -> Answer {
    Answer::read(
        gw.client
            .request(method, format!("{}{path}", gw.url))
            .bearer_auth(ADMIN)
            .json(&body)
            .send()
            .await
            .unwrap(),
    )
    .await
}

async fn row_of(gw: &TestGateway, org: &TestOrg, a: &Answer) -> LogRow {
    gw.log_row(org, &a.request_id()).await
}

#[tokio::test]
async fn a_stored_org_policy_passes_exactly_its_quota_then_answers_429_without_upstream_call() {
    let up = Fake::openai().await;
    let gw = gateway(&up).await;
    let org = gw.org("10").await;
    let bad = admin_put(
        &gw,
        &format!("/admin/orgs/{}/rate-limit", org.id),
        reqwest::Method::PUT,
        json!({"rate_limit_policy": "5;w=sixty"}),
    )
    .await;
    assert_eq!(bad.status, 400, "{}", bad.text);
    assert_eq!(bad.error()["code"], "invalid_policy");
    assert!(
        bad.text.contains("w must be"),
        "names the part: {}",
        bad.text
    );
    let set = admin_put(
        &gw,
        &format!("/admin/orgs/{}/rate-limit", org.id),
        reqwest::Method::PUT,
        json!({"rate_limit_policy": "5;w=60"}),
    )
    .await;
    assert_eq!(set.status, 200, "{}", set.text);
    assert_eq!(set.json()["rate_limit_policy"], "5;w=60");

    let body = chat_body(MODEL, false);
    for i in 0..5u64 {
        let a = Answer::read(chat_with(&gw, &org.key, &body, &[]).await).await;
        assert_eq!(a.status, 200, "request {i}: {}", a.text);
        assert_eq!(a.header("x-switchyard-ratelimit-limit"), Some("5"));
        assert_eq!(a.header("x-switchyard-ratelimit-policy"), Some("5;w=60"));
        let remaining: u64 = a
            .header("x-switchyard-ratelimit-remaining")
            .unwrap()
            .parse()
            .unwrap();
        assert_eq!(remaining, 4 - i);
        assert!(a.header("x-switchyard-ratelimit-reset").is_some());
    }
    let refused = Answer::read(chat_with(&gw, &org.key, &body, &[]).await).await;
    assert_eq!(refused.status, 429, "{}", refused.text);
    assert_eq!(refused.error()["code"], "rate_limit_exceeded");
    assert_eq!(refused.error()["type"], "rate_limited");
    let retry: u64 = refused.header("retry-after").unwrap().parse().unwrap();
    assert!(
        (1..=12).contains(&retry),
        "one unit refills in 12 s: {retry}"
    );
    assert_eq!(
        refused.header("x-switchyard-ratelimit-remaining"),
        Some("0")
    );
    assert_eq!(up.hits(), 5, "no upstream call for the refused request");
    let row = row_of(&gw, &org, &refused).await;
    assert_eq!(row.status, 429);
    assert_eq!(row.error_type.as_deref(), Some("rate_limited"));
    gw.assert_ledger_consistent(&org).await;

    // Clearing the policy takes effect at once (the bus drops the cached key record).
    let cleared = admin_put(
        &gw,
        &format!("/admin/orgs/{}/rate-limit", org.id),
        reqwest::Method::PUT,
        json!({"rate_limit_policy": null}),
    )
    .await;
    assert_eq!(cleared.status, 200);
    let a = Answer::read(chat_with(&gw, &org.key, &body, &[]).await).await;
    assert_eq!(a.status, 200);
    assert!(a.header("x-switchyard-ratelimit-limit").is_none());
}

#[tokio::test]
async fn header_policies_scope_by_user_the_strictest_applies_and_bad_ones_are_400() {
    let up = Fake::openai().await;
    let gw = gateway(&up).await;
    let org = gw.org("10").await;
    let body = chat_body(MODEL, false);
    let bad = Answer::read(
        chat_with(
            &gw,
            &org.key,
            &body,
            &[("x-switchyard-ratelimit-policy", "10;w=60;u=bytes")],
        )
        .await,
    )
    .await;
    assert_eq!(bad.status, 400);
    assert_eq!(bad.error()["code"], "invalid_policy");
    assert!(bad.text.contains("u must be"), "{}", bad.text);
    assert_eq!(up.hits(), 0);

    // Helicone's header name works too; two policies: the stricter (2 per user) decides.
    let policy = [("helicone-ratelimit-policy", "100;w=60,2;w=60;s=user")];
    for user in ["ann", "bob"] {
        for i in 0..3 {
            let mut h = policy.to_vec();
            h.push(("x-switchyard-user-id", user));
            let a = Answer::read(chat_with(&gw, &org.key, &body, &h).await).await;
            let want = if i < 2 { 200 } else { 429 };
            assert_eq!(a.status, want, "{user} request {i}: {}", a.text);
            if want == 429 {
                assert_eq!(
                    a.header("x-switchyard-ratelimit-policy"),
                    Some("2;w=60;s=user")
                );
            }
        }
    }
    assert_eq!(up.hits(), 4);
}

#[tokio::test]
async fn a_tokens_policy_is_charged_with_the_real_usage_after_the_answer() {
    let up = Fake::openai_with_usage(openai_usage(600, 400, 0)).await;
    let gw = gateway(&up).await;
    let org = gw.org("10").await;
    let body = chat_body(MODEL, false);
    let h = [("x-switchyard-ratelimit-policy", "1500;w=3600;u=tokens")];
    // 1,000 tokens each: the first two pass (something is left before each), the third not.
    for (i, want) in [200u16, 200, 429].into_iter().enumerate() {
        let a = Answer::read(chat_with(&gw, &org.key, &body, &h).await).await;
        assert_eq!(a.status, want, "request {i}: {}", a.text);
        // The usage is charged in the request's task just after the answer went out.
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(up.hits(), 2);
}

#[tokio::test]
async fn a_cached_answer_is_served_whole_and_as_sse_with_cost_zero_and_a_hit_row() {
    let up = Fake::openai().await;
    let gw = gateway(&up).await;
    let org = gw.org("10").await;
    let on = [("x-switchyard-cache", "true")];
    let body = chat_body(MODEL, false);
    let first = Answer::read(chat_with(&gw, &org.key, &body, &on).await).await;
    assert_eq!(first.status, 200, "{}", first.text);
    assert_eq!(first.header("x-switchyard-cache"), Some("MISS"));
    let cost = first.cost();
    assert!(cost > rust_decimal::Decimal::ZERO);
    // Stored in the request's task just after the answer went out.
    tokio::time::sleep(Duration::from_millis(200)).await;

    // Whitespace, key order and `user` do not change the key.
    let same = json!({"max_tokens": 64, "user": "someone", "stream": false, "messages": [{"content": "Say hello.", "role": "user"}], "model": MODEL});
    let hit = Answer::read(chat_with(&gw, &org.key, &same, &on).await).await;
    assert_eq!(hit.status, 200, "{}", hit.text);
    assert_eq!(hit.header("x-switchyard-cache"), Some("HIT"));
    assert_eq!(hit.header("x-switchyard-cost-usd"), Some("0"));
    assert_eq!(hit.json()["choices"], first.json()["choices"]);
    assert_eq!(up.hits(), 1, "the hit made no upstream call");
    let row = row_of(&gw, &org, &hit).await;
    assert_eq!(row.cache_status.as_deref(), Some("hit"));
    assert_eq!(row.cost_nanos, Some(0));
    assert_eq!(
        row.cache_saved_nanos,
        Some(switchyard_cost::usd_to_nanos(cost)),
        "the hit says what it saved"
    );
    assert_eq!(
        row_of(&gw, &org, &first).await.cache_status.as_deref(),
        Some("miss")
    );

    // A streamed request is answered from the cached whole answer, replayed as SSE.
    let mut sbody = chat_body(MODEL, true);
    sbody["stream_options"] = json!({"include_usage": true});
    let res = chat_with(&gw, &org.key, &sbody, &on).await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["x-switchyard-cache"], "HIT");
    assert!(res.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/event-stream"));
    let text = res.text().await.unwrap();
    let chunks = sse_data(&text);
    let want = first.json()["choices"][0]["message"]["content"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(stream_content(&chunks), want);
    assert!(stream_usage(&chunks).is_some());
    assert!(text.trim_end().ends_with("data: [DONE]"));
    assert_eq!(up.hits(), 1);

    // Without the header (and no key setting) the cache is not used; `no-store` neither.
    let off = Answer::read(chat_with(&gw, &org.key, &body, &[]).await).await;
    assert!(off.header("x-switchyard-cache").is_none());
    assert_eq!(up.hits(), 2);
    gw.assert_ledger_consistent(&org).await;
}

#[tokio::test]
async fn a_streamed_answer_is_reassembled_into_the_cache_and_the_key_setting_turns_it_on() {
    let up = Fake::openai().await;
    let gw = gateway(&up).await;
    let org = gw.org("10").await;
    let key = gw.store.list_gateway_keys(org.id).await.unwrap().remove(0);
    let set = admin_put(
        &gw,
        &format!("/admin/orgs/{}/keys/{}", org.id, key.id),
        reqwest::Method::PATCH,
        json!({"cache_enabled": true}),
    )
    .await;
    assert_eq!(set.status, 200, "{}", set.text);
    assert_eq!(set.json()["cache_enabled"], true);

    let res = chat_with(&gw, &org.key, &chat_body(MODEL, true), &[]).await;
    assert_eq!(res.headers()["x-switchyard-cache"], "MISS");
    let streamed = stream_content(&sse_data(&res.text().await.unwrap()));
    // The put happens in the request's task after the stream: wait for it.
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        let a = Answer::read(chat_with(&gw, &org.key, &chat_body(MODEL, false), &[]).await).await;
        if a.header("x-switchyard-cache") == Some("HIT") {
            assert_eq!(
                a.json()["choices"][0]["message"]["content"]
                    .as_str()
                    .unwrap(),
                streamed
            );
            break;
        }
        assert!(std::time::Instant::now() < deadline, "never cached");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_streamed_tool_call_answer_is_cached_with_its_calls() {
    // OpenAI's shape: the first delta of a call has its id, type and name, the rest argument
    // pieces; the last chunk the finish reason, then the usage chunk.
    let frames = [
        json!({"id": "chatcmpl-t", "object": "chat.completion.chunk", "created": 1, "model": "gpt-4o-mini",
            "choices": [{"index": 0, "delta": {"role": "assistant", "content": null, "tool_calls": [
                {"index": 0, "id": "call_w", "type": "function", "function": {"name": "get_weather", "arguments": ""}}]},
                "finish_reason": null}]}),
        json!({"id": "chatcmpl-t", "object": "chat.completion.chunk", "created": 1, "model": "gpt-4o-mini",
            "choices": [{"index": 0, "delta": {"tool_calls": [{"index": 0, "function": {"arguments": "{\"city\":"}}]}, "finish_reason": null}]}),
        json!({"id": "chatcmpl-t", "object": "chat.completion.chunk", "created": 1, "model": "gpt-4o-mini",
            "choices": [{"index": 0, "delta": {"tool_calls": [{"index": 0, "function": {"arguments": "\"Paris\"}"}}]}, "finish_reason": null}]}),
        json!({"id": "chatcmpl-t", "object": "chat.completion.chunk", "created": 1, "model": "gpt-4o-mini",
            "choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]}),
        json!({"id": "chatcmpl-t", "object": "chat.completion.chunk", "created": 1, "model": "gpt-4o-mini",
            "choices": [], "usage": {"prompt_tokens": 40, "completion_tokens": 12, "total_tokens": 52}}),
    ];
    let mut chunks: Vec<bytes::Bytes> = frames
        .iter()
        .map(|f| bytes::Bytes::from(format!("data: {f}\n\n")))
        .collect();
    chunks.push(bytes::Bytes::from_static(b"data: [DONE]\n\n"));
    let up = Fake::start(move |_| Reply::sse(chunks.clone())).await;
    let gw = gateway(&up).await;
    let org = gw.org("11").await;
    let mut body = chat_body(MODEL, true);
    body["tools"] = json!([{"type": "function", "function": {"name": "get_weather",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}]);
    let on = [("x-switchyard-cache", "true")];

    let res = chat_with(&gw, &org.key, &body, &on).await;
    assert_eq!(res.headers()["x-switchyard-cache"], "MISS");
    let id = res.headers()["x-switchyard-request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    res.text().await.unwrap();
    // The request's task stores the reassembled answer before it logs the row.
    gw.log_row(&org, &id).await;
    body["stream"] = json!(false);
    let a = Answer::read(chat_with(&gw, &org.key, &body, &on).await).await;
    assert_eq!(a.status, 200, "{}", a.text);
    assert_eq!(a.header("x-switchyard-cache"), Some("HIT"));
    assert_eq!(
        a.json()["choices"][0]["message"],
        json!({"role": "assistant", "content": null, "tool_calls": [
            {"id": "call_w", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}}]})
    );
    assert_eq!(a.json()["choices"][0]["finish_reason"], "tool_calls");
    assert_eq!(up.hits(), 1, "the hit made no upstream call");
}

#[tokio::test]
async fn a_key_revoked_through_the_admin_api_is_refused_at_once() {
    let up = Fake::openai().await;
    let gw = gateway(&up).await;
    let org = gw.org("10").await;
    let body = chat_body(MODEL, false);
    assert_eq!(gw.chat_json(&org.key, &body).await.status, 200);
    let key = gw.store.list_gateway_keys(org.id).await.unwrap().remove(0);
    let revoked = Answer::read(
        gw.client
            .delete(format!("{}/admin/keys/{}", gw.url, key.id))
            .bearer_auth(ADMIN)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(revoked.status, 200, "{}", revoked.text);
    assert_eq!(gw.chat_json(&org.key, &body).await.status, 401);
    let _ = gw
        .store
        .recent_logs(&switchyard_store::LogQuery::new(org.id, 10))
        .await;
}

#[tokio::test]
async fn health_ready_and_governance_metrics() {
    let up = Fake::openai().await;
    let gw = gateway(&up).await;
    let ready = Answer::read(
        gw.client
            .get(format!("{}/health/ready", gw.url))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(ready.status, 200, "{}", ready.text);
    assert_eq!(ready.json()["governance"], "in-process");
    let metrics = gw
        .client
        .get(format!("{}/metrics", gw.url))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for name in ["switchyard_redis_up", "switchyard_bus_connected"] {
        assert!(metrics.contains(name), "{name} in /metrics");
    }
}
