//! The caller's mistakes and the gateway's answers to them: every error in the OpenAI shape with a
//! message that says how to fix the request, and no secret anywhere in answers or log rows.

mod common;

use common::*;
use serde_json::json;

async fn openai_gateway(up: &Fake, max_body: Option<usize>) -> TestGateway {
    let url = up.url.clone();
    TestGateway::start(move |c| {
        c.providers.insert(
            "openai".into(),
            api_key_provider(&url, Some(PTB_OPENAI_KEY)),
        );
        if let Some(m) = max_body {
            c.max_body_bytes = m;
        }
    })
    .await
}

async fn raw_post(gw: &TestGateway, key: Option<&str>, body: impl Into<reqwest::Body>) -> Answer {
    let mut req = gw
        .client
        .post(format!("{}/v1/chat/completions", gw.url))
        .header("content-type", "application/json")
        .body(body);
    if let Some(k) = key {
        req = req.bearer_auth(k);
    }
    Answer::read(req.send().await.unwrap()).await
}

#[tokio::test]
async fn unknown_model_is_404_saying_how_to_fix_it() {
    let up = Fake::openai().await;
    let gw = openai_gateway(&up, None).await;
    let org = gw.org("1").await;
    let a = gw
        .chat_json(&org.key, &chat_body("gpt-9-imaginary", false))
        .await;
    assert_eq!(a.status, 404, "{}", a.text);
    let err = a.error();
    assert_eq!(err["code"], "model_not_found");
    let msg = err["message"].as_str().unwrap();
    assert!(msg.contains("gpt-9-imaginary"), "{msg}");
    assert!(
        msg.contains("/v1/models"),
        "the message points at the model list: {msg}"
    );
    assert_eq!(up.hits(), 0);
    let row = gw.log_row(&org, &a.request_id()).await;
    assert_eq!(row.status, 404);
    assert_eq!(row.model, "gpt-9-imaginary");
}

#[tokio::test]
async fn unknown_provider_is_400_listing_valid_ones() {
    let up = Fake::openai().await;
    let gw = openai_gateway(&up, None).await;
    let org = gw.org("1").await;
    let a = gw
        .chat_json(&org.key, &chat_body("gpt-4o-mini/openaii", false))
        .await;
    assert_eq!(a.status, 400, "{}", a.text);
    let err = a.error();
    assert_eq!(err["type"], "invalid_request_error");
    let msg = err["message"].as_str().unwrap();
    assert!(
        msg.contains("openaii") && msg.contains("anthropic"),
        "{msg}"
    );
}

#[tokio::test]
async fn malformed_and_incomplete_bodies_are_400() {
    let up = Fake::openai().await;
    let gw = openai_gateway(&up, None).await;
    let org = gw.org("1").await;

    let a = raw_post(
        &gw,
        Some(&org.key),
        "{\"model\": \"gpt-4o-mini\", \"messages\": [",
    )
    .await;
    assert_eq!(a.status, 400, "{}", a.text);
    let err = a.error();
    assert_eq!(err["type"], "invalid_request_error");
    assert!(err["message"].as_str().unwrap().contains("JSON"), "{err}");

    let a = raw_post(&gw, Some(&org.key), "[1, 2]").await;
    assert_eq!(a.status, 400, "{}", a.text);

    let a = gw
        .chat_json(&org.key, &json!({"model": "gpt-4o-mini"}))
        .await;
    assert_eq!(a.status, 400);
    assert_eq!(a.error()["param"], "messages");

    let a = gw
        .chat_json(
            &org.key,
            &json!({"messages": [{"role": "user", "content": "hi"}]}),
        )
        .await;
    assert_eq!(a.status, 400);
    assert_eq!(a.error()["param"], "model");

    let a = gw.chat_json(&org.key, &json!({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}], "stream": "yes"})).await;
    assert_eq!(a.status, 400);
    assert_eq!(a.error()["param"], "stream");
    assert_eq!(up.hits(), 0);
    assert_eq!(gw.debited(&org).await, 0);
}

#[tokio::test]
async fn an_oversized_body_is_413() {
    let up = Fake::openai().await;
    let gw = openai_gateway(&up, Some(2048)).await;
    let org = gw.org("1").await;
    let big = "x".repeat(4096);
    let a = gw
        .chat_json(
            &org.key,
            &json!({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": big}]}),
        )
        .await;
    assert_eq!(a.status, 413, "{}", a.text);
    let err = a.error();
    assert!(
        err["message"].as_str().unwrap().contains("2048"),
        "the limit is in the message: {err}"
    );
    assert_eq!(up.hits(), 0);
    // Just under the limit is fine.
    let a = gw.chat_json(&org.key, &json!({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "x".repeat(1500)}]})).await;
    assert_eq!(a.status, 200, "{}", a.text);
}

#[tokio::test]
async fn a_bad_or_missing_gateway_key_is_401() {
    let up = Fake::openai().await;
    let gw = openai_gateway(&up, None).await;
    let org = gw.org("1").await;
    let body = serde_json::to_vec(&chat_body("gpt-4o-mini", false)).unwrap();

    let a = raw_post(
        &gw,
        Some("sy-not-a-real-key-0000000000000000"),
        body.clone(),
    )
    .await;
    assert_eq!(a.status, 401, "{}", a.text);
    assert_eq!(a.error()["code"], "invalid_api_key");
    let a = raw_post(&gw, None, body.clone()).await;
    assert_eq!(a.status, 401);
    assert!(a.error()["message"]
        .as_str()
        .unwrap()
        .contains("Authorization: Bearer"));
    // A key of another shape or a near miss of a real key.
    let near = format!("{}x", org.key);
    let a = raw_post(&gw, Some(&near), body).await;
    assert_eq!(a.status, 401);
    assert!(!a.text.contains(&org.key));
    assert_eq!(up.hits(), 0);
}

#[tokio::test]
async fn unknown_routes_are_404_in_the_error_shape() {
    let up = Fake::openai().await;
    let gw = openai_gateway(&up, None).await;
    let a = Answer::read(
        gw.client
            .get(format!("{}/v1/nothing-here", gw.url))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(a.status, 404);
    assert!(a.error()["message"]
        .as_str()
        .unwrap()
        .contains("/v1/chat/completions"));
    let a = Answer::read(
        gw.client
            .get(format!("{}/health", gw.url))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(a.status, 200);
    assert_eq!(a.json()["status"], "ok");
    let a = Answer::read(
        gw.client
            .get(format!("{}/v1/models", gw.url))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(a.status, 200);
    let models = a.json();
    assert_eq!(models["object"], "list");
    assert!(models["data"]
        .as_array()
        .unwrap()
        .iter()
        .any(|m| m["id"] == "gpt-4o-mini"));
    // Every model and endpoint says where it is in its lifecycle today.
    let statuses = ["active", "deprecated", "retired"];
    for m in models["data"].as_array().unwrap() {
        assert!(statuses.iter().any(|s| m["status"] == *s), "{m}");
        for e in m["endpoints"].as_array().unwrap() {
            assert!(statuses.iter().any(|s| e["status"] == *s), "{e}");
        }
    }
}

#[tokio::test]
async fn a_provider_that_echoes_the_key_never_leaks_it() {
    // Some providers repeat the presented key in their 401 message; the gateway must not.
    let up = Fake::start(|r| {
        let presented = r.header("authorization").unwrap_or_default().trim_start_matches("Bearer ").to_owned();
        Reply::json(
            401,
            &json!({"error": {"message": format!("Incorrect API key provided: {presented}. You can find your API key at https://platform.openai.com/account/api-keys."), "type": "invalid_request_error", "param": null, "code": "invalid_api_key"}}),
        )
    })
    .await;
    let gw = openai_gateway(&up, None).await;
    let org = gw.org("1").await;
    gw.set_api_key(&org, "openai", BYOK_OPENAI_KEY).await;

    let a = gw
        .chat_json(&org.key, &chat_body("gpt-4o-mini", false))
        .await;
    assert!(
        a.status.is_client_error() || a.status.is_server_error(),
        "{}",
        a.status
    );
    // A provider 4xx (here 401 for the org's own key) is answered, not retried elsewhere.
    assert_eq!(up.hits(), 1);
    assert_eq!(
        up.last().header("authorization"),
        Some(format!("Bearer {BYOK_OPENAI_KEY}").as_str())
    );
    let err = a.error();
    assert!(
        err["message"]
            .as_str()
            .unwrap()
            .contains("Incorrect API key"),
        "the provider's message is kept: {err}"
    );
    // Answer::read already checked the body for every secret; the log rows too:
    let rows = gw.wait_logs(&org, 1).await;
    assert_rows_clean(&rows, &[&org.key]);
    let (status, _, text) =
        read_stream(gw.chat(&org.key, &chat_body("gpt-4o-mini", true)).await).await;
    assert!(!status.is_success());
    assert!(!text.contains(BYOK_OPENAI_KEY) && !text.contains(PTB_OPENAI_KEY));
}

#[tokio::test]
async fn no_secret_in_any_answer_or_log_row() {
    let openai = Fake::openai().await;
    let anthropic = Fake::anthropic().await;
    anthropic.push(Reply::json_text(429, ANTHROPIC_ERROR_429));
    let (o, an) = (openai.url.clone(), anthropic.url.clone());
    let gw = TestGateway::start(move |c| {
        c.providers
            .insert("openai".into(), api_key_provider(&o, Some(PTB_OPENAI_KEY)));
        c.providers.insert(
            "anthropic".into(),
            api_key_provider(&an, Some(PTB_ANTHROPIC_KEY)),
        );
    })
    .await;
    let org = gw.org("1").await;
    gw.set_api_key(&org, "anthropic", BYOK_ANTHROPIC_KEY).await;
    let mut n = 0;
    for body in [
        chat_body("claude-4.6-sonnet/anthropic,gpt-4o-mini/openai", false),
        chat_body("gpt-4o-mini", true),
        chat_body("gpt-4o-mini", false),
        chat_body("nope-model", false),
        json!({"model": "gpt-4o-mini"}),
    ] {
        let (_, headers, text) = read_stream(gw.chat(&org.key, &body).await).await;
        assert!(!text.contains(&org.key));
        for (_, v) in headers.iter() {
            let v = v.to_str().unwrap_or_default();
            assert!(
                all_secrets().iter().all(|s| !v.contains(s.as_str())) && !v.contains(&org.key),
                "secret in a header: {v}"
            );
        }
        n += 1;
    }
    let rows = gw.wait_logs(&org, n).await;
    assert_rows_clean(&rows, &[&org.key]);
    assert!(
        rows.iter()
            .any(|r| r.attempts.as_array().is_some_and(|a| !a.is_empty())),
        "the 429 attempt is logged"
    );
}
