//! Test harness: every test in `suite.rs` runs once against a fresh SQLite
//! database in a temp dir and once against PostgreSQL in a fresh schema.
#![allow(dead_code)]

use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{ConnectOptions, Connection, Executor, Row};
use std::collections::BTreeMap;

use switchyard_store::{
    BillingMode, KeyId, LogRow, MasterKey, OrgId, PgOptions, PgStore, SqliteOptions, SqliteStore,
    Store,
};
use time::OffsetDateTime;

pub fn pg_url() -> String {
    std::env::var("SWITCHYARD_TEST_PG_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned())
}

pub enum Kind {
    Sqlite(tempfile::TempDir),
    Postgres(String),
}

pub struct Harness {
    pub store: Arc<dyn Store>,
    pub master_key: MasterKey,
    pub kind: Kind,
}

impl Harness {
    pub async fn sqlite() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let (master_key, _) = MasterKey::generate();
        let mut opts = SqliteOptions::new(dir.path());
        opts.master_key = Some(master_key.clone());
        let store = SqliteStore::open(opts).await.expect("open sqlite store");
        Self {
            store: Arc::new(store),
            master_key,
            kind: Kind::Sqlite(dir),
        }
    }

    pub async fn postgres() -> Self {
        let schema = format!("sy_test_{}", uuid::Uuid::new_v4().simple());
        let (master_key, _) = MasterKey::generate();
        let mut opts = PgOptions::new(pg_url());
        opts.schema = Some(schema.clone());
        opts.max_connections = 8;
        opts.master_key = Some(master_key.clone());
        let store = PgStore::connect(opts).await.unwrap_or_else(|e| {
            panic!(
                "PostgreSQL at {} is required for these tests (start it with \
                 `pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start`): {e}",
                pg_url()
            )
        });
        Self {
            store: Arc::new(store),
            master_key,
            kind: Kind::Postgres(schema),
        }
    }

    /// A second store on the same database, e.g. with another master key.
    pub async fn reopen(&self, master_key: Option<MasterKey>) -> Arc<dyn Store> {
        match &self.kind {
            Kind::Sqlite(dir) => {
                let mut opts = SqliteOptions::new(dir.path());
                opts.master_key = master_key;
                Arc::new(SqliteStore::open(opts).await.expect("reopen sqlite"))
            }
            Kind::Postgres(schema) => {
                let mut opts = PgOptions::new(pg_url());
                opts.schema = Some(schema.clone());
                opts.max_connections = 4;
                opts.master_key = master_key;
                Arc::new(PgStore::connect(opts).await.expect("reopen postgres"))
            }
        }
    }

    /// Every stored byte column and text column of `provider_keys` and
    /// `gateway_keys`, raw, for "the secret is not in the database" checks.
    pub async fn raw_secret_columns(&self) -> Vec<Vec<u8>> {
        let sql = [
            "SELECT config AS t, nonce AS b1, ciphertext AS b2, key_fingerprint AS b3 FROM provider_keys",
            "SELECT prefix AS t, key_hash AS b1, key_hash AS b2, key_hash AS b3 FROM gateway_keys",
        ];
        let mut out = Vec::new();
        match &self.kind {
            Kind::Sqlite(dir) => {
                let mut conn = raw_sqlite(dir.path()).await;
                for q in sql {
                    for r in conn.fetch_all(q).await.expect("raw query") {
                        out.push(r.get::<String, _>("t").into_bytes());
                        for c in ["b1", "b2", "b3"] {
                            out.push(r.get::<Vec<u8>, _>(c));
                        }
                    }
                }
            }
            Kind::Postgres(schema) => {
                let pool = PgPoolOptions::new()
                    .max_connections(1)
                    .connect_with(pg_opts().options([("search_path", schema.as_str())]))
                    .await
                    .expect("raw postgres");
                for q in sql {
                    for r in pool.fetch_all(q).await.expect("raw query") {
                        out.push(r.get::<String, _>("t").into_bytes());
                        for c in ["b1", "b2", "b3"] {
                            out.push(r.get::<Vec<u8>, _>(c));
                        }
                    }
                }
                pool.close().await;
            }
        }
        out
    }

    /// The query plan of `sql`, as the backend prints it (PostgreSQL with sequential scans
    /// off, so that an empty table still shows which index the planner would take).
    pub async fn explain(&self, sql: &str) -> String {
        let mut out = Vec::new();
        match &self.kind {
            Kind::Sqlite(dir) => {
                let mut conn = raw_sqlite(dir.path()).await;
                for r in conn
                    .fetch_all(format!("EXPLAIN QUERY PLAN {sql}").as_str())
                    .await
                    .expect("explain")
                {
                    out.push(r.get::<String, _>("detail"));
                }
            }
            Kind::Postgres(schema) => {
                let mut conn = pg_opts()
                    .options([("search_path", schema.as_str())])
                    .connect()
                    .await
                    .expect("raw postgres");
                conn.execute("SET enable_seqscan = off").await.expect("set");
                for r in conn
                    .fetch_all(format!("EXPLAIN {sql}").as_str())
                    .await
                    .expect("explain")
                {
                    out.push(r.get::<String, _>(0));
                }
                let _ = conn.close().await;
            }
        }
        out.join("\n")
    }

    /// The database files on disk (SQLite only).
    pub fn sqlite_files(&self) -> Vec<PathBuf> {
        match &self.kind {
            Kind::Sqlite(dir) => std::fs::read_dir(dir.path())
                .expect("read dir")
                .map(|e| e.expect("entry").path())
                .collect(),
            Kind::Postgres(_) => Vec::new(),
        }
    }

    async fn cleanup(&self) {
        let _ = self.store.close().await;
        if let Kind::Postgres(schema) = &self.kind {
            if let Ok(mut conn) = pg_opts().connect().await {
                let _ = conn
                    .execute(format!("DROP SCHEMA IF EXISTS {schema} CASCADE").as_str())
                    .await;
                let _ = conn.close().await;
            }
        }
    }
}

/// A connection of its own to a test's SQLite file, beside the store's pools.
async fn raw_sqlite(dir: &std::path::Path) -> sqlx::SqliteConnection {
    SqliteConnectOptions::new()
        .filename(dir.join("switchyard.db"))
        .connect()
        .await
        .expect("raw sqlite")
}

fn pg_opts() -> PgConnectOptions {
    pg_url().parse().expect("pg url")
}

/// Runs a test body, always cleans up its database, then re-raises a panic.
pub async fn run<F, Fut>(h: Harness, body: F)
where
    F: FnOnce(Arc<Harness>) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let h = Arc::new(h);
    let res = tokio::spawn(body(h.clone())).await;
    h.cleanup().await;
    if let Err(e) = res {
        match e.try_into_panic() {
            Ok(p) => std::panic::resume_unwind(p),
            Err(e) => panic!("test task failed: {e}"),
        }
    }
}

/// Declares each listed `async fn(Arc<Harness>)` as a test on both backends.
#[macro_export]
macro_rules! both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    $crate::common::run($crate::common::Harness::sqlite().await, super::$name).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    $crate::common::run($crate::common::Harness::postgres().await, super::$name).await;
                }
            )*
        }
    };
}

/// A varied request-log row (provider, billing, status and cost depend on `i`).
pub fn sample_log(org: OrgId, i: usize, at: OffsetDateTime) -> LogRow {
    let provider = if i.is_multiple_of(2) {
        "openai"
    } else {
        "anthropic"
    };
    LogRow {
        id: uuid::Uuid::now_v7(),
        org_id: org,
        key_id: Some(KeyId::generate()),
        model: "gpt-4o-mini,claude-3-5-haiku".to_owned(),
        endpoint: Some(format!("gpt-4o-mini:{provider}:default")),
        provider: Some(provider.to_owned()),
        billing: Some(if i.is_multiple_of(3) {
            BillingMode::Byok
        } else {
            BillingMode::Ptb
        }),
        status: if i.is_multiple_of(5) { 429 } else { 200 },
        error_type: i.is_multiple_of(5).then(|| "rate_limited".to_owned()),
        attempts: serde_json::json!([{"provider": provider, "billing": "ptb", "status": 200}]),
        prompt_tokens: Some(100 + i as i64),
        completion_tokens: Some(20),
        cached_tokens: Some(0),
        cache_write_tokens: None,
        reasoning_tokens: None,
        cost_nanos: if i.is_multiple_of(7) {
            None
        } else {
            Some(1_000 + i as i64)
        },
        latency_ms: 120,
        ttft_ms: Some(40),
        overhead_us: Some(350),
        stream: i % 2 == 1,
        user_id: Some("user-1".to_owned()),
        properties: BTreeMap::from([("env".to_owned(), "test".to_owned())]),
        request_body: Some(format!("{{\"i\":{i}}}")),
        response_body: None,
        created_at: at,
        route: None,
        target_url: None,
        ttfb_ms: None,
        session_id: None,
        session_path: None,
        session_name: None,
        cache_status: None,
        cache_saved_nanos: None,
        client_request_id: None,
    }
}
