//! A client that leaves a proxied stream early: the request still has exactly one log row,
//! with the usage of the whole upstream answer (the task reads it to its end, then closes it).

mod common;

use std::time::Duration;

use common::*;
use futures::StreamExt;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_leaving_mid_stream_leaves_one_row_with_the_full_usage() {
    let events = sse_events(ANTHROPIC_STREAM);
    let n = events.len();
    let fake =
        Fake::start(move |_| Reply::sse(events.clone()).gap(Duration::from_millis(30))).await;
    let f = fake.url.clone();
    let gw = TestGateway::start(move |c| {
        c.providers
            .insert("anthropic".into(), api_key_provider(&f, None));
    })
    .await;
    let org = gw.org("0").await;
    let body = r#"{"model":"claude-sonnet-4-20250514","max_tokens":64,"stream":true,"messages":[{"role":"user","content":"hi"}]}"#;
    for leave_after in [0usize, 1, n / 2] {
        let res = gw
            .client
            .post(format!("{}/anthropic/v1/messages", gw.url))
            .header("x-api-key", "sk-ant-caller-0123456789abcdef")
            .header("x-switchyard-auth", format!("Bearer {}", org.key))
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        let id = res.headers()["x-switchyard-request-id"]
            .to_str()
            .unwrap()
            .to_owned();
        let mut stream = res.bytes_stream();
        for _ in 0..leave_after {
            stream.next().await.unwrap().unwrap();
        }
        // Dropping the body closes the client's side of the stream.
        drop(stream);
        let row = gw.log_row(&org, &id).await;
        assert_eq!(row.status, 200);
        assert_eq!(row.route.as_deref(), Some("proxy"));
        assert_eq!(row.prompt_tokens, Some(25), "leave after {leave_after}");
        assert!(
            row.completion_tokens.is_some_and(|c| c > 1),
            "leave after {leave_after}"
        );
        assert!(row.cost_nanos.is_some_and(|c| c > 0));
    }
    let rows = gw.wait_logs(&org, 3).await;
    assert_eq!(rows.len(), 3, "one row per request");
    assert_eq!(fake.hits(), 3);
}
