//! The ledger under load with faults (issue 8): 2,000 PTB requests at concurrency 100, one in
//! five faulty — upstream 500s, streams the upstream cuts, slow streams, clients that reset
//! after the first event or at `[DONE]` — on a balance that covers about half of them. No
//! balance ever below zero, no hold left, one log row per request (the 402 refusals too),
//! and at the end: balance = credits granted − settled costs = Σ ledger rows, and the log's
//! cost column sums to the same figure.

mod common;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::trust::*;
use common::*;
use futures::StreamExt;
use serde_json::json;

const MODEL: &str = "gpt-4o-mini/openai";
const REQUESTS: u64 = 2_000;
const CONCURRENCY: usize = 100;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Kind {
    Whole,
    Stream,
    /// The upstream answers 500.
    Upstream500,
    /// The upstream sends two events, then drops the connection.
    Cut,
    /// 15 ms between events.
    Slow,
    /// The client resets the connection after the first event.
    ResetAfterFirst,
    /// The client resets the connection right after `data: [DONE]`.
    ResetAtDone,
}

fn plan(seed: u64) -> Vec<Kind> {
    let mut rng = Rng::new(seed);
    (0..REQUESTS)
        .map(|_| match rng.below(100) {
            0..=4 => Kind::Upstream500,
            5..=9 => Kind::Cut,
            10..=13 => Kind::Slow,
            14..=16 => Kind::ResetAfterFirst,
            17..=19 => Kind::ResetAtDone,
            20..=39 => Kind::Whole,
            _ => Kind::Stream,
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_thousand_requests_with_faults_on_half_enough_credit_keep_the_books_exact() {
    let kinds = Arc::new(plan(0x10AD_0008));
    let usage = openai_usage(40, 30, 16);
    let by_tag = kinds.clone();
    let up = Fake::start(move |r| {
        let tag = tag_in(&r.body).expect("tagged") as usize;
        let reply = openai_reply(r, &usage);
        match by_tag[tag] {
            Kind::Upstream500 => Reply::json(
                500,
                &json!({"error": {"message": "The server had an error while processing your request.", "type": "server_error", "param": null, "code": null}}),
            ),
            Kind::Cut => reply.hang_up_after(2).gap(Duration::from_millis(2)),
            Kind::Slow => reply.gap(Duration::from_millis(15)),
            _ => reply.gap(Duration::from_millis(1)),
        }
    })
    .await;
    let gw = ptb_gateway(&up).await;
    let full =
        switchyard_cost::usd_to_nanos(expected_cost(endpoint("openai", "gpt-4o-mini"), 24, 16, 30));
    // Enough for about half of the requests, at their full cost.
    let credits = full * REQUESTS as i64 / 2;
    let org = gw
        .org(&switchyard_cost::nanos_to_usd(credits).to_string())
        .await;

    // The balance, watched all along: it must never go below zero.
    let lowest = Arc::new(AtomicI64::new(i64::MAX));
    let running = Arc::new(AtomicBool::new(true));
    let watch = {
        let (store, lowest, running, id) =
            (gw.store.clone(), lowest.clone(), running.clone(), org.id);
        tokio::spawn(async move {
            while running.load(Ordering::Relaxed) {
                let b = store.balance(id).await.unwrap();
                lowest.fetch_min(b.balance_nanos, Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
    };

    let addr: std::net::SocketAddr = gw.url.trim_start_matches("http://").parse().unwrap();
    let host = addr.to_string();
    let statuses: Vec<(u64, Option<u16>)> = futures::stream::iter(0..REQUESTS)
        .map(|tag| {
            let kind = kinds[tag as usize];
            let body = tagged_body(MODEL, tag, kind != Kind::Whole);
            let req = raw_request(&host, &org.key, &body, tag);
            let (leave, reset) = match kind {
                Kind::ResetAfterFirst => (Leave::AfterFirstEvent, true),
                Kind::ResetAtDone => (Leave::AtDone, true),
                _ => (Leave::AtEnd, false),
            };
            async move {
                (
                    tag,
                    status_of(&raw_exchange(addr, &req, leave, reset).await),
                )
            }
        })
        .buffer_unordered(CONCURRENCY)
        .collect()
        .await;
    running.store(false, Ordering::Relaxed);
    watch.await.unwrap();

    let tags: Vec<u64> = (0..REQUESTS).collect();
    let books = exactly_once(&gw, &org, &tags).await;
    let seen = upstream_tags(&up.requests());
    let mut outcomes: HashMap<(Kind, u16), usize> = HashMap::new();
    for (tag, status) in statuses {
        let kind = kinds[tag as usize];
        let row = &books.rows[&tag];
        let calls = seen.get(&tag).copied().unwrap_or(0);
        *outcomes.entry((kind, row.status)).or_default() += 1;
        assert_eq!(
            status,
            Some(row.status),
            "tag {tag} {kind:?}: the client got the logged status"
        );
        if row.status == 402 {
            assert_eq!(
                calls, 0,
                "tag {tag}: a refused request never reaches the upstream"
            );
            assert_eq!(row.error_type.as_deref(), Some("insufficient_credits"));
            assert!(!books.debits.contains_key(&row.id));
            continue;
        }
        assert_eq!(calls, 1, "tag {tag} {kind:?}: one upstream call: {row:?}");
        match kind {
            Kind::Upstream500 => {
                assert_eq!(row.status, 502, "{row:?}");
                assert!(
                    !books.debits.contains_key(&row.id),
                    "a failed call costs nothing"
                );
            }
            Kind::Cut => {
                assert_eq!(row.status, 200);
                assert_eq!(
                    row.error_type.as_deref(),
                    Some("stream_interrupted"),
                    "{row:?}"
                );
                assert_eq!(
                    books.debits.get(&row.id).copied().unwrap_or(0),
                    row.cost_nanos.unwrap_or(0)
                );
            }
            _ => {
                // Resetting clients too: the gateway read the upstream to its end.
                assert_eq!(
                    (row.status, row.error_type.as_deref()),
                    (200, None),
                    "{row:?}"
                );
                assert_eq!(row.cost_nanos, Some(full), "{row:?}");
                assert_eq!(books.debits.get(&row.id), Some(&full));
            }
        }
    }
    let refused: usize = outcomes
        .iter()
        .filter(|((_, s), _)| *s == 402)
        .map(|(_, n)| n)
        .sum();
    let served = books.debits.values().filter(|n| **n == full).count();
    eprintln!(
        "{REQUESTS} requests: {served} charged in full, {refused} refused (402), {} left of {} granted; outcomes {outcomes:?}",
        books.balance, books.granted
    );
    // The credit covered about half: many were served, many refused, and it is spent.
    assert!(
        served as u64 >= REQUESTS / 5 && refused as u64 >= REQUESTS / 5,
        "served {served}, refused {refused}"
    );
    assert_eq!(books.granted, credits);
    assert!(
        lowest.load(Ordering::Relaxed) >= 0,
        "the balance went below zero: {}",
        lowest.load(Ordering::Relaxed)
    );
    let audit = gw.store.audit(Some(org.id)).await.unwrap().remove(0);
    assert!(audit.is_consistent(), "{:?}", audit.problems());
}
