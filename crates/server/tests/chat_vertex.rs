//! Vertex AI through the gateway: the service account is exchanged for an OAuth token at a local
//! Google token endpoint (JWT-bearer grant, signature checked), then Claude goes through
//! rawPredict / streamRawPredict and Gemini through the OpenAI-compatible endpoint.

mod common;

use common::*;
use serde_json::json;
use switchyard_server::config::ProviderConfig;
use switchyard_store::{DeploymentConfig, ProviderSecret, Secret};

const PROJECT: &str = "switchyard-test";

struct Setup {
    up: Fake,
    token: Fake,
    gw: TestGateway,
}

/// A gateway whose Vertex goes to local fakes; PTB when `ptb` (service account file in config).
async fn setup(ptb: bool) -> Setup {
    let up = Fake::vertex().await;
    let token = Fake::google_token().await;
    let sa_dir = tempfile::tempdir().unwrap();
    let sa_path = sa_dir.path().join("sa.json");
    std::fs::write(&sa_path, VERTEX_SERVICE_ACCOUNT).unwrap();
    let (base, token_uri) = (up.url.clone(), token.token_uri());
    let gw = TestGateway::start(move |c| {
        c.providers.insert(
            "vertex".into(),
            ProviderConfig {
                base_url: Some(base),
                token_uri: Some(token_uri),
                service_account_file: ptb.then_some(sa_path),
                project_id: ptb.then(|| PROJECT.to_owned()),
                ..ProviderConfig::default()
            },
        );
    })
    .await;
    // The file is read at start-up.
    drop(sa_dir);
    Setup { up, token, gw }
}

async fn byok_org(s: &Setup) -> TestOrg {
    let org = s.gw.org("0").await;
    let secret =
        ProviderSecret::ServiceAccount(Secret::new(service_account_json(&s.token.token_uri())));
    s.gw.set_key(
        &org,
        "vertex",
        secret,
        DeploymentConfig {
            project_id: Some(PROJECT.into()),
            ..DeploymentConfig::default()
        },
    )
    .await;
    org
}

#[tokio::test]
async fn byok_claude_raw_predict_with_a_token_exchange() {
    let s = setup(false).await;
    let org = byok_org(&s).await;

    let a =
        s.gw.chat_json(&org.key, &chat_body("claude-4.6-sonnet", false))
            .await;
    assert_eq!(a.status, 200, "{}", a.text);
    let v = a.json();
    assert_eq!(v["choices"][0]["message"]["content"], "Hi!");
    assert_eq!(v["usage"]["prompt_tokens"], 12);
    assert_eq!(v["usage"]["completion_tokens"], 5);
    let e = endpoint("vertex", "claude-sonnet-4-6");
    assert_switchyard_headers(&a.headers, "vertex", &e.id, "byok", 0);
    assert_eq!(a.cost(), expected_cost(e, 12, 0, 5));

    let t = s.token.last();
    assert_eq!(t.path, "/token");
    let r = s.up.last();
    assert_eq!(r.path, format!("/v1/projects/{PROJECT}/locations/global/publishers/anthropic/models/claude-sonnet-4-6:rawPredict"));
    assert_eq!(
        r.header("authorization"),
        Some(format!("Bearer {}", vertex_access_token()).as_str())
    );
    let sent = r.json();
    assert_eq!(sent["anthropic_version"], "vertex-2023-10-16");
    assert!(
        sent.get("model").is_none(),
        "the model is in the URL: {sent}"
    );

    // The token is cached: a second request does not exchange again.
    let a =
        s.gw.chat_json(&org.key, &chat_body("claude-4.6-sonnet", false))
            .await;
    assert_eq!(a.status, 200, "{}", a.text);
    assert_eq!(s.token.hits(), 1);
    assert_eq!(s.up.hits(), 2);
    let rows = s.gw.wait_logs(&org, 2).await;
    assert_rows_clean(&rows, &[&org.key]);
    assert!(rows
        .iter()
        .all(|r| !serde_json::to_string(r).unwrap().contains("PRIVATE KEY")));
}

#[tokio::test]
async fn ptb_claude_stream_raw_predict() {
    let s = setup(true).await;
    let org = s.gw.org("5").await;
    let mut body = chat_body("claude-4.6-sonnet", true);
    body["stream_options"] = json!({"include_usage": true});
    let (status, headers, text) = read_stream(s.gw.chat(&org.key, &body).await).await;
    assert_eq!(status, 200, "{text}");
    let e = endpoint("vertex", "claude-sonnet-4-6");
    assert_switchyard_headers(&headers, "vertex", &e.id, "ptb", 0);
    let chunks = sse_data(&text);
    assert_eq!(stream_content(&chunks), "Hi!");
    let usage = stream_usage(&chunks).expect("usage chunk");
    assert_eq!(usage["prompt_tokens"], 12);
    assert_eq!(usage["completion_tokens"], 5);

    let r = s.up.last();
    assert!(
        r.path
            .ends_with("/models/claude-sonnet-4-6:streamRawPredict"),
        "{}",
        r.path
    );
    assert_eq!(r.json()["stream"], true);
    assert_eq!(s.token.hits(), 1);

    s.gw.wait_debits(&org, 1).await;
    assert_eq!(
        s.gw.debited(&org).await,
        switchyard_cost::usd_to_nanos(expected_cost(e, 12, 0, 5))
    );
    s.gw.assert_ledger_consistent(&org).await;
}

#[tokio::test]
async fn ptb_gemini_through_the_openai_compatible_endpoint() {
    let s = setup(true).await;
    let org = s.gw.org("5").await;
    let e = endpoint("vertex", "gemini-3.5-flash");

    let a =
        s.gw.chat_json(&org.key, &chat_body("gemini-3.5-flash", false))
            .await;
    assert_eq!(a.status, 200, "{}", a.text);
    assert_eq!(a.json()["choices"][0]["message"]["content"], "Hi there!");
    assert_switchyard_headers(&a.headers, "vertex", &e.id, "ptb", 0);
    let r = s.up.last();
    assert!(
        r.path
            .starts_with(&format!("/v1beta1/projects/{PROJECT}/locations/")),
        "{}",
        r.path
    );
    assert!(
        r.path.ends_with("/endpoints/openapi/chat/completions"),
        "{}",
        r.path
    );
    assert_eq!(r.json()["model"], "google/gemini-3.5-flash");
    assert_eq!(
        r.header("authorization"),
        Some(format!("Bearer {}", vertex_access_token()).as_str())
    );

    let (status, _, text) = read_stream(
        s.gw.chat(&org.key, &chat_body("gemini-3.5-flash", true))
            .await,
    )
    .await;
    assert_eq!(status, 200, "{text}");
    assert_eq!(stream_content(&sse_data(&text)), "Hi there!");
    let sent = s.up.last().json();
    assert_eq!(sent["stream"], true);
    assert_eq!(sent["stream_options"]["include_usage"], true);

    s.gw.wait_debits(&org, 2).await;
    let row = s.gw.log_row(&org, &a.request_id()).await;
    assert_eq!(row.prompt_tokens, Some(4));
    assert_eq!(
        s.gw.debited(&org).await,
        s.gw.wait_logs(&org, 2)
            .await
            .iter()
            .map(|r| r.cost_nanos.unwrap())
            .sum::<i64>()
    );
    s.gw.assert_ledger_consistent(&org).await;
}

#[tokio::test]
async fn a_refused_token_exchange_is_an_error_without_secrets_and_no_model_call() {
    let s = setup(false).await;
    let org = byok_org(&s).await;
    s.token.push(Reply::json_text(400, VERTEX_TOKEN_ERROR));
    let a =
        s.gw.chat_json(&org.key, &chat_body("claude-4.6-sonnet", false))
            .await;
    assert!(
        a.status.is_client_error() || a.status.is_server_error(),
        "{}",
        a.status
    );
    let err = a.error();
    assert!(err["message"].as_str().unwrap().contains("token"), "{err}");
    assert!(!a.text.contains("PRIVATE KEY"), "{}", a.text);
    assert_eq!(s.up.hits(), 0, "no model call without a token");
}
