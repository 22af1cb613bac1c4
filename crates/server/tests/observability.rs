//! What a caller says about a request in headers reaches its log row — with our
//! `x-switchyard-*` names or with Helicone's, so a Helicone user switches with no code change —
//! and never goes upstream.

mod common;

use common::*;
use serde_json::json;

const MODEL: &str = "gpt-4o-mini";

fn body() -> serde_json::Value {
    json!({"model": MODEL, "messages": [{"role": "user", "content": "Say hello."}]})
}

#[tokio::test]
async fn our_headers_and_helicones_fill_the_log_row() {
    let up = Fake::openai().await;
    let url = up.url.clone();
    let gw = TestGateway::start(move |c| {
        c.providers.insert(
            "openai".into(),
            api_key_provider(&url, Some(PTB_OPENAI_KEY)),
        );
        c.admin_token = Some("observability-admin-token".into());
    })
    .await;
    let org = gw.org("1").await;

    let send = |headers: &'static [(&'static str, &'static str)]| {
        let mut req = gw
            .client
            .post(format!("{}/v1/chat/completions", gw.url))
            .bearer_auth(&org.key)
            .json(&body());
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        async move { Answer::read(req.send().await.unwrap()).await }
    };

    let ours = send(&[
        ("x-switchyard-user-id", "alice"),
        ("x-switchyard-property-env", "prod"),
        ("x-switchyard-property-team", "search"),
        ("x-switchyard-session-id", "sess-1"),
        ("x-switchyard-session-path", "/plan/step-1"),
        ("x-switchyard-session-name", "Trip planner"),
        ("x-switchyard-request-id", "my-own-id-1"),
        ("x-switchyard-omit-response", "true"),
    ])
    .await;
    assert_eq!(ours.status, 200, "{}", ours.text);
    let row = gw.log_row(&org, &ours.request_id()).await;
    assert_eq!(row.user_id.as_deref(), Some("alice"));
    assert_eq!(row.properties.get("env").map(String::as_str), Some("prod"));
    assert_eq!(
        row.properties.get("team").map(String::as_str),
        Some("search")
    );
    assert_eq!(row.session_id.as_deref(), Some("sess-1"));
    assert_eq!(row.session_path.as_deref(), Some("/plan/step-1"));
    assert_eq!(row.session_name.as_deref(), Some("Trip planner"));
    assert_eq!(row.client_request_id.as_deref(), Some("my-own-id-1"));
    assert_ne!(
        row.id.to_string(),
        "my-own-id-1",
        "the gateway's own id keys the row"
    );
    assert!(row.request_body.is_some(), "the request body is kept");
    assert!(row.response_body.is_none(), "omit-response honoured");
    assert_eq!(row.route.as_deref(), Some("chat"));

    let helicone = send(&[
        ("Helicone-User-Id", "bob"),
        ("Helicone-Property-Env", "staging"),
        ("Helicone-Session-Id", "sess-2"),
        ("Helicone-Session-Path", "/a/b"),
        ("Helicone-Session-Name", "Support bot"),
        (
            "Helicone-Request-Id",
            "f47ac10b-58cc-4372-a567-0e02b2c3d479",
        ),
        ("Helicone-Omit-Request", "true"),
    ])
    .await;
    assert_eq!(helicone.status, 200, "{}", helicone.text);
    let row = gw.log_row(&org, &helicone.request_id()).await;
    assert_eq!(row.user_id.as_deref(), Some("bob"));
    // Header names are case-insensitive and arrive lower-cased.
    assert_eq!(
        row.properties.get("env").map(String::as_str),
        Some("staging")
    );
    assert_eq!(row.session_id.as_deref(), Some("sess-2"));
    assert_eq!(row.session_path.as_deref(), Some("/a/b"));
    assert_eq!(row.session_name.as_deref(), Some("Support bot"));
    assert_eq!(
        row.client_request_id.as_deref(),
        Some("f47ac10b-58cc-4372-a567-0e02b2c3d479")
    );
    assert!(row.request_body.is_none(), "omit-request honoured");
    assert!(row.response_body.is_some());

    // None of it was sent to the provider.
    for r in up.requests() {
        for name in r.headers.keys() {
            let name = name.as_str();
            assert!(
                !name.starts_with("x-switchyard-") && !name.starts_with("helicone-"),
                "{name} forwarded upstream"
            );
        }
    }

    // The admin API filters on them.
    let admin = gw.state.config.admin_token.clone().unwrap();
    let get = |q: &str| {
        let url = format!("{}/admin/orgs/{}/logs?{q}", gw.url, org.id);
        let req = gw.client.get(url).bearer_auth(&admin);
        async move {
            let v: serde_json::Value = req.send().await.unwrap().json().await.unwrap();
            v["data"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r["user_id"].as_str().unwrap_or("").to_owned())
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(get("user_id=alice").await, vec!["alice"]);
    assert_eq!(get("session_id=sess-2").await, vec!["bob"]);
    assert_eq!(get("property=env:staging").await, vec!["bob"]);
    assert_eq!(get("client_request_id=my-own-id-1").await, vec!["alice"]);
}
