//! `switchyard registry ...`

use clap::Subcommand;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use switchyard_registry::Registry;

#[derive(Subcommand)]
pub enum RegistryCommand {
    /// Check a registry folder (default: the embedded registry) and list every error.
    Validate {
        /// The registry folder, e.g. `registry/`.
        dir: Option<PathBuf>,
    },
    /// One line per model: id, author, providers.
    List,
    /// A model's definition and every endpoint with its prices.
    Show {
        /// A model id (or a former id).
        model: String,
    },
    /// The whole resolved registry: every endpoint with its resolved fields and prices.
    Export {
        /// Print JSON (the only format).
        #[arg(long, required = true)]
        json: bool,
    },
}

pub fn run(cmd: RegistryCommand, registry_dir: Option<&Path>) -> ExitCode {
    match cmd {
        RegistryCommand::Validate { dir } => {
            let dir = dir.as_deref().or(registry_dir);
            let started = std::time::Instant::now();
            let Ok(r) = crate::load_registry(dir) else {
                return ExitCode::from(1);
            };
            println!(
                "ok: {} providers, {} authors, {} models, {} model-provider configs, {} endpoints, {} archived (loaded in {:.1} ms)",
                r.providers().len(),
                r.authors().len(),
                r.models().len(),
                r.configs().len(),
                r.endpoints().len(),
                r.archived().len(),
                started.elapsed().as_secs_f64() * 1e3
            );
            ExitCode::SUCCESS
        }
        RegistryCommand::List => with_registry(registry_dir, |r| {
            for m in r.models() {
                let providers: Vec<&str> = r
                    .providers_for_model(&m.id)
                    .map(|p| p.id.as_str())
                    .collect();
                println!("{:<40} {:<12} {}", m.id, m.author, providers.join(","));
            }
            ExitCode::SUCCESS
        }),
        RegistryCommand::Show { model } => with_registry(registry_dir, |r| show(r, &model)),
        RegistryCommand::Export { .. } => with_registry(registry_dir, |r| {
            let doc = serde_json::json!({
                "providers": r.providers().collect::<Vec<_>>(),
                "authors": r.authors().collect::<Vec<_>>(),
                "models": r.models().collect::<Vec<_>>(),
                "endpoints": r.endpoints().collect::<Vec<_>>(),
                "archived": r.archived().collect::<Vec<_>>(),
            });
            println!(
                "{}",
                serde_json::to_string_pretty(&doc).expect("registry serialises")
            );
            ExitCode::SUCCESS
        }),
    }
}

fn with_registry(dir: Option<&Path>, f: impl FnOnce(&Registry) -> ExitCode) -> ExitCode {
    match crate::load_registry(dir) {
        Ok(r) => f(&r),
        Err(code) => code,
    }
}

fn show(r: &Registry, model: &str) -> ExitCode {
    let Some(m) = r.resolve_model(model) else {
        eprintln!("unknown model `{model}`; `switchyard registry list` shows every model id");
        return ExitCode::from(2);
    };
    if m.id != model {
        println!("`{model}` was renamed to `{}`", m.id);
    }
    println!("{} ({})", m.id, m.name);
    println!("  author:        {}", m.author);
    println!(
        "  context:       {} tokens, max output {}",
        m.context_length, m.max_output_tokens
    );
    println!("  created:       {}", m.created);
    println!("  tokenizer:     {}", m.tokenizer);
    println!("  endpoints (routing order, USD per 1M tokens):");
    for e in r.endpoints_for_model(&m.id) {
        let million = rust_decimal::Decimal::from(1_000_000);
        let tiers: Vec<String> = e
            .pricing
            .tiers()
            .iter()
            .map(|t| {
                format!(
                    "≥{}: in {} out {}",
                    t.threshold,
                    (t.input * million).normalize(),
                    (t.output * million).normalize()
                )
            })
            .collect();
        println!(
            "    {:<55} {:<45} ptb={:<5} prio={} {}",
            e.id,
            e.provider_model_id,
            e.ptb,
            e.priority,
            tiers.join("; ")
        );
    }
    ExitCode::SUCCESS
}
