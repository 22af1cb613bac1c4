//! PostgreSQL backend: several gateway instances sharing keys, credits and logs.

use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{PgPool, Postgres, Transaction};

use crate::{Backend, MasterKey, Result, StoreError};

#[derive(Debug, Clone)]
pub struct PgOptions {
    pub url: String,
    /// Schema for all tables (created if missing); `None` uses the server's
    /// default search path. Lets tests and tenants share one database.
    pub schema: Option<String>,
    pub max_connections: u32,
    pub master_key: Option<MasterKey>,
}

impl PgOptions {
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            schema: None,
            max_connections: 16,
            master_key: None,
        }
    }
}

/// PostgreSQL store. Credit holds are made atomic by a conditional
/// `UPDATE orgs ... WHERE available >= amount`, which takes the org row lock,
/// so concurrent reservations from any number of instances serialise per org.
#[derive(Debug, Clone)]
pub struct PgStore {
    pool: PgPool,
    master_key: Option<MasterKey>,
}

fn valid_schema_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && !s.starts_with(|c: char| c.is_ascii_digit())
}

impl PgStore {
    /// Connects, creates the schema if asked, and runs migrations.
    pub async fn connect(opts: PgOptions) -> Result<Self> {
        let mut connect = PgConnectOptions::from_str(&opts.url)?;
        if let Some(schema) = &opts.schema {
            if !valid_schema_name(schema) {
                return Err(StoreError::Config(format!(
                    "postgres schema {schema:?} must be lowercase letters, digits and _"
                )));
            }
            // Created on a one-off connection: the pool's search_path names it.
            let mut conn = sqlx::ConnectOptions::connect(&connect).await?;
            sqlx::Executor::execute(
                &mut conn,
                format!("CREATE SCHEMA IF NOT EXISTS {schema}").as_str(),
            )
            .await?;
            sqlx::Connection::close(conn).await?;
            connect = connect.options([("search_path", schema.as_str())]);
        }
        let pool = PgPoolOptions::new()
            .max_connections(opts.max_connections.max(1))
            .acquire_timeout(Duration::from_secs(30))
            .connect_with(connect)
            .await?;
        sqlx::migrate!("./migrations/postgres").run(&pool).await?;
        Ok(Self {
            pool,
            master_key: opts.master_key,
        })
    }

    /// The pool, for tools that need raw SQL access.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    pub(crate) fn reader(&self) -> &PgPool {
        &self.pool
    }

    pub(crate) fn writer(&self) -> &PgPool {
        &self.pool
    }

    pub(crate) async fn begin_write(&self) -> Result<Transaction<'static, Postgres>> {
        Ok(self.pool.begin().await?)
    }

    pub(crate) fn master_key(&self) -> Result<&MasterKey> {
        self.master_key.as_ref().ok_or(StoreError::MasterKeyMissing)
    }

    pub(crate) async fn close_pools(&self) {
        self.pool.close().await;
    }
}

impl PgStore {
    /// `<.0> name <.1> value`: a custom property's value equals a given one (properties are
    /// a JSON object in a text column; header names cannot hold a `"`).
    const PROPERTY_SQL: (&'static str, &'static str) = ("(properties::jsonb ->> ", ") = ");
}

crate::rows::impl_rows!(PgStore, Postgres);
crate::orgs::impl_orgs!(PgStore);
crate::keys::impl_keys!(PgStore);
crate::ledger::impl_ledger!(PgStore, Postgres);
crate::logs::impl_logs!(PgStore, Postgres);
crate::analytics::impl_analytics!(
    PgStore,
    Postgres,
    "CROSS JOIN LATERAL jsonb_each_text(r.properties::jsonb) AS p(key, value)"
);
crate::sessions::impl_sessions!(PgStore, Postgres);

impl crate::Store for PgStore {
    fn backend(&self) -> Backend {
        Backend::Postgres
    }

    fn close(&self) -> crate::BoxFut<'_, ()> {
        Box::pin(async move {
            self.close_pools().await;
            Ok(())
        })
    }

    fn ping(&self) -> crate::BoxFut<'_, ()> {
        Box::pin(async move {
            sqlx::query("SELECT 1").execute(&self.pool).await?;
            Ok(())
        })
    }
}
