//! The Switchyard gateway server: the OpenAI-compatible HTTP API in front of every registry
//! provider, with routing and fallbacks, BYOK and pass-through (credit) billing, and a request
//! log written in batches off the hot path.
//!
//! The request path is documented on [`pipeline`]; credits on [`credits`]; configuration on
//! [`config`].

pub mod admin;
pub mod auth;
pub mod billing;
pub mod config;
pub mod credits;
pub mod dashboard;
pub mod edge;
pub mod error;
pub mod governance;
pub mod journal;
pub mod metrics;
pub mod pipeline;
pub mod routes;
pub mod state;

use std::sync::Arc;
use std::time::Duration;

use switchyard_registry::Registry;
use switchyard_store::{LogWriter, LogWriterConfig, MasterKey, Store};

use credits::Credits;
use journal::Journal;
use state::Accounting;
use tokio::net::TcpListener;

pub use config::Config;
pub use state::{AppState, StartupError};

/// The master key: from config, else the one generated into the data directory on first start
/// (embedded mode), created with owner-only permissions.
pub fn master_key(config: &Config) -> Result<MasterKey, StartupError> {
    if let Some(b64) = &config.master_key {
        return MasterKey::from_base64(b64).map_err(|e| StartupError::MasterKey(e.to_string()));
    }
    if config.database_url.is_some() {
        return Err(StartupError::MasterKey(
            "set `master_key` (SWITCHYARD_MASTER_KEY) when several instances share a database"
                .into(),
        ));
    }
    let path = config.data_dir.join("master.key");
    if let Ok(text) = std::fs::read_to_string(&path) {
        return MasterKey::from_base64(text.trim())
            .map_err(|e| StartupError::MasterKey(format!("{}: {e}", path.display())));
    }
    std::fs::create_dir_all(&config.data_dir).map_err(|e| {
        StartupError::MasterKey(format!("cannot create {}: {e}", config.data_dir.display()))
    })?;
    let (key, b64) = MasterKey::generate();
    write_private(&path, b64.as_bytes())
        .map_err(|e| StartupError::MasterKey(format!("cannot write {}: {e}", path.display())))?;
    Ok(key)
}

fn write_private(path: &std::path::Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options.open(path)?.write_all(bytes)
}

/// Loads the registry the config names (or the embedded one).
pub fn load_registry(config: &Config) -> Result<Registry, StartupError> {
    let loaded = match &config.registry_dir {
        Some(dir) => Registry::load_dir(dir),
        None => Registry::embedded(),
    };
    loaded.map_err(|e| StartupError::Registry(e.to_string()))
}

/// Opens the store the config names.
pub async fn open_store(config: &Config) -> Result<Arc<dyn Store>, StartupError> {
    let key = master_key(config)?;
    Ok(switchyard_store::open(config.database_url.as_deref(), &config.data_dir, Some(key)).await?)
}

/// A running gateway: its state and address.
pub struct Gateway {
    pub state: Arc<AppState>,
    pub addr: std::net::SocketAddr,
    /// The open-file limit in force (raised to the hard limit at bind).
    pub fd_limit: Option<u64>,
    listener: TcpListener,
}

impl Gateway {
    /// Builds everything and binds the listener; a bad config, registry or store stops here.
    pub async fn bind(config: Config) -> Result<Gateway, StartupError> {
        let registry = Arc::new(load_registry(&config)?);
        let store = open_store(&config).await?;
        Self::bind_with(config, registry, store).await
    }

    /// Like [`Gateway::bind`] with a given registry and store (tests).
    pub async fn bind_with(
        config: Config,
        registry: Arc<Registry>,
        store: Arc<dyn Store>,
    ) -> Result<Gateway, StartupError> {
        let fd_limit = edge::raise_fd_limit();
        let instance = uuid::Uuid::now_v7().to_string();
        let (journal, orphans) = Journal::open(&config.data_dir.join("journal"), &instance)?;
        let journal = Arc::new(journal);
        let credits = Arc::new(Credits::new(store.clone(), instance, config.credits()));
        let log = LogWriter::spawn(
            store.clone(),
            LogWriterConfig {
                batch_size: config.log.batch_size,
                flush_interval: Duration::from_millis(config.log.flush_interval_ms),
                capacity: config.log.capacity,
                ..LogWriterConfig::default()
            },
            Some(Arc::new(Accounting {
                credits: credits.clone(),
                journal: journal.clone(),
            })),
        );
        recover(store.as_ref(), &log, orphans).await?;
        let listener = TcpListener::bind(config.listen)
            .await
            .map_err(|e| StartupError::Http(format!("cannot listen on {}: {e}", config.listen)))?;
        let addr = listener
            .local_addr()
            .map_err(|e| StartupError::Http(e.to_string()))?;
        let state = Arc::new(AppState::new(
            config, registry, store, log, credits, journal,
        )?);
        tokio::spawn(state::listen_invalidations(Arc::downgrade(&state)));
        Ok(Gateway {
            state,
            addr,
            fd_limit,
            listener,
        })
    }

    /// Connections served at once: `server.max_connections`, lowered to fit the file limit.
    pub fn max_connections(&self) -> usize {
        edge::max_connections(self.state.config.server.max_connections, self.fd_limit)
    }

    /// Serves until `shutdown` resolves, then drains in-flight requests, commits the log and
    /// the debits with it, and returns the credit leases.
    pub async fn serve(
        self,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let state = self.state.clone();
        let maintenance = tokio::spawn(maintain(state.clone()));
        let app = routes::router(state.clone());
        let limits = edge::EdgeLimits::new(&state.config, self.fd_limit);
        edge::serve(self.listener, app, limits, shutdown).await?;
        // Requests run in tasks of their own; each ends with its settlement and log row.
        for _ in 0..300 {
            if state.metrics.in_flight.get() <= 0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        maintenance.abort();
        let stats = state.log.shutdown().await;
        tracing::info!(
            written = stats.written,
            dropped = stats.dropped,
            failed = stats.failed,
            "request log flushed"
        );
        state.credits.shutdown().await;
        state.journal.close();
        let _ = state.store.close().await;
        Ok(())
    }
}

/// What dead instances left in the journal: their requests logged as interrupted, their
/// leases returned to the orgs at once (not after the lease TTL).
async fn recover(
    store: &dyn Store,
    log: &LogWriter,
    orphans: Vec<journal::Orphans>,
) -> Result<(), StartupError> {
    for orphan in orphans {
        let released = store.release_instance(&orphan.instance).await?;
        let requests = orphan.requests.len();
        for r in &orphan.requests {
            log.submit(r.interrupted_row(), None).await;
        }
        tracing::warn!(
            instance = %orphan.instance,
            interrupted = requests,
            leases = released,
            "a previous instance stopped without finishing: its requests are logged as interrupted"
        );
        orphan.forget();
    }
    Ok(())
}

/// Renews this instance's credit leases, returns idle ones, sweeps expired ones.
async fn maintain(state: Arc<AppState>) {
    let every = state.config.credits().maintain_every;
    loop {
        tokio::time::sleep(every).await;
        state.credits.maintain().await;
    }
}

/// Resolves on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
            s.recv().await;
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}
