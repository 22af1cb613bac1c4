//! Model string forms and their errors.

mod common;

use common::{embedded, small};
use switchyard_routing::{parse_model_string, ModelRequest, RoutingError, SpecModel};

fn parse<'r>(r: &'r switchyard_registry::Registry, s: &str) -> ModelRequest<'r> {
    parse_model_string(r, s).unwrap_or_else(|e| panic!("{s:?}: {e}"))
}

/// (model, provider, target, online) of each chain entry.
fn shape(req: &ModelRequest<'_>) -> Vec<(String, Option<String>, Option<String>, bool)> {
    req.chain
        .iter()
        .map(|s| {
            let model = match &s.model {
                SpecModel::Known(m) => m.id.clone(),
                SpecModel::Passthrough(n) => format!("passthrough:{n}"),
            };
            (
                model,
                s.provider.map(|p| p.id.clone()),
                s.target.clone(),
                s.online,
            )
        })
        .collect()
}

fn one(
    r: &switchyard_registry::Registry,
    s: &str,
) -> (String, Option<String>, Option<String>, bool) {
    let req = parse(r, s);
    assert_eq!(req.chain.len(), 1, "{s}");
    shape(&req).remove(0)
}

fn t(
    model: &str,
    provider: Option<&str>,
    target: Option<&str>,
    online: bool,
) -> (String, Option<String>, Option<String>, bool) {
    (
        model.to_owned(),
        provider.map(str::to_owned),
        target.map(str::to_owned),
        online,
    )
}

#[test]
fn bare_model() {
    let r = small();
    assert_eq!(one(&r, "m1"), t("m1", None, None, false));
}

#[test]
fn model_and_provider() {
    let r = small();
    assert_eq!(one(&r, "m1/beta"), t("m1", Some("beta"), None, false));
}

#[test]
fn model_provider_and_deployment_or_key() {
    let r = small();
    assert_eq!(
        one(&r, "m1/rocky/eu-west-1"),
        t("m1", Some("rocky"), Some("eu-west-1"), false)
    );
    // Key ids are resolved by build_attempts, which knows the org's keys.
    assert_eq!(
        one(&r, "m1/rocky/key-123"),
        t("m1", Some("rocky"), Some("key-123"), false)
    );
}

#[test]
fn whitespace_is_trimmed_everywhere() {
    let r = small();
    let req = parse(&r, "  m1 ,  m2/beta\t, ! alpha ");
    assert_eq!(
        shape(&req),
        [
            t("m1", None, None, false),
            t("m2", Some("beta"), None, false)
        ]
    );
    assert_eq!(
        req.excluded
            .iter()
            .map(|p| p.id.as_str())
            .collect::<Vec<_>>(),
        ["alpha"]
    );
}

#[test]
fn chain_keeps_order_and_positions() {
    let r = small();
    let req = parse(&r, "m2/beta,m1/rocky/us-east-1,m1");
    assert_eq!(
        shape(&req),
        [
            t("m2", Some("beta"), None, false),
            t("m1", Some("rocky"), Some("us-east-1"), false),
            t("m1", None, None, false)
        ]
    );
    assert_eq!(
        req.chain.iter().map(|s| s.position).collect::<Vec<_>>(),
        [0, 1, 2]
    );
}

#[test]
fn exclusions_anywhere_apply_globally_and_are_deduplicated() {
    let r = small();
    let req = parse(&r, "!router,m1,!house,!router");
    assert_eq!(
        req.excluded
            .iter()
            .map(|p| p.id.as_str())
            .collect::<Vec<_>>(),
        ["router", "house"]
    );
    assert!(req.excludes("router") && !req.excludes("alpha"));
    assert_eq!(req.chain.len(), 1);
}

#[test]
fn exclusion_drops_entries_on_that_provider_only() {
    let r = small();
    let req = parse(&r, "m1/alpha,m2,m1,!alpha");
    assert_eq!(
        shape(&req),
        [t("m2", None, None, false), t("m1", None, None, false)]
    );
    // Positions still refer to the string as written.
    assert_eq!(
        req.chain.iter().map(|s| s.position).collect::<Vec<_>>(),
        [1, 2]
    );
}

#[test]
fn chain_where_everything_is_excluded_is_a_400() {
    let r = small();
    for s in [
        "m1/alpha,!alpha",
        "m2,!beta",
        "m2, m1/rocky/us-east-1, !beta, !rocky",
    ] {
        let e = parse_model_string(&r, s).unwrap_err();
        assert!(matches!(e, RoutingError::AllExcluded { .. }), "{s}: {e:?}");
        assert_eq!(e.http_status(), 400);
        assert_eq!(e.code(), "all_providers_excluded");
        assert!(e.to_string().contains("Remove an exclusion"), "{e}");
    }
}

#[test]
fn bad_exclusions() {
    let r = small();
    assert_eq!(
        parse_model_string(&r, "m1,!").unwrap_err(),
        RoutingError::InvalidExclusion
    );
    assert_eq!(
        parse_model_string(&r, "m1,! ").unwrap_err().to_string(),
        "Invalid exclusion syntax. Use !provider (e.g. !openai)"
    );
    let e = parse_model_string(&r, "m1,!nobody").unwrap_err();
    assert_eq!(
        e.to_string(),
        "Invalid provider: nobody. Valid providers: alpha, beta, rocky, router, house"
    );
    assert_eq!((e.http_status(), e.code()), (400, "invalid_provider"));
}

#[test]
fn online_suffix() {
    let r = small();
    assert_eq!(one(&r, "m1:online"), t("m1", None, None, true));
    assert_eq!(one(&r, "m1:online/beta"), t("m1", Some("beta"), None, true));
    assert_eq!(
        one(&r, "m-old:online/rocky/us-east-1"),
        t("m1", Some("rocky"), Some("us-east-1"), true)
    );
}

#[test]
fn renamed_models_resolve_to_the_current_id() {
    let r = small();
    assert_eq!(one(&r, "m-old"), t("m1", None, None, false));
    assert_eq!(one(&r, "m-old/alpha"), t("m1", Some("alpha"), None, false));
    let e = embedded();
    assert_eq!(one(&e, "claude-3.5-sonnet").0, "claude-3.5-sonnet-v2");
    assert_eq!(
        one(&e, "claude-3.5-sonnet-20240620/anthropic").0,
        "claude-3.5-sonnet-v2"
    );
    assert_eq!(one(&e, "deepseek-r1").0, "deepseek-r1-0528");
    assert_eq!(one(&e, "gemini-1.5-flash").0, "gemini-2.5-flash-lite");
}

#[test]
fn unknown_model_without_provider_is_a_404_that_says_how_to_fix_it() {
    let r = small();
    let e = parse_model_string(&r, "m1,gpt-9").unwrap_err();
    assert_eq!(
        e.to_string(),
        "Unknown model: gpt-9. Use a model id from GET /v1/models, or name a provider (e.g. gpt-9/openai) to pass the provider's own model id"
    );
    assert_eq!(
        (e.http_status(), e.code(), e.error_type(), e.param()),
        (404, "model_not_found", "invalid_request_error", "model")
    );
}

#[test]
fn unknown_provider_after_a_known_model_names_the_provider() {
    let r = small();
    let e = parse_model_string(&r, "m1/betta").unwrap_err();
    assert_eq!(
        e.to_string(),
        "Invalid provider: betta. Valid providers: alpha, beta, rocky, router, house"
    );
    assert_eq!(e.http_status(), 400);
    let e = parse_model_string(&r, "m1/betta/us-east-1").unwrap_err();
    assert!(
        matches!(&e, RoutingError::InvalidProvider { provider, .. } if provider == "betta"),
        "{e:?}"
    );
    let e = embedded();
    let err = parse_model_string(&e, "gpt-4o/opneai").unwrap_err();
    assert!(
        err.to_string()
            .starts_with("Invalid provider: opneai. Valid providers: openai, anthropic,"),
        "{err}"
    );
}

#[test]
fn a_segment_that_is_not_a_provider_never_splits() {
    let r = small();
    // `meta-llama` is no provider: the whole string is one (unknown) model name.
    let e = parse_model_string(&r, "meta-llama/Llama-3.3-70B-Instruct").unwrap_err();
    assert_eq!(
        e,
        RoutingError::UnknownModel {
            model: "meta-llama/Llama-3.3-70B-Instruct".into()
        }
    );
    // A provider model id containing a provider key as an inner segment is still one name.
    let e = parse_model_string(&r, "accounts/beta/models/x").unwrap_err();
    assert_eq!(
        e,
        RoutingError::UnknownModel {
            model: "accounts/beta/models/x".into()
        }
    );
}

#[test]
fn provider_model_ids_with_slashes_pass_through_to_a_named_provider() {
    let r = small();
    assert_eq!(
        one(&r, "meta-llama/Llama-3.3-70B-Instruct/beta"),
        t(
            "passthrough:meta-llama/Llama-3.3-70B-Instruct",
            Some("beta"),
            None,
            false
        )
    );
    assert_eq!(
        one(&r, "accounts/beta/models/x/beta"),
        t(
            "passthrough:accounts/beta/models/x",
            Some("beta"),
            None,
            false
        )
    );
    assert_eq!(
        one(&r, "org/x/beta/key-1"),
        t("passthrough:org/x", Some("beta"), Some("key-1"), false)
    );
}

#[test]
fn a_provider_model_id_the_registry_prices_routes_as_that_model() {
    let r = small();
    assert_eq!(
        one(&r, "maker/m2-Instruct/beta"),
        t("m2", Some("beta"), None, false)
    );
    assert_eq!(one(&r, "beta-m1/beta"), t("m1", Some("beta"), None, false));
    // A deployment-specific provider model id pins that deployment.
    assert_eq!(
        one(&r, "eu.maker.m1-v1:0/rocky"),
        t("m1", Some("rocky"), Some("eu-west-1"), false)
    );
    let e = embedded();
    let llama = one(&e, "meta-llama/llama-4-scout-17b-16e-instruct/groq");
    assert_eq!(llama, t("llama-4-scout", Some("groq"), None, false));
}

#[test]
fn when_both_readings_exist_the_known_model_wins() {
    let r = small();
    // `m1/alpha/beta`: m1 on alpha with target `beta` (m1 is known), not `m1/alpha` on beta.
    assert_eq!(
        one(&r, "m1/alpha/beta"),
        t("m1", Some("alpha"), Some("beta"), false)
    );
    // Neither model part known: the last segment is the provider.
    assert_eq!(
        one(&r, "zz/alpha/beta"),
        t("passthrough:zz/alpha", Some("beta"), None, false)
    );
}

#[test]
fn empty_and_malformed_strings() {
    let r = small();
    for s in ["", "   ", "!alpha", " !alpha , !beta "] {
        let e = parse_model_string(&r, s).unwrap_err();
        assert_eq!(e, RoutingError::EmptyModel, "{s:?}");
        assert_eq!((e.http_status(), e.code()), (400, "missing_model"));
    }
    for s in [
        "m1,,m2",
        "m1,",
        ",m1",
        "m1/",
        "/m1",
        "m1//beta",
        ":online/beta",
    ] {
        let e = parse_model_string(&r, s).unwrap_err();
        assert!(
            matches!(e, RoutingError::InvalidSyntax { .. }),
            "{s:?}: {e:?}"
        );
        assert_eq!((e.http_status(), e.code()), (400, "invalid_model_string"));
        assert!(
            e.to_string()
                .contains("Use model, model/provider or model/provider/<deployment or key id>"),
            "{e}"
        );
    }
}
