//! The reference's cost test vectors (shared/spec/registry-and-cost.md §2.6), priced through the
//! embedded registry. Prices checked one by one against the providers' pages are in
//! `known_prices.rs`.

use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use switchyard_cost::{LineKind, Usage};
use switchyard_registry::Registry;

fn registry() -> Registry {
    Registry::embedded().expect("the embedded registry is valid")
}

fn total(r: &Registry, provider: &str, pid: &str, usage: Usage) -> Decimal {
    r.price(provider, pid, &usage)
        .unwrap_or_else(|e| panic!("{e}"))
        .total
}

#[test]
fn vector_1_gpt_4o() {
    assert_eq!(
        total(&registry(), "openai", "gpt-4o", Usage::tokens(1000, 500)),
        dec!(0.0075)
    );
}

#[test]
fn vector_2_gpt_4o_cached() {
    let u = Usage {
        cache_read: Some(200),
        ..Usage::tokens(800, 500)
    };
    assert_eq!(total(&registry(), "openai", "gpt-4o", u), dec!(0.00725));
}

#[test]
fn vector_3_claude_3_5_sonnet_cache_lines() {
    let u = Usage {
        cache_read: Some(500),
        cache_write_5m: Some(100),
        cache_write_1h: Some(50),
        ..Usage::tokens(1500, 1000)
    };
    let b = registry()
        .price("anthropic", "claude-3-5-sonnet-20241022", &u)
        .unwrap();
    assert_eq!(b.line(LineKind::Input).unwrap().amount, dec!(0.0045));
    assert_eq!(b.line(LineKind::CacheRead).unwrap().amount, dec!(0.00015));
    assert_eq!(
        b.line(LineKind::CacheWrite5m).unwrap().amount,
        dec!(0.000375)
    );
    assert_eq!(b.line(LineKind::CacheWrite1h).unwrap().amount, dec!(0.0003));
    assert_eq!(b.total, dec!(0.020325));
    assert_eq!(b.total_nanos(), 20_325_000);
}

#[test]
fn vector_4_claude_sonnet_4_below_threshold() {
    let u = Usage {
        cache_read: Some(10_000),
        ..Usage::tokens(100_000, 50_000)
    };
    assert_eq!(
        total(&registry(), "anthropic", "claude-sonnet-4-20250514", u),
        dec!(1.053)
    );
}

#[test]
fn vector_5_threshold_is_inclusive() {
    let u = Usage::tokens(200_000, 10_000);
    assert_eq!(
        total(&registry(), "anthropic", "claude-sonnet-4-20250514", u),
        dec!(1.425)
    );
    let u = Usage::tokens(199_999, 10_000);
    assert_eq!(
        total(&registry(), "anthropic", "claude-sonnet-4-20250514", u),
        dec!(0.749997)
    );
}

#[test]
fn vector_7_web_search_inherited_from_base_tier() {
    let u = Usage {
        web_search: Some(10),
        ..Usage::tokens(250_000, 30_000)
    };
    assert_eq!(
        total(&registry(), "anthropic", "claude-sonnet-4-20250514", u),
        dec!(2.275)
    );
}

#[test]
fn vector_8_gemini_3_pro_prompt_includes_cache() {
    let u = Usage {
        cache_read: Some(25_000),
        ..Usage::tokens(300_000, 50_000)
    };
    assert_eq!(
        total(&registry(), "google-ai-studio", "gemini-3-pro-preview", u),
        dec!(2.11)
    );
}

#[test]
fn vector_11_cache_reads_priced_at_the_long_context_tier() {
    let u = Usage {
        cache_read: Some(100_000),
        ..Usage::tokens(250_000, 1000)
    };
    // Vertex keeps Sonnet 4.5's long-context tier (Anthropic's own API retired the model).
    let b = registry()
        .price("vertex", "claude-sonnet-4-5@20250929", &u)
        .unwrap();
    assert_eq!(b.line(LineKind::Input).unwrap().amount, dec!(1.5));
    assert_eq!(b.line(LineKind::CacheRead).unwrap().amount, dec!(0.06));
}

#[test]
fn unknown_model_is_unpriced_and_zero_usage_is_zero() {
    let r = registry();
    assert!(r
        .price("openai", "gpt-nonexistent", &Usage::tokens(1, 1))
        .is_err());
    assert!(r
        .price("no-such-provider", "gpt-4o", &Usage::tokens(1, 1))
        .is_err());
    assert_eq!(
        total(&r, "openai", "gpt-4o", Usage::default()),
        Decimal::ZERO
    );
}
