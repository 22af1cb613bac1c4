//! Attempt building: ordering, billing modes, exclusions, targets, passthrough, dedupe.

mod common;

use common::{embedded, err, lines, ptb_everywhere, small, TODAY};
use switchyard_routing::{
    build_attempts, parse_model_string, Availability, Billing, ProviderKey, Route, RoutingError,
};

fn ok(r: &switchyard_registry::Registry, model: &str, avail: &Availability) -> Vec<String> {
    lines(r, model, avail).unwrap_or_else(|e| panic!("{model}: {e}"))
}

#[test]
fn ptb_only_sorts_by_priority_then_price_and_skips_explicit_only_and_non_ptb() {
    let r = small();
    assert_eq!(
        ok(&r, "m1", &ptb_everywhere(&r)),
        [
            "ptb m1:alpha:* -> alpha-m1", // priority 3, though the dearest
            "ptb m1:rocky:us-east-1 -> maker.m1-v1:0", // priority 4, 0.9+4
            "ptb m1:beta:* -> beta-m1",   // priority 4, 1+4
            "ptb m1:router:* -> maker/m1", // priority 10, though the cheapest
        ]
    );
}

#[test]
fn byok_comes_before_ptb_and_byok_is_ordered_by_price() {
    let r = small();
    let avail = ptb_everywhere(&r)
        .with_key(ProviderKey::new("kb", "beta"))
        .with_key(ProviderKey::new("kr", "router"));
    assert_eq!(
        ok(&r, "m1", &avail),
        [
            "byok(kr) m1:router:* -> maker/m1", // BYOK counts as priority 1: cheapest first
            "byok(kb) m1:beta:* -> beta-m1",
            "ptb m1:alpha:* -> alpha-m1",
            "ptb m1:rocky:us-east-1 -> maker.m1-v1:0",
            "ptb m1:beta:* -> beta-m1", // same endpoint, other billing mode: kept
            "ptb m1:router:* -> maker/m1",
        ]
    );
}

#[test]
fn ptb_needs_gateway_credentials_for_the_provider() {
    let r = small();
    let avail = Availability::new().with_ptb(["beta", "router"]);
    assert_eq!(
        ok(&r, "m1", &avail),
        ["ptb m1:beta:* -> beta-m1", "ptb m1:router:* -> maker/m1"]
    );
}

#[test]
fn explicit_providers_keep_the_callers_order() {
    let r = small();
    let avail = ptb_everywhere(&r).with_key(ProviderKey::new("ka", "alpha"));
    assert_eq!(
        ok(&r, "m1/router,m1/beta,m1/alpha", &avail),
        [
            "ptb m1:router:* -> maker/m1",
            "ptb m1:beta:* -> beta-m1",
            "byok(ka) m1:alpha:* -> alpha-m1",
            "ptb m1:alpha:* -> alpha-m1"
        ]
    );
}

#[test]
fn chain_entries_are_concatenated_with_their_indexes() {
    let r = small();
    let avail = ptb_everywhere(&r);
    let req = parse_model_string(&r, "m1/router, m1:online").unwrap();
    let attempts = build_attempts(&r, &req, &avail, TODAY).unwrap();
    let summary: Vec<(usize, usize, &str, bool)> = attempts
        .iter()
        .map(|a| {
            (
                a.fallback_index,
                a.chain_index,
                a.provider.id.as_str(),
                a.online,
            )
        })
        .collect();
    // router from entry 0; entry 1 repeats router PTB, which is deduplicated.
    assert_eq!(
        summary,
        [
            (0, 0, "router", false),
            (1, 1, "alpha", true),
            (2, 1, "rocky", true),
            (3, 1, "beta", true)
        ]
    );
}

#[test]
fn identical_endpoint_and_billing_pairs_are_deduplicated() {
    let r = small();
    let avail = ptb_everywhere(&r).with_key(ProviderKey::new("kb", "beta"));
    assert_eq!(
        ok(&r, "m1/beta,m1/beta,m-old/beta", &avail),
        ["byok(kb) m1:beta:* -> beta-m1", "ptb m1:beta:* -> beta-m1"]
    );
    let all = ok(&r, "m1,m1/alpha,m1", &avail);
    assert_eq!(all.len(), 5, "{all:#?}");
    let mut unique = all.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), all.len());
}

#[test]
fn exclusions_remove_a_provider_from_every_entry() {
    let r = small();
    let avail = ptb_everywhere(&r).with_key(ProviderKey::new("ka", "alpha"));
    assert_eq!(
        ok(&r, "m1/alpha,m1,!alpha,!rocky", &avail),
        ["ptb m1:beta:* -> beta-m1", "ptb m1:router:* -> maker/m1"]
    );
}

#[test]
fn require_explicit_routing_only_when_the_provider_is_named() {
    let r = small();
    let avail = ptb_everywhere(&r).with_key(ProviderKey::new("kh", "house"));
    assert!(ok(&r, "m1", &avail).iter().all(|l| !l.contains("house")));
    assert_eq!(
        ok(&r, "m1/house", &avail),
        ["byok(kh) m1:house:* -> m1", "ptb m1:house:* -> m1"]
    );
}

#[test]
fn a_named_deployment_picks_that_deployment() {
    let r = small();
    let avail =
        ptb_everywhere(&r).with_key(ProviderKey::new("kr1", "rocky").with_region("us-east-1"));
    assert_eq!(
        ok(&r, "m1/rocky/eu-west-1", &avail),
        ["byok(kr1) m1:rocky:eu-west-1 -> eu.maker.m1-v1:0"], // not PTB: eu-west-1 is ptb = false
    );
    let no_key = ptb_everywhere(&r);
    assert_eq!(
        ok(&r, "m1/rocky/us-east-1", &no_key),
        ["ptb m1:rocky:us-east-1 -> maker.m1-v1:0"]
    );
    assert_eq!(
        ok(&r, "m1/alpha/*", &no_key),
        ["ptb m1:alpha:* -> alpha-m1"]
    );
}

#[test]
fn a_named_key_id_picks_that_key_only() {
    let r = small();
    let avail = ptb_everywhere(&r)
        .with_key(ProviderKey::new("k-us", "rocky").with_region("us-east-1"))
        .with_key(ProviderKey::new("k-eu", "rocky").with_region("eu-west-1"));
    assert_eq!(
        ok(&r, "m1/rocky/k-eu", &avail),
        ["byok(k-eu) m1:rocky:eu-west-1 -> eu.maker.m1-v1:0"]
    );
    // Unnamed, the first key wins and PTB follows.
    assert_eq!(
        ok(&r, "m1/rocky", &avail),
        [
            "byok(k-us) m1:rocky:us-east-1 -> maker.m1-v1:0",
            "ptb m1:rocky:us-east-1 -> maker.m1-v1:0"
        ]
    );
    let req = parse_model_string(&r, "m1/rocky/k-eu").unwrap();
    let attempts = build_attempts(&r, &req, &avail, TODAY).unwrap();
    assert_eq!(
        attempts[0].key().map(|k| k.config.region.as_deref()),
        Some(Some("eu-west-1"))
    );
}

#[test]
fn an_unknown_deployment_or_key_id_says_what_exists() {
    let r = small();
    let e = err(&r, "m1/rocky/ap-south-1", &ptb_everywhere(&r));
    assert_eq!(
        e.to_string(),
        "Unknown deployment or key id `ap-south-1` for m1 on rocky. Use one of the deployments eu-west-1, us-east-1 or the id of one of your provider keys"
    );
    assert_eq!((e.http_status(), e.code()), (400, "unknown_deployment"));
    let e = err(
        &r,
        "custom-x/beta/k-nope",
        &Availability::new().with_key(ProviderKey::new("k1", "beta")),
    );
    assert!(
        e.to_string()
            .ends_with("Use the id of one of your provider keys for this provider"),
        "{e}"
    );
}

#[test]
fn a_keys_region_picks_the_regional_deployment() {
    let r = small();
    let byok = |key: ProviderKey| ok(&r, "m1/rocky", &Availability::new().with_key(key));
    assert_eq!(
        byok(ProviderKey::new("k", "rocky").with_region("eu-west-1")),
        ["byok(k) m1:rocky:eu-west-1 -> eu.maker.m1-v1:0"]
    );
    assert_eq!(
        byok(ProviderKey::new("k", "rocky").with_region("us-east-1")),
        ["byok(k) m1:rocky:us-east-1 -> maker.m1-v1:0"]
    );
    // A region the registry lacks: no `*` deployment, so the first (cheapest, then id) one; the
    // key's own region still travels with the attempt.
    assert_eq!(
        byok(ProviderKey::new("k", "rocky").with_region("ap-south-1")),
        ["byok(k) m1:rocky:eu-west-1 -> eu.maker.m1-v1:0"]
    );
}

#[test]
fn a_key_reserved_for_another_model_is_not_used_unless_named() {
    let r = small();
    let avail = Availability::new().with_key(ProviderKey::new("k-m2", "beta").for_model("m2"));
    assert_eq!(
        ok(&r, "m2", &avail),
        ["byok(k-m2) m2:beta:* -> maker/m2-Instruct"]
    );
    assert!(matches!(
        err(&r, "m1/beta", &avail),
        RoutingError::NoUsableEndpoint { .. }
    ));
    assert_eq!(
        ok(&r, "m1/beta/k-m2", &avail),
        ["byok(k-m2) m1:beta:* -> beta-m1"]
    );
}

#[test]
fn passthrough_is_byok_only_and_unpriced() {
    let r = small();
    let avail = ptb_everywhere(&r).with_key(ProviderKey::new("kb", "beta"));
    let req = parse_model_string(&r, "meta-llama/Llama-3.3-70B-Instruct/beta").unwrap();
    let attempts = build_attempts(&r, &req, &avail, TODAY).unwrap();
    assert_eq!(attempts.len(), 1);
    let a = attempts[0];
    assert_eq!(a.route, Route::Passthrough);
    assert!(!a.is_priced() && a.endpoint_id().is_none());
    assert_eq!(a.provider_model_id, "meta-llama/Llama-3.3-70B-Instruct");
    assert_eq!(a.billing.as_str(), "byok");
    assert!(matches!(a.billing, Billing::Byok { key } if key.id == "kb"));
    assert_eq!(
        a.endpoint_label(),
        "meta-llama/Llama-3.3-70B-Instruct:beta:passthrough"
    );

    // Gateway credentials everywhere but no key: refused before any upstream call.
    let e = err(
        &r,
        "meta-llama/Llama-3.3-70B-Instruct/beta",
        &ptb_everywhere(&r),
    );
    assert_eq!(
        e.to_string(),
        "Model meta-llama/Llama-3.3-70B-Instruct is not in the registry for beta, so it can only be sent with your own beta key (BYOK). Add a beta provider key, or use a model id from GET /v1/models"
    );
    assert_eq!((e.http_status(), e.code()), (400, "provider_key_required"));
}

#[test]
fn a_known_model_on_a_provider_without_it_is_a_passthrough_of_its_id() {
    let r = small();
    let avail = ptb_everywhere(&r).with_key(ProviderKey::new("ka", "alpha"));
    assert_eq!(
        ok(&r, "m-old/house,m2/alpha", &avail),
        ["ptb m1:house:* -> m1", "byok(ka) passthrough alpha -> m2"]
    );
}

#[test]
fn a_pinned_snapshot_routes_to_its_base_models_endpoints() {
    let r = small();
    let avail = ptb_everywhere(&r);
    assert_eq!(ok(&r, "m1-2025", &avail), ok(&r, "m1", &avail));
    assert_eq!(ok(&r, "m1-2025/beta", &avail), ["ptb m1:beta:* -> beta-m1"]);
}

#[test]
fn no_usable_endpoint_names_the_providers_and_the_fix() {
    let r = small();
    let e = err(&r, "m1", &Availability::new());
    assert_eq!(
        e.to_string(),
        "No usable endpoint for model m1: it is served by router, rocky, beta, alpha. Add your own provider key for one of these providers (BYOK), or use a provider the gateway can bill with credits (PTB)"
    );
    assert_eq!((e.http_status(), e.code()), (400, "no_usable_endpoint"));
    // m2 is not PTB-enabled anywhere: gateway credentials do not help.
    assert_eq!(
        err(&r, "m2", &ptb_everywhere(&r)),
        RoutingError::NoUsableEndpoint {
            model: "m2".into(),
            providers: vec!["beta".into()]
        }
    );
    // The first entry that yielded nothing is reported.
    assert!(
        matches!(err(&r, "m2,m1/beta", &Availability::new()), RoutingError::NoUsableEndpoint { model, .. } if model == "m2")
    );
}

#[test]
fn an_unusable_entry_is_skipped_when_a_later_one_works() {
    let r = small();
    assert_eq!(
        ok(&r, "m2,m1/beta", &ptb_everywhere(&r)),
        ["ptb m1:beta:* -> beta-m1"]
    );
}

// ---- the embedded registry ---------------------------------------------------------------

#[test]
fn embedded_claude_sonnet_ptb_order() {
    let r = embedded();
    let got = ok(&r, "claude-4.6-sonnet", &ptb_everywhere(&r));
    let providers: Vec<&str> = got.iter().map(|l| l.split(':').nth(1).unwrap()).collect();
    assert_eq!(
        providers.first(),
        Some(&"anthropic"),
        "priority 3 first: {got:#?}"
    );
    assert_eq!(
        providers.last(),
        Some(&"openrouter"),
        "priority 10 last: {got:#?}"
    );
    assert!(
        providers.contains(&"bedrock") && providers.contains(&"vertex"),
        "{got:#?}"
    );
}

#[test]
fn embedded_byok_first_then_ptb() {
    let r = embedded();
    let avail =
        ptb_everywhere(&r).with_key(ProviderKey::new("my-aws", "bedrock").with_region("us-east-1"));
    let got = ok(&r, "claude-4.6-sonnet", &avail);
    assert!(
        got[0].starts_with("byok(my-aws) claude-4.6-sonnet:bedrock:"),
        "{got:#?}"
    );
    assert!(got[1..].iter().all(|l| l.starts_with("ptb ")), "{got:#?}");
}

#[test]
fn embedded_explicit_deployment_and_renamed_alias() {
    let r = embedded();
    let avail = ptb_everywhere(&r);
    // A former id routes like the model it now names.
    assert_eq!(
        ok(&r, "claude-4.6-sonnet/anthropic", &avail),
        ["ptb claude-4.6-sonnet:anthropic:* -> claude-sonnet-4-6"]
    );
    let got = ok(&r, "claude-4.6-sonnet/bedrock/eu", &avail);
    assert_eq!(got.len(), 1);
    assert_eq!(
        got[0], "ptb claude-4.6-sonnet:bedrock:eu -> eu.anthropic.claude-sonnet-4-6",
        "{got:#?}"
    );
}

#[test]
fn embedded_no_keys_no_credentials() {
    let r = embedded();
    let e = err(&r, "gpt-4o-mini", &Availability::new());
    let msg = e.to_string();
    assert!(
        msg.starts_with("No usable endpoint for model gpt-4o-mini: it is served by "),
        "{msg}"
    );
    assert!(msg.contains("openai"), "{msg}");
}
