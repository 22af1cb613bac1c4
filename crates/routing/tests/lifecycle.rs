//! Lifecycle in routing: retired endpoints are never attempted, retired models answer 404
//! `model_retired` naming the successor, deprecated ones route as before.

mod common;

use common::{ptb_everywhere, small, small_from, ENDPOINTS, MODELS};
use switchyard_registry::Registry;
use switchyard_routing::{
    build_attempts, parse_model_string, Availability, ProviderKey, RoutingError,
};
use time::macros::date;
use time::Date;

fn lines_on(
    r: &Registry,
    model: &str,
    avail: &Availability,
    day: Date,
) -> Result<Vec<String>, RoutingError> {
    let req = parse_model_string(r, model)?;
    let attempts = build_attempts(r, &req, avail, day)?;
    Ok(attempts.iter().map(|a| a.to_string()).collect())
}

/// rocky's us-east-1 deployment retires on 2026-06-01 (successor m2); eu-west-1 stays.
fn rocky_us_retired() -> Registry {
    small_from(
        MODELS,
        &ENDPOINTS.replacen(
            "[endpoint.deployments.us-east-1]\n",
            "[endpoint.deployments.us-east-1]\nretired = \"2026-06-01\"\nsuccessor = \"m2\"\n",
            1,
        ),
    )
}

#[test]
fn a_retired_deployment_is_left_out_from_its_retirement_day() {
    let r = rocky_us_retired();
    let avail = ptb_everywhere(&r);
    let before = lines_on(&r, "m1", &avail, date!(2026 - 05 - 31)).unwrap();
    let after = lines_on(&r, "m1", &avail, date!(2026 - 06 - 01)).unwrap();
    assert!(
        before.iter().any(|l| l.contains("m1:rocky:us-east-1")),
        "{before:#?}"
    );
    assert!(
        !after.iter().any(|l| l.contains("m1:rocky:us-east-1")),
        "{after:#?}"
    );
    // Everything else keeps its place.
    let kept: Vec<String> = before
        .iter()
        .filter(|l| !l.contains("m1:rocky:us-east-1"))
        .map(|l| l.split_once(' ').unwrap().1.to_owned())
        .collect();
    let after: Vec<String> = after
        .iter()
        .map(|l| l.split_once(' ').unwrap().1.to_owned())
        .collect();
    assert_eq!(kept, after);
}

#[test]
fn a_retired_deployment_is_not_routed_even_when_named() {
    let r = rocky_us_retired();
    let avail = ptb_everywhere(&r).with_key(ProviderKey::new("k-rocky", "rocky"));
    let e = lines_on(&r, "m1/rocky/us-east-1", &avail, date!(2026 - 12 - 01)).unwrap_err();
    assert_eq!(
        e,
        RoutingError::ModelRetired {
            model: "m1".into(),
            on: Some("rocky/us-east-1".into()),
            retired: date!(2026 - 06 - 01),
            successor: Some("m2".into()),
        }
    );
    assert_eq!(e.http_status(), 404);
    assert_eq!(e.code(), "model_retired");
    assert_eq!(
        e.to_string(),
        "Model m1 on rocky/us-east-1 was retired on 2026-06-01; use `m2`"
    );
    // Named without a deployment, rocky still has eu-west-1 (BYOK only: it is not PTB).
    let l = lines_on(&r, "m1/rocky", &avail, date!(2026 - 12 - 01)).unwrap();
    assert_eq!(
        l,
        ["#0 byok(k-rocky) m1:rocky:eu-west-1 -> eu.maker.m1-v1:0"]
    );
}

#[test]
fn a_provider_whose_every_endpoint_is_retired_is_not_a_passthrough() {
    let r = small_from(
        MODELS,
        &ENDPOINTS.replacen(
            "provider_model_id = \"maker.m1-v1:0\"\n",
            "provider_model_id = \"maker.m1-v1:0\"\nretired = \"2026-06-01\"\n",
            1,
        ),
    );
    // Even with the org's own rocky key: a retired model is not sent as an unpriced passthrough.
    let avail = ptb_everywhere(&r).with_key(ProviderKey::new("k-rocky", "rocky"));
    let e = lines_on(&r, "m1/rocky", &avail, date!(2026 - 12 - 01)).unwrap_err();
    assert_eq!(
        e.to_string(),
        "Model m1 on rocky was retired on 2026-06-01; use `m1` on another provider (without naming one), or another model from GET /v1/models"
    );
    // The other providers still serve m1.
    let l = lines_on(&r, "m1", &avail, date!(2026 - 12 - 01)).unwrap();
    assert!(
        !l.is_empty() && l.iter().all(|l| !l.contains(":rocky:")),
        "{l:#?}"
    );
}

/// m1 retires on 2026-09-01 with m2 as successor.
fn m1_retired() -> Registry {
    small_from(
        &MODELS.replacen(
            "former_ids = [\"m-old\"]\n",
            "former_ids = [\"m-old\"]\ndeprecated = \"2026-03-01\"\nretired = \"2026-09-01\"\nsuccessor = \"m2\"\n",
            1,
        ),
        ENDPOINTS,
    )
}

#[test]
fn a_retired_model_names_its_successor() {
    let r = m1_retired();
    let avail = ptb_everywhere(&r);
    let expected = RoutingError::ModelRetired {
        model: "m1".into(),
        on: None,
        retired: date!(2026 - 09 - 01),
        successor: Some("m2".into()),
    };
    for asked in ["m1", "m-old", "m1/alpha", "m1/house"] {
        assert_eq!(
            lines_on(&r, asked, &avail, date!(2026 - 09 - 01)).unwrap_err(),
            expected,
            "{asked}"
        );
    }
    assert_eq!(
        expected.to_string(),
        "Model m1 was retired on 2026-09-01; use `m2`"
    );
    // A pinned snapshot of m1 routes to m1's endpoints, all retired with it.
    let e = lines_on(&r, "m1-2025", &avail, date!(2026 - 09 - 01)).unwrap_err();
    assert!(
        matches!(&e, RoutingError::ModelRetired { model, successor: Some(s), .. } if model == "m1-2025" && s == "m2"),
        "{e:?}"
    );
}

#[test]
fn a_fallback_after_a_retired_model_is_used() {
    let r = m1_retired();
    let avail = Availability::new().with_key(ProviderKey::new("k-beta", "beta"));
    let l = lines_on(&r, "m1,m2", &avail, date!(2026 - 10 - 01)).unwrap();
    assert_eq!(l, ["#0 byok(k-beta) m2:beta:* -> maker/m2-Instruct"]);
}

#[test]
fn deprecated_models_and_endpoints_route_as_before() {
    let deprecated = small_from(
        &MODELS.replacen(
            "former_ids = [\"m-old\"]\n",
            "former_ids = [\"m-old\"]\ndeprecated = \"2026-03-01\"\n",
            1,
        ),
        &ENDPOINTS.replacen(
            "provider_model_id = \"alpha-m1\"\n",
            "provider_model_id = \"alpha-m1\"\ndeprecated = \"2026-01-01\"\n",
            1,
        ),
    );
    let plain = small();
    let day = date!(2026 - 12 - 01);
    let avail = ptb_everywhere(&plain).with_key(ProviderKey::new("k-alpha", "alpha"));
    for asked in ["m1", "m1/alpha", "m1,m2/beta"] {
        assert_eq!(
            lines_on(&deprecated, asked, &avail, day),
            lines_on(&plain, asked, &avail, day),
            "{asked}"
        );
    }
}
