//! Pass-through billing and the request log: holds before the call, exact settlement after,
//! refusals that cost nothing, no overspending under concurrency, one log row per request.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use serde_json::{json, Value};
use switchyard_store::{LedgerStore, LogStore};

const MODEL: &str = "gpt-4o-mini";

/// What the gateway holds for an OpenAI-format chat body on an endpoint.
fn hold_for(body: &Value, e: &switchyard_registry::Endpoint) -> i64 {
    use switchyard_providers::adapter::{usage_bound, Target};
    let r = registry();
    let config = switchyard_registry::DeploymentConfig::default();
    let target = Target::new(r.provider(&e.provider).unwrap(), e, &config);
    switchyard_server::billing::hold_nanos(e, &usage_bound(&target, body).unwrap())
}

#[tokio::test]
async fn insufficient_credits_is_402_with_balance_and_need_and_no_upstream_call() {
    let up = Fake::openai().await;
    let gw = ptb_gateway(&up).await;
    let org = gw.org("0.000001").await;
    let body = chat_body(MODEL, false);
    let need = hold_for(&body, endpoint("openai", MODEL));
    assert!(need > 1000, "the test needs a hold larger than the balance");

    let a = gw.chat_json(&org.key, &body).await;
    assert_eq!(a.status, 402, "{}", a.text);
    let err = a.error();
    let msg = err["message"].as_str().unwrap();
    assert!(msg.contains("balance 0.000001 USD"), "{msg}");
    assert!(
        msg.contains(&format!("{} USD", switchyard_cost::nanos_to_usd(need))),
        "the need is in the message: {msg}"
    );
    assert_eq!(err["code"], "insufficient_credits");
    assert_eq!(up.hits(), 0, "nothing is sent that cannot be paid for");

    let balance = gw.balance(&org).await;
    assert_eq!((balance.balance_nanos, balance.held_nanos), (1000, 0));
    gw.assert_ledger_consistent(&org).await;
    let row = gw.log_row(&org, &a.request_id()).await;
    assert_eq!(row.status, 402);
    assert_eq!(row.error_type.as_deref(), Some("insufficient_credits"));

    // Streams are refused the same way, before any byte.
    let res = gw.chat(&org.key, &chat_body(MODEL, true)).await;
    assert_eq!(res.status(), 402);
    assert_eq!(up.hits(), 0);
}

#[tokio::test]
async fn a_failed_ptb_call_releases_its_hold() {
    let up = Fake::start(|_| {
        Reply::json(
            500,
            &json!({"error": {"message": "boom", "type": "server_error"}}),
        )
    })
    .await;
    let gw = ptb_gateway(&up).await;
    let org = gw.org("1").await;
    let a = gw.chat_json(&org.key, &chat_body(MODEL, false)).await;
    assert_eq!(a.status, 502, "{}", a.text);
    assert_eq!(up.hits(), 1);
    // The release runs in the background; poll.
    for _ in 0..200 {
        if gw.balance(&org).await.held_nanos == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let b = gw.balance(&org).await;
    assert_eq!((b.balance_nanos, b.held_nanos), (1_000_000_000, 0));
    assert_eq!(gw.debited(&org).await, 0);
    gw.assert_ledger_consistent(&org).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_ptb_requests_never_overspend_and_the_ledger_sums_exactly() {
    const N: usize = 200;
    // Usage that the hold (prompt bound = body bytes) really bounds.
    let up = Fake::start(|r| {
        openai_reply(r, &openai_usage(20, 10, 0)).delayed(Duration::from_millis(30))
    })
    .await;
    let gw = ptb_gateway(&up).await;
    let body = json!({"model": MODEL, "messages": [{"role": "user", "content": "Say hello."}], "max_tokens": 10});
    let cost = switchyard_cost::usd_to_nanos(expected_cost(endpoint("openai", MODEL), 20, 0, 10));
    let hold = hold_for(&body, endpoint("openai", MODEL));
    assert!(hold >= cost && cost > 0);
    // Enough for 40 answers at most: far fewer than N.
    let org = gw
        .org(&switchyard_cost::nanos_to_usd(40 * cost).to_string())
        .await;
    let start = gw.balance(&org).await.balance_nanos;

    let gw = Arc::new(gw);
    let tasks: Vec<_> = (0..N)
        .map(|_| {
            let (gw, key, body) = (gw.clone(), org.key.clone(), body.clone());
            tokio::spawn(async move {
                let a = gw.chat_json(&key, &body).await;
                (
                    a.status.as_u16(),
                    a.header("x-switchyard-cost-usd").map(str::to_owned),
                    a.text,
                )
            })
        })
        .collect();
    let mut ok = 0i64;
    for t in tasks {
        let (status, cost_header, text) = t.await.unwrap();
        match status {
            200 => {
                ok += 1;
                assert_eq!(
                    cost_header.map(|c| switchyard_cost::usd_to_nanos(c.parse().unwrap())),
                    Some(cost)
                );
            }
            402 => assert!(text.contains("insufficient credits"), "{text}"),
            other => panic!("unexpected status {other}: {text}"),
        }
    }
    assert!(
        (1..=40).contains(&ok),
        "{ok} answers for a balance covering 40"
    );
    assert_eq!(
        up.hits() as i64,
        ok,
        "refused requests never reach the provider"
    );

    let final_balance = gw.assert_ledger_consistent(&org).await;
    assert!(final_balance >= 0, "overspent: {final_balance}");
    assert_eq!(
        gw.debited(&org).await,
        ok * cost,
        "successes x exact cost = debited"
    );
    assert_eq!(final_balance, start - ok * cost);
    assert_eq!(gw.balance(&org).await.held_nanos, 0, "every hold ended");

    let rows = gw.wait_logs(&org, N).await;
    assert_eq!(rows.len(), N);
    assert_eq!(rows.iter().filter(|r| r.status == 200).count() as i64, ok);
    assert_eq!(
        rows.iter()
            .filter_map(|r| r.cost_nanos.filter(|_| r.status == 200))
            .sum::<i64>(),
        ok * cost
    );
}

#[tokio::test]
async fn every_request_has_a_log_row_after_graceful_shutdown() {
    let openai = Fake::openai_with_usage(openai_usage(30, 7, 0)).await;
    let anthropic = Fake::anthropic().await;
    let (o, a) = (openai.url.clone(), anthropic.url.clone());
    let mut gw = TestGateway::start(move |c| {
        c.providers
            .insert("openai".into(), api_key_provider(&o, Some(PTB_OPENAI_KEY)));
        c.providers
            .insert("anthropic".into(), api_key_provider(&a, None));
        // Long enough that rows are still queued when shutdown starts.
        c.log.flush_interval_ms = 5_000;
        c.log.batch_size = 1_000;
    })
    .await;
    let org = gw.org("1").await;
    gw.set_api_key(&org, "anthropic", BYOK_ANTHROPIC_KEY).await;

    let mut expected: Vec<(String, u16, Option<i64>, Option<i64>)> = Vec::new(); // id, status, prompt, cost
    let ptb_cost =
        switchyard_cost::usd_to_nanos(expected_cost(endpoint("openai", MODEL), 30, 0, 7));
    for _ in 0..3 {
        let a = gw.chat_json(&org.key, &chat_body(MODEL, false)).await;
        assert_eq!(a.status, 200, "{}", a.text);
        expected.push((a.request_id(), 200, Some(30), Some(ptb_cost)));
    }
    let res = gw
        .chat(&org.key, &chat_body("claude-4.6-sonnet", true))
        .await;
    let id = res.headers()["x-switchyard-request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    let (status, _, _) = read_stream(res).await;
    assert_eq!(status, 200);
    let anth_cost = switchyard_cost::usd_to_nanos(expected_cost(
        endpoint("anthropic", "claude-sonnet-4-6"),
        25,
        0,
        15,
    ));
    expected.push((id, 200, Some(25), Some(anth_cost)));
    let a = gw
        .chat_json(&org.key, &chat_body("no-such-model-xyz", false))
        .await;
    assert_eq!(a.status, 404);
    expected.push((a.request_id(), 404, None, None));
    let a = gw.chat_json(&org.key, &json!({"model": MODEL})).await;
    assert_eq!(a.status, 400);
    expected.push((a.request_id(), 400, None, None));

    // One request still in flight when shutdown starts: it is drained, not cut.
    openai.push(
        Reply::json(200, &{
            let mut v: Value = serde_json::from_str(OPENAI_RESPONSE).unwrap();
            v["usage"] = openai_usage(30, 7, 0);
            v
        })
        .delayed(Duration::from_millis(400)),
    );
    let client = gw.client.clone();
    let (url, key) = (gw.url.clone(), org.key.clone());
    let in_flight = tokio::spawn(async move {
        let res = client
            .post(format!("{url}/v1/chat/completions"))
            .bearer_auth(key)
            .json(&chat_body(MODEL, false))
            .send()
            .await
            .unwrap();
        let id = res.headers()["x-switchyard-request-id"]
            .to_str()
            .unwrap()
            .to_owned();
        (res.status().as_u16(), id, res.text().await.unwrap())
    });
    tokio::time::sleep(Duration::from_millis(150)).await;
    gw.shutdown().await;
    let (status, id, text) = in_flight.await.unwrap();
    assert_eq!(
        status, 200,
        "an in-flight request finishes during shutdown: {text}"
    );
    expected.push((id, 200, Some(30), Some(ptb_cost)));

    // The server closed its store: read what it flushed from the data directory.
    let store = gw.reopen_store().await;
    assert_eq!(
        store.count_logs(org.id).await.unwrap() as usize,
        expected.len()
    );
    for (id, status, prompt, cost) in &expected {
        let row = store
            .get_log(org.id, uuid::Uuid::parse_str(id).unwrap())
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("no row for {id}"));
        assert_eq!(row.status, *status, "{row:?}");
        assert_eq!(row.prompt_tokens, *prompt, "{row:?}");
        assert_eq!(row.cost_nanos, *cost, "{row:?}");
        assert!(row.latency_ms >= 0);
        assert_rows_clean(&[row], &[&org.key]);
    }
    let audit = store.audit(Some(org.id)).await.unwrap().remove(0);
    assert!(audit.is_consistent(), "{:?}", audit.problems());
    assert_eq!(audit.leased_nanos, 0, "a graceful stop returns every lease");
    assert_eq!(
        1_000_000_000 - audit.balance_nanos,
        4 * ptb_cost,
        "four PTB answers were paid"
    );
}
