//! The credit ledger, leases and group-committed debits; every test runs on SQLite and on
//! PostgreSQL.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{sample_log, Harness};
use switchyard_store::*;
use time::OffsetDateTime;

both_backends!(
    credits_balance_and_pages,
    grants_are_checked_for_overflow,
    leases_stay_within_the_balance,
    concurrent_leases_never_exceed_the_balance,
    debits_commit_with_their_log_rows,
    a_debit_on_a_lost_lease_is_not_charged,
    a_batch_committed_twice_charges_once,
    leases_expire_renew_and_release,
    cancelled_writes_never_poison_the_store,
    log_writer_commits_debits_and_tells_the_listener,
);

async fn funded_org(store: &dyn Store, nanos: i64) -> OrgId {
    let org = store.create_org("acme").await.unwrap();
    if nanos > 0 {
        store
            .add_credits(org.id, nanos, Some("grant"))
            .await
            .unwrap();
    }
    org.id
}

async fn assert_consistent(store: &dyn Store, org: OrgId) -> OrgAudit {
    let audit = store.audit(Some(org)).await.unwrap().remove(0);
    assert!(audit.is_consistent(), "books wrong: {:?}", audit.problems());
    audit
}

fn lease(org: OrgId, instance: &str, min: i64, want: i64) -> LeaseRequest {
    LeaseRequest {
        org,
        instance: instance.to_owned(),
        min_nanos: min,
        want_nanos: want,
        ttl: Duration::from_secs(60),
    }
}

fn debit(row: &LogRow, instance: &str, nanos: i64) -> Debit {
    Debit {
        request_id: row.id,
        org: row.org_id,
        instance: instance.to_owned(),
        nanos,
    }
}

async fn credits_balance_and_pages(h: Arc<Harness>) {
    let s = &*h.store;
    let org = funded_org(s, 1_000).await;
    for i in 1..=9 {
        s.add_credits(org, i, None).await.unwrap();
    }
    let b = s.balance(org).await.unwrap();
    assert_eq!(b.balance_nanos, 1_045);
    assert_eq!(
        (b.leased_nanos, b.held_nanos, b.available_nanos),
        (0, 0, 1_045)
    );

    // Pages of 4, newest first, with no row twice and none missing.
    let mut seen = Vec::new();
    let mut before = None;
    loop {
        let page = s
            .ledger(org, LedgerPage { limit: 4, before })
            .await
            .unwrap();
        if page.is_empty() {
            break;
        }
        assert!(page.len() <= 4);
        before = page.last().map(LedgerCursor::after);
        seen.extend(page);
    }
    assert_eq!(seen.len(), 10);
    let amounts: Vec<i64> = seen.iter().map(|e| e.amount_nanos).collect();
    assert_eq!(amounts, vec![9, 8, 7, 6, 5, 4, 3, 2, 1, 1_000]);
    assert_eq!(seen[0].balance_after_nanos, 1_045);
    assert!(seen.iter().all(|e| e.kind == LedgerKind::Credit));
    assert_eq!(seen[9].note.as_deref(), Some("grant"));
    assert_consistent(s, org).await;

    let missing = OrgId::generate();
    assert!(matches!(
        s.add_credits(missing, 5, None).await,
        Err(StoreError::OrgNotFound(o)) if o == missing
    ));
    assert!(matches!(
        s.balance(missing).await,
        Err(StoreError::OrgNotFound(_))
    ));
    for bad in [0, -5] {
        assert!(matches!(
            s.add_credits(org, bad, None).await,
            Err(StoreError::InvalidAmount { .. })
        ));
    }
}

async fn grants_are_checked_for_overflow(h: Arc<Harness>) {
    let s = &*h.store;
    let org = funded_org(s, MAX_BALANCE_NANOS - 10).await;
    let err = s.add_credits(org, 11, None).await.unwrap_err();
    assert!(
        matches!(err, StoreError::InvalidAmount { .. }),
        "overflowing grant refused as invalid: {err}"
    );
    assert!(err.to_string().contains("1,000,000,000 USD"), "{err}");
    assert!(matches!(
        s.add_credits(org, i64::MAX, None).await,
        Err(StoreError::InvalidAmount { .. })
    ));
    // Up to the maximum exactly is fine, and nothing was half-applied.
    s.add_credits(org, 10, None).await.unwrap();
    assert_eq!(
        s.balance(org).await.unwrap().balance_nanos,
        MAX_BALANCE_NANOS
    );
    assert_consistent(s, org).await;
}

async fn leases_stay_within_the_balance(h: Arc<Harness>) {
    let s = &*h.store;
    let org = funded_org(s, 1_000_000).await;
    let g = s
        .acquire_lease(lease(org, "a", 100, 600_000))
        .await
        .unwrap();
    assert_eq!((g.granted_nanos, g.lease_nanos), (600_000, 600_000));
    assert_eq!(g.unleased_nanos, 400_000);
    // Asking for more than is left grants what is left, if it covers the minimum.
    let g = s
        .acquire_lease(lease(org, "b", 100, 600_000))
        .await
        .unwrap();
    assert_eq!(g.granted_nanos, 400_000);
    assert_eq!(g.unleased_nanos, 0);
    let err = s.acquire_lease(lease(org, "c", 1, 10)).await.unwrap_err();
    assert!(matches!(
        err,
        StoreError::InsufficientCredits {
            balance: 1_000_000,
            available: 0,
            needed: 1
        }
    ));
    // A second grant to the same instance adds to its lease.
    s.return_lease(org, "a", 100_000).await.unwrap();
    let g = s
        .acquire_lease(lease(org, "a", 50_000, 50_000))
        .await
        .unwrap();
    assert_eq!(g.lease_nanos, 550_000);
    let b = s.balance(org).await.unwrap();
    assert_eq!((b.balance_nanos, b.leased_nanos), (1_000_000, 950_000));
    let audit = assert_consistent(s, org).await;
    assert_eq!(audit.leases.len(), 2);
    assert_eq!(audit.leases_sum_nanos, 950_000);
    // Returning the whole lease removes it; returning more than it holds is refused.
    assert_eq!(s.return_lease(org, "b", 400_000).await.unwrap(), 0);
    assert!(s.return_lease(org, "b", 1).await.is_err());
    assert_eq!(s.leases(Some(org)).await.unwrap().len(), 1);
    assert_eq!(s.balance(org).await.unwrap().leased_nanos, 550_000);
    assert!(matches!(
        s.acquire_lease(lease(org, "a", 10, 5)).await,
        Err(StoreError::InvalidAmount { .. })
    ));
    assert_consistent(s, org).await;
}

async fn concurrent_leases_never_exceed_the_balance(h: Arc<Harness>) {
    let org = funded_org(&*h.store, 1_000_000).await;
    const EACH: i64 = 13_000; // 1_000_000 / 13_000 = 76.9 → exactly 76 fit
    let mut tasks = Vec::new();
    for i in 0..200 {
        let store = h.store.clone();
        tasks.push(tokio::spawn(async move {
            store
                .acquire_lease(lease(org, &format!("i{i}"), EACH, EACH))
                .await
        }));
    }
    let (mut ok, mut refused) = (0, 0);
    for t in tasks {
        match t.await.unwrap() {
            Ok(g) => {
                assert_eq!(g.granted_nanos, EACH);
                ok += 1;
            }
            Err(StoreError::InsufficientCredits {
                needed, available, ..
            }) => {
                assert_eq!(needed, EACH);
                assert!(available < EACH);
                refused += 1;
            }
            Err(e) => panic!("unexpected error: {e}"),
        }
    }
    assert_eq!((ok, refused), (76, 124));
    let b = h.store.balance(org).await.unwrap();
    assert_eq!(b.leased_nanos, 76 * EACH);
    assert!(b.leased_nanos <= b.balance_nanos);
    assert_consistent(&*h.store, org).await;
}

async fn debits_commit_with_their_log_rows(h: Arc<Harness>) {
    let s = &*h.store;
    let org = funded_org(s, 100_000).await;
    s.acquire_lease(lease(org, "i1", 50_000, 50_000))
        .await
        .unwrap();
    let now = OffsetDateTime::now_utc();
    let rows: Vec<LogRow> = (0..5).map(|i| sample_log(org, i, now)).collect();
    let debits: Vec<Debit> = rows
        .iter()
        .take(3)
        .enumerate()
        .map(|(i, r)| debit(r, "i1", 1_000 * (i as i64 + 1)))
        .collect();
    let out = s
        .commit_batch(Arc::new(Batch {
            rows: rows.clone(),
            debits,
        }))
        .await
        .unwrap();
    assert_eq!(out.charged, vec![(org, 6_000)]);
    assert!(out.uncharged.is_empty());
    assert_eq!(s.count_logs(org).await.unwrap(), 5);
    let b = s.balance(org).await.unwrap();
    assert_eq!((b.balance_nanos, b.leased_nanos), (94_000, 44_000));
    let page = s
        .ledger(
            org,
            LedgerPage {
                limit: 10,
                before: None,
            },
        )
        .await
        .unwrap();
    let debit_rows: Vec<&LedgerEntry> = page
        .iter()
        .filter(|e| e.kind == LedgerKind::Debit)
        .collect();
    assert_eq!(debit_rows.len(), 3);
    let charged: std::collections::BTreeMap<uuid::Uuid, i64> = debit_rows
        .iter()
        .map(|e| (e.request_id.unwrap(), -e.amount_nanos))
        .collect();
    for (i, r) in rows.iter().take(3).enumerate() {
        assert_eq!(charged[&r.id], 1_000 * (i as i64 + 1));
    }
    assert!(debit_rows.iter().any(|e| e.balance_after_nanos == 94_000));
    // A replayed row is skipped, not doubled.
    s.insert_logs(&rows[..2]).await.unwrap();
    assert_eq!(s.count_logs(org).await.unwrap(), 5);
    assert_consistent(s, org).await;
}

/// A batch whose commit went through but was reported failed is retried: it must not charge
/// its requests again (nor log them twice).
async fn a_batch_committed_twice_charges_once(h: Arc<Harness>) {
    let s = &*h.store;
    let org = funded_org(s, 100_000).await;
    s.acquire_lease(lease(org, "r", 50_000, 50_000))
        .await
        .unwrap();
    let rows: Vec<LogRow> = (0..3)
        .map(|i| sample_log(org, i, OffsetDateTime::now_utc()))
        .collect();
    let batch = Arc::new(Batch {
        debits: rows.iter().map(|r| debit(r, "r", 1_000)).collect(),
        rows,
    });
    let first = s.commit_batch(batch.clone()).await.unwrap();
    assert_eq!(first.charged, vec![(org, 3_000)]);
    let again = s.commit_batch(batch).await.unwrap();
    assert!(again.charged.is_empty(), "{again:?}");
    assert_eq!(s.count_logs(org).await.unwrap(), 3);
    let b = s.balance(org).await.unwrap();
    assert_eq!((b.balance_nanos, b.leased_nanos), (97_000, 47_000));
    let audit = assert_consistent(s, org).await;
    assert_eq!(audit.ledger_rows, 1 + 3);
}

async fn a_debit_on_a_lost_lease_is_not_charged(h: Arc<Harness>) {
    let s = &*h.store;
    let org = funded_org(s, 10_000).await;
    s.acquire_lease(lease(org, "gone", 5_000, 5_000))
        .await
        .unwrap();
    // The instance stopped renewing; another instance sweeps its lease away.
    let later = OffsetDateTime::now_utc() + time::Duration::minutes(5);
    assert_eq!(s.expire_leases(later).await.unwrap(), 1);
    let row = sample_log(org, 1, OffsetDateTime::now_utc());
    let out = s
        .commit_batch(Arc::new(Batch {
            rows: vec![row.clone()],
            debits: vec![debit(&row, "gone", 4_000)],
        }))
        .await
        .unwrap();
    assert_eq!(out.uncharged, vec![row.id]);
    assert!(out.charged.is_empty());
    assert_eq!(s.count_logs(org).await.unwrap(), 1);
    let b = s.balance(org).await.unwrap();
    assert_eq!((b.balance_nanos, b.leased_nanos), (10_000, 0));
    let page = s
        .ledger(
            org,
            LedgerPage {
                limit: 10,
                before: None,
            },
        )
        .await
        .unwrap();
    assert_eq!(page[0].request_id, Some(row.id));
    assert_eq!(page[0].amount_nanos, 0);
    assert!(page[0].note.as_deref().unwrap().contains("not charged"));
    assert_consistent(s, org).await;
}

async fn leases_expire_renew_and_release(h: Arc<Harness>) {
    let s = &*h.store;
    let a = funded_org(s, 10_000).await;
    let b = s.create_org("beta").await.unwrap().id;
    s.add_credits(b, 10_000, None).await.unwrap();
    s.acquire_lease(lease(a, "live", 1_000, 1_000))
        .await
        .unwrap();
    s.acquire_lease(lease(b, "live", 2_000, 2_000))
        .await
        .unwrap();
    s.acquire_lease(lease(a, "dead", 3_000, 3_000))
        .await
        .unwrap();

    let snap = |org| LeaseSnapshot {
        org,
        held_nanos: 700,
        holds: 2,
        oldest_hold_at: Some(OffsetDateTime::now_utc()),
    };
    let unknown = OrgId::generate();
    let missing = s
        .renew_leases("live", &[snap(a), snap(unknown)], Duration::from_secs(600))
        .await
        .unwrap();
    assert_eq!(missing, vec![unknown]);
    assert_eq!(s.balance(a).await.unwrap().held_nanos, 700);

    // Ten minutes on, only the lease that was not renewed has run out.
    let later = OffsetDateTime::now_utc() + time::Duration::minutes(5);
    assert_eq!(s.expire_leases(later).await.unwrap(), 1);
    let left: Vec<String> = s
        .leases(None)
        .await
        .unwrap()
        .into_iter()
        .map(|l| l.instance_id)
        .collect();
    assert_eq!(left, vec!["live".to_owned(), "live".to_owned()]);
    assert_eq!(s.balance(a).await.unwrap().leased_nanos, 1_000);

    assert_eq!(s.release_instance("live").await.unwrap(), 2);
    assert!(s.leases(None).await.unwrap().is_empty());
    for org in [a, b] {
        let audit = assert_consistent(s, org).await;
        assert_eq!(audit.leased_nanos, 0);
    }
    let all = s.audit(None).await.unwrap();
    assert_eq!(all.len(), 2);
}

/// Every write, dropped at every point it can be (a timeout of growing length), leaves a
/// store that still writes, with consistent books (the writer connection never goes back to
/// the pool inside a transaction).
async fn cancelled_writes_never_poison_the_store(h: Arc<Harness>) {
    let s = h.store.clone();
    let org = funded_org(&*s, 1_000_000_000).await;
    s.acquire_lease(lease(org, "x", 1, 100_000_000))
        .await
        .unwrap();
    let now = OffsetDateTime::now_utc();
    // Each operation is cut after 0 s, then a quarter longer each time, until it finishes in
    // time: the early cuts land at every await point inside its transaction.
    for op in 0..6 {
        let mut step = 0i32;
        loop {
            let cut = Duration::from_secs_f64(5e-6 * 1.25f64.powi(step) - 5e-6);
            let row = sample_log(org, step as usize, now);
            let work: BoxFut<'_, ()> = match op {
                0 => Box::pin(async { s.add_credits(org, 1, None).await.map(|_| ()) }),
                1 => Box::pin(async { s.acquire_lease(lease(org, "x", 1, 10)).await.map(|_| ()) }),
                2 => Box::pin(async { s.return_lease(org, "x", 1).await.map(|_| ()) }),
                3 => Box::pin(async {
                    s.commit_batch(Arc::new(Batch {
                        rows: vec![row.clone()],
                        debits: vec![debit(&row, "x", 3)],
                    }))
                    .await
                    .map(|_| ())
                }),
                4 => Box::pin(async {
                    s.renew_leases("x", &[], Duration::from_secs(60))
                        .await
                        .map(|_| ())
                }),
                _ => Box::pin(async { s.create_org("cut").await.map(|_| ()) }),
            };
            if let Some(r) = within(cut, work).await {
                r.unwrap();
                break;
            }
            step += 1;
            assert!(step < 80, "operation {op} never finished");
        }
        assert!(step > 0, "operation {op} was cut at least once");
    }
    // Let detached operations finish, then every kind of write still works.
    tokio::time::sleep(Duration::from_millis(300)).await;
    s.add_credits(org, 5, None).await.unwrap();
    s.acquire_lease(lease(org, "y", 1, 1)).await.unwrap();
    s.create_org("after").await.unwrap();
    let row = sample_log(org, 999, now);
    s.commit_batch(Arc::new(Batch {
        rows: vec![row.clone()],
        debits: vec![debit(&row, "y", 1)],
    }))
    .await
    .unwrap();
    assert!(s.get_log(org, row.id).await.unwrap().is_some());
    assert_consistent(&*s, org).await;
}

/// Polls `work` until it is done or `cut` has passed, then drops it. Unlike
/// `tokio::time::timeout` (1 ms timer ticks), this cuts at microsecond precision.
async fn within<F: std::future::Future>(cut: Duration, work: F) -> Option<F::Output> {
    let start = std::time::Instant::now();
    let mut work = std::pin::pin!(work);
    loop {
        let polled =
            std::future::poll_fn(|cx| std::task::Poll::Ready(work.as_mut().poll(cx))).await;
        if let std::task::Poll::Ready(v) = polled {
            return Some(v);
        }
        if start.elapsed() >= cut {
            return None;
        }
        tokio::task::yield_now().await;
    }
}

/// One batch as the listener heard of it: row ids, debits, outcome.
type Heard = (Vec<uuid::Uuid>, Vec<Debit>, BatchOutcome);

#[derive(Default)]
struct Recorder {
    committed: std::sync::Mutex<Vec<Heard>>,
}

impl CommitListener for Recorder {
    fn committed(&self, ids: &[uuid::Uuid], debits: &[Debit], outcome: &BatchOutcome) {
        self.committed
            .lock()
            .unwrap()
            .push((ids.to_vec(), debits.to_vec(), outcome.clone()));
    }
    fn failed(&self, _ids: &[uuid::Uuid], _debits: &[Debit]) {
        panic!("nothing should fail here");
    }
}

async fn log_writer_commits_debits_and_tells_the_listener(h: Arc<Harness>) {
    let org = funded_org(&*h.store, 10_000_000).await;
    h.store
        .acquire_lease(lease(org, "w", 5_000_000, 5_000_000))
        .await
        .unwrap();
    let recorder = Arc::new(Recorder::default());
    let writer = LogWriter::spawn(
        h.store.clone(),
        LogWriterConfig {
            batch_size: 64,
            ..Default::default()
        },
        Some(recorder.clone()),
    );
    let now = OffsetDateTime::now_utc();
    let mut expected = 0;
    for i in 0..1_000 {
        let row = sample_log(org, i, now);
        let d = (i % 2 == 0).then(|| debit(&row, "w", 7 + i as i64));
        expected += d.as_ref().map_or(0, |d| d.nanos);
        assert!(writer.submit(row, d).await);
    }
    let stats = writer.shutdown().await;
    assert_eq!((stats.written, stats.dropped, stats.failed), (1_000, 0, 0));
    {
        let committed = recorder.committed.lock().unwrap();
        let ids: usize = committed.iter().map(|(ids, _, _)| ids.len()).sum();
        assert_eq!(ids, 1_000);
        let charged: i64 = committed
            .iter()
            .flat_map(|(_, _, o)| o.charged.iter().map(|(_, n)| n))
            .sum();
        assert_eq!(charged, expected);
    }
    let b = h.store.balance(org).await.unwrap();
    assert_eq!(b.balance_nanos, 10_000_000 - expected);
    assert_eq!(b.leased_nanos, 5_000_000 - expected);
    let audit = assert_consistent(&*h.store, org).await;
    assert_eq!(audit.ledger_rows, 1 + 500);
}
