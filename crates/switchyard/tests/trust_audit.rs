//! `switchyard admin audit` on books that do not add up (issue 8, item 6): the balance or the
//! leased total of one org is corrupted with a raw UPDATE on the SQLite store; the audit exits
//! non-zero and names the org and the mismatch, while an org whose books are right still
//! passes on its own.

mod common;

use common::*;
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::ConnectOptions;

async fn corrupt(node: &Node, sql: &str, org: &str) {
    let mut db = SqliteConnectOptions::new()
        .filename(node.db_path())
        .connect()
        .await
        .expect("the store's SQLite file opens");
    let done = sqlx::query(sql).bind(org).execute(&mut db).await.unwrap();
    assert_eq!(done.rows_affected(), 1, "{sql}");
}

#[tokio::test]
async fn the_audit_exits_non_zero_and_names_a_corrupted_balance_or_lease_total() {
    // No gateway runs: the audit reads the store; the upstream is never called.
    let node = Node::new("http://127.0.0.1:9", 60);
    node.org("honest", "3").await;
    node.org("tampered", "2.5").await;
    node.admin(&["credits", "add", "--org", "tampered", "0.5"])
        .await;
    let (code, out, err) = node.admin_raw(&["audit"]).await;
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("2 orgs audited, 0 with mismatches"), "{out}");

    corrupt(
        &node,
        "UPDATE orgs SET balance_nanos = balance_nanos + 1234 WHERE name = $1",
        "tampered",
    )
    .await;
    let (code, out, err) = node.admin_raw(&["audit"]).await;
    assert_eq!(code, 1, "{out}{err}");
    let line = out
        .lines()
        .find(|l| l.starts_with("tampered "))
        .unwrap_or_else(|| panic!("the tampered org is listed: {out}"));
    assert!(line.ends_with("MISMATCH"), "{line}");
    assert!(
        out.contains("problem: balance 3000001234 != sum of 2 ledger rows 3000000000"),
        "the problem is named with its figures: {out}"
    );
    assert!(out.contains("1 with mismatches"), "{out}");
    assert!(
        err.contains("1 org(s) with books that do not add up"),
        "{err}"
    );
    let honest = out.lines().find(|l| l.starts_with("honest ")).unwrap();
    assert!(honest.ends_with(": ok"), "{honest}");
    // One org at a time: the honest one passes, the tampered one fails, in JSON too.
    assert_eq!(node.admin_raw(&["audit", "--org", "honest"]).await.0, 0);
    let (code, json, _) = node
        .admin_raw(&["--json", "audit", "--org", "tampered"])
        .await;
    assert_eq!(code, 1);
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v[0]["consistent"], false);
    assert_eq!(v[0]["balance_nanos"], 3_000_001_234i64);
    assert_eq!(v[0]["ledger_sum_nanos"], 3_000_000_000i64);

    // Put the balance back, break the leased total instead: a lease nobody holds.
    corrupt(
        &node,
        "UPDATE orgs SET balance_nanos = balance_nanos - 1234 WHERE name = $1",
        "tampered",
    )
    .await;
    assert_eq!(node.admin_raw(&["audit"]).await.0, 0, "repaired");
    corrupt(
        &node,
        "UPDATE orgs SET leased_nanos = 777 WHERE name = $1",
        "tampered",
    )
    .await;
    let (code, out, _) = node.admin_raw(&["audit", "--org", "tampered"]).await;
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("problem: leased 777 != sum of leases 0"),
        "{out}"
    );
}
