//! Limits that bound what one client can take: the connection cap (a fast 503 for new
//! connections, nothing for existing ones, recovery when they close), the models of a chain, the
//! upstream attempts of a request, and a 100,000-entry chain that must not stall the gateway.

mod common;
mod edge_support;

use std::time::{Duration, Instant};

use common::*;
use edge_support::*;
use serde_json::json;

#[tokio::test]
async fn the_connection_cap_answers_new_connections_503_and_recovers() {
    let gw = TestGateway::start(|c| {
        c.server.max_connections = 8;
        c.server.header_read_timeout_secs = 30;
    })
    .await;
    let addr = addr_of(&gw.url);
    let mut held = Vec::new();
    for _ in 0..8 {
        let mut s = connect(addr).await;
        assert_eq!(health_on(&mut s).await.unwrap().status, 200);
        held.push(s);
    }
    // Over the cap: a 503 in the error shape, then the connection is closed.
    let t0 = Instant::now();
    let (mut s, res) = exchange(addr, b"GET /health HTTP/1.1\r\nHost: t\r\n\r\n").await;
    let refused_in = t0.elapsed();
    let res = res.expect("an answer before the close");
    assert_eq!(res.status, 503, "{res:?}");
    assert_eq!(res.error()["code"], "too_many_connections");
    assert_eq!(res.header("retry-after"), Some("1"));
    assert!(closes(&mut s).await);
    // The connections already in keep working.
    for s in held.iter_mut() {
        assert_eq!(health_on(s).await.expect("still served").status, 200);
    }
    // Closing some frees their slots.
    held.truncate(4);
    let mut recovered = None;
    for _ in 0..100 {
        let (_s, res) = exchange(addr, b"GET /health HTTP/1.1\r\nHost: t\r\n\r\n").await;
        if res.as_ref().map(|r| r.status) == Some(200) {
            recovered = res;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        recovered.is_some(),
        "a new connection is served once others closed"
    );
    eprintln!("connection cap 8: the 9th refused with 503 in {refused_in:?}");
}

/// A gateway whose org has a BYOK OpenAI key, and an upstream that always fails with 500: every
/// passthrough model in a chain is one attempt.
async fn failing_chain_gateway(
    max_models: usize,
    max_attempts: usize,
) -> (Fake, TestGateway, TestOrg) {
    let up = Fake::start(|_| {
        Reply::json(
            500,
            &json!({"error": {"message": "boom", "type": "server_error"}}),
        )
    })
    .await;
    let url = up.url.clone();
    let gw = TestGateway::start(move |c| {
        c.providers
            .insert("openai".into(), api_key_provider(&url, None));
        c.server.max_models_per_chain = max_models;
        c.server.max_attempts_per_request = max_attempts;
    })
    .await;
    let org = gw.org("0").await;
    gw.set_api_key(&org, "openai", BYOK_OPENAI_KEY).await;
    (up, gw, org)
}

fn passthrough_chain(n: usize) -> String {
    (0..n)
        .map(|i| format!("ft-{i}/openai"))
        .collect::<Vec<_>>()
        .join(",")
}

#[tokio::test]
async fn a_chain_at_the_model_cap_is_tried_whole_and_one_more_is_400_naming_the_limit() {
    let (up, gw, org) = failing_chain_gateway(10, 10).await;
    let a = gw
        .chat_json(&org.key, &chat_body(&passthrough_chain(10), false))
        .await;
    assert_eq!(a.status, 502, "{}", a.text);
    assert_eq!(up.hits(), 10);
    let e = a.error();
    assert_eq!(e["attempts"].as_array().unwrap().len(), 10);
    assert!(e.get("attempts_omitted").is_none(), "{e}");

    let a = gw
        .chat_json(&org.key, &chat_body(&passthrough_chain(11), false))
        .await;
    assert_eq!(a.status, 400, "{}", a.text);
    let e = a.error();
    assert_eq!(e["code"], "too_many_models");
    assert_eq!(e["param"], "model");
    assert!(e["message"].as_str().unwrap().contains("at most 10"), "{e}");
    assert_eq!(up.hits(), 10, "no upstream call for a refused chain");
}

#[tokio::test]
async fn attempts_stop_at_the_attempt_cap() {
    let (up, gw, org) = failing_chain_gateway(10, 3).await;
    let a = gw
        .chat_json(&org.key, &chat_body(&passthrough_chain(5), false))
        .await;
    assert_eq!(a.status, 502, "{}", a.text);
    assert_eq!(up.hits(), 3, "three attempts, not five");
    let attempts = a.error()["attempts"].as_array().unwrap().clone();
    let tried: Vec<_> = attempts.iter().map(|a| a["endpoint"].clone()).collect();
    assert_eq!(
        tried,
        [
            "ft-0:openai:passthrough",
            "ft-1:openai:passthrough",
            "ft-2:openai:passthrough"
        ]
    );
}

#[tokio::test]
async fn error_bodies_list_ten_attempts_then_count_the_rest() {
    let (up, gw, org) = failing_chain_gateway(15, 15).await;
    let a = gw
        .chat_json(&org.key, &chat_body(&passthrough_chain(15), false))
        .await;
    assert_eq!(up.hits(), 15);
    let e = a.error();
    assert_eq!(e["attempts"].as_array().unwrap().len(), 10);
    assert_eq!(e["attempts_omitted"], 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_100000_entry_chain_is_400_while_health_answers_normally() {
    let up = Fake::openai().await;
    let gw = ptb_gateway(&up).await;
    let org = gw.org("1").await;
    let chain = vec!["gpt-4o-mini"; 100_000].join(",");
    let body = chat_body(&chain, false);
    let mut hostile = Vec::new();
    let t0 = Instant::now();
    for _ in 0..4 {
        let client = gw.client.clone();
        let url = gw.url.clone();
        let key = org.key.clone();
        let body = body.clone();
        hostile.push(tokio::spawn(async move {
            let t = Instant::now();
            let res = client
                .post(format!("{url}/v1/chat/completions"))
                .bearer_auth(key)
                .json(&body)
                .send()
                .await
                .unwrap();
            let status = res.status().as_u16();
            let v: serde_json::Value = res.json().await.unwrap();
            (status, v, t.elapsed())
        }));
    }
    let mut health = Vec::new();
    for _ in 0..20 {
        let t = Instant::now();
        let res = gw
            .client
            .get(format!("{}/health", gw.url))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        health.push(t.elapsed());
    }
    let mut answered = Vec::new();
    for h in hostile {
        let (status, v, took) = h.await.unwrap();
        assert_eq!(status, 400, "{v}");
        assert_eq!(v["error"]["code"], "too_many_models");
        assert!(
            v.to_string().len() < 2_000,
            "the error does not echo the chain"
        );
        answered.push(took);
    }
    assert_eq!(up.hits(), 0);
    let (p50, max) = median_max_ms(answered);
    let (h50, hmax) = median_max_ms(health);
    eprintln!(
        "4 concurrent 100,000-entry chains ({} bytes each): answered 400 in median {p50:.1} ms, max {max:.1} ms (all done {:?}); /health p50 {h50:.2} ms, max {hmax:.2} ms",
        chain.len(),
        t0.elapsed()
    );
}

#[tokio::test]
async fn http2_by_prior_knowledge_is_served_with_the_same_error_shape() {
    let gw = TestGateway::start(|c| c.server.http2_max_concurrent_streams = 4).await;
    let h2 = reqwest::Client::builder()
        .http2_prior_knowledge()
        .build()
        .unwrap();
    // More requests at once than streams allowed: the client queues them, all are served.
    let answers =
        futures::future::join_all((0..12).map(|_| h2.get(format!("{}/health", gw.url)).send()))
            .await;
    for a in answers {
        let a = a.expect("answered over HTTP/2");
        assert_eq!(a.version(), reqwest::Version::HTTP_2);
        assert_eq!(a.status(), 200);
    }
    let a = Answer::read(h2.get(format!("{}/nope", gw.url)).send().await.unwrap()).await;
    assert_eq!(a.status, 404);
    assert_eq!(a.error()["code"], "unknown_route");
}
