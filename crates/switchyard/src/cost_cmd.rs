//! `switchyard cost ...`: price a usage from the command line.

use clap::Args;
use std::path::Path;
use std::process::ExitCode;
use switchyard_cost::Usage;

#[derive(Args)]
pub struct CostArgs {
    /// Registry provider key, e.g. `anthropic`.
    #[arg(long)]
    pub provider: String,
    /// The provider's model id, e.g. `claude-sonnet-4-20250514`.
    #[arg(long)]
    pub model: String,
    /// Non-cached input tokens.
    #[arg(long, default_value_t = 0)]
    pub input: u64,
    /// Output tokens, reasoning included.
    #[arg(long, default_value_t = 0)]
    pub output: u64,
    /// Cache-read input tokens.
    #[arg(long, default_value_t = 0)]
    pub cached_input: u64,
    /// Tokens written to a 5-minute cache.
    #[arg(long = "cache-write-5m", default_value_t = 0)]
    pub cache_write_5m: u64,
    /// Tokens written to a 1-hour cache.
    #[arg(long = "cache-write-1h", default_value_t = 0)]
    pub cache_write_1h: u64,
    /// Reasoning tokens: a part of --output.
    #[arg(long, default_value_t = 0)]
    pub thinking: u64,
    /// Web search calls.
    #[arg(long, default_value_t = 0)]
    pub web_search: u64,
    /// Print JSON, amounts as decimal strings.
    #[arg(long)]
    pub json: bool,
}

impl CostArgs {
    pub fn usage(&self) -> Result<Usage, String> {
        if self.thinking > self.output {
            return Err(format!(
                "--thinking ({}) is a part of --output ({}) and cannot exceed it",
                self.thinking, self.output
            ));
        }
        let opt = |n: u64| (n > 0).then_some(n);
        Ok(Usage {
            input: Some(self.input),
            output: Some(self.output),
            cache_read: opt(self.cached_input),
            cache_write_5m: opt(self.cache_write_5m),
            cache_write_1h: opt(self.cache_write_1h),
            reasoning: opt(self.thinking),
            web_search: opt(self.web_search),
            ..Usage::default()
        })
    }
}

pub fn run(args: CostArgs, registry_dir: Option<&Path>) -> ExitCode {
    let usage = match args.usage() {
        Ok(u) => u,
        Err(msg) => {
            eprintln!("error: {msg}");
            return ExitCode::from(2);
        }
    };
    let registry = match crate::load_registry(registry_dir) {
        Ok(r) => r,
        Err(code) => return code,
    };
    let breakdown = match registry.price(&args.provider, &args.model, &usage) {
        Ok(b) => b,
        Err(unpriced) => {
            eprintln!("unpriced: {unpriced}");
            if registry.provider(&args.provider).is_some() {
                let known: Vec<&str> = registry
                    .configs()
                    .filter(|c| c.provider == args.provider)
                    .map(|c| c.provider_model_id.as_str())
                    .take(8)
                    .collect();
                eprintln!(
                    "provider model ids on `{}` include: {}",
                    args.provider,
                    known.join(", ")
                );
            }
            return ExitCode::from(3);
        }
    };
    if args.json {
        let doc = serde_json::json!({
            "provider": args.provider,
            "model": args.model,
            "breakdown": breakdown,
            "total_nanos": breakdown.total_nanos(),
        });
        println!(
            "{}",
            serde_json::to_string_pretty(&doc).expect("serialises")
        );
    } else {
        println!(
            "{} on {} (tier ≥{} tokens)",
            args.model, args.provider, breakdown.tier_threshold
        );
        for line in &breakdown.lines {
            println!(
                "  {:<20} {:>10} × {:<14} = {}",
                line.kind.label(),
                line.quantity,
                line.unit_price.normalize(),
                line.amount.normalize()
            );
        }
        if let Some(reported) = breakdown.provider_reported {
            println!(
                "  provider-reported total replaces computed {}",
                breakdown.computed.normalize()
            );
            println!("  total                = {} USD", reported.normalize());
        } else {
            println!(
                "  total                = {} USD",
                breakdown.total.normalize()
            );
        }
        println!("  total (nano-USD)     = {}", breakdown.total_nanos());
    }
    ExitCode::SUCCESS
}
