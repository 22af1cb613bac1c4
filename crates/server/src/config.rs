//! Gateway configuration: built-in defaults, then a TOML file (`--config`), then environment
//! variables (`SWITCHYARD_*`). Parsed strictly: an unknown field is an error that names its path.

use serde::Deserialize;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Why a configuration cannot be used. Each names the field.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("config file {path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("config field `{field}`: {message}")]
    Invalid { field: String, message: String },
}

fn invalid(field: impl Into<String>, message: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        field: field.into(),
        message: message.into(),
    }
}

/// The whole configuration.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Address to listen on.
    pub listen: SocketAddr,
    /// Where the embedded SQLite store (and a generated master key) live.
    pub data_dir: PathBuf,
    /// `postgres://...` to share keys, credits and logs between several instances.
    pub database_url: Option<String>,
    /// `redis://...` to share rate limits, the response cache and key revocation between
    /// instances. Everything works in process without it.
    pub redis_url: Option<String>,
    /// Base64 of 32 bytes: encrypts BYOK provider keys at rest. Generated into `data_dir` when
    /// unset (embedded mode only).
    pub master_key: Option<String>,
    /// Bearer token of the admin API. The admin API is off when unset.
    pub admin_token: Option<String>,
    /// Load the registry from this folder instead of the embedded one.
    pub registry_dir: Option<PathBuf>,
    /// Largest request body accepted, in bytes.
    pub max_body_bytes: usize,
    /// Upstream connect timeout, seconds.
    pub connect_timeout_secs: u64,
    /// Whole upstream request timeout (first byte for streams), seconds.
    pub request_timeout_secs: u64,
    /// Longest `Retry-After` the gateway waits before the next attempt, milliseconds.
    pub max_retry_wait_ms: u64,
    pub log: LogConfig,
    pub billing: BillingConfig,
    pub governance: crate::governance::GovernanceConfig,
    /// Timeouts and limits of the HTTP edge, and bounds on the work of one request.
    pub server: crate::edge::ServerConfig,
    /// Per provider: base URL override and the gateway's own (PTB) credentials.
    pub providers: BTreeMap<String, ProviderConfig>,
    /// The web dashboard's sessions (`[dashboard]`).
    pub dashboard: crate::dashboard::DashboardConfig,
    /// The passthrough proxy (`[proxy]`).
    pub proxy: ProxyConfig,
}

/// `[proxy]`: the passthrough front door.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ProxyConfig {
    /// Lets `/proxy/...` reach the LOCAL pattern (`http://127.0.0.1:<port>/v<n>`): for a model
    /// server on the gateway's own machine. Off by default, since it opens loopback to callers.
    pub allow_local: bool,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    /// Rows per batched insert.
    pub batch_size: usize,
    /// Longest a row waits before its batch is written, milliseconds.
    pub flush_interval_ms: u64,
    /// Rows buffered in memory before new ones are dropped (and counted).
    pub capacity: usize,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BillingConfig {
    /// How long a credit lease outlives its instance, seconds: a crashed instance's leased
    /// credit (and so its holds) returns to the org within this (notes/CREDITS.md).
    pub lease_ttl_secs: u64,
    /// How often leases are renewed, idle ones returned and expired ones swept, seconds.
    pub maintain_interval_secs: u64,
    /// The smallest lease an instance asks for, USD as a decimal string.
    pub min_lease_usd: String,
}

/// One provider's settings.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProviderConfig {
    /// Replaces the registry's base URL (tests, self-hosted models, regional proxies).
    pub base_url: Option<String>,
    /// The gateway's API key for pass-through billing.
    pub api_key: Option<String>,
    /// AWS credentials (Bedrock PTB).
    pub aws_access_key_id: Option<String>,
    pub aws_secret_access_key: Option<String>,
    pub aws_session_token: Option<String>,
    /// A Google service-account JSON file (Vertex PTB).
    pub service_account_file: Option<PathBuf>,
    /// Google OAuth token endpoint override (tests).
    pub token_uri: Option<String>,
    pub region: Option<String>,
    pub project_id: Option<String>,
    pub resource_name: Option<String>,
    pub deployment_name: Option<String>,
    pub api_version: Option<String>,
}

/// The config file's provider table is an edge: its settings become the one deployment-config
/// type here (its `base_url` is the deployment's `base_uri`).
impl From<&ProviderConfig> for switchyard_registry::DeploymentConfig {
    fn from(p: &ProviderConfig) -> Self {
        switchyard_registry::DeploymentConfig {
            region: p.region.clone(),
            project_id: p.project_id.clone(),
            resource_name: p.resource_name.clone(),
            deployment_name: p.deployment_name.clone(),
            base_uri: p.base_url.clone(),
            api_version: p.api_version.clone(),
        }
    }
}

impl ProviderConfig {
    /// Whether the gateway holds credentials for this provider (PTB possible).
    pub fn has_credentials(&self) -> bool {
        self.api_key.is_some()
            || (self.aws_access_key_id.is_some() && self.aws_secret_access_key.is_some())
            || self.service_account_file.is_some()
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            data_dir: PathBuf::from("./switchyard-data"),
            database_url: None,
            redis_url: None,
            master_key: None,
            admin_token: None,
            registry_dir: None,
            max_body_bytes: 10 * 1024 * 1024,
            connect_timeout_secs: 10,
            request_timeout_secs: 600,
            max_retry_wait_ms: 5_000,
            log: LogConfig::default(),
            billing: BillingConfig::default(),
            governance: Default::default(),
            server: crate::edge::ServerConfig::default(),
            providers: BTreeMap::new(),
            dashboard: crate::dashboard::DashboardConfig::default(),
            proxy: ProxyConfig::default(),
        }
    }
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            batch_size: 256,
            flush_interval_ms: 50,
            capacity: 65_536,
        }
    }
}

impl Default for BillingConfig {
    fn default() -> Self {
        BillingConfig {
            lease_ttl_secs: 60,
            maintain_interval_secs: 10,
            min_lease_usd: "0.10".into(),
        }
    }
}

impl Config {
    /// Defaults, then the file if given, then the environment.
    pub fn load(
        file: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Config, ConfigError> {
        let mut config = match file {
            None => Config::default(),
            Some(path) => Self::from_toml(
                &std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                    path: path.to_owned(),
                    source,
                })?,
                path,
            )?,
        };
        config.apply_env(env)?;
        config.validate()?;
        Ok(config)
    }

    /// Parses a TOML document, naming the failing field's path.
    pub fn from_toml(text: &str, path: &Path) -> Result<Config, ConfigError> {
        let de = toml::Deserializer::new(text);
        serde_path_to_error::deserialize(de).map_err(|e| {
            let field = e.path().to_string();
            ConfigError::Parse {
                path: path.to_owned(),
                message: format!("{field}: {}", e.into_inner().message().trim()),
            }
        })
    }

    /// Applies `SWITCHYARD_*` variables. Provider settings are
    /// `SWITCHYARD_PROVIDER_<KEY>_<FIELD>`, the key upper-cased with `-` as `_`
    /// (e.g. `SWITCHYARD_PROVIDER_GOOGLE_AI_STUDIO_API_KEY`).
    pub fn apply_env(
        &mut self,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<(), ConfigError> {
        for (name, value) in env {
            let Some(rest) = name.strip_prefix("SWITCHYARD_") else {
                continue;
            };
            let parse_u64 = |field: &str| {
                value
                    .parse::<u64>()
                    .map_err(|_| invalid(field, format!("`{value}` is not a whole number")))
            };
            match rest {
                "LISTEN" => {
                    self.listen = value.parse().map_err(|_| {
                        invalid(
                            "listen",
                            format!("`{value}` is not an address like 127.0.0.1:8080"),
                        )
                    })?
                }
                "DATA_DIR" => self.data_dir = PathBuf::from(&value),
                "DATABASE_URL" => self.database_url = Some(value.clone()),
                "REDIS_URL" => self.redis_url = Some(value.clone()),
                "MASTER_KEY" => self.master_key = Some(value.clone()),
                "ADMIN_TOKEN" => self.admin_token = Some(value.clone()),
                "DASHBOARD_SECURE_COOKIES" => {
                    self.dashboard.secure_cookies = matches!(value.as_str(), "1" | "true" | "yes")
                }
                "PROXY_ALLOW_LOCAL" => {
                    self.proxy.allow_local = matches!(value.as_str(), "1" | "true" | "yes")
                }
                "REGISTRY" | "REGISTRY_DIR" => self.registry_dir = Some(PathBuf::from(&value)),
                "MAX_BODY_BYTES" => self.max_body_bytes = parse_u64("max_body_bytes")? as usize,
                "REQUEST_TIMEOUT_SECS" => {
                    self.request_timeout_secs = parse_u64("request_timeout_secs")?
                }
                "CONNECT_TIMEOUT_SECS" => {
                    self.connect_timeout_secs = parse_u64("connect_timeout_secs")?
                }
                _ => {
                    if let Some(p) = rest.strip_prefix("PROVIDER_") {
                        self.apply_provider_env(p, &value);
                    } else if let Some(f) = rest.strip_prefix("SERVER_") {
                        self.server.apply_env(f, &value)?;
                    }
                }
            }
        }
        Ok(())
    }

    fn apply_provider_env(&mut self, rest: &str, value: &str) {
        const FIELDS: &[&str] = &[
            "BASE_URL",
            "API_KEY",
            "AWS_ACCESS_KEY_ID",
            "AWS_SECRET_ACCESS_KEY",
            "AWS_SESSION_TOKEN",
            "SERVICE_ACCOUNT_FILE",
            "TOKEN_URI",
            "REGION",
            "PROJECT_ID",
            "RESOURCE_NAME",
            "DEPLOYMENT_NAME",
            "API_VERSION",
        ];
        // The field is the longest known suffix; what precedes it is the provider key.
        let Some(field) = FIELDS
            .iter()
            .filter(|f| rest.ends_with(&format!("_{f}")))
            .max_by_key(|f| f.len())
        else {
            return;
        };
        let key = rest[..rest.len() - field.len() - 1]
            .to_ascii_lowercase()
            .replace('_', "-");
        let p = self.providers.entry(key).or_default();
        let v = Some(value.to_owned());
        match *field {
            "BASE_URL" => p.base_url = v,
            "API_KEY" => p.api_key = v,
            "AWS_ACCESS_KEY_ID" => p.aws_access_key_id = v,
            "AWS_SECRET_ACCESS_KEY" => p.aws_secret_access_key = v,
            "AWS_SESSION_TOKEN" => p.aws_session_token = v,
            "SERVICE_ACCOUNT_FILE" => p.service_account_file = v.map(PathBuf::from),
            "TOKEN_URI" => p.token_uri = v,
            "REGION" => p.region = v,
            "PROJECT_ID" => p.project_id = v,
            "RESOURCE_NAME" => p.resource_name = v,
            "DEPLOYMENT_NAME" => p.deployment_name = v,
            _ => p.api_version = v,
        }
    }

    fn validate(&self) -> Result<(), ConfigError> {
        if self.max_body_bytes == 0 {
            return Err(invalid("max_body_bytes", "must be greater than 0"));
        }
        if self.billing.lease_ttl_secs < 3 * self.billing.maintain_interval_secs.max(1) {
            return Err(invalid(
                "billing.lease_ttl_secs",
                "must be at least three times billing.maintain_interval_secs, so a live lease is renewed in time",
            ));
        }
        if self.min_lease_nanos().is_none() {
            return Err(invalid(
                "billing.min_lease_usd",
                format!(
                    "`{}` is not a non-negative USD amount",
                    self.billing.min_lease_usd
                ),
            ));
        }
        self.server.validate()?;
        if self.log.batch_size == 0 || self.log.capacity == 0 {
            return Err(invalid(
                "log",
                "batch_size and capacity must be greater than 0",
            ));
        }
        self.governance.validate(self.redis_url.as_deref())?;
        for (key, p) in &self.providers {
            if let Some(url) = &p.base_url {
                if !(url.starts_with("http://") || url.starts_with("https://")) {
                    return Err(invalid(
                        format!("providers.{key}.base_url"),
                        format!("`{url}` is not an http(s) URL"),
                    ));
                }
            }
        }
        if let Some(t) = &self.admin_token {
            if t.len() < 16 {
                return Err(invalid("admin_token", "must be at least 16 characters"));
            }
        }
        Ok(())
    }

    /// Checks provider names against the registry (a typo is an error, not a silent no-op).
    pub fn check_providers(
        &self,
        registry: &switchyard_registry::Registry,
    ) -> Result<(), ConfigError> {
        for key in self.providers.keys() {
            if registry.provider(key).is_none() {
                let known: Vec<&str> = registry.providers().map(|p| p.id.as_str()).collect();
                return Err(invalid(
                    format!("providers.{key}"),
                    format!("unknown provider; known: {}", known.join(", ")),
                ));
            }
        }
        Ok(())
    }

    pub fn min_lease_nanos(&self) -> Option<i64> {
        let usd: rust_decimal::Decimal = self.billing.min_lease_usd.trim().parse().ok()?;
        (usd >= rust_decimal::Decimal::ZERO).then(|| switchyard_cost::usd_to_nanos(usd))
    }

    /// The credit accounts' settings.
    pub fn credits(&self) -> crate::credits::CreditsConfig {
        crate::credits::CreditsConfig {
            lease_ttl: Duration::from_secs(self.billing.lease_ttl_secs),
            maintain_every: Duration::from_secs(self.billing.maintain_interval_secs.max(1)),
            min_lease_nanos: self.min_lease_nanos().unwrap_or(0),
            ..crate::credits::CreditsConfig::default()
        }
    }

    pub fn connect_timeout(&self) -> Duration {
        Duration::from_secs(self.connect_timeout_secs)
    }

    pub fn request_timeout(&self) -> Duration {
        Duration::from_secs(self.request_timeout_secs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    #[test]
    fn defaults_need_nothing() {
        let c = Config::load(None, vec![]).unwrap();
        assert_eq!(c.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(c.data_dir, PathBuf::from("./switchyard-data"));
    }

    #[test]
    fn file_round_trip_and_env_override() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.toml");
        std::fs::write(
            &path,
            "listen = \"127.0.0.1:9000\"\n[log]\nbatch_size = 10\n[providers.openai]\nbase_url = \"http://127.0.0.1:1\"\napi_key = \"sk-file\"\n",
        )
        .unwrap();
        let c = Config::load(
            Some(&path),
            env(&[
                ("SWITCHYARD_LISTEN", "127.0.0.1:9001"),
                ("SWITCHYARD_PROVIDER_OPENAI_API_KEY", "sk-env"),
                (
                    "SWITCHYARD_PROVIDER_GOOGLE_AI_STUDIO_BASE_URL",
                    "http://127.0.0.1:2",
                ),
                ("OTHER", "ignored"),
            ]),
        )
        .unwrap();
        assert_eq!(c.listen.port(), 9001);
        assert_eq!(c.log.batch_size, 10);
        assert_eq!(c.log.flush_interval_ms, 50, "unset fields keep defaults");
        assert_eq!(c.providers["openai"].api_key.as_deref(), Some("sk-env"));
        assert_eq!(
            c.providers["openai"].base_url.as_deref(),
            Some("http://127.0.0.1:1")
        );
        assert_eq!(
            c.providers["google-ai-studio"].base_url.as_deref(),
            Some("http://127.0.0.1:2")
        );
    }

    #[test]
    fn unknown_field_names_its_path() {
        let err = Config::from_toml("[providers.openai]\napi_kye = \"x\"\n", Path::new("c.toml"))
            .unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains("providers.openai.api_kye") || msg.contains("api_kye"),
            "{msg}"
        );
    }

    #[test]
    fn bad_values_name_the_field() {
        let err = Config::load(None, env(&[("SWITCHYARD_LISTEN", "localhost")])).unwrap_err();
        assert!(
            err.to_string().starts_with("config field `listen`"),
            "{err}"
        );
        let err = Config::load(
            None,
            env(&[("SWITCHYARD_PROVIDER_OPENAI_BASE_URL", "ftp://x")]),
        )
        .unwrap_err();
        assert!(
            err.to_string().contains("providers.openai.base_url"),
            "{err}"
        );
    }
}
