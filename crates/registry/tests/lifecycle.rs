//! Lifecycle dates (`deprecated`, `retired`, `successor`) on models, endpoints and deployments.

mod common;
use common::*;
use switchyard_registry::{LifecycleStatus, Registry, Retirement};
use time::macros::date;

fn load(endpoints: &str, models: &str) -> Registry {
    Registry::from_files(&files(endpoints, models)).unwrap_or_else(|e| panic!("{e}"))
}

/// m1 on rocky: us-east-1 retires in 2026 (successor m2), eu-west-1 inherits the
/// [[endpoint]]'s deprecation only.
fn lifecycle_endpoints() -> String {
    ENDPOINTS
        .replacen(
            "provider_model_id = \"maker.m1-v1:0\"\n",
            "provider_model_id = \"maker.m1-v1:0\"\ndeprecated = \"2026-01-01\"\n",
            1,
        )
        .replacen(
            "[endpoint.deployments.us-east-1]\n",
            "[endpoint.deployments.us-east-1]\nretired = 2026-06-01\nsuccessor = \"m2\"\n",
            1,
        )
}

#[test]
fn endpoint_status_follows_its_deployment_then_its_endpoint() {
    let r = load(&lifecycle_endpoints(), MODELS);
    let us = r.endpoint_by_id("m1:rocky:us-east-1").unwrap();
    let eu = r.endpoint_by_id("m1:rocky:eu-west-1").unwrap();
    let acme = r.endpoint_by_id("m1:acme:*").unwrap();
    assert_eq!(us.status_at(date!(2025 - 12 - 31)), LifecycleStatus::Active);
    assert_eq!(
        us.status_at(date!(2026 - 01 - 01)),
        LifecycleStatus::Deprecated
    );
    assert_eq!(
        us.status_at(date!(2026 - 06 - 01)),
        LifecycleStatus::Retired
    );
    assert!(us.is_retired_at(date!(2027 - 01 - 01)));
    assert_eq!(us.lifecycle.successor.as_deref(), Some("m2"));
    assert_eq!(
        eu.status_at(date!(2027 - 01 - 01)),
        LifecycleStatus::Deprecated
    );
    assert_eq!(
        acme.status_at(date!(2027 - 01 - 01)),
        LifecycleStatus::Active
    );
    // Not every m1 endpoint is retired: the model still routes.
    assert_eq!(r.retirement("m1", None, date!(2027 - 01 - 01)), None);
    assert_eq!(
        r.model_status_at("m1", date!(2027 - 01 - 01)),
        Some(LifecycleStatus::Active)
    );
}

#[test]
fn a_retired_model_retires_its_endpoints() {
    let models = MODELS.replacen(
        "former_ids = [\"m-old\"]\n",
        "former_ids = [\"m-old\"]\ndeprecated = \"2026-01-01\"\nretired = \"2026-03-01\"\nsuccessor = \"m2\"\n",
        1,
    );
    let r = load(ENDPOINTS, &models);
    let day = date!(2026 - 03 - 01);
    assert!(r.endpoints_for_model("m1").all(|e| e.is_retired_at(day)));
    assert_eq!(
        r.retirement("m1", None, day),
        Some(Retirement {
            model: "m1".into(),
            retired: day,
            successor: Some("m2".into())
        })
    );
    assert_eq!(r.retirement("m1", None, date!(2026 - 02 - 28)), None);
    assert_eq!(
        r.model_status_at("m1", date!(2026 - 02 - 28)),
        Some(LifecycleStatus::Deprecated)
    );
    assert_eq!(
        r.model("m1").unwrap().status_at(day),
        LifecycleStatus::Retired
    );
    assert_eq!(r.model_status_at("nope", day), None);
}

#[test]
fn a_model_whose_every_endpoint_is_retired_is_retired() {
    let endpoints = ENDPOINTS
        .replacen(
            "provider_model_id = \"acme-m1\"\n",
            "provider_model_id = \"acme-m1\"\nretired = \"2026-04-01\"\n",
            1,
        )
        .replacen(
            "provider_model_id = \"maker.m1-v1:0\"\n",
            "provider_model_id = \"maker.m1-v1:0\"\nretired = \"2026-05-01\"\nsuccessor = \"m2\"\n",
            1,
        );
    let r = load(&endpoints, MODELS);
    let day = date!(2026 - 05 - 01);
    assert_eq!(
        r.retirement("m1", None, day),
        Some(Retirement {
            model: "m1".into(),
            retired: date!(2026 - 05 - 01),
            successor: Some("m2".into())
        })
    );
    assert_eq!(r.model_status_at("m1", day), Some(LifecycleStatus::Retired));
    // On 2026-04-15 only acme is gone: retired when asked for acme, not for the model.
    let mid = date!(2026 - 04 - 15);
    assert_eq!(r.retirement("m1", None, mid), None);
    assert_eq!(
        r.retirement("m1", Some("acme"), mid).map(|x| x.retired),
        Some(date!(2026 - 04 - 01))
    );
    assert_eq!(r.retirement("m1", Some("rocky"), mid), None);
}

fn errors_with_models(models: &str) -> Vec<String> {
    errors_of(ENDPOINTS, models)
}

#[test]
fn bad_dates_are_named() {
    let e = errors_with_models(&MODELS.replacen(
        "former_ids = [\"m-old\"]\n",
        "former_ids = [\"m-old\"]\ndeprecated = \"2026-02-30\"\nretired = 20260301\n",
        1,
    ));
    assert!(
        e.contains(
            &"authors/maker/models.toml: m1: deprecated: `2026-02-30` is not a YYYY-MM-DD date"
                .to_owned()
        ),
        "{e:#?}"
    );
    assert!(
        e.contains(&"authors/maker/models.toml: m1: retired: expected a \"YYYY-MM-DD\" date, found integer".to_owned()),
        "{e:#?}"
    );
}

#[test]
fn retired_before_deprecated_is_refused() {
    let e = one_error(&ENDPOINTS.replacen(
        "[endpoint.deployments.us-east-1]\n",
        "[endpoint.deployments.us-east-1]\ndeprecated = \"2026-06-01\"\nretired = \"2026-01-01\"\n",
        1,
    ));
    assert_eq!(
        e,
        "authors/maker/endpoints.toml: endpoint m1:rocky:us-east-1: deployments.us-east-1.retired: retired (2026-01-01) is before deprecated (2026-06-01)"
    );
}

#[test]
fn successors_must_be_other_models_of_the_registry() {
    let e = errors_with_models(&MODELS.replacen(
        "former_ids = [\"m-old\"]\n",
        "former_ids = [\"m-old\"]\nsuccessor = \"m9\"\n",
        1,
    ));
    assert_eq!(
        e,
        ["authors/maker/models.toml: m1: successor: unknown model `m9`: a successor is a model id of the registry"]
    );
    let e = one_error(&ENDPOINTS.replacen(
        "provider_model_id = \"acme-m2\"\n",
        "provider_model_id = \"acme-m2\"\nsuccessor = \"m2\"\n",
        1,
    ));
    assert_eq!(
        e,
        "authors/maker/endpoints.toml: endpoint m2:acme: successor: `m2` is this model itself"
    );
    // A former id is not a model id.
    let e = one_error(&ENDPOINTS.replacen(
        "provider_model_id = \"acme-m2\"\n",
        "provider_model_id = \"acme-m2\"\nsuccessor = \"m-old\"\n",
        1,
    ));
    assert!(e.contains("unknown model `m-old`"), "{e}");
}
