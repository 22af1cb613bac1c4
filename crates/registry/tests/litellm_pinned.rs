//! The pinned LiteLLM price map (fixtures/litellm/, version in its README) read as
//! `check-prices` reads it. This checks the reading and the key mapping on the real file; whether
//! our data agrees with it is `check-prices` itself:
//!
//!     cargo run -p switchyard -- registry check-prices \
//!         --against crates/registry/tests/fixtures/litellm/model_prices_and_context_window.json
//!
//! Once the registry data is current, the drift test is one function: `assert!(report().is_clean())`.

use std::collections::BTreeSet;
use switchyard_registry::check::acknowledged::parse_acknowledged;
use switchyard_registry::check::{check_prices, litellm, PriceCheck};
use switchyard_registry::Registry;
use time::macros::date;

const DAY: time::Date = date!(2026 - 12 - 01);

fn pinned() -> Vec<litellm::TheirEntry> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/litellm/model_prices_and_context_window.json"
    );
    litellm::parse(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// `check-prices` of the embedded registry and its acknowledged file against the pinned map.
fn report() -> PriceCheck {
    let registry = Registry::embedded().unwrap();
    let acks = switchyard_registry::embedded_acknowledgements()
        .flat_map(|(path, text)| parse_acknowledged(text).unwrap_or_else(|e| panic!("{path}: {e}")))
        .collect::<Vec<_>>();
    check_prices(&registry, &pinned(), &acks, DAY)
}

#[test]
fn real_keys_map_to_the_ids_providers_use() {
    let theirs = pinned();
    let find = |key: &str| {
        theirs
            .iter()
            .find(|t| t.key == key)
            .unwrap_or_else(|| panic!("{key} is not in the pinned file"))
    };
    for (key, provider, id, qualifier) in [
        ("claude-sonnet-4-5", "anthropic", "claude-sonnet-4-5", None),
        (
            "us.anthropic.claude-sonnet-4-5-20250929-v1:0",
            "bedrock",
            "anthropic.claude-sonnet-4-5-20250929-v1:0",
            Some("us"),
        ),
        ("azure/eu/gpt-4o", "azure", "gpt-4o", Some("eu")),
        (
            "gemini/gemini-2.5-pro",
            "google-ai-studio",
            "gemini-2.5-pro",
            None,
        ),
        (
            "vertex_ai/claude-opus-4-5@20251101",
            "vertex",
            "claude-opus-4-5@20251101",
            None,
        ),
        ("deepseek-v4-pro", "deepseek", "deepseek-v4-pro", None),
        ("command-a-03-2025", "cohere", "command-a-03-2025", None),
        (
            "fireworks_ai/accounts/fireworks/models/deepseek-v3",
            "fireworks",
            "accounts/fireworks/models/deepseek-v3",
            None,
        ),
    ] {
        let t = find(key);
        assert_eq!(t.mapped.provider, provider, "{key}");
        assert_eq!(t.mapped.id, id, "{key}");
        assert_eq!(t.mapped.qualifier.as_deref(), qualifier, "{key}");
    }
    // Tiers and 1-hour cache writes are read.
    let gemini = find("gemini/gemini-2.5-pro");
    assert!(gemini.tiers.contains_key(&200_000));
    assert!(find("claude-sonnet-4-5").base.cache_write_1h.is_some());
}

#[test]
fn the_pinned_file_describes_our_providers() {
    let theirs = pinned();
    let with_current: BTreeSet<&str> = theirs
        .iter()
        .filter(|t| t.is_current_chat(DAY))
        .map(|t| t.mapped.provider)
        .collect();
    // OpenRouter, Chutes and CanopyWave have no entries in this version.
    for p in [
        "openai",
        "anthropic",
        "azure",
        "bedrock",
        "vertex",
        "google-ai-studio",
        "xai",
        "mistral",
        "deepseek",
        "groq",
        "fireworks",
        "deepinfra",
        "perplexity",
        "cerebras",
        "nebius",
        "novita",
        "cohere",
        "baseten",
    ] {
        assert!(with_current.contains(p), "no current chat model for {p}");
    }
    // Every described provider gets a row, with counts that add up.
    let r = report();
    assert_eq!(r.providers.len(), 18);
    for p in &r.providers {
        assert_eq!(
            p.we_have + p.ours_missing,
            p.their_current,
            "{}",
            p.provider
        );
        assert_eq!(p.agreeing + p.disagreeing, p.matched, "{}", p.provider);
    }
}

/// Drift: our prices agree with the pinned list, or the difference is acknowledged with the
/// provider's page as the reason; every acknowledgement still matches something; and each
/// provider covers at least 90 % of the list's current chat models it could serve, counting
/// the omissions acknowledged on purpose as covered. A data change that breaks this is a
/// reviewable failure (see registry/README.md, "Keeping prices true").
#[test]
fn the_registry_agrees_with_the_pinned_list() {
    let r = report();
    let unacknowledged: Vec<String> = r
        .unacknowledged()
        .map(|d| format!("{d:?}"))
        .take(20)
        .collect();
    assert!(
        r.is_clean(),
        "unacknowledged: {unacknowledged:#?}\nstale: {:#?}\ninvalid: {:#?}",
        r.stale,
        r.invalid
    );
    for p in &r.providers {
        let pct = p
            .coverage_percent_excluding_acknowledged()
            .unwrap_or(rust_decimal::Decimal::ONE_HUNDRED);
        assert!(
            pct >= rust_decimal::Decimal::from(90),
            "{}: coverage {pct}% of their current chat models",
            p.provider
        );
    }
}
