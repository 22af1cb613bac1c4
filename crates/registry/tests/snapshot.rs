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

fn lifecycle(l: &switchyard_registry::Lifecycle) -> String {
    let mut s = String::new();
    if let Some(d) = l.deprecated {
        write!(s, " deprecated {d}").unwrap();
    }
    if let Some(d) = l.retired {
        write!(s, " retired {d}").unwrap();
    }
    if let Some(m) = &l.successor {
        write!(s, " successor {m}").unwrap();
    }
    s.trim_start().to_owned()
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

    writeln!(out, "\n## price sources (endpoints, last checked)").unwrap();
    let mut sources: BTreeMap<(&str, String), usize> = BTreeMap::new();
    for e in r.endpoints() {
        *sources
            .entry((e.pricing_source.as_str(), e.pricing_checked.to_string()))
            .or_default() += 1;
    }
    for ((url, checked), n) in sources {
        writeln!(out, "{url} {checked}: {n}").unwrap();
    }

    writeln!(out, "\n## lifecycle (models and endpoints with dates)").unwrap();
    for m in r.models().filter(|m| !m.lifecycle.is_empty()) {
        writeln!(out, "model {}: {}", m.id, lifecycle(&m.lifecycle)).unwrap();
    }
    let mut dated: Vec<_> = r.endpoints().filter(|e| !e.lifecycle.is_empty()).collect();
    dated.sort_by(|a, b| a.id.cmp(&b.id));
    for e in dated {
        writeln!(out, "endpoint {}: {}", e.id, lifecycle(&e.lifecycle)).unwrap();
    }

    writeln!(
        out,
        "\n## every endpoint (USD per 1M tokens; cache ×multiplier of input, or USD per 1M)"
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
                for (label, x) in [
                    ("read", t.cache_price.read),
                    ("w5m", t.cache_price.write_5m),
                    ("w1h", t.cache_price.write_1h),
                ] {
                    if let Some(x) = x {
                        write!(s, " {label} {}", price(x)).unwrap();
                    }
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
