//! A gateway killed mid-load (issue 8): `switchyard serve` with PTB requests in flight is
//! SIGKILLed. The ledger still sums (`switchyard admin audit` exits 0); the dead instance's
//! credit lease is returned at once when an instance starts on the same data directory, or
//! within `billing.lease_ttl_secs` by a live instance's sweep; and every upstream call the
//! fake saw has exactly one log row: the requests that were in flight — the client got no
//! complete answer — are logged `interrupted`, charged nothing.

mod common;

use std::time::Duration;

use common::*;
use serde_json::Value;

// Long enough that reading the dead lease (admin CLI processes, slow on a loaded machine) comes
// before the sweep can return it.
const LEASE_TTL_SECS: u64 = 12;
const CREDITS_NANOS: i64 = 5_000_000_000;

/// Requests that finish (streams and whole answers alternately), each checked complete.
async fn finished(addr: &str, key: &str, tags: std::ops::Range<u64>) {
    for tag in tags {
        let answer = chat(addr, key, tag, tag.is_multiple_of(2)).await;
        assert!(
            complete(&answer, tag.is_multiple_of(2)),
            "{}",
            String::from_utf8_lossy(&answer)
        );
    }
}

async fn leased(node: &Node, org: &str) -> (i64, i64) {
    let b = node.admin_json(&["balance", "--org", org]).await;
    (
        b["leased_nanos"].as_i64().unwrap(),
        b["held_nanos"].as_i64().unwrap(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sigkill_mid_load_leaves_a_trace_and_the_restart_frees_the_credit_at_once() {
    let up = Upstream::start().await;
    let mut node = Node::new(&up.url, LEASE_TTL_SECS);
    let key = node.org("crash", "5").await;
    node.serve().await;
    let addr = node.addr();

    finished(&addr, &key, 0..12).await;
    // 24 streams and 6 whole answers still in flight when the gateway dies.
    let slow = (SLOW_TAGS..SLOW_TAGS + 30)
        .map(|t| (t, t < SLOW_TAGS + 24))
        .collect();
    let clients = in_flight(&up, &addr, &key, slow).await;
    node.kill().await;
    no_complete_answer(clients).await;

    // Dead, not restarted: the books add up already; the dead instance's lease is still there.
    let (code, out, err) = node.admin_raw(&["audit", "--org", "crash"]).await;
    assert_eq!(code, 0, "{out}{err}");
    let (dead_lease, _) = leased(&node, "crash").await;
    assert!(dead_lease > 0, "the killed instance held a lease");

    // Restart on the same data directory: the lease comes back at once, before any sweep
    // could have expired it.
    node.serve().await;
    let (_, waited) = eventually(
        Duration::from_secs(LEASE_TTL_SECS),
        "the dead lease returned",
        || async { (leased(&node, "crash").await == (0, 0)).then_some(()) },
    )
    .await;
    eprintln!("dead lease of {dead_lease} nano-USD gone {waited:?} after the restart answered");
    one_row_per_upstream_call(&node, "crash", &up.seen()).await;
    books_add_up(&node, "crash", CREDITS_NANOS).await;

    // The restarted gateway serves and bills; a graceful stop returns its lease too.
    finished(&addr, &key, 100..102).await;
    assert_eq!(node.terminate().await, 0, "{}", node.log(2));
    assert_eq!(leased(&node, "crash").await, (0, 0));
    books_add_up(&node, "crash", CREDITS_NANOS).await;
    assert!(
        node.log(2).contains("interrupted"),
        "the restart says what it recovered: {}",
        node.log(2)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_live_instance_sweeps_a_killed_one_s_lease_within_the_ttl() {
    let up = Upstream::start().await;
    let mut a = Node::new(&up.url, LEASE_TTL_SECS);
    let key = a.org("swept", "5").await;
    // Two instances on one store: `b` stays up while `a` dies.
    let mut b = a.sibling("b");
    a.serve().await;
    b.serve().await;
    finished(&a.addr(), &key, 0..4).await;
    let slow = (SLOW_TAGS..SLOW_TAGS + 8).map(|t| (t, true)).collect();
    let clients = in_flight(&up, &a.addr(), &key, slow).await;
    a.kill().await;
    no_complete_answer(clients).await;
    let (dead_lease, _) = leased(&a, "swept").await;
    assert!(dead_lease > 0, "the killed instance held a lease");

    // `b` renews only its own leases: the dead one expires and `b`'s sweep (every second)
    // returns it to the org — within the TTL, plus one sweep, plus the admin commands' time
    // on a busy machine.
    let (_, waited) = eventually(
        Duration::from_secs(LEASE_TTL_SECS + 8),
        "the dead lease swept",
        || async { (leased(&b, "swept").await == (0, 0)).then_some(()) },
    )
    .await;
    eprintln!("dead lease of {dead_lease} nano-USD swept {waited:?} after the kill");
    let (code, out, err) = b.admin_raw(&["audit", "--org", "swept"]).await;
    assert_eq!(code, 0, "{out}{err}");
    // The credit is usable again, through `b`.
    finished(&b.addr(), &key, 4..6).await;

    // `a` starts again: its dead predecessor's requests are logged interrupted (its lease is
    // long gone: nothing is returned twice).
    a.serve().await;
    one_row_per_upstream_call(&a, "swept", &up.seen()).await;
    books_add_up(&a, "swept", CREDITS_NANOS).await;
    assert_eq!(a.terminate().await, 0, "{}", a.log(2));
    assert_eq!(b.terminate().await, 0, "{}", b.log(1));
    assert_eq!(leased(&a, "swept").await, (0, 0));
    books_add_up(&a, "swept", CREDITS_NANOS).await;
}

/// Slow requests, each on a task of its own; returns once the upstream has every one of them.
async fn in_flight(up: &Upstream, addr: &str, key: &str, tags: Vec<(u64, bool)>) -> Vec<Client> {
    let want = up.seen().len() + tags.len();
    let clients = tags
        .into_iter()
        .map(|(tag, stream)| {
            let (addr, key) = (addr.to_owned(), key.to_owned());
            tokio::spawn(async move { (tag, stream, chat(&addr, &key, tag, stream).await) })
        })
        .collect();
    eventually(
        Duration::from_secs(30),
        "the upstream got every slow request",
        || {
            let n = up.seen().len();
            async move { (n == want).then_some(()) }
        },
    )
    .await;
    // A moment for the first stream events to flow through the gateway.
    tokio::time::sleep(Duration::from_millis(300)).await;
    clients
}

type Client = tokio::task::JoinHandle<(u64, bool, Vec<u8>)>;

async fn no_complete_answer(clients: Vec<Client>) {
    for client in clients {
        let (tag, stream, answer) = client.await.unwrap();
        assert!(
            !complete(&answer, stream),
            "tag {tag} got a complete answer before the kill"
        );
    }
}

/// Every upstream call the fake saw has exactly one log row: a finished request its 200 and
/// cost, a request in flight at the kill `interrupted` and no cost. Returns the rows by tag.
async fn one_row_per_upstream_call(
    node: &Node,
    org: &str,
    seen: &[u64],
) -> std::collections::BTreeMap<u64, Vec<Value>> {
    let (rows, _) = eventually(
        Duration::from_secs(10),
        "a row for every upstream call",
        || {
            let want = seen.len();
            async move {
                let logs = node
                    .admin_json(&["logs", "--org", org, "--limit", "1000"])
                    .await;
                (logs.as_array().unwrap().len() >= want).then(|| rows_by_tag(&logs))
            }
        },
    )
    .await;
    assert_eq!(
        rows.len(),
        seen.len(),
        "no row without an upstream call: {rows:?}"
    );
    for tag in seen {
        let r = rows
            .get(tag)
            .unwrap_or_else(|| panic!("tag {tag}: no log row"));
        assert_eq!(r.len(), 1, "tag {tag}: one row: {r:?}");
        let row = &r[0];
        if *tag < SLOW_TAGS {
            assert_eq!(
                (row["status"].as_i64(), row["error_type"].as_str()),
                (Some(200), None),
                "{row}"
            );
            assert!(row["cost_nanos"].as_i64().unwrap() > 0);
        } else {
            assert_eq!(row["error_type"], "interrupted", "tag {tag}: {row}");
            assert_eq!(row["billing"], "ptb");
            assert_eq!(row["provider"], "openai");
            assert!(
                row["cost_nanos"].is_null(),
                "an interrupted request is not charged: {row}"
            );
        }
    }
    rows
}

/// balance = credits − Σ debits = Σ ledger rows = credits − Σ the log's costs; one debit per
/// charged row, equal to its cost; the audit passes.
async fn books_add_up(node: &Node, org: &str, credits_nanos: i64) {
    let logs = node
        .admin_json(&["logs", "--org", org, "--limit", "1000"])
        .await;
    let rows = logs.as_array().unwrap();
    let ledger = node.admin_json(&["ledger", "--org", org, "--all"]).await;
    let entries = ledger["data"].as_array().unwrap();
    let debits: Vec<&Value> = entries.iter().filter(|e| e["kind"] == "debit").collect();
    let charged: Vec<&Value> = rows.iter().filter(|r| r["cost_nanos"].is_i64()).collect();
    assert_eq!(debits.len(), charged.len(), "{debits:?}");
    for d in &debits {
        let row = charged
            .iter()
            .find(|r| r["id"] == d["request_id"])
            .unwrap_or_else(|| panic!("a debit without a row: {d}"));
        assert_eq!(
            -d["amount_nanos"].as_i64().unwrap(),
            row["cost_nanos"].as_i64().unwrap()
        );
    }
    let balance = node.admin_json(&["balance", "--org", org]).await;
    let sum: i64 = entries
        .iter()
        .map(|e| e["amount_nanos"].as_i64().unwrap())
        .sum();
    let costs: i64 = charged
        .iter()
        .map(|r| r["cost_nanos"].as_i64().unwrap())
        .sum();
    assert_eq!(balance["balance_nanos"].as_i64(), Some(sum));
    assert_eq!(sum, credits_nanos - costs);
    let (code, out, err) = node.admin_raw(&["audit", "--org", org]).await;
    assert_eq!(code, 0, "{out}{err}");
}
