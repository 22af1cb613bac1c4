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
    /// One line per model: id, author, status, providers.
    List {
        /// The day the status is for (default: today, UTC).
        #[arg(long, value_parser = crate::check_prices_cmd::parse_day)]
        date: Option<time::Date>,
    },
    /// A model's definition and every endpoint with its prices.
    Show {
        /// A model id (or a former id).
        model: String,
    },
    /// What changed between two registry folders: models and endpoints added and removed,
    /// lifecycle dates, every price (old, new, ratio). `--embedded` stands for the embedded
    /// registry on either side: `diff --embedded registry/` reviews your edits.
    Diff {
        /// The registry before (a folder, or `--embedded`).
        #[arg(allow_hyphen_values = true)]
        old: String,
        /// The registry after (a folder, or `--embedded`).
        #[arg(allow_hyphen_values = true)]
        new: String,
        /// Print JSON instead of tables.
        #[arg(long)]
        json: bool,
    },
    /// Compare our endpoints with an external price list in LiteLLM's format.
    CheckPrices(crate::check_prices_cmd::CheckPricesArgs),
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
            let acks = match dir {
                Some(d) => std::fs::read_to_string(d.join("acknowledged.toml")).ok(),
                None => switchyard_registry::embedded_file("acknowledged.toml").map(str::to_owned),
            };
            if let Some(Err(e)) = acks
                .as_deref()
                .map(switchyard_registry::check::acknowledged::parse_acknowledged)
            {
                eprintln!("acknowledged.toml: {e}");
                return ExitCode::from(1);
            }
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
        RegistryCommand::List { date } => with_registry(registry_dir, |r| {
            let day = date.unwrap_or_else(|| time::OffsetDateTime::now_utc().date());
            for m in r.models() {
                let providers: Vec<&str> = r
                    .providers_for_model(&m.id)
                    .map(|p| p.id.as_str())
                    .collect();
                let status = r.model_status_at(&m.id, day).map_or("", |s| s.as_str());
                let successor = m
                    .lifecycle
                    .successor
                    .as_deref()
                    .map(|s| format!(" (successor {s})"))
                    .unwrap_or_default();
                println!(
                    "{:<40} {:<12} {:<10} {}{successor}",
                    m.id,
                    m.author,
                    status,
                    providers.join(",")
                );
            }
            ExitCode::SUCCESS
        }),
        RegistryCommand::Diff { old, new, json } => crate::registry_diff_cmd::run(&old, &new, json),
        RegistryCommand::CheckPrices(args) => crate::check_prices_cmd::run(args, registry_dir),
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
    let today = time::OffsetDateTime::now_utc().date();
    if let Some(s) = r.model_status_at(&m.id, today) {
        let l = &m.lifecycle;
        let date = |d: Option<time::Date>| d.map_or("-".to_owned(), |d| d.to_string());
        println!(
            "  status:        {} (deprecated {}, retired {}, successor {})",
            s.as_str(),
            date(l.deprecated),
            date(l.retired),
            l.successor.as_deref().unwrap_or("-")
        );
    }
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
            "    {:<55} {:<45} {:<10} ptb={:<5} prio={} {}",
            e.id,
            e.provider_model_id,
            e.status_at(today).as_str(),
            e.ptb,
            e.priority,
            tiers.join("; ")
        );
    }
    ExitCode::SUCCESS
}
