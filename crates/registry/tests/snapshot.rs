//! The embedded registry's whole state as one reviewable snapshot: any data change shows up as
//! a diff in `tests/snapshots/`. Accept intended changes with `cargo insta review`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use switchyard_registry::Registry;

fn price(d: rust_decimal::Decimal) -> String {
    (d * rust_decimal::Decimal::from(1_000_000))
        .normalize()
        .to_string()
}

#[test]
fn registry_state() {
    let r = Registry::embedded().expect("the embedded registry is valid");
    let mut out = String::new();
    writeln!(out, "providers: {}", r.providers().len()).unwrap();
    writeln!(out, "authors: {}", r.authors().len()).unwrap();
    writeln!(out, "models: {}", r.models().len()).unwrap();
    writeln!(out, "model-provider configs: {}", r.configs().len()).unwrap();
    writeln!(out, "endpoints: {}", r.endpoints().len()).unwrap();
    writeln!(
        out,
        "ptb endpoints: {}",
        r.endpoints().filter(|e| e.ptb).count()
    )
    .unwrap();
    writeln!(out, "archived: {}", r.archived().len()).unwrap();

    writeln!(out, "\n## endpoints per provider (models)").unwrap();
    for p in r.providers() {
        let endpoints = r.endpoints().filter(|e| e.provider == p.id).count();
        writeln!(
            out,
            "{:<18} {:>4} endpoints {:>4} models",
            p.id,
            endpoints,
            r.models_for_provider(&p.id).len()
        )
        .unwrap();
    }

    writeln!(out, "\n## models per provider").unwrap();
    for p in r.providers() {
        let models: Vec<&str> = r
            .models_for_provider(&p.id)
            .map(|m| m.id.as_str())
            .collect();
        writeln!(out, "{}: {}", p.id, models.join(", ")).unwrap();
    }

    writeln!(out, "\n## PTB models (providers)").unwrap();
    let mut ptb: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for e in r.endpoints().filter(|e| e.ptb) {
        ptb.entry(e.model.as_str()).or_default().push(e.id.as_str());
    }
    for (model, mut ids) in ptb {
        ids.sort();
        writeln!(out, "{model}: {}", ids.join(", ")).unwrap();
    }

    writeln!(
        out,
        "\n## every endpoint (USD per 1M tokens; cache as multipliers)"
    )
    .unwrap();
    let mut endpoints: Vec<_> = r.endpoints().collect();
    endpoints.sort_by(|a, b| a.id.cmp(&b.id));
    for e in endpoints {
        let tiers: Vec<String> = e
            .pricing
            .tiers()
            .iter()
            .map(|t| {
                let mut s = format!(
                    "@{} in {} out {}",
                    t.threshold,
                    price(t.input),
                    price(t.output)
                );
                if let Some(x) = t.cache.read {
                    write!(s, " read×{}", x.normalize()).unwrap();
                }
                if let Some(x) = t.cache.write_5m {
                    write!(s, " w5m×{}", x.normalize()).unwrap();
                }
                if let Some(x) = t.cache.write_1h {
                    write!(s, " w1h×{}", x.normalize()).unwrap();
                }
                if let Some(x) = t.thinking {
                    write!(s, " think {}", price(x)).unwrap();
                }
                if let Some(x) = t.web_search {
                    write!(s, " search ${}", x.normalize()).unwrap();
                }
                if let Some(x) = t.request {
                    write!(s, " req ${}", x.normalize()).unwrap();
                }
                s
            })
            .collect();
        writeln!(
            out,
            "{} | {} | ptb={} prio={} ctx={} max={} | {}",
            e.id,
            e.provider_model_id,
            e.ptb,
            e.priority,
            e.context_length,
            e.max_completion_tokens,
            tiers.join(" ; ")
        )
        .unwrap();
    }
    insta::assert_snapshot!("registry_state", out);
}
