//! Shared state of a running gateway. Built once at start-up; no globals.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use switchyard_providers::adapter::Credentials;
use switchyard_providers::error::Secret;
use switchyard_providers::google::auth::{FetchResponse, ServiceAccount, TokenCache, TokenFetcher};
use switchyard_registry::{DeploymentConfig, Registry};
use switchyard_store::{
    BatchOutcome, CommitListener, Debit, LogWriter, OrgId, ProviderSecret, Store,
};

use crate::auth::AuthCache;
use crate::config::{Config, ProviderConfig};
use crate::credits::Credits;
use crate::governance::{Governance, Invalidation};
use crate::journal::Journal;
use crate::metrics::Metrics;
use crate::pipeline::plan::OrgKeys;

/// BYOK keys are cached per org this long; admin changes on this instance clear the entry.
const KEYS_TTL: Duration = Duration::from_secs(30);

/// The gateway's own credentials for one provider (pass-through billing).
pub struct PtbCredentials {
    pub credentials: Credentials,
    pub service_account: Option<ServiceAccount>,
    pub config: DeploymentConfig,
}

/// Posts the Google token exchange with the gateway's HTTP client.
pub struct ReqwestFetcher(pub reqwest::Client);

impl TokenFetcher for ReqwestFetcher {
    async fn post_form(&self, url: &str, body: String) -> Result<FetchResponse, String> {
        let res = self
            .0
            .post(url)
            .header(
                http::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded",
            )
            .body(body)
            .send()
            .await
            .map_err(|e| format!("token request failed: {}", without_url(&e)))?;
        let status = res.status().as_u16();
        let body = res
            .bytes()
            .await
            .map_err(|e| format!("token response unreadable: {}", without_url(&e)))?;
        Ok(FetchResponse {
            status,
            body: body.to_vec(),
        })
    }
}

/// A reqwest error's text without the URL (which may carry credentials).
pub fn without_url(e: &reqwest::Error) -> String {
    let mut text = e.to_string();
    if let Some(url) = e.url() {
        text = text.replace(url.as_str(), "<upstream>");
    }
    text
}

pub struct AppState {
    pub config: Config,
    pub registry: Arc<Registry>,
    pub store: Arc<dyn Store>,
    pub log: LogWriter,
    /// PTB holds, served from this instance's credit leases.
    pub credits: Arc<Credits>,
    /// The trace of requests in flight that a crash leaves.
    pub journal: Arc<Journal>,
    pub http: reqwest::Client,
    pub auth: AuthCache,
    pub metrics: Metrics,
    pub google_tokens: TokenCache<ReqwestFetcher>,
    pub ptb: HashMap<String, PtbCredentials>,
    /// Provider → base URL override from config, applied to BYOK and PTB alike.
    pub base_urls: HashMap<String, String>,
    pub dashboard: crate::dashboard::DashboardState,
    /// Rate limits, the response cache and the invalidation bus (Redis when configured).
    pub governance: Governance,
    /// The passthrough proxy's URL table, client and resolver.
    pub proxy: crate::pipeline::proxy::ProxyState,
    org_keys: RwLock<HashMap<OrgId, (Arc<OrgKeys>, Instant)>>,
}

/// Why the state could not be built: every variant names what to fix.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    #[error("{0}")]
    Registry(String),
    #[error("store: {0}")]
    Store(#[from] switchyard_store::StoreError),
    #[error("providers.{provider}: {message}")]
    Provider { provider: String, message: String },
    #[error("http client: {0}")]
    Http(String),
    #[error("master key: {0}")]
    MasterKey(String),
    #[error(transparent)]
    Journal(#[from] crate::journal::JournalError),
    #[error("governance: {0}")]
    Governance(#[from] crate::governance::GovernanceError),
}

/// Hears of each committed log batch: the credit accounts release the committed debits from
/// their leases, the journal forgets the finished requests.
pub struct Accounting {
    pub credits: Arc<Credits>,
    pub journal: Arc<Journal>,
}

impl CommitListener for Accounting {
    fn committed(&self, ids: &[uuid::Uuid], debits: &[Debit], outcome: &BatchOutcome) {
        self.credits.committed(debits, outcome);
        self.journal.finished(ids);
    }

    fn failed(&self, ids: &[uuid::Uuid], debits: &[Debit]) {
        self.credits.failed(debits);
        self.journal.finished(ids);
    }
}

fn ptb_credentials(key: &str, p: &ProviderConfig) -> Result<Option<PtbCredentials>, StartupError> {
    let config = DeploymentConfig::from(p);
    let err = |message: String| StartupError::Provider {
        provider: key.to_owned(),
        message,
    };
    let (credentials, service_account) = if let Some(k) = &p.api_key {
        (Credentials::ApiKey(Secret::new(k.clone())), None)
    } else if let (Some(id), Some(secret)) = (&p.aws_access_key_id, &p.aws_secret_access_key) {
        (
            Credentials::Aws {
                access_key_id: id.clone(),
                secret_access_key: Secret::new(secret.clone()),
                session_token: p.aws_session_token.clone().map(Secret::new),
            },
            None,
        )
    } else if let Some(path) = &p.service_account_file {
        let json = std::fs::read_to_string(path).map_err(|e| {
            err(format!(
                "cannot read service_account_file {}: {e}",
                path.display()
            ))
        })?;
        let mut sa = ServiceAccount::from_json(&json).map_err(|e| err(e.to_string()))?;
        if let Some(uri) = &p.token_uri {
            sa.token_uri = uri.clone();
        }
        (
            Credentials::GoogleServiceAccount(Secret::new(json)),
            Some(sa),
        )
    } else {
        return Ok(None);
    };
    Ok(Some(PtbCredentials {
        credentials,
        service_account,
        config,
    }))
}

impl AppState {
    pub fn new(
        config: Config,
        registry: Arc<Registry>,
        store: Arc<dyn Store>,
        log: LogWriter,
        credits: Arc<Credits>,
        journal: Arc<Journal>,
    ) -> Result<AppState, StartupError> {
        config.check_providers(&registry)?;
        let http = reqwest::Client::builder()
            .connect_timeout(config.connect_timeout())
            .read_timeout(config.request_timeout())
            .pool_idle_timeout(Duration::from_secs(90))
            .tcp_nodelay(true)
            // Never follow a redirect: an upstream must not send a request (and its key) elsewhere.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| StartupError::Http(e.to_string()))?;
        let mut ptb = HashMap::new();
        let mut base_urls = HashMap::new();
        let mut google_tokens = TokenCache::new(ReqwestFetcher(http.clone()));
        for (key, p) in &config.providers {
            if let Some(url) = &p.base_url {
                base_urls.insert(key.clone(), url.trim_end_matches('/').to_owned());
            }
            if let Some(uri) = &p.token_uri {
                google_tokens = google_tokens.allow_token_uri(uri.clone());
            }
            if let Some(c) = ptb_credentials(key, p)? {
                ptb.insert(key.clone(), c);
            }
        }
        // Needs the runtime (the Redis bus spawns its subscriber); never waits for Redis.
        let proxy = crate::pipeline::proxy::ProxyState::new(&config, &registry)
            .map_err(StartupError::Registry)?;
        let governance = Governance::new(&config.governance, config.redis_url.as_deref())?;
        let mut metrics = Metrics::default();
        governance.metrics.register(metrics.registry_mut());
        Ok(AppState {
            governance,
            proxy,
            config,
            registry,
            store,
            log,
            credits,
            journal,
            http,
            auth: AuthCache::default(),
            metrics,
            google_tokens,
            ptb,
            base_urls,
            dashboard: crate::dashboard::DashboardState::default(),
            org_keys: RwLock::new(HashMap::new()),
        })
    }

    /// The org's BYOK keys, from the cache or the store.
    pub async fn org_keys(&self, org: OrgId) -> Result<Arc<OrgKeys>, switchyard_store::StoreError> {
        if let Some((keys, at)) = self.org_keys.read().expect("keys lock").get(&org) {
            if at.elapsed() < KEYS_TTL {
                return Ok(keys.clone());
            }
        }
        let keys = Arc::new(OrgKeys::new(
            self.store.provider_keys_decrypted(org).await?,
            &self.ptb,
        ));
        self.org_keys
            .write()
            .expect("keys lock")
            .insert(org, (keys.clone(), Instant::now()));
        Ok(keys)
    }

    /// Drops cached keys of an org.
    pub fn forget_org_keys(&self, org: OrgId) {
        self.org_keys.write().expect("keys lock").remove(&org);
    }

    /// After an admin change: tells every instance (this one at once, the others through the
    /// bus) to drop what the change made stale.
    pub async fn invalidate(&self, msg: Invalidation) {
        if !self.governance.bus.publish(msg).await {
            tracing::warn!("invalidation not published to other instances: they catch up when their caches expire (30 s)");
        }
    }

    /// Drops what one invalidation made stale. Keys carry their org's and their own stored
    /// policies, so a policy change drops the org's cached keys.
    pub fn apply_invalidation(&self, msg: &Invalidation) {
        match msg {
            Invalidation::GatewayKeyRevoked { key_id } => self.auth.forget_key(*key_id),
            Invalidation::ProviderKeysChanged { org_id } => self.forget_org_keys(*org_id),
            Invalidation::PolicyChanged { org_id, .. } | Invalidation::OrgChanged { org_id } => {
                self.auth.forget_org(*org_id);
                self.forget_org_keys(*org_id);
            }
            Invalidation::Resync => {
                self.auth.clear();
                self.org_keys.write().expect("keys lock").clear();
            }
        }
    }
}

/// Applies every invalidation the bus delivers until the state is gone.
pub async fn listen_invalidations(state: std::sync::Weak<AppState>) {
    let Some(mut sub) = state.upgrade().map(|s| s.governance.bus.subscribe()) else {
        return;
    };
    while let Some(msg) = sub.recv().await {
        let Some(state) = state.upgrade() else { return };
        state.apply_invalidation(&msg);
    }
}

/// Converts a stored BYOK secret into adapter credentials.
pub fn byok_credentials(
    secret: &ProviderSecret,
) -> Result<(Credentials, Option<ServiceAccount>), String> {
    Ok(match secret {
        ProviderSecret::ApiKey(k) => (Credentials::ApiKey(k.clone()), None),
        ProviderSecret::Aws {
            access_key_id,
            secret_access_key,
            session_token,
        } => (
            Credentials::Aws {
                access_key_id: access_key_id.expose().to_owned(),
                secret_access_key: secret_access_key.clone(),
                session_token: session_token.clone(),
            },
            None,
        ),
        ProviderSecret::ServiceAccount(json) => {
            let sa = ServiceAccount::from_json(json.expose()).map_err(|e| e.to_string())?;
            (Credentials::GoogleServiceAccount(json.clone()), Some(sa))
        }
    })
}
