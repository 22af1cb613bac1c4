//! `switchyard registry check-prices --against FILE`: our endpoints against an external price
//! list in LiteLLM's format. Exit 0 when every difference is acknowledged, 1 when one is not (or
//! the acknowledged file has stale or invalid entries), 2 when a file cannot be read.

use rust_decimal::Decimal;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use switchyard_registry::check::acknowledged::{parse_acknowledged, Acknowledgement};
use switchyard_registry::check::{check_prices, litellm, PriceCheck};
use time::Date;

#[derive(clap::Args)]
pub struct CheckPricesArgs {
    /// The external price list: LiteLLM's `model_prices_and_context_window.json` (from the
    /// `litellm` package on PyPI; a pinned copy is in crates/registry/tests/fixtures/litellm/).
    #[arg(long)]
    against: PathBuf,
    /// The reviewed exceptions (default: acknowledged.toml of the registry folder, or the
    /// embedded one).
    #[arg(long)]
    acknowledged: Option<PathBuf>,
    /// The day that decides which of their models are current (default: today, UTC).
    #[arg(long, value_parser = parse_day)]
    date: Option<Date>,
    /// Print JSON: every count, difference and missing model.
    #[arg(long)]
    json: bool,
    /// Print the per-provider table only.
    #[arg(long, conflicts_with = "json")]
    summary: bool,
}

pub fn parse_day(s: &str) -> Result<Date, String> {
    switchyard_registry::parse_date(s).ok_or_else(|| format!("`{s}` is not a YYYY-MM-DD date"))
}

fn acknowledgements(
    args: &CheckPricesArgs,
    registry_dir: Option<&Path>,
) -> Result<Vec<Acknowledgement>, String> {
    let (name, text) = match (&args.acknowledged, registry_dir) {
        (Some(f), _) => (f.display().to_string(), read(f)?),
        (None, Some(dir)) => {
            let f = dir.join("acknowledged.toml");
            if !f.exists() {
                return Ok(Vec::new());
            }
            (f.display().to_string(), read(&f)?)
        }
        (None, None) => match switchyard_registry::embedded_file("acknowledged.toml") {
            Some(t) => ("(embedded) acknowledged.toml".to_owned(), t.to_owned()),
            None => return Ok(Vec::new()),
        },
    };
    parse_acknowledged(&text).map_err(|e| format!("{name}: {e}"))
}

fn read(path: &Path) -> Result<String, String> {
    std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))
}

pub fn run(args: CheckPricesArgs, registry_dir: Option<&Path>) -> ExitCode {
    let Ok(registry) = crate::load_registry(registry_dir) else {
        return ExitCode::from(2);
    };
    let inputs = read(&args.against).and_then(|json| {
        let theirs =
            litellm::parse(&json).map_err(|e| format!("{}: {e}", args.against.display()))?;
        Ok((theirs, acknowledgements(&args, registry_dir)?))
    });
    let (theirs, acks) = match inputs {
        Ok(x) => x,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    let date = args
        .date
        .unwrap_or_else(|| time::OffsetDateTime::now_utc().date());
    let report = check_prices(&registry, &theirs, &acks, date);
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&report).expect("a report serialises")
        );
    } else if args.summary {
        print!("{}", summary(&report));
    } else {
        print!("{}{}", summary(&report), details(&report));
    }
    if report.is_clean() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

/// `have/theirs (pct%)`, and the percentage without acknowledged omissions when there are some.
fn coverage(p: &switchyard_registry::check::ProviderSummary) -> String {
    let Some(pct) = p.coverage_percent() else {
        return "-".to_owned();
    };
    let mut s = format!("{}/{} ({pct}%)", p.we_have, p.their_current);
    if p.ours_missing_acknowledged > 0 {
        if let Some(x) = p.coverage_percent_excluding_acknowledged() {
            write!(s, ", {x}% without acknowledged omissions").unwrap();
        }
    }
    s
}

/// The per-provider table and the totals.
pub fn summary(r: &PriceCheck) -> String {
    let mut out = String::new();
    writeln!(
        out,
        "check-prices on {} (their current chat models: no deprecation date on or before it)",
        r.date
    )
    .unwrap();
    writeln!(
        out,
        "{:<18} {:>7} {:>6} {:>8} {:>5} {:>14} {:>12} {:>9}  coverage",
        "provider",
        "matched",
        "agree",
        "disagree",
        "ack",
        "theirs-missing",
        "ours-missing",
        "ack-omit"
    )
    .unwrap();
    let mut total = switchyard_registry::check::ProviderSummary::default();
    for p in &r.providers {
        let cov = coverage(p);
        writeln!(
            out,
            "{:<18} {:>7} {:>6} {:>8} {:>5} {:>14} {:>12} {:>9}  {cov}",
            p.provider,
            p.matched,
            p.agreeing,
            p.disagreeing,
            p.acknowledged,
            p.theirs_missing,
            p.ours_missing,
            p.ours_missing_acknowledged
        )
        .unwrap();
        total.matched += p.matched;
        total.agreeing += p.agreeing;
        total.disagreeing += p.disagreeing;
        total.acknowledged += p.acknowledged;
        total.theirs_missing += p.theirs_missing;
        total.ours_missing += p.ours_missing;
        total.ours_missing_acknowledged += p.ours_missing_acknowledged;
        total.their_current += p.their_current;
        total.we_have += p.we_have;
    }
    let cov = coverage(&total);
    writeln!(
        out,
        "{:<18} {:>7} {:>6} {:>8} {:>5} {:>14} {:>12} {:>9}  {cov}",
        "total",
        total.matched,
        total.agreeing,
        total.disagreeing,
        total.acknowledged,
        total.theirs_missing,
        total.ours_missing,
        total.ours_missing_acknowledged
    )
    .unwrap();
    let unack = r.unacknowledged().count();
    writeln!(
        out,
        "differences: {} ({} acknowledged, {unack} not); stale acknowledgements: {}; invalid: {}",
        r.disagreements.len(),
        r.disagreements.len() - unack,
        r.stale.len(),
        r.invalid.len()
    )
    .unwrap();
    out
}

fn shown(field: &str, v: Option<Decimal>) -> String {
    match v {
        None => "none".to_owned(),
        Some(v) if field == "context" || field == "max_output" => v.to_string(),
        Some(v) => (v * Decimal::from(1_000_000)).normalize().to_string(),
    }
}

/// Every unacknowledged difference, missing model and bad acknowledgement.
pub fn details(r: &PriceCheck) -> String {
    let mut out = String::new();
    let unack: Vec<_> = r.unacknowledged().collect();
    writeln!(
        out,
        "\nunacknowledged differences ({}; prices USD per 1M tokens, ratio = ours/theirs):",
        unack.len()
    )
    .unwrap();
    for d in unack {
        writeln!(
            out,
            "  {:<60} {:<18} ours {:>10}  theirs {:>10}  ratio {:>8}  [{}]",
            d.endpoint,
            d.field,
            shown(&d.field, d.ours),
            shown(&d.field, Some(d.theirs)),
            d.ratio.map_or("-".to_owned(), |x| x.to_string()),
            d.key
        )
        .unwrap();
    }
    let missing: Vec<_> = r
        .ours_missing
        .iter()
        .filter(|m| m.acknowledged.is_none())
        .collect();
    writeln!(
        out,
        "\ntheir current chat models we lack ({}):",
        missing.len()
    )
    .unwrap();
    for m in missing {
        writeln!(
            out,
            "  {:<18} {}  [{}]",
            m.provider,
            m.id,
            m.keys.join(", ")
        )
        .unwrap();
    }
    writeln!(
        out,
        "\nour endpoints they do not list ({}):",
        r.theirs_missing.len()
    )
    .unwrap();
    for id in &r.theirs_missing {
        writeln!(out, "  {id}").unwrap();
    }
    if !r.stale.is_empty() || !r.invalid.is_empty() {
        writeln!(out, "\nacknowledged.toml needs care:").unwrap();
        for a in &r.stale {
            writeln!(
                out,
                "  stale (matches nothing; remove it): {} {} {}",
                a.provider, a.id, a.field
            )
            .unwrap();
        }
        for (a, why) in &r.invalid {
            writeln!(out, "  invalid: {} {} {}: {why}", a.provider, a.id, a.field).unwrap();
        }
    }
    out
}
