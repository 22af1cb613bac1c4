//! Price sources (`pricing_source`, `pricing_checked`) and absolute cache prices (`cache_price`).

mod common;
use common::*;
use rust_decimal_macros::dec;
use switchyard_cost::{LineKind, Usage};
use switchyard_registry::Registry;
use time::macros::date;

const FILE_SOURCE: &str =
    "pricing_source = \"https://acme.test/pricing\"\npricing_checked = \"2026-11-01\"\n";

#[test]
fn every_endpoint_resolves_a_source_from_the_nearest_level() {
    let endpoints = ENDPOINTS
        .replacen(
            "provider_model_id = \"acme-m2\"\n",
            "provider_model_id = \"acme-m2\"\npricing_source = \"https://acme.test/m2\"\n",
            1,
        )
        .replacen(
            "[endpoint.deployments.eu-west-1]\n",
            "[endpoint.deployments.eu-west-1]\npricing_source = \"https://rocky.test/eu\"\npricing_checked = 2026-11-20\n",
            1,
        );
    let r = Registry::from_files(&files(&endpoints, MODELS)).unwrap();
    let get = |id: &str| {
        let e = r.endpoint_by_id(id).unwrap();
        (e.pricing_source.as_str(), e.pricing_checked)
    };
    assert_eq!(
        get("m1:acme:*"),
        ("https://acme.test/pricing", date!(2026 - 11 - 01))
    );
    assert_eq!(
        get("m2:acme:*"),
        ("https://acme.test/m2", date!(2026 - 11 - 01))
    );
    assert_eq!(
        get("m1:rocky:eu-west-1"),
        ("https://rocky.test/eu", date!(2026 - 11 - 20))
    );
    assert_eq!(
        get("m1:rocky:us-east-1"),
        ("https://acme.test/pricing", date!(2026 - 11 - 01))
    );
    let config = r.config("m2", "acme").unwrap();
    assert_eq!(
        config.pricing_source.as_deref(),
        Some("https://acme.test/m2")
    );
}

#[test]
fn an_endpoint_without_a_source_is_named() {
    let endpoints = ENDPOINTS.replacen(FILE_SOURCE, "", 1);
    let e = errors_of(&endpoints, MODELS);
    // One error per deployment and missing key: 4 deployments + 1 archived entry, 2 keys each.
    assert_eq!(e.len(), 10, "{e:#?}");
    assert!(e.contains(&"authors/maker/endpoints.toml: endpoint m1:acme:*: pricing_source: no pricing source: set `pricing_source` (the URL of the provider's price list) at the top of the file, on the [[endpoint]] or on this deployment".to_owned()), "{e:#?}");
    assert!(
        e.iter().any(|e| e.starts_with(
            "authors/maker/endpoints.toml: endpoint m1:rocky:eu-west-1: pricing_checked: no pricing date"
        )),
        "{e:#?}"
    );
    assert!(
        e.iter().any(|e| e.starts_with(
            "authors/maker/endpoints.toml: archived m1:acme: pricing_source: no pricing source"
        )),
        "{e:#?}"
    );
}

#[test]
fn bad_sources_are_named() {
    let endpoints = ENDPOINTS.replacen(
        FILE_SOURCE,
        "pricing_source = \"acme.test/pricing\"\npricing_checked = \"last week\"\n",
        1,
    );
    let e = errors_of(&endpoints, MODELS);
    assert!(
        e.contains(&"authors/maker/endpoints.toml: pricing_source: `acme.test/pricing` is not an http(s) URL".to_owned()),
        "{e:#?}"
    );
    assert!(
        e.contains(
            &"authors/maker/endpoints.toml: pricing_checked: `last week` is not a YYYY-MM-DD date"
                .to_owned()
        ),
        "{e:#?}"
    );
    let e = one_error(&ENDPOINTS.replacen(
        "[endpoint.deployments.eu-west-1]\n",
        "[endpoint.deployments.eu-west-1]\npricing_source = \"ftp://rocky.test\"\n",
        1,
    ));
    assert_eq!(e, "authors/maker/endpoints.toml: endpoint m1:rocky:eu-west-1: deployments.eu-west-1.pricing_source: `ftp://rocky.test` is not an http(s) URL");
}

#[test]
fn a_cache_kind_given_both_ways_is_named() {
    let e = one_error(&ENDPOINTS.replacen(
        "input = 0.000002\noutput = 0.000008\n",
        "input = 0.000002\noutput = 0.000008\ncache = { read = 0.1 }\ncache_price = { read = 0.0000002 }\n",
        1,
    ));
    assert_eq!(e, "authors/maker/endpoints.toml: endpoint m1:acme: pricing[0].cache_price.read: tier 0 prices cache read twice, as `cache.read` (a multiplier of input) and as `cache_price.read` (USD per token); keep one");
}

#[test]
fn absolute_cache_prices_price_exactly_through_the_registry() {
    // $0.60 in, $0.11 cached: 0.11/0.60 is no finite decimal multiplier.
    let endpoints = ENDPOINTS.replacen(
        "input = \"0.000003\"\noutput = \"0.000009\"\n",
        "input = \"0.0000006\"\noutput = \"0.0000024\"\ncache_price = { read = \"0.00000011\", write_5m = 0.00000075 }\n",
        1,
    );
    let r = Registry::from_files(&files(&endpoints, MODELS)).unwrap();
    let u = Usage {
        cache_read: Some(1_000_000),
        cache_write_5m: Some(1_000_000),
        ..Usage::tokens(1_000_000, 1_000_000)
    };
    let b = r.price("acme", "acme-m2", &u).unwrap();
    assert_eq!(b.line(LineKind::CacheRead).unwrap().amount, dec!(0.11));
    assert_eq!(b.line(LineKind::CacheWrite5m).unwrap().amount, dec!(0.75));
    assert_eq!(b.total, dec!(0.6) + dec!(0.11) + dec!(0.75) + dec!(2.4));
}

#[test]
fn the_acknowledged_file_is_not_registry_data() {
    let mut f = files(ENDPOINTS, MODELS);
    f.push(("acknowledged.toml".into(), "[[acknowledged]]\n".into()));
    assert!(Registry::from_files(&f).is_ok());
    f.push(("notes.toml".into(), String::new()));
    let Err(e) = Registry::from_files(&f) else {
        panic!("an unknown root file is an error")
    };
    assert_eq!(e.0[0].file, "notes.toml");
}
