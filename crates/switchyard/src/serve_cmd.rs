//! `switchyard serve`: run the gateway until SIGINT/SIGTERM.

use clap::Args;
use std::path::PathBuf;
use std::process::ExitCode;
use switchyard_server::{Config, Gateway};

#[derive(Args)]
pub struct ServeArgs {
    /// A TOML config file; `SWITCHYARD_*` environment variables override it.
    #[arg(long, env = "SWITCHYARD_CONFIG")]
    pub config: Option<PathBuf>,
    /// Address to listen on (overrides the config).
    #[arg(long)]
    pub listen: Option<std::net::SocketAddr>,
}

pub fn run(args: ServeArgs, registry: Option<PathBuf>) -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("SWITCHYARD_LOG")
                .unwrap_or_else(|_| "info".into()),
        )
        .init();
    let mut config = match Config::load(args.config.as_deref(), std::env::vars()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    if let Some(listen) = args.listen {
        config.listen = listen;
    }
    if registry.is_some() {
        config.registry_dir = registry;
    }
    // SWITCHYARD_WORKER_THREADS caps the runtime's workers (the benchmark pins the gateway to one core).
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    if let Some(n) = std::env::var("SWITCHYARD_WORKER_THREADS")
        .ok()
        .and_then(|v| v.trim().parse::<usize>().ok())
        .filter(|n| *n > 0)
    {
        builder.worker_threads(n);
    }
    let runtime = match builder.enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::from(1);
        }
    };
    runtime.block_on(async move {
        let gateway = match Gateway::bind(config).await {
            Ok(g) => g,
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::from(2);
            }
        };
        tracing::info!(
            addr = %gateway.addr,
            models = gateway.state.registry.models().len(),
            fd_limit = %gateway.fd_limit.map_or_else(|| "unknown".to_owned(), |n| n.to_string()),
            max_connections = gateway.max_connections(),
            "switchyard listening"
        );
        match gateway.serve(switchyard_server::shutdown_signal()).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::from(1)
            }
        }
    })
}
