//! `switchyard detect-provider URL` and `switchyard cost --url URL ...`: provider detection and
//! pricing by the legacy match rules (crate `switchyard-detect`).

use clap::Args;
use std::path::Path;
use std::process::ExitCode;
use switchyard_detect::{Detector, PromptUsage};

use crate::cost_cmd::{self, CostArgs};

#[derive(Args)]
pub struct DetectArgs {
    /// The target URL, e.g. https://api.anthropic.com/v1/messages
    pub url: String,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// `switchyard cost`: the registry price by `--provider`, or the rule price by `--url`.
#[derive(Args)]
// `--provider` becomes optional here because `--url` can replace it; `run_cost` insists on one.
#[command(mut_arg("provider", |a| a.required(false).default_value("")))]
pub struct CostCommand {
    /// Price by the legacy match rules of the provider this URL belongs to, instead of
    /// `--provider` (the URL must be an approved domain).
    #[arg(long, conflicts_with = "provider")]
    pub url: Option<String>,
    /// With --url: prompt audio tokens.
    #[arg(long)]
    pub audio_input: Option<u64>,
    /// With --url: completion audio tokens.
    #[arg(long)]
    pub audio_output: Option<u64>,
    /// With --url: images, charged only by rows with a per-image price [default: 1, as the
    /// legacy formula]
    #[arg(long)]
    pub images: Option<u64>,
    /// With --url: calls, charged only by rows with a per-call price [default: 1]
    #[arg(long)]
    pub calls: Option<u64>,
    #[command(flatten)]
    pub args: CostArgs,
}

fn detector(registry_dir: Option<&Path>) -> Result<Detector, ExitCode> {
    let registry = crate::load_registry(registry_dir)?;
    Detector::from_registry(&registry).map_err(|e| {
        eprintln!("error: {e}");
        ExitCode::from(1)
    })
}

pub fn run_detect(args: DetectArgs, registry_dir: Option<&Path>) -> ExitCode {
    let d = match detector(registry_dir) {
        Ok(d) => d,
        Err(code) => return code,
    };
    match d.provider_by_url(&args.url) {
        Ok(found) => {
            if args.json {
                let doc = serde_json::json!({
                    "url": args.url,
                    "provider": found.name,
                    "registry_provider": found.registry,
                    "pattern": d.approved_domains()[found.index],
                });
                println!(
                    "{}",
                    serde_json::to_string_pretty(&doc).expect("serialises")
                );
            } else {
                println!("{}", found.name);
                match found.registry {
                    Some(r) => println!("registry provider: {r}"),
                    None => println!("registry provider: (none)"),
                }
            }
            ExitCode::SUCCESS
        }
        Err(reason) => {
            eprintln!("not an approved domain: {reason}");
            ExitCode::from(2)
        }
    }
}

impl CostCommand {
    /// Flags that only the rule price (`--url`) reads.
    fn rule_only_flags_given(&self) -> bool {
        [self.audio_input, self.audio_output, self.images, self.calls]
            .iter()
            .any(Option::is_some)
    }
}

pub fn run_cost(cmd: CostCommand, registry_dir: Option<&Path>) -> ExitCode {
    let Some(url) = cmd.url.clone() else {
        if cmd.rule_only_flags_given() {
            eprintln!("error: --audio-input, --audio-output, --images and --calls need --url");
            return ExitCode::from(2);
        }
        if cmd.args.provider.is_empty() {
            eprintln!("error: one of --provider or --url is required");
            return ExitCode::from(2);
        }
        return cost_cmd::run(cmd.args, registry_dir);
    };
    let a = &cmd.args;
    if a.web_search > 0 {
        eprintln!("error: --web-search is not priced by the legacy rules; use --provider");
        return ExitCode::from(2);
    }
    if a.thinking > a.output {
        eprintln!("error: --thinking is a part of --output and cannot exceed it");
        return ExitCode::from(2);
    }
    let d = match detector(registry_dir) {
        Ok(d) => d,
        Err(code) => return code,
    };
    let usage = PromptUsage {
        prompt: a.input,
        completion: a.output,
        cache_read: a.cached_input,
        cache_write: a.cache_write_5m + a.cache_write_1h,
        cache_write_5m: (a.cache_write_5m > 0).then_some(a.cache_write_5m),
        cache_write_1h: (a.cache_write_1h > 0).then_some(a.cache_write_1h),
        prompt_audio: cmd.audio_input.unwrap_or(0),
        completion_audio: cmd.audio_output.unwrap_or(0),
        images: cmd.images.unwrap_or(1),
        calls: cmd.calls.unwrap_or(1),
    };
    let priced = match d.cost_of_prompt(&url, &a.model, &usage) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("unpriced: {e}");
            return ExitCode::from(3);
        }
    };
    if a.json {
        let doc = serde_json::json!({
            "url": url,
            "model": a.model,
            "provider": priced.provider.name,
            "registry_provider": priced.provider.registry,
            "row": priced.row,
            "total": priced.cost.usd,
            "total_nanos": priced.cost.nanos,
        });
        println!(
            "{}",
            serde_json::to_string_pretty(&doc).expect("serialises")
        );
    } else {
        let registry = priced.provider.registry.unwrap_or("no registry provider");
        println!("{} on {} ({registry})", a.model, priced.provider.name);
        println!(
            "  rule                 = {} `{}`",
            priced.row.operator, priced.row.value
        );
        println!("  total                = {} USD", priced.cost.usd);
        println!("  total (nano-USD)     = {}", priced.cost.nanos);
    }
    ExitCode::SUCCESS
}

#[cfg(test)]
mod tests {
    use crate::{Cli, Command};
    use clap::{CommandFactory, Parser};

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("switchyard").chain(args.iter().copied()))
    }

    #[test]
    fn cli_definition_is_valid() {
        Cli::command().debug_assert();
    }

    #[test]
    fn cost_takes_url_or_provider_not_both() {
        let cli = parse(&[
            "cost",
            "--url",
            "https://api.anthropic.com",
            "--model",
            "m",
            "--input",
            "5",
        ])
        .unwrap();
        let Command::Cost(c) = cli.command else {
            panic!("not cost")
        };
        assert_eq!(c.url.as_deref(), Some("https://api.anthropic.com"));
        assert_eq!((c.args.provider.as_str(), c.args.input), ("", 5));
        assert!(!c.rule_only_flags_given());

        let cli = parse(&["cost", "--provider", "anthropic", "--model", "m"]).unwrap();
        let Command::Cost(c) = cli.command else {
            panic!("not cost")
        };
        assert_eq!((c.url, c.args.provider.as_str()), (None, "anthropic"));

        assert!(parse(&[
            "cost",
            "--url",
            "https://x",
            "--provider",
            "p",
            "--model",
            "m"
        ])
        .is_err());
        // Rule-only flags are noticed (run_cost refuses them without --url).
        let cli = parse(&["cost", "--provider", "p", "--model", "m", "--images", "2"]).unwrap();
        let Command::Cost(c) = cli.command else {
            panic!("not cost")
        };
        assert!(c.rule_only_flags_given());
    }

    #[test]
    fn detect_provider_parses() {
        let cli = parse(&["detect-provider", "https://api.x.ai/v1", "--json"]).unwrap();
        let Command::DetectProvider(a) = cli.command else {
            panic!("not detect-provider")
        };
        assert_eq!((a.url.as_str(), a.json), ("https://api.x.ai/v1", true));
    }
}
