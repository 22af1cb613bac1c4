//! Bounded work: the chain cap is checked before the entries past it are parsed, the attempt cap
//! keeps every chain entry's first choice, and repeats are dropped without rescanning.

mod common;

use common::{embedded, ptb_everywhere, small, TODAY};
use switchyard_routing::{
    build_attempts_with, parse_model_string, parse_model_string_with, Availability, Limits,
    ProviderKey, RoutingError, MAX_ENTRY_BYTES, MAX_EXCLUSIONS,
};

fn limits(max_models: usize, max_attempts: usize) -> Limits {
    Limits {
        max_models,
        max_attempts,
    }
}

#[test]
fn a_chain_at_the_cap_parses_and_one_more_model_is_refused_naming_the_limit() {
    let r = small();
    let at_cap = ["m1"; 10].join(",");
    assert_eq!(parse_model_string(&r, &at_cap).unwrap().chain.len(), 10);
    let over = ["m1"; 11].join(",");
    let e = parse_model_string(&r, &over).unwrap_err();
    assert_eq!(e, RoutingError::TooManyModels { limit: 10 });
    assert_eq!(e.http_status(), 400);
    assert_eq!(e.code(), "too_many_models");
    assert!(e.to_string().contains("at most 10 models"), "{e}");
    // The limit is the caller's to set.
    let e = parse_model_string_with(&r, "m1,m2,m1", &limits(2, 10)).unwrap_err();
    assert_eq!(e, RoutingError::TooManyModels { limit: 2 });
}

#[test]
fn exclusions_do_not_count_as_models_but_are_bounded_too() {
    let r = small();
    let chain = format!("{},!alpha,!beta", ["m1"; 10].join(","));
    let req = parse_model_string(&r, &chain).unwrap();
    assert_eq!(req.chain.len(), 10);
    assert_eq!(req.excluded.len(), 2);
    let many = format!("m1,{}", vec!["!alpha"; MAX_EXCLUSIONS + 1].join(","));
    assert_eq!(
        parse_model_string(&r, &many).unwrap_err(),
        RoutingError::TooManyExclusions {
            limit: MAX_EXCLUSIONS
        }
    );
}

#[test]
fn a_100000_entry_chain_stops_at_the_cap_even_when_later_entries_are_garbage() {
    let r = embedded();
    // Entries past the cap are never parsed: the unknown provider at the end is not reported.
    let mut chain = vec!["gpt-4o-mini"; 100_000].join(",");
    chain.push_str(",x/not-a-provider");
    assert_eq!(
        parse_model_string(&r, &chain).unwrap_err(),
        RoutingError::TooManyModels { limit: 10 }
    );
}

#[test]
fn huge_entries_and_inputs_are_refused_without_echoing_them_whole() {
    let r = small();
    let long = "m".repeat(MAX_ENTRY_BYTES + 1);
    let e = parse_model_string(&r, &long).unwrap_err();
    assert_eq!(e.code(), "invalid_model_string");
    assert!(e.to_string().len() < 600, "{} bytes", e.to_string().len());
    // An empty entry after a megabyte of chain: the message quotes only the start of the input.
    let input = format!("m1,,{}", "m1,".repeat(300_000));
    let e = parse_model_string(&r, &input).unwrap_err();
    assert_eq!(e.code(), "invalid_model_string");
    assert!(e.to_string().len() < 600, "{} bytes", e.to_string().len());
}

#[test]
fn repeated_entries_add_no_attempts() {
    let r = small();
    let avail = ptb_everywhere(&r).with_key(ProviderKey::new("kb", "beta"));
    let once = parse_model_string(&r, "m1").unwrap();
    let once = build_attempts_with(&r, &once, &avail, TODAY, &limits(10, 100)).unwrap();
    let repeated = parse_model_string(&r, &["m1"; 10].join(",")).unwrap();
    let repeated = build_attempts_with(&r, &repeated, &avail, TODAY, &limits(10, 100)).unwrap();
    let ids = |p: &switchyard_routing::AttemptPlan<'_>| {
        p.attempts.iter().map(|a| a.to_string()).collect::<Vec<_>>()
    };
    assert_eq!(ids(&once), ids(&repeated));
    assert_eq!(repeated.omitted, 0);
}

#[test]
fn the_attempt_cap_keeps_each_entrys_first_choice_then_fills_in_order() {
    let r = small();
    // m1 expands to 4 PTB attempts (alpha, rocky, beta, router); m1/beta adds nothing new (its
    // PTB attempt is a repeat), so name m2 with a BYOK key for a second entry.
    let avail = ptb_everywhere(&r).with_key(ProviderKey::new("kb", "beta"));
    let req = parse_model_string(&r, "m1,m2/beta").unwrap();
    let all = build_attempts_with(&r, &req, &avail, TODAY, &limits(10, 100)).unwrap();
    assert_eq!(all.omitted, 0);
    let n = all.attempts.len();
    assert!(n >= 4, "{:#?}", all.attempts);
    let last = all.attempts.last().unwrap().to_string();
    assert!(last.contains("m2"), "{last}");

    let capped = build_attempts_with(&r, &req, &avail, TODAY, &limits(10, 3)).unwrap();
    assert_eq!(capped.attempts.len(), 3);
    assert_eq!(capped.omitted, n - 3);
    // m1's first two choices, then m2's first, in the original order, renumbered.
    let line =
        |a: &switchyard_routing::Attempt<'_>| a.to_string().split_once(' ').unwrap().1.to_owned();
    let want: Vec<String> = all.attempts[..2]
        .iter()
        .chain(std::iter::once(all.attempts.last().unwrap()))
        .map(line)
        .collect();
    assert_eq!(capped.attempts.iter().map(line).collect::<Vec<_>>(), want);
    for (i, a) in capped.attempts.iter().enumerate() {
        assert_eq!(a.fallback_index, i);
    }
    // A cap of one keeps the first choice only.
    let one = build_attempts_with(&r, &req, &avail, TODAY, &limits(10, 1)).unwrap();
    assert_eq!(one.attempts.len(), 1);
    assert_eq!(line(&one.attempts[0]), line(&all.attempts[0]));
}

#[test]
fn a_widely_served_model_does_not_crowd_out_the_fallback_after_it() {
    let r = embedded();
    let avail = ptb_everywhere(&r);
    // The registry model with the most attempts when the gateway can bill every provider.
    let (widest, n) = r
        .models()
        .filter_map(|m| {
            let req = parse_model_string(&r, &m.id).ok()?;
            let plan = build_attempts_with(&r, &req, &avail, TODAY, &limits(10, 1000)).ok()?;
            Some((m.id.clone(), plan.attempts.len()))
        })
        .max_by_key(|(_, n)| *n)
        .unwrap();
    eprintln!("widest model: {widest} with {n} attempts (PTB everywhere)");
    let chain = format!("{widest},my-finetune/openai");
    let avail = avail.with_key(ProviderKey::new("ko", "openai"));
    let req = parse_model_string(&r, &chain).unwrap();
    // A cap below the model's expansion (the default, 10, is above today's widest).
    let plan = build_attempts_with(&r, &req, &avail, TODAY, &limits(10, n - 1)).unwrap();
    assert_eq!(plan.attempts.len(), n - 1);
    let last = plan.attempts.last().unwrap();
    assert_eq!(
        last.provider_model_id, "my-finetune",
        "{:#?}",
        plan.attempts
    );
    let full = build_attempts_with(&r, &req, &avail, TODAY, &limits(10, 1000)).unwrap();
    assert_eq!(plan.omitted + plan.attempts.len(), full.attempts.len());
    assert!(
        plan.omitted >= 2,
        "{} of {}",
        plan.omitted,
        full.attempts.len()
    );
    // The default cap (10) is below the widest expansion: the chain is cut, not refused, and
    // the fallback after the wide model still gets its attempt.
    let default = build_attempts_with(&r, &req, &avail, TODAY, &Limits::default()).unwrap();
    assert_eq!(
        default.attempts.len(),
        Limits::default().max_attempts.min(n + 1)
    );
    assert_eq!(
        default.attempts.last().unwrap().provider_model_id,
        "my-finetune"
    );
    assert_eq!(
        default.omitted + default.attempts.len(),
        full.attempts.len()
    );
}

#[test]
fn no_availability_is_still_the_callers_error_not_a_cut() {
    let r = small();
    let req = parse_model_string(&r, "m1").unwrap();
    let e = build_attempts_with(&r, &req, &Availability::new(), TODAY, &limits(10, 1)).unwrap_err();
    assert_eq!(e.code(), "no_usable_endpoint");
}
