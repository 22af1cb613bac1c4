//! SQLite backend: the embedded default, one database file in a data directory.

use std::path::{Path, PathBuf};
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Sqlite, SqlitePool, Transaction};

use crate::{Backend, MasterKey, Result, StoreError};

/// File name of the database inside the data directory.
pub const SQLITE_FILE: &str = "switchyard.db";

#[derive(Debug, Clone)]
pub struct SqliteOptions {
    pub data_dir: PathBuf,
    pub master_key: Option<MasterKey>,
    /// Read connections (WAL lets them run beside the single writer).
    pub readers: u32,
    /// `synchronous=FULL` (fsync every commit) instead of `NORMAL`. NORMAL in
    /// WAL mode survives a process crash; FULL also survives power loss.
    pub synchronous_full: bool,
    /// How long a writer waits for another process's write lock.
    pub busy_timeout: Duration,
}

impl SqliteOptions {
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        Self {
            data_dir: data_dir.into(),
            master_key: None,
            readers: 4,
            synchronous_full: false,
            busy_timeout: Duration::from_secs(10),
        }
    }
}

/// SQLite store. All writes go through one connection and start with
/// `BEGIN IMMEDIATE`, so writers are serialised in-process by the pool and
/// across processes by SQLite's write lock, and a transaction never has to
/// upgrade a read lock (the classic SQLITE_BUSY deadlock).
#[derive(Debug, Clone)]
pub struct SqliteStore {
    writer: SqlitePool,
    reader: SqlitePool,
    master_key: Option<MasterKey>,
    path: PathBuf,
}

impl SqliteStore {
    /// Creates the data directory and database if needed and runs migrations.
    pub async fn open(opts: SqliteOptions) -> Result<Self> {
        std::fs::create_dir_all(&opts.data_dir).map_err(|source| StoreError::DataDir {
            path: opts.data_dir.display().to_string(),
            source,
        })?;
        let path = opts.data_dir.join(SQLITE_FILE);
        let base = SqliteConnectOptions::new()
            .filename(&path)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(if opts.synchronous_full {
                SqliteSynchronous::Full
            } else {
                SqliteSynchronous::Normal
            })
            .busy_timeout(opts.busy_timeout)
            .foreign_keys(true);
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            // An idle writer must not be dropped: reconnecting costs more than it saves.
            .idle_timeout(None)
            .max_lifetime(None)
            .acquire_timeout(Duration::from_secs(60))
            .connect_with(base.clone().create_if_missing(true))
            .await?;
        sqlx::migrate!("./migrations/sqlite").run(&writer).await?;
        let reader = SqlitePoolOptions::new()
            .max_connections(opts.readers.max(1))
            .acquire_timeout(Duration::from_secs(60))
            .connect_with(base.read_only(true))
            .await?;
        Ok(Self {
            writer,
            reader,
            master_key: opts.master_key,
            path,
        })
    }

    /// Opens with default options in `data_dir`.
    pub async fn open_dir(
        data_dir: impl AsRef<Path>,
        master_key: Option<MasterKey>,
    ) -> Result<Self> {
        let mut opts = SqliteOptions::new(data_dir.as_ref());
        opts.master_key = master_key;
        Self::open(opts).await
    }

    /// Path of the database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    pub(crate) fn reader(&self) -> &SqlitePool {
        &self.reader
    }

    pub(crate) fn writer(&self) -> &SqlitePool {
        &self.writer
    }

    pub(crate) async fn begin_write(&self) -> Result<Transaction<'static, Sqlite>> {
        Ok(self.writer.begin_with("BEGIN IMMEDIATE").await?)
    }

    pub(crate) fn master_key(&self) -> Result<&MasterKey> {
        self.master_key.as_ref().ok_or(StoreError::MasterKeyMissing)
    }

    pub(crate) async fn close_pools(&self) {
        self.reader.close().await;
        self.writer.close().await;
    }
}

impl SqliteStore {
    /// `<.0> name <.1> value`: a custom property's value equals a given one (properties are
    /// a JSON object in a text column; header names cannot hold a `"`).
    const PROPERTY_SQL: (&'static str, &'static str) =
        ("json_extract(properties, '$.\"' || ", " || '\"') = ");
}

crate::rows::impl_rows!(SqliteStore, Sqlite);
crate::orgs::impl_orgs!(SqliteStore);
crate::keys::impl_keys!(SqliteStore);
crate::ledger::impl_ledger!(SqliteStore, Sqlite);
crate::logs::impl_logs!(SqliteStore, Sqlite);
crate::analytics::impl_analytics!(SqliteStore, Sqlite, ", json_each(r.properties) AS p");
crate::sessions::impl_sessions!(SqliteStore, Sqlite);

impl crate::Store for SqliteStore {
    fn backend(&self) -> Backend {
        Backend::Sqlite
    }

    fn close(&self) -> crate::BoxFut<'_, ()> {
        Box::pin(async move {
            self.close_pools().await;
            Ok(())
        })
    }

    fn ping(&self) -> crate::BoxFut<'_, ()> {
        Box::pin(async move {
            sqlx::query("SELECT 1").execute(&self.reader).await?;
            Ok(())
        })
    }
}
