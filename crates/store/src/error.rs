use crate::types::{OrgId, ProviderKeyId};

/// Every failure the store can report. Callers match on the typed variants
/// (credits, missing rows, crypto); `Db` is the catch-all for the backend.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Db(#[from] sqlx::Error),
    #[error("database migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("cannot prepare data directory {path}: {source}")]
    DataDir {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("invalid store configuration: {0}")]
    Config(String),
    #[error("org {0} not found")]
    OrgNotFound(OrgId),
    /// Amounts are nano-dollars (USD × 1e9). `balance` is the ledger balance,
    /// `available` is what the org has left to lease (balance minus every lease).
    #[error(
        "insufficient credits: available {available} nano-USD (balance {balance}), needed {needed}"
    )]
    InsufficientCredits {
        balance: i64,
        available: i64,
        needed: i64,
    },
    #[error("invalid amount {amount} nano-USD: {reason}")]
    InvalidAmount { amount: i64, reason: &'static str },
    #[error("invalid input: {0}")]
    Invalid(String),
    #[error("no master key configured: BYOK provider keys cannot be stored or read")]
    MasterKeyMissing,
    #[error("invalid master key: {0}")]
    InvalidMasterKey(String),
    #[error("provider key {0} was encrypted with a different master key")]
    WrongMasterKey(ProviderKeyId),
    #[error("provider key {0} failed to decrypt: ciphertext or its metadata was altered")]
    DecryptFailed(ProviderKeyId),
    /// A store task panicked or was cancelled by the runtime shutting down.
    #[error("{0}")]
    Task(String),
    #[error("corrupt row in {table}: {detail}")]
    Corrupt { table: &'static str, detail: String },
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;
