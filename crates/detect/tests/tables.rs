//! The shipped cost tables: checked, snapshotted, consistent with the registry, and the legacy
//! test vector.

use rust_decimal_macros::dec;
use serde::Serialize;
use std::sync::OnceLock;
use switchyard_cost::Usage;
use switchyard_detect::*;
use switchyard_registry::Registry;

fn registry() -> &'static Registry {
    static R: OnceLock<Registry> = OnceLock::new();
    R.get_or_init(|| Registry::embedded().expect("embedded registry"))
}

fn detector() -> &'static Detector {
    static D: OnceLock<Detector> = OnceLock::new();
    D.get_or_init(|| Detector::from_registry(registry()).expect("shipped detector"))
}

#[test]
fn shipped_tables_pass_the_check() {
    let d = detector();
    for (name, registry, table) in d.tables() {
        check_rows(table.rows()).unwrap_or_else(|e| panic!("{name} {registry:?}: {e}"));
    }
    // The explicit rows alone, per legacy name, too (a dead explicit row is an error even if
    // no table used it).
    for (name, rows) in parse_explicit(EXPLICIT_ROWS_TOML).unwrap() {
        check_rows(&rows).unwrap_or_else(|e| panic!("explicit {name}: {e}"));
    }
}

#[test]
fn an_explicit_row_the_registry_already_prices_is_refused() {
    let explicit = parse_explicit(
        r#"
        [[row]]
        provider = "ANTHROPIC"
        operator = "equals"
        value = "CLAUDE-3-5-SONNET-20241022"
        prompt = 0.000003
        completion = 0.000015
        "#,
    )
    .unwrap();
    let generated = generate_rows(registry_names(registry())).unwrap();
    let err = Detector::build(PatternSet::shipped().unwrap(), generated, explicit).unwrap_err();
    match err {
        BuildError::Table { name, errors, .. } => {
            assert_eq!(name, "ANTHROPIC");
            assert!(
                matches!(errors.0[..], [TableError::Shadowed { .. }]),
                "{errors}"
            );
        }
        other => panic!("{other}"),
    }
}

#[test]
fn a_broad_explicit_row_before_a_narrow_one_is_refused() {
    let explicit = parse_explicit(
        r#"
        [[row]]
        provider = "LLAMA"
        operator = "startsWith"
        value = "llama-4"
        prompt = 0.000001
        completion = 0.000001

        [[row]]
        provider = "LLAMA"
        operator = "equals"
        value = "llama-4-maverick"
        prompt = 0.000002
        completion = 0.000002
        "#,
    )
    .unwrap();
    let err =
        Detector::build(PatternSet::shipped().unwrap(), Default::default(), explicit).unwrap_err();
    assert!(
        err.to_string()
            .contains("row 1 (equals `llama-4-maverick`) can never match"),
        "{err}"
    );
}

#[test]
fn legacy_vector_12() {
    let d = detector();
    let usage = PromptUsage::tokens(1000, 500);
    for provider in [
        "ANTHROPIC",
        "https://api.anthropic.com",
        "https://api.anthropic.com/v1/messages",
    ] {
        let priced = d
            .cost_of_prompt(provider, "claude-3-5-sonnet-20241022", &usage)
            .unwrap();
        assert_eq!(priced.provider.name, "ANTHROPIC");
        assert_eq!(priced.cost.usd, dec!(0.0105), "{provider}");
        assert_eq!(priced.cost.nanos, 10_500_000, "{provider}");
    }
}

#[test]
fn lookup_errors() {
    let d = detector();
    let u = PromptUsage::tokens(1, 1);
    assert_eq!(
        d.cost_of_prompt("ANTHROPIC", "", &u).unwrap_err(),
        CostError::EmptyModel
    );
    assert!(matches!(
        d.cost_of_prompt("ANTHROPIC", "no-such-model", &u)
            .unwrap_err(),
        CostError::NoRow { .. }
    ));
    assert_eq!(
        d.cost_of_prompt("LEMONFOX", "x", &u).unwrap_err(),
        CostError::NoCostTable("LEMONFOX".into())
    );
    assert_eq!(
        d.cost_of_prompt("https://api.openai.com.evil.com", "gpt-4o", &u)
            .unwrap_err(),
        CostError::Lookup(LookupError::Refused(Refusal::UnknownHost(
            "api.openai.com.evil.com".into()
        )))
    );
    assert_eq!(
        d.cost_of_prompt("NOPE", "gpt-4o", &u).unwrap_err(),
        CostError::Lookup(LookupError::UnknownName("NOPE".into()))
    );
}

#[test]
fn explicit_rows_price_names_the_registry_lacks() {
    let d = detector();
    let u = PromptUsage::tokens(1_000_000, 1_000_000);
    let cases = [
        ("OPENAI", "gpt-4o-2024-05-13", "equals", dec!(20)),
        (
            "OPENAI",
            "ft:gpt-4o-mini-2024-07-18:acme::abc123",
            "startsWith",
            dec!(1.5),
        ),
        (
            "OPENAI",
            "gpt-4o-realtime-preview-2024-12-17",
            "includes",
            dec!(25),
        ),
        ("ANTHROPIC", "claude-3-opus-20240229", "equals", dec!(90)),
        // AZURE's table is Azure's rows, then OpenAI's.
        ("AZURE", "gpt-4-32k-0613", "equals", dec!(180)),
    ];
    for (provider, model, op, usd) in cases {
        let p = d.cost_of_prompt(provider, model, &u).unwrap();
        assert_eq!(p.row.operator.to_string(), op, "{model}");
        assert_eq!(p.cost.usd, usd, "{provider} {model}");
    }
}

/// Every name the registry prices, priced by rule through the legacy name or URL that reaches
/// its provider, gives the registry's own base-tier price: one source of truth.
#[test]
fn rule_prices_match_registry_prices() {
    let d = detector();
    let reg = registry();
    let usage = Usage {
        cache_read: Some(300),
        ..Usage::tokens(1000, 500)
    };
    let rule_usage = PromptUsage {
        cache_read: 300,
        ..PromptUsage::tokens(1000, 500)
    };
    let mut checked = 0;
    for (name, registry_key, table) in d.tables() {
        let Some(key) = registry_key else { continue };
        for row in table.rows() {
            let RowSource::Registry { provider, .. } = &row.source else {
                continue;
            };
            if provider != key {
                continue; // an OpenAI row appended to AZURE's table
            }
            // The rows carry the config's (base deployment's) price: regional deployments
            // that price the same id otherwise are beyond a table without regions.
            let Some(config) = reg.config_by_provider_model_id(key, &row.value) else {
                panic!("registry has no {key} {}", row.value);
            };
            let own = config.provider_model_id.eq_ignore_ascii_case(&row.value)
                || config
                    .aliases
                    .iter()
                    .any(|a| a.eq_ignore_ascii_case(&row.value));
            let pricing = if own {
                &config.pricing
            } else {
                // A deployment's own id: the first deployment that carries it.
                &reg.endpoints()
                    .find(|e| {
                        e.provider == *key && e.provider_model_id.eq_ignore_ascii_case(&row.value)
                    })
                    .expect("a deployment carries the id")
                    .pricing
            };
            let basis = reg.provider(key).expect("registry provider").tier_basis;
            let want = switchyard_cost::price(pricing, basis, &usage);
            if want.tier_threshold != 0 {
                continue; // the legacy rows carry the base tier only
            }
            let got = cost_of_prompt(&row.prices, &rule_usage);
            assert_eq!(
                got.usd,
                want.total.normalize(),
                "{name} {key} {}",
                row.value
            );
            checked += 1;
        }
    }
    assert!(checked > 100, "only {checked} rows checked");
}

#[test]
fn all_costs_and_model_names() {
    let d = detector();
    let stats = d.stats();
    assert_eq!(d.all_costs().count(), stats.table_rows);
    let names = d.model_names();
    assert!(names.contains(&"claude-3-5-sonnet-20241022"));
    assert!(names.contains(&"ft:gpt-4o-mini-2024-07-18:"));
    let mut lower: Vec<String> = names.iter().map(|n| n.to_lowercase()).collect();
    lower.sort();
    lower.dedup();
    assert_eq!(lower.len(), names.len(), "model_names is deduplicated");
    assert!(d.default_provider().registry == Some("openai"));
    assert!(!d.table(&d.default_provider()).is_empty());
}

#[derive(Serialize)]
struct PatternSnap<'a> {
    index: usize,
    name: &'a str,
    registry: Option<&'a str>,
    pattern: &'a str,
    reference: Option<&'a str>,
    note: Option<&'a str>,
    registry_overrides: Vec<(&'a str, &'a str)>,
}

#[test]
fn snapshot_pattern_list() {
    let d = detector();
    let snap: Vec<PatternSnap> = d
        .patterns()
        .entries()
        .iter()
        .zip(d.approved_domains())
        .enumerate()
        .map(|(index, (e, pattern))| PatternSnap {
            index,
            name: &e.name,
            registry: e.registry.as_deref(),
            pattern,
            reference: e.reference.as_deref(),
            note: e.note.as_deref(),
            registry_overrides: e
                .registry_overrides
                .iter()
                .map(|o| (o.host.as_str(), o.registry.as_str()))
                .collect(),
        })
        .collect();
    let names: Vec<&str> = snap.iter().map(|s| s.name).collect();
    // 37 reference entries (HELICONE twice, no BASETEN) plus our BASETEN.
    assert_eq!(snap.iter().filter(|s| s.reference.is_some()).count(), 37);
    assert_eq!(names.len(), 38);
    let mut distinct = names.clone();
    distinct.sort();
    distinct.dedup();
    assert_eq!(distinct.len(), 37, "the 37 reference provider names");
    insta::assert_yaml_snapshot!("patterns", snap);
}

#[derive(Serialize)]
struct TableSnap<'a> {
    name: &'a str,
    registry: Option<&'a str>,
    rows: usize,
    generated: usize,
    explicit: usize,
}

#[derive(Serialize)]
struct RowSnap<'a> {
    op: String,
    value: &'a str,
    model: &'a str,
    prices: &'a RowPrices,
}

#[test]
fn snapshot_tables() {
    let d = detector();
    let tables: Vec<TableSnap> = d
        .tables()
        .map(|(name, registry, t)| TableSnap {
            name,
            registry,
            rows: t.len(),
            generated: t
                .rows()
                .iter()
                .filter(|r| matches!(r.source, RowSource::Registry { .. }))
                .count(),
            explicit: t
                .rows()
                .iter()
                .filter(|r| matches!(r.source, RowSource::Explicit { .. }))
                .count(),
        })
        .collect();
    insta::assert_yaml_snapshot!("stats", (d.stats(), tables));

    let generated = generate_rows(registry_names(registry())).unwrap();
    let rows: std::collections::BTreeMap<&str, Vec<RowSnap>> = generated
        .iter()
        .map(|(provider, rows)| {
            let rows = rows
                .iter()
                .map(|r| RowSnap {
                    op: r.operator.to_string(),
                    value: &r.value,
                    model: match &r.source {
                        RowSource::Registry { model, .. } => model,
                        RowSource::Explicit { legacy } => legacy,
                    },
                    prices: &r.prices,
                })
                .collect();
            (provider.as_str(), rows)
        })
        .collect();
    insta::assert_yaml_snapshot!("generated_rows", rows);
}
