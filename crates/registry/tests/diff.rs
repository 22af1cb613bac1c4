//! `registry diff` on small registries: additions, removals, lifecycle and price changes.

mod common;
use common::*;
use rust_decimal_macros::dec;
use switchyard_registry::diff::{diff, LifecycleChange, PriceChange};
use switchyard_registry::Registry;

fn load(endpoints: &str, models: &str) -> Registry {
    Registry::from_files(&files(endpoints, models)).unwrap_or_else(|e| panic!("{e}"))
}

const M3: &str = "\n[m3]\nname = \"Maker: M3\"\ncontext_length = 1000\nmax_output_tokens = 100\ncreated = \"2026-01-02\"\ninput_modalities = [\"text\"]\noutput_modalities = [\"text\"]\ntokenizer = \"GPT\"\n";

#[test]
fn identical_registries_have_no_differences() {
    let a = load(ENDPOINTS, MODELS);
    assert!(diff(&a, &a).is_empty());
}

#[test]
fn every_kind_of_change_is_listed() {
    let old = load(ENDPOINTS, MODELS);
    let new_models = MODELS.replacen(
        "former_ids = [\"m-old\"]\n",
        "former_ids = [\"m-old\"]\ndeprecated = \"2026-12-01\"\nsuccessor = \"m3\"\n",
        1,
    ) + M3;
    let new_endpoints = ENDPOINTS
        // m1 on acme: input 2 → 2.5 per 1M; a 200k tier appears.
        .replacen(
            "input = 0.000002\noutput = 0.000008\n",
            "input = 0.0000025\noutput = 0.000008\n[[endpoint.pricing]]\nthreshold = 200000\ninput = 0.000005\n",
            1,
        )
        // rocky's eu-west-1 deployment goes away and us-east-1 retires.
        .replacen(
            "[endpoint.deployments.us-east-1]\n[endpoint.deployments.eu-west-1]\nprovider_model_id = \"eu.maker.m1-v1:0\"\nptb = false\n",
            "[endpoint.deployments.us-east-1]\nretired = \"2027-01-01\"\n",
            1,
        )
        + "\n[[endpoint]]\nmodel = \"m3\"\nprovider = \"acme\"\nprovider_model_id = \"acme-m3\"\ncontext_length = 1000\nmax_completion_tokens = 100\ndeployments = [\"*\"]\n[[endpoint.pricing]]\ninput = 0.000001\noutput = 0.000002\n";
    let new = load(&new_endpoints, &new_models);
    let d = diff(&old, &new);
    assert_eq!(d.models_added, ["m3"]);
    assert!(d.models_removed.is_empty());
    assert_eq!(d.endpoints_added, ["m3:acme:*"]);
    assert_eq!(d.endpoints_removed, ["m1:rocky:eu-west-1"]);
    let lc: Vec<(&str, &str, &str, Option<&str>)> = d
        .lifecycle
        .iter()
        .map(|c: &LifecycleChange| (c.kind, c.id.as_str(), c.field, c.new.as_deref()))
        .collect();
    // The model's dates reach its endpoints too (an endpoint ends no later than its model).
    assert!(
        lc.contains(&("model", "m1", "deprecated", Some("2026-12-01"))),
        "{lc:#?}"
    );
    assert!(
        lc.contains(&("model", "m1", "successor", Some("m3"))),
        "{lc:#?}"
    );
    assert!(
        lc.contains(&(
            "endpoint",
            "m1:rocky:us-east-1",
            "retired",
            Some("2027-01-01")
        )),
        "{lc:#?}"
    );
    assert!(
        lc.contains(&("endpoint", "m1:acme:*", "deprecated", Some("2026-12-01"))),
        "{lc:#?}"
    );
    assert_eq!(
        d.prices,
        [
            PriceChange {
                endpoint: "m1:acme:*".into(),
                tier: 0,
                field: "input".into(),
                old: Some(dec!(0.000002)),
                new: Some(dec!(0.0000025)),
                ratio: Some(dec!(1.25)),
            },
            PriceChange {
                endpoint: "m1:acme:*".into(),
                tier: 200000,
                field: "input".into(),
                old: Some(dec!(0.000002)),
                new: Some(dec!(0.000005)),
                ratio: Some(dec!(2.5)),
            },
        ]
    );
    // The reverse diff undoes it.
    let back = diff(&new, &old);
    assert_eq!(back.models_removed, ["m3"]);
    assert_eq!(back.endpoints_added, ["m1:rocky:eu-west-1"]);
    assert_eq!(back.prices[0].ratio, Some(dec!(0.8)));
}

#[test]
fn the_same_price_in_another_form_is_no_change() {
    let with = |cache: &str| {
        load(
            &ENDPOINTS.replacen(
                "input = 0.000002\noutput = 0.000008\n",
                &format!("input = 0.000002\noutput = 0.000008\n{cache}\n"),
                1,
            ),
            MODELS,
        )
    };
    let multiplier = with("cache = { read = 0.1 }");
    let absolute = with("cache_price = { read = 0.0000002 }");
    assert!(diff(&multiplier, &absolute).is_empty());
    let dearer = with("cache_price = { read = 0.0000003 }");
    let d = diff(&multiplier, &dearer);
    assert_eq!(d.prices.len(), 1);
    assert_eq!(d.prices[0].field, "cache_read");
    assert_eq!(d.prices[0].ratio, Some(dec!(1.5)));
}
