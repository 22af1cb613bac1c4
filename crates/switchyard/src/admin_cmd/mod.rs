//! `switchyard admin ...`: the admin API's operations run directly against the store the config
//! names (same `--config` and `SWITCHYARD_*` variables as `switchyard serve`). Every command
//! calls [`switchyard_server::admin::Admin`], so it validates exactly like the HTTP API.
//!
//! Changes made here reach a running gateway through the shared store. With `redis_url` set,
//! revocations, provider-key and policy changes are also published on the invalidation bus, so
//! every gateway drops its cached copy within a second; without Redis, running gateways pick
//! them up within 30 s (use the HTTP API of an embedded gateway for an immediate effect).

use clap::{Args, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;
use switchyard_server::admin::Admin;
use switchyard_server::admin::AdminError;
use switchyard_server::governance::Governance;
use switchyard_server::Config;

/// A view as JSON (the views live in the server crate; this crate only needs their JSON).
macro_rules! v {
    ($e:expr) => {
        serde_json::to_value(&$e).expect("admin views serialise")
    };
}

mod execute;
mod print;

use execute::execute;

#[derive(Args)]
pub struct AdminArgs {
    /// The gateway's TOML config file; `SWITCHYARD_*` environment variables override it.
    #[arg(long, env = "SWITCHYARD_CONFIG", global = true)]
    pub config: Option<PathBuf>,
    /// Print JSON instead of text.
    #[arg(long, global = true)]
    pub json: bool,
    #[command(subcommand)]
    pub command: AdminCommand,
}

#[derive(Subcommand)]
pub enum AdminCommand {
    /// Create, list and configure orgs.
    #[command(subcommand)]
    Org(OrgCommand),
    /// Create, list and revoke gateway keys.
    #[command(subcommand)]
    Key(KeyCommand),
    /// Grant credits (USD) for pass-through billing.
    #[command(subcommand)]
    Credits(CreditsCommand),
    /// Show an org's balance, held and available credits.
    Balance(OrgOpt),
    /// Show an org's credit ledger, newest first, a page at a time.
    Ledger {
        #[command(flatten)]
        org: OrgOpt,
        /// Rows per page (1-1000).
        #[arg(long)]
        limit: Option<u32>,
        /// Start after this cursor (the `next: ...` line of the previous page).
        #[arg(long)]
        before: Option<String>,
        /// Every row, all pages.
        #[arg(long)]
        all: bool,
    },
    /// Recompute every org's balance from its ledger rows, list open credit leases and their
    /// holds with their age; exits 1 when any org's books do not add up.
    Audit {
        /// Only this org (id or name).
        #[arg(long)]
        org: Option<String>,
    },
    /// Set, remove and list an org's own (BYOK) provider keys.
    #[command(subcommand, name = "provider-key")]
    ProviderKey(ProviderKeyCommand),
    /// Show an org's request log, newest first.
    Logs {
        #[command(flatten)]
        org: OrgOpt,
        /// Rows to show (1-1000).
        #[arg(long)]
        limit: Option<u32>,
        /// Only requests answered with this HTTP status.
        #[arg(long)]
        status: Option<u16>,
        /// Only requests served by this provider.
        #[arg(long)]
        provider: Option<String>,
        /// Only this user's requests (`x-switchyard-user-id` / `Helicone-User-Id`).
        #[arg(long)]
        user: Option<String>,
        /// Only this session's requests.
        #[arg(long)]
        session: Option<String>,
        /// Only requests with this custom property, as `name:value`.
        #[arg(long)]
        property: Option<String>,
    },
    /// Show an org's spend per day, provider and billing mode.
    Spend {
        #[command(flatten)]
        org: OrgOpt,
        /// Days to cover, today included (1-366).
        #[arg(long)]
        days: Option<u32>,
    },
    /// Fill an org's request log with synthetic rows (and their rollups), to try the dashboard
    /// on real volumes. Rows are priced with the registry and spread over the last `--days`.
    #[command(name = "seed-logs")]
    SeedLogs {
        #[command(flatten)]
        org: OrgOpt,
        #[arg(long, default_value_t = 100_000)]
        rows: u64,
        #[arg(long, default_value_t = 30)]
        days: u32,
        /// Random seed: the same seed gives the same rows (ids and times aside).
        #[arg(long, default_value_t = 1)]
        seed: u64,
    },
}

#[derive(Args)]
pub struct OrgOpt {
    /// The org's id or (unique) name.
    #[arg(long)]
    pub org: String,
}

#[derive(Subcommand)]
pub enum OrgCommand {
    /// Create an org; prints its id.
    Create { name: String },
    /// List every org.
    List,
    /// Show one org.
    Show { org: String },
    /// Change an org's settings.
    Set {
        org: String,
        /// Store request and response bodies in the request log.
        #[arg(long, action = clap::ArgAction::Set)]
        store_bodies: bool,
    },
    /// Set or clear an org's rate-limit policy list (`QUOTA;w=SECONDS[;u=UNIT][;s=SCOPE]`).
    #[command(name = "rate-limit")]
    RateLimit {
        org: String,
        /// The policy list, e.g. `1000;w=3600` or `20;w=60;s=user,50000;w=86400;u=tokens`.
        #[arg(long, conflicts_with = "clear", required_unless_present = "clear")]
        policy: Option<String>,
        /// Remove the org's policy.
        #[arg(long)]
        clear: bool,
    },
}

#[derive(Subcommand)]
pub enum KeyCommand {
    /// Create a gateway key; prints it once (the key alone on stdout, details on stderr).
    Create {
        #[command(flatten)]
        org: OrgOpt,
        name: String,
    },
    /// List an org's gateway keys (never the keys themselves).
    List(OrgOpt),
    /// Revoke a gateway key by id.
    Revoke { key_id: String },
    /// Set a key's rate-limit policy list and response-cache switch.
    Set {
        #[command(flatten)]
        org: OrgOpt,
        key_id: String,
        /// The key's policy list (`""` clears it).
        #[arg(long)]
        rate_limit_policy: Option<String>,
        /// Use the response cache for every request with this key.
        #[arg(long, action = clap::ArgAction::Set)]
        cache: Option<bool>,
    },
}

#[derive(Subcommand)]
pub enum CreditsCommand {
    /// Add credits: a USD amount as a decimal, e.g. 12.50 (at most 9 decimal places).
    Add {
        #[command(flatten)]
        org: OrgOpt,
        #[arg(allow_hyphen_values = true)]
        usd: String,
        /// A note stored on the ledger row (e.g. an invoice number).
        #[arg(long)]
        note: Option<String>,
    },
}

#[derive(Subcommand)]
pub enum ProviderKeyCommand {
    /// Store (or replace) a provider key. Secrets may come from flags, environment variables
    /// (`SWITCHYARD_BYOK_*`) or stdin, so they need not land in shell history.
    Set(Box<ProviderKeySetArgs>),
    /// Remove a provider key.
    Remove {
        #[command(flatten)]
        org: OrgOpt,
        provider: String,
        /// The key's name, when it has one.
        #[arg(long)]
        key_name: Option<String>,
    },
    /// List an org's provider keys (metadata only, never secrets).
    List(OrgOpt),
}

#[derive(Args)]
pub struct ProviderKeySetArgs {
    #[command(flatten)]
    pub org: OrgOpt,
    /// Registry provider id, e.g. `openai`, `bedrock`, `vertex`.
    pub provider: String,
    /// Name this key, to hold several per provider (`model/provider/<key name>`).
    #[arg(long)]
    pub key_name: Option<String>,
    /// API key (providers that use one).
    #[arg(long, env = "SWITCHYARD_BYOK_API_KEY", hide_env_values = true)]
    pub api_key: Option<String>,
    /// Read the API key from stdin.
    #[arg(long)]
    pub api_key_stdin: bool,
    /// AWS access key id (Bedrock).
    #[arg(
        long,
        env = "SWITCHYARD_BYOK_AWS_ACCESS_KEY_ID",
        hide_env_values = true
    )]
    pub aws_access_key_id: Option<String>,
    /// AWS secret access key (Bedrock).
    #[arg(
        long,
        env = "SWITCHYARD_BYOK_AWS_SECRET_ACCESS_KEY",
        hide_env_values = true
    )]
    pub aws_secret_access_key: Option<String>,
    /// Read the AWS secret access key from stdin.
    #[arg(long)]
    pub aws_secret_access_key_stdin: bool,
    /// AWS session token, for temporary credentials.
    #[arg(
        long,
        env = "SWITCHYARD_BYOK_AWS_SESSION_TOKEN",
        hide_env_values = true
    )]
    pub aws_session_token: Option<String>,
    /// A Google service-account key file (Vertex); `-` reads it from stdin.
    #[arg(long)]
    pub service_account_file: Option<PathBuf>,
    #[arg(long)]
    pub region: Option<String>,
    #[arg(long)]
    pub project_id: Option<String>,
    /// Azure resource name.
    #[arg(long)]
    pub resource_name: Option<String>,
    /// Azure deployment name.
    #[arg(long)]
    pub deployment_name: Option<String>,
    #[arg(long)]
    pub api_version: Option<String>,
    /// Base URL override for this key.
    #[arg(long)]
    pub base_uri: Option<String>,
}

/// A failure with its exit code: 2 for what the user can fix, 1 otherwise.
struct Failure(String, u8);

impl From<AdminError> for Failure {
    fn from(e: AdminError) -> Self {
        let code = if e.is_client_error() { 2 } else { 1 };
        Failure(e.to_string(), code)
    }
}

fn usage(message: impl Into<String>) -> Failure {
    Failure(message.into(), 2)
}

pub fn run(args: AdminArgs, registry: Option<PathBuf>) -> ExitCode {
    let mut config = match Config::load(args.config.as_deref(), std::env::vars()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    if registry.is_some() {
        config.registry_dir = registry;
    }
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let result = runtime.block_on(async move {
        let registry =
            switchyard_server::load_registry(&config).map_err(|e| Failure(e.to_string(), 2))?;
        let store = switchyard_server::open_store(&config)
            .await
            .map_err(|e| Failure(e.to_string(), 1))?;
        let admin = Admin::new(store.as_ref(), &registry);
        let bus = match config.redis_url.as_deref() {
            Some(url) => Governance::new(&config.governance, Some(url)).ok(),
            None => None,
        };
        let result = execute(&admin, args.command, args.json).await;
        if let (Ok(Some(msg)), Some(g)) = (&result, &bus) {
            if !g.bus.publish(msg.clone()).await {
                eprintln!("warning: Redis did not take the invalidation; gateways pick the change up within 30 s");
            }
        }
        let _ = store.close().await;
        result.map(|_| ())
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure(message, code)) => {
            eprintln!("error: {message}");
            ExitCode::from(code)
        }
    }
}
