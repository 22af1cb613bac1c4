//! Credit leases racing their own maintenance (issue 8): an instance gives an idle lease back
//! to its org while a new request takes a hold. The hold must stay backed by a lease (else
//! other instances could lease the same credit) and its cost must be charged in full.

use std::sync::Arc;
use std::time::Duration;

use switchyard_server::credits::{Credits, CreditsConfig};
use switchyard_store::{Batch, SqliteStore, Store};

const ROUNDS: u64 = 300;
const HOLD: i64 = 1_000;
const COST: i64 = 700;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hold_taken_while_an_idle_lease_goes_back_is_backed_and_charged_in_full() {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open_dir(dir.path(), None).await.unwrap());
    let org = store.create_org("race").await.unwrap().id;
    store.add_credits(org, 1_000_000_000, None).await.unwrap();
    let credits = Arc::new(Credits::new(
        store.clone(),
        "race-instance".into(),
        CreditsConfig {
            // Every lease is idle as soon as its holds are gone: each maintenance returns it.
            idle_return: Duration::ZERO,
            ..CreditsConfig::default()
        },
    ));
    for round in 0..ROUNDS {
        drop(credits.hold(org, HOLD).await.unwrap());
        let c = credits.clone();
        let giving_back = tokio::spawn(async move { c.maintain().await });
        // Land the next hold at a different moment of the return each round.
        tokio::time::sleep(Duration::from_micros(round % 40 * 75)).await;
        let hold = credits.hold(org, HOLD).await.unwrap();
        giving_back.await.unwrap();
        let (leased, held, pending, _) = credits.position(org);
        assert!(
            held + pending <= leased,
            "round {round}: holds of {held} (+{pending} pending) on a lease of {leased}"
        );
        let debit = hold.settle(uuid::Uuid::now_v7(), COST);
        assert_eq!(debit.nanos, COST, "round {round}: charged in full");
        let outcome = store
            .commit_batch(Arc::new(Batch {
                rows: Vec::new(),
                debits: vec![debit.clone()],
            }))
            .await
            .unwrap();
        assert!(outcome.uncharged.is_empty(), "round {round}: {outcome:?}");
        credits.committed(&[debit], &outcome);
    }
    credits.shutdown().await;
    let audit = store.audit(Some(org)).await.unwrap().remove(0);
    assert!(audit.is_consistent(), "{:?}", audit.problems());
    assert_eq!(audit.leased_nanos, 0);
    assert_eq!(
        audit.balance_nanos,
        1_000_000_000 - ROUNDS as i64 * COST,
        "every round charged"
    );
}
