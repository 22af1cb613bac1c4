//! Prepares and checks the store of a benchmark gateway, through `switchyard_store` directly (the
//! same data directory and generated master key `switchyard serve` uses).
//!
//! * `bench-setup init --data-dir D --byok-key sk-...` creates a BYOK org (with an OpenAI key)
//!   and a PTB org (with credits), a gateway key each, and prints shell assignments
//!   (`BYOK_ORG=... BYOK_KEY=... PTB_ORG=... PTB_KEY=...`).
//! * `bench-setup check --data-dir D --org ID` prints `rows=N balance_nanos=... ledger_consistent=...`
//!   for an org (run it after the gateway stopped, so the log has been flushed).
//!
//! `SWITCHYARD_DATABASE_URL` (with `SWITCHYARD_MASTER_KEY`) points both at PostgreSQL instead.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use switchyard_server::Config;
use switchyard_store::{DeploymentConfig, NewProviderKey, OrgId, ProviderSecret, Secret, Store};

#[derive(Parser)]
#[command(about = "Create and check the benchmark's orgs and keys")]
struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Create the BYOK and PTB orgs with their gateway keys.
    Init {
        #[arg(long)]
        data_dir: PathBuf,
        /// The OpenAI key stored for the BYOK org (the fake upstream accepts anything).
        #[arg(long, default_value = "sk-bench-byok")]
        byok_key: String,
        /// Credits for the PTB org, in whole USD.
        #[arg(long, default_value_t = 1_000_000)]
        credits_usd: i64,
    },
    /// Print an org's request-log row count, balance and ledger consistency.
    Check {
        #[arg(long)]
        data_dir: PathBuf,
        #[arg(long)]
        org: OrgId,
    },
}

#[derive(Debug, thiserror::Error)]
enum SetupError {
    #[error(transparent)]
    Startup(#[from] switchyard_server::StartupError),
    #[error("store: {0}")]
    Store(#[from] switchyard_store::StoreError),
    #[error("runtime: {0}")]
    Runtime(#[from] std::io::Error),
    #[error("credits_usd is too large")]
    Credits,
}

async fn open(data_dir: PathBuf) -> Result<std::sync::Arc<dyn Store>, SetupError> {
    let mut config = Config {
        data_dir,
        ..Config::default()
    };
    // `SWITCHYARD_DATABASE_URL` and `SWITCHYARD_MASTER_KEY`: the PostgreSQL runs.
    config
        .apply_env(std::env::vars())
        .map_err(switchyard_server::StartupError::from)?;
    Ok(switchyard_server::open_store(&config).await?)
}

async fn init(data_dir: PathBuf, byok_key: String, credits_usd: i64) -> Result<(), SetupError> {
    let store = open(data_dir).await?;
    let byok = store.create_org("bench-byok").await?;
    let byok_gw = store.create_gateway_key(byok.id, "bench").await?;
    store
        .set_provider_key(&NewProviderKey {
            org_id: byok.id,
            provider: "openai".into(),
            key_name: None,
            config: DeploymentConfig::default(),
            secret: ProviderSecret::ApiKey(Secret::new(byok_key)),
        })
        .await?;
    let ptb = store.create_org("bench-ptb").await?;
    let ptb_gw = store.create_gateway_key(ptb.id, "bench").await?;
    let nanos = credits_usd
        .checked_mul(1_000_000_000)
        .ok_or(SetupError::Credits)?;
    store
        .add_credits(ptb.id, nanos, Some("benchmark credits"))
        .await?;
    println!("BYOK_ORG={}", byok.id);
    println!("BYOK_KEY={}", byok_gw.plaintext.expose());
    println!("PTB_ORG={}", ptb.id);
    println!("PTB_KEY={}", ptb_gw.plaintext.expose());
    store.close().await?;
    Ok(())
}

async fn check(data_dir: PathBuf, org: OrgId) -> Result<(), SetupError> {
    let store = open(data_dir).await?;
    let rows = store.count_logs(org).await?;
    let balance = store.balance(org).await?;
    let audit = store.audit(Some(org)).await?.remove(0);
    // After a graceful stop every lease has been returned: nothing is leased or held.
    println!(
        "rows={rows} balance_nanos={} held_nanos={} ledger_consistent={}",
        balance.balance_nanos,
        balance.leased_nanos + balance.held_nanos,
        audit.is_consistent()
    );
    store.close().await?;
    Ok(())
}

fn main() -> ExitCode {
    let args = Args::parse();
    let result = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(SetupError::from)
        .and_then(|rt| {
            rt.block_on(async {
                match args.command {
                    Command::Init {
                        data_dir,
                        byok_key,
                        credits_usd,
                    } => init(data_dir, byok_key, credits_usd).await,
                    Command::Check { data_dir, org } => check(data_dir, org).await,
                }
            })
        });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
