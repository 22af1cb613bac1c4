//! `switchyard registry diff OLD NEW [--json]`: the review view of a data change.

use rust_decimal::Decimal;
use std::path::Path;
use std::process::ExitCode;
use switchyard_registry::diff::{diff, PriceChange, RegistryDiff};
use switchyard_registry::Registry;

/// The word that stands for the embedded registry in place of a folder.
pub const EMBEDDED: &str = "--embedded";

fn load(side: &str) -> Result<Registry, ExitCode> {
    if side == EMBEDDED {
        crate::load_registry(None)
    } else {
        crate::load_registry(Some(Path::new(side)))
    }
}

pub fn run(old: &str, new: &str, json: bool) -> ExitCode {
    let (Ok(a), Ok(b)) = (load(old), load(new)) else {
        return ExitCode::from(1);
    };
    let d = diff(&a, &b);
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&d).expect("a diff serialises")
        );
    } else {
        print!("{}", render(&d));
    }
    ExitCode::SUCCESS
}

/// Token prices are shown per 1M tokens; per-unit prices and multipliers as they are.
fn shown(field: &str, v: Option<Decimal>) -> String {
    match v {
        None => "-".to_owned(),
        Some(v)
            if field == "request" || field == "web_search" || field.ends_with("_multiplier") =>
        {
            v.normalize().to_string()
        }
        Some(v) => (v * Decimal::from(1_000_000)).normalize().to_string(),
    }
}

fn list(out: &mut String, title: &str, ids: &[String]) {
    out.push_str(&format!("{title} ({}):\n", ids.len()));
    for id in ids {
        out.push_str(&format!("  {id}\n"));
    }
}

pub fn render(d: &RegistryDiff) -> String {
    let mut out = String::new();
    if d.is_empty() {
        return "no differences\n".to_owned();
    }
    list(&mut out, "models added", &d.models_added);
    list(&mut out, "models removed", &d.models_removed);
    list(&mut out, "endpoints added", &d.endpoints_added);
    list(&mut out, "endpoints removed", &d.endpoints_removed);
    out.push_str(&format!("lifecycle changes ({}):\n", d.lifecycle.len()));
    for c in &d.lifecycle {
        out.push_str(&format!(
            "  {} {} {}: {} -> {}\n",
            c.kind,
            c.id,
            c.field,
            c.old.as_deref().unwrap_or("-"),
            c.new.as_deref().unwrap_or("-")
        ));
    }
    out.push_str(&format!(
        "price changes ({}; USD per 1M tokens, per unit for request/web_search; ratio = new/old):\n",
        d.prices.len()
    ));
    if !d.prices.is_empty() {
        let w = d.prices.iter().map(|p| p.endpoint.len()).max().unwrap_or(8);
        out.push_str(&format!(
            "  {:<w$}  {:>8}  {:<28} {:>12} {:>12} {:>9}\n",
            "endpoint", "tier", "field", "old", "new", "ratio"
        ));
        for PriceChange {
            endpoint,
            tier,
            field,
            old,
            new,
            ratio,
        } in &d.prices
        {
            out.push_str(&format!(
                "  {endpoint:<w$}  {tier:>8}  {field:<28} {:>12} {:>12} {:>9}\n",
                shown(field, *old),
                shown(field, *new),
                ratio.map_or("-".to_owned(), |r| r.to_string())
            ));
        }
    }
    out
}
