//! Switchyard's storage layer: orgs, gateway keys, encrypted BYOK provider
//! keys, the credit ledger and the request log.
//!
//! One [`Store`] trait with two implementations: [`SqliteStore`] (embedded
//! default, a file in a data directory) and [`PgStore`] (several gateway
//! instances sharing one database). Nothing here keeps global or per-process
//! state that another instance could not see: every invariant (credit holds,
//! key revocation) lives in the database.
//!
//! Money is integer nano-dollars (USD × 1e9) everywhere.

pub mod analytics;
mod common;
pub mod crypto;
mod error;
mod log_writer;
mod postgres;
pub mod sessions;
mod sqlite;
mod types;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use time::OffsetDateTime;
use uuid::Uuid;

pub use analytics::AnalyticsStore;
pub use crypto::{hash_gateway_key, MasterKey, ProviderSecret, Secret, GATEWAY_KEY_PREFIX};
pub use error::{Result, StoreError};
pub use log_writer::{LogWriter, LogWriterConfig, LogWriterStats};
pub use postgres::{PgOptions, PgStore};
pub use sessions::SessionStore;
pub use sqlite::{SqliteOptions, SqliteStore, SQLITE_FILE};
pub use types::{
    AuthedKey, Balance, BillingMode, GatewayKey, KeyId, LedgerAudit, LedgerEntry, LedgerKind,
    LogQuery, LogRow, NewGatewayKey, NewProviderKey, Org, OrgId, ProviderKey, ProviderKeyConfig,
    ProviderKeyId, ProviderKeyInfo, Reservation, ReservationId, ReservationStatus, SecretKind,
    SpendRow,
};

/// The boxed future every [`Store`] method returns, which keeps the trait
/// object-safe (`Arc<dyn Store>`) without an extra macro crate.
pub type BoxFut<'a, T> = Pin<Box<dyn Future<Output = Result<T>> + Send + 'a>>;

/// How long a credit hold lives before `expire_stale` may release it.
pub const DEFAULT_RESERVATION_TTL: Duration = Duration::from_secs(300);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Storage operations. Implementations are cheap to share (`Arc<dyn Store>`)
/// and safe to use from many tasks and many processes at once.
pub trait Store: AnalyticsStore + SessionStore + Send + Sync + std::fmt::Debug {
    fn backend(&self) -> Backend;

    // --- orgs
    fn create_org<'a>(&'a self, name: &'a str) -> BoxFut<'a, Org>;
    fn get_org(&self, id: OrgId) -> BoxFut<'_, Option<Org>>;
    fn list_orgs(&self) -> BoxFut<'_, Vec<Org>>;
    /// Turns request/response body storage on or off for an org.
    fn set_store_bodies(&self, id: OrgId, store_bodies: bool) -> BoxFut<'_, ()>;

    // --- gateway keys
    /// Creates a key; the plaintext is returned here once and never stored.
    fn create_gateway_key<'a>(&'a self, org: OrgId, name: &'a str) -> BoxFut<'a, NewGatewayKey>;
    /// Looks up an active (not revoked) key by [`hash_gateway_key`] of the presented key.
    fn lookup_gateway_key_hash(&self, hash: [u8; 32]) -> BoxFut<'_, Option<AuthedKey>>;
    /// Looks up an active key by the presented plaintext.
    fn lookup_gateway_key<'a>(&'a self, presented: &'a str) -> BoxFut<'a, Option<AuthedKey>> {
        self.lookup_gateway_key_hash(hash_gateway_key(presented))
    }
    /// Returns false when the key does not exist or was already revoked.
    fn revoke_gateway_key(&self, id: KeyId) -> BoxFut<'_, bool>;
    /// All keys of an org, revoked ones included (never hashes or plaintext).
    fn list_gateway_keys(&self, org: OrgId) -> BoxFut<'_, Vec<GatewayKey>>;

    // --- BYOK provider keys
    /// Upsert on (org, provider, key name); the secret is encrypted with the master key.
    fn set_provider_key<'a>(&'a self, key: &'a NewProviderKey) -> BoxFut<'a, ProviderKeyInfo>;
    fn remove_provider_key<'a>(
        &'a self,
        org: OrgId,
        provider: &'a str,
        key_name: Option<&'a str>,
    ) -> BoxFut<'a, bool>;
    /// Metadata only; no secret material.
    fn list_provider_keys(&self, org: OrgId) -> BoxFut<'_, Vec<ProviderKeyInfo>>;
    /// For the server's upstream calls only; never expose the result over an API.
    fn get_provider_key_decrypted<'a>(
        &'a self,
        org: OrgId,
        provider: &'a str,
        key_name: Option<&'a str>,
    ) -> BoxFut<'a, Option<ProviderKey>>;
    /// Every key of an org, decrypted (what the server caches per org).
    fn provider_keys_decrypted(&self, org: OrgId) -> BoxFut<'_, Vec<ProviderKey>>;

    // --- credit ledger (nano-dollars)
    fn add_credits<'a>(
        &'a self,
        org: OrgId,
        amount_nanos: i64,
        note: Option<&'a str>,
    ) -> BoxFut<'a, Balance>;
    /// Atomically holds `amount_nanos` if the available balance covers it,
    /// otherwise fails with [`StoreError::InsufficientCredits`].
    fn reserve(&self, org: OrgId, amount_nanos: i64, ttl: Duration) -> BoxFut<'_, ReservationId>;
    /// Debits exactly `actual_nanos` (may exceed the hold) and ends the hold.
    /// A hold that already expired is still debited (the service was delivered).
    fn settle(&self, id: ReservationId, actual_nanos: i64) -> BoxFut<'_, Balance>;
    /// Ends a hold without charge; false when it was no longer active.
    fn release(&self, id: ReservationId) -> BoxFut<'_, bool>;
    /// Releases every active hold whose TTL passed by `now`; returns how many.
    fn expire_stale(&self, now: OffsetDateTime) -> BoxFut<'_, u64>;
    fn balance(&self, org: OrgId) -> BoxFut<'_, Balance>;
    /// Newest first.
    fn ledger(&self, org: OrgId, limit: u32) -> BoxFut<'_, Vec<LedgerEntry>>;
    /// Cached totals next to the sums of the rows (they must be equal).
    fn audit_ledger(&self, org: OrgId) -> BoxFut<'_, LedgerAudit>;
    fn get_reservation(&self, id: ReservationId) -> BoxFut<'_, Option<Reservation>>;

    // --- request log
    /// One transaction of multi-row INSERTs.
    fn insert_logs<'a>(&'a self, rows: &'a [LogRow]) -> BoxFut<'a, ()>;
    fn recent_logs<'a>(&'a self, query: &'a LogQuery) -> BoxFut<'a, Vec<LogRow>>;
    fn get_log(&self, org: OrgId, id: Uuid) -> BoxFut<'_, Option<LogRow>>;
    fn count_logs(&self, org: OrgId) -> BoxFut<'_, i64>;
    /// Spend per UTC day, provider and billing mode, for `since <= created_at < until`.
    fn spend(
        &self,
        org: OrgId,
        since: OffsetDateTime,
        until: OffsetDateTime,
    ) -> BoxFut<'_, Vec<SpendRow>>;

    /// Closes the connection pools (after the log writer has been shut down).
    fn close(&self) -> BoxFut<'_, ()>;
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
