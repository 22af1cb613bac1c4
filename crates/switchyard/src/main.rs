//! The `switchyard` binary: a thin CLI over the workspace's crates.

mod admin_cmd;
mod check_prices_cmd;
mod cost_cmd;
mod detect_cmd;
mod registry_cmd;
mod registry_diff_cmd;
mod serve_cmd;

use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

// jemalloc instead of glibc's malloc: allocation is ~15 % of the request path's CPU with
// glibc; jemalloc gives ~10 % more requests per core (notes/BENCH.md, session 18).
#[cfg(all(feature = "jemalloc", not(target_env = "msvc")))]
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

#[derive(Parser)]
#[command(
    name = "switchyard",
    version,
    about = "Switchyard: one OpenAI-compatible API in front of many LLM providers"
)]
struct Cli {
    /// Load the registry from this folder instead of the one embedded in the binary.
    #[arg(long, global = true, env = "SWITCHYARD_REGISTRY")]
    registry: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Inspect and validate the model registry.
    #[command(subcommand)]
    Registry(registry_cmd::RegistryCommand),
    /// Price a usage with the registry's prices (--provider), or by the legacy match rules (--url).
    Cost(detect_cmd::CostCommand),
    /// Print the provider a target URL belongs to, or exit 2 if it is not an approved domain.
    DetectProvider(detect_cmd::DetectArgs),
    /// Run the gateway (default: 127.0.0.1:8080, embedded SQLite in ./switchyard-data).
    Serve(serve_cmd::ServeArgs),
    /// Manage orgs, gateway keys, credits and BYOK provider keys; read logs, spend and ledger.
    Admin(admin_cmd::AdminArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Registry(cmd) => registry_cmd::run(cmd, cli.registry.as_deref()),
        Command::Cost(args) => detect_cmd::run_cost(args, cli.registry.as_deref()),
        Command::DetectProvider(args) => detect_cmd::run_detect(args, cli.registry.as_deref()),
        Command::Serve(args) => serve_cmd::run(args, cli.registry),
        Command::Admin(args) => admin_cmd::run(args, cli.registry),
    }
}

/// Loads the registry the user asked for, or prints every error and returns the exit code.
pub(crate) fn load_registry(
    dir: Option<&std::path::Path>,
) -> Result<switchyard_registry::Registry, ExitCode> {
    let loaded = match dir {
        Some(dir) => switchyard_registry::Registry::load_dir(dir),
        None => switchyard_registry::Registry::embedded(),
    };
    loaded.map_err(|errors| {
        eprint!("{errors}");
        ExitCode::from(1)
    })
}
