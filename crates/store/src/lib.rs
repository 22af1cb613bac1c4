//! Switchyard's storage layer: orgs, gateway keys, encrypted BYOK provider keys, the credit
//! ledger with its per-instance leases, and the request log.
//!
//! One [`Store`] trait made of one sub-trait per concern — [`OrgStore`], [`KeyStore`],
//! [`LedgerStore`], [`LogStore`] — with two implementations: [`SqliteStore`] (embedded default,
//! a file in a data directory) and [`PgStore`] (several gateway instances sharing one database).
//! The SQL of each concern is written once (`orgs.rs`, `keys.rs`, `ledger.rs`, `logs.rs`) and
//! stamped out per backend, because sqlx's row and argument types are per database.
//!
//! **Cancellation.** Every method that writes runs in a task of its own ([`detach`]): a caller
//! that is dropped (a client gone, a timeout) stops waiting, but the transaction still commits
//! or rolls back, so a connection never goes back to the pool in the middle of one.
//!
//! Money is integer nano-dollars (USD × 1e9) everywhere.

pub mod analytics;
mod crypto;
mod error;
mod keys;
mod ledger;
mod log_writer;
mod logs;
mod orgs;
mod postgres;
mod rows;
pub mod sessions;
mod sqlite;
mod types;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

pub use analytics::AnalyticsStore;
pub use crypto::{hash_gateway_key, MasterKey, ProviderSecret, Secret, GATEWAY_KEY_PREFIX};
pub use error::{Result, StoreError};
pub use keys::KeyStore;
pub use ledger::{LedgerStore, MAX_BALANCE_NANOS};
pub use log_writer::{CommitListener, LogWriter, LogWriterConfig, LogWriterStats};
pub use logs::{Batch, LogStore};
pub use orgs::OrgStore;
pub use postgres::{PgOptions, PgStore};
pub use sessions::SessionStore;
pub use sqlite::{SqliteOptions, SqliteStore, SQLITE_FILE};
pub use types::{
    AuthedKey, Balance, BatchOutcome, BillingMode, Debit, DeploymentConfig, GatewayKey, KeyId,
    Lease, LeaseGrant, LeaseRequest, LeaseSnapshot, LedgerCursor, LedgerEntry, LedgerKind,
    LedgerPage, LogQuery, LogRow, NewGatewayKey, NewProviderKey, Org, OrgAudit, OrgId, ProviderKey,
    ProviderKeyId, ProviderKeyInfo, SecretKind, SpendRow,
};

/// The boxed future every store method returns, which keeps the traits object-safe
/// (`Arc<dyn Store>`) without an extra macro crate.
pub type BoxFut<'a, T> = Pin<Box<dyn Future<Output = Result<T>> + Send + 'a>>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Every storage operation. Implementations are cheap to share (`Arc<dyn Store>`) and safe to
/// use from many tasks and many processes at once.
pub trait Store:
    OrgStore
    + KeyStore
    + LedgerStore
    + LogStore
    + AnalyticsStore
    + SessionStore
    + Send
    + Sync
    + std::fmt::Debug
{
    fn backend(&self) -> Backend;

    /// Closes the connection pools (after the log writer has been shut down).
    fn close(&self) -> BoxFut<'_, ()>;

    /// One trivial query: whether the database answers (readiness checks).
    fn ping(&self) -> BoxFut<'_, ()>;
}

/// Runs a store operation in its own task and waits for it. Dropping the returned future only
/// stops the wait: the operation (and its transaction) runs to its end.
pub(crate) fn detach<T, F>(work: F) -> BoxFut<'static, T>
where
    T: Send + 'static,
    F: Future<Output = Result<T>> + Send + 'static,
{
    let task = tokio::spawn(work);
    Box::pin(async move {
        task.await
            .map_err(|e| StoreError::Task(format!("store task failed: {e}")))?
    })
}

/// Opens the store a deployment asks for: PostgreSQL when `database_url` is a
/// `postgres://`/`postgresql://` URL, otherwise SQLite in `data_dir`.
pub async fn open(
    database_url: Option<&str>,
    data_dir: &std::path::Path,
    master_key: Option<MasterKey>,
) -> Result<Arc<dyn Store>> {
    match database_url {
        Some(url) if url.starts_with("postgres://") || url.starts_with("postgresql://") => {
            let mut opts = PgOptions::new(url);
            opts.master_key = master_key;
            Ok(Arc::new(PgStore::connect(opts).await?))
        }
        Some(other) => Err(StoreError::Config(format!(
            "database URL must start with postgres:// or postgresql:// (got a {}-character value)",
            other.len()
        ))),
        None => {
            let mut opts = SqliteOptions::new(data_dir);
            opts.master_key = master_key;
            Ok(Arc::new(SqliteStore::open(opts).await?))
        }
    }
}
