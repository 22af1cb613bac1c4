//! Migration 0006 on a database that already has hourly rollups (upgraded from 0005): its
//! copy must give the same 6-hour rollups the log writer maintains for the same rows.
//!
//! Database A is opened at the latest schema and fed rows through the log writer's path (it
//! keeps hourly and 6-hour rollups). Database B is migrated to 0005 only, from a copy of the
//! migration files, gets A's hourly rollups, and is then opened as a store, which applies 0006.
//! B's 6-hour tables must equal A's, row for row, on SQLite and on PostgreSQL.

mod common;

use std::path::{Path, PathBuf};
use std::str::FromStr;

use sqlx::migrate::Migrator;
use sqlx::postgres::PgConnectOptions;
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{ConnectOptions, Connection, Executor};
use switchyard_store::{
    LogRow, LogStore, OrgId, OrgStore, PgOptions, PgStore, SqliteOptions, SqliteStore, SQLITE_FILE,
};
use time::{Duration, OffsetDateTime};

#[derive(Debug, PartialEq, sqlx::FromRow)]
struct UsageRow {
    org_id: String,
    hour: i64,
    provider: String,
    model: String,
    billing_mode: String,
    requests: i64,
    errors: i64,
    cost_nanos: i64,
    unpriced: i64,
    prompt_tokens: i64,
    completion_tokens: i64,
    latency_ms_sum: i64,
    ttft_ms_sum: i64,
    ttft_count: i64,
}
type LatencyRow = (String, i64, i64, i64, i64);
type ErrorRow = (String, i64, i64, String, i64);

/// The three 6-hour tables, ordered by key: what the comparison reads on both sides.
const USAGE_6H: &str = "SELECT org_id, hour, provider, model, billing_mode, requests, errors, \
    cost_nanos, unpriced, prompt_tokens, completion_tokens, latency_ms_sum, ttft_ms_sum, ttft_count \
    FROM rollup_usage_6h ORDER BY org_id, hour, provider, model, billing_mode";
const LATENCY_6H: &str = "SELECT org_id, hour, kind, bucket, n FROM rollup_latency_6h \
    ORDER BY org_id, hour, kind, bucket";
const ERRORS_6H: &str = "SELECT org_id, hour, status, error_type, n FROM rollup_errors_6h \
    ORDER BY org_id, hour, status, error_type";
const HOURLY: [&str; 3] = ["rollup_usage", "rollup_latency", "rollup_errors"];

/// Rows over 40 hours (several 6-hour buckets, each with several hours): the suite's varied
/// rows (providers, billing modes, 429s, unpriced ones), with latencies and times to first
/// token spread over the histogram's buckets.
fn rows(org: OrgId) -> Vec<LogRow> {
    let base = OffsetDateTime::now_utc() - Duration::hours(48);
    (0..240usize)
        .map(|i| {
            let mut row = common::sample_log(org, i, base + Duration::minutes(i as i64 * 10));
            row.latency_ms = 40 + (i as i64 * 131) % 4_000;
            row.ttft_ms = (i % 2 == 0).then_some(15 + i as i64 % 300);
            row
        })
        .collect()
}

/// A directory with the backend's migrations up to 0005: what a database upgraded from the
/// release before 0006 was built with.
fn migrations_before_0006(backend: &str) -> tempfile::TempDir {
    let src = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("migrations")
        .join(backend);
    let dir = tempfile::tempdir().expect("tempdir");
    let mut copied = 0;
    for entry in std::fs::read_dir(&src).expect("migrations dir") {
        let path: PathBuf = entry.expect("entry").path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let version: u32 = name[..4].parse().expect("numbered migration");
        if version < 6 {
            std::fs::copy(&path, dir.path().join(&name)).expect("copy migration");
            copied += 1;
        }
    }
    assert_eq!(copied, 5, "migrations 0001-0005 of {backend}");
    dir
}

/// Migrates `conn` to 0005 only, as the release before 0006 left a database.
async fn migrate_to_0005<'a, A>(backend: &str, conn: A)
where
    A: sqlx::Acquire<'a>,
    <A::Connection as std::ops::Deref>::Target: sqlx::migrate::Migrate,
{
    let old = migrations_before_0006(backend);
    Migrator::new(old.path())
        .await
        .unwrap()
        .run(conn)
        .await
        .unwrap();
}

async fn feed(store: &dyn LogStore, rows: &[LogRow]) {
    // Batches of unequal size, as the log writer commits them.
    for chunk in rows.chunks(37) {
        store.insert_logs(chunk).await.expect("insert logs");
    }
}

/// The 6-hour tables through a pool of either backend (the same queries, typed rows).
macro_rules! six_hour_tables {
    ($pool:expr) => {{
        let pool = $pool;
        let usage = sqlx::query_as::<_, UsageRow>(USAGE_6H)
            .fetch_all(pool)
            .await
            .expect("rollup_usage_6h");
        let latency = sqlx::query_as::<_, LatencyRow>(LATENCY_6H)
            .fetch_all(pool)
            .await
            .expect("rollup_latency_6h");
        let errors = sqlx::query_as::<_, ErrorRow>(ERRORS_6H)
            .fetch_all(pool)
            .await
            .expect("rollup_errors_6h");
        (usage, latency, errors)
    }};
}

/// What must hold of the maintained tables for the comparison to mean something: several
/// 6-hour buckets, each folding several hours.
fn assert_meaningful(usage: &[UsageRow], rows: usize) {
    let buckets: std::collections::BTreeSet<i64> = usage.iter().map(|u| u.hour).collect();
    assert!(buckets.len() >= 6, "buckets: {buckets:?}");
    assert!(buckets.iter().all(|b| b % 21_600_000_000 == 0));
    assert_eq!(usage.iter().map(|u| u.requests).sum::<i64>(), rows as i64);
}

#[tokio::test]
async fn sqlite_upgrade_copies_hourly_rollups_into_6h_ones() {
    let a_dir = tempfile::tempdir().unwrap();
    let a = SqliteStore::open(SqliteOptions::new(a_dir.path()))
        .await
        .unwrap();
    let org = a.create_org("upgrade").await.unwrap().id;
    let rows = rows(org);
    feed(&a, &rows).await;

    // B at 0005, with A's hourly rollups.
    let b_dir = tempfile::tempdir().unwrap();
    let b_file = b_dir.path().join(SQLITE_FILE);
    let mut conn = SqliteConnectOptions::new()
        .filename(&b_file)
        .create_if_missing(true)
        .connect()
        .await
        .unwrap();
    migrate_to_0005("sqlite", &mut conn).await;
    let a_file = a_dir.path().join(SQLITE_FILE);
    conn.execute(format!("ATTACH DATABASE '{}' AS a", a_file.display()).as_str())
        .await
        .unwrap();
    for t in HOURLY {
        conn.execute(format!("INSERT INTO main.{t} SELECT * FROM a.{t}").as_str())
            .await
            .unwrap();
    }
    let missing = sqlx::query("SELECT 1 FROM sqlite_master WHERE name = 'rollup_usage_6h'")
        .fetch_optional(&mut conn)
        .await
        .unwrap();
    assert!(missing.is_none(), "B must start without 0006");
    conn.close().await.unwrap();

    // Opening B as a store applies 0006.
    let b = SqliteStore::open(SqliteOptions::new(b_dir.path()))
        .await
        .unwrap();
    drop(b);
    let read = |file: &Path| {
        sqlx::SqlitePool::connect_with(SqliteConnectOptions::new().filename(file).read_only(true))
    };
    let read_a = read(&a_file).await.unwrap();
    let read_b = read(&b_file).await.unwrap();
    let want = six_hour_tables!(&read_a);
    let got = six_hour_tables!(&read_b);
    assert_meaningful(&want.0, rows.len());
    assert_eq!(got, want);
}

#[tokio::test]
async fn postgres_upgrade_copies_hourly_rollups_into_6h_ones() {
    let url = common::pg_url();
    let schema_a = format!("sy_mig_a_{}", uuid::Uuid::new_v4().simple());
    let schema_b = format!("sy_mig_b_{}", uuid::Uuid::new_v4().simple());
    let mut opts = PgOptions::new(url.clone());
    opts.schema = Some(schema_a.clone());
    let a = PgStore::connect(opts)
        .await
        .expect("PostgreSQL for this test");
    let org = a.create_org("upgrade").await.unwrap().id;
    let rows = rows(org);
    feed(&a, &rows).await;

    let base = PgConnectOptions::from_str(&url).unwrap();
    let mut admin = base.connect().await.unwrap();
    admin
        .execute(format!("CREATE SCHEMA {schema_b}").as_str())
        .await
        .unwrap();
    let mut conn = base
        .clone()
        .options([("search_path", schema_b.as_str())])
        .connect()
        .await
        .unwrap();
    migrate_to_0005("postgres", &mut conn).await;
    for t in HOURLY {
        conn.execute(format!("INSERT INTO {schema_b}.{t} SELECT * FROM {schema_a}.{t}").as_str())
            .await
            .unwrap();
    }
    conn.close().await.unwrap();

    let mut opts = PgOptions::new(url.clone());
    opts.schema = Some(schema_b.clone());
    let b = PgStore::connect(opts).await.unwrap();
    let read_a =
        sqlx::PgPool::connect_with(base.clone().options([("search_path", schema_a.as_str())]))
            .await
            .unwrap();
    let want = six_hour_tables!(&read_a);
    let got = six_hour_tables!(b.pool());
    read_a.close().await;
    b.pool().close().await;
    drop(b);
    drop(a);
    for s in [&schema_a, &schema_b] {
        admin
            .execute(format!("DROP SCHEMA {s} CASCADE").as_str())
            .await
            .unwrap();
    }
    assert_meaningful(&want.0, rows.len());
    assert_eq!(got, want);
}
