//! Every validation rule, on small registries built in memory.

use switchyard_registry::{Registry, RegistryErrors};

mod common;
use common::*;

#[test]
fn the_good_registry_loads_and_indexes() {
    let r = Registry::from_files(&files(ENDPOINTS, MODELS)).unwrap();
    assert_eq!(r.providers().len(), 2);
    assert_eq!(r.models().len(), 2);
    assert_eq!(r.configs().len(), 3);
    assert_eq!(r.endpoints().len(), 4);
    // Cheapest base tier first: rocky (1+4) before acme (2+8).
    let order: Vec<&str> = r.endpoints_for_model("m1").map(|e| e.id.as_str()).collect();
    assert_eq!(
        order,
        ["m1:rocky:eu-west-1", "m1:rocky:us-east-1", "m1:acme:*"]
    );
    let ptb: Vec<&str> = r
        .ptb_endpoints_for_model("m1")
        .map(|e| e.id.as_str())
        .collect();
    assert_eq!(ptb, ["m1:rocky:us-east-1", "m1:acme:*"]);
    assert_eq!(r.ptb_endpoints_for_model("m2").len(), 0);
    let providers: Vec<&str> = r.providers_for_model("m1").map(|p| p.id.as_str()).collect();
    assert_eq!(providers, ["acme", "rocky"]);
    let models: Vec<&str> = r
        .models_for_provider("acme")
        .map(|m| m.id.as_str())
        .collect();
    assert_eq!(models, ["m1", "m2"]);
    assert_eq!(r.models_for_provider("nobody").len(), 0);
}

#[test]
fn deployments_inherit_and_override() {
    let r = Registry::from_files(&files(ENDPOINTS, MODELS)).unwrap();
    let us = r.endpoint("m1", "rocky", "us-east-1").unwrap();
    let eu = r.endpoint_by_id("m1:rocky:eu-west-1").unwrap();
    assert_eq!(us.provider_model_id, "maker.m1-v1:0");
    assert_eq!(eu.provider_model_id, "eu.maker.m1-v1:0");
    assert!(us.ptb && !eu.ptb);
    assert_eq!(us.config.region.as_deref(), Some("us-east-1"));
    assert_eq!(eu.pricing, us.pricing);
    assert_eq!(
        us.pricing.tiers()[1].output.to_string(),
        "0.000004",
        "tier 500 inherits output"
    );
    assert!(r.endpoint("m1", "rocky", "ap-south-1").is_none());
}

#[test]
fn lookups_by_provider_model_id_alias_former_id_and_version() {
    let r = Registry::from_files(&files(ENDPOINTS, MODELS)).unwrap();
    assert_eq!(
        r.config_by_provider_model_id("acme", "acme-m1").unwrap().id,
        "m1:acme"
    );
    assert_eq!(
        r.config_by_provider_model_id("acme", "acme-m1-latest")
            .unwrap()
            .id,
        "m1:acme"
    );
    assert_eq!(
        r.endpoint_by_provider_model_id("rocky", "eu.maker.m1-v1:0")
            .unwrap()
            .deployment,
        "eu-west-1"
    );
    assert!(r.config_by_provider_model_id("rocky", "acme-m1").is_none());
    assert_eq!(r.resolve_model("m-old").unwrap().id, "m1");
    assert_eq!(
        r.config_by_version("m1", "acme", None)
            .unwrap()
            .provider_model_id,
        "acme-m1"
    );
    assert_eq!(
        r.config_by_version("m1", "acme", Some("2024"))
            .unwrap()
            .provider_model_id,
        "acme-m1-2024"
    );
    assert!(r.config_by_version("m1", "acme", Some("1999")).is_none());
}

#[test]
fn unknown_provider_model_is_unpriced_not_zero() {
    let r = Registry::from_files(&files(ENDPOINTS, MODELS)).unwrap();
    let usage = switchyard_cost::Usage::tokens(10, 10);
    assert!(matches!(
        r.price("acme", "nope", &usage),
        Err(switchyard_registry::Unpriced::UnknownModel { .. })
    ));
    assert!(matches!(
        r.price("nobody", "acme-m1", &usage),
        Err(switchyard_registry::Unpriced::UnknownProvider(_))
    ));
    assert_eq!(
        r.price("acme", "acme-m1", &usage)
            .unwrap()
            .total
            .to_string(),
        "0.000100"
    );
}

#[test]
fn unknown_provider_is_named() {
    let e = one_error(&ENDPOINTS.replacen("provider = \"acme\"", "provider = \"acne\"", 1));
    assert_eq!(
        e,
        "authors/maker/endpoints.toml: endpoint m1:acne: provider: unknown provider `acne`"
    );
}

#[test]
fn unknown_model_is_named() {
    let e = one_error(&ENDPOINTS.replacen("model = \"m2\"", "model = \"m3\"", 1));
    assert_eq!(
        e,
        "authors/maker/endpoints.toml: endpoint m3:acme: model: unknown model `m3`"
    );
}

#[test]
fn unknown_author_folder_without_author_file() {
    let mut f = files(ENDPOINTS, MODELS);
    f.push(("authors/ghost/models.toml".into(), String::new()));
    let errors = match Registry::from_files(&f) {
        Err(RegistryErrors(e)) => e,
        Ok(_) => panic!("expected an error"),
    };
    assert_eq!(errors[0].file, "authors/ghost/author.toml");
    assert!(errors[0].message.contains("needs an author.toml"));
}

#[test]
fn duplicate_endpoint_ids() {
    let dup = format!(
        "{ENDPOINTS}\n{}",
        &ENDPOINTS[..ENDPOINTS
            .find("[[endpoint]]\nmodel = \"m1\"\nprovider = \"rocky\"")
            .unwrap()]
    );
    let e = errors_of(&dup, MODELS);
    assert!(
        e.iter()
            .any(|e| e.contains("endpoint m1:acme: duplicate endpoint `m1:acme`")),
        "{e:#?}"
    );
}

#[test]
fn duplicate_model_ids_across_authors() {
    let mut f = files(ENDPOINTS, MODELS);
    f.push(("authors/other/author.toml".into(), AUTHOR.into()));
    f.push(("authors/other/models.toml".into(), MODELS.into()));
    let Err(RegistryErrors(e)) = Registry::from_files(&f) else {
        panic!()
    };
    assert!(e.iter().any(|i| i.file == "authors/other/models.toml"
        && i.entry.as_deref() == Some("m1")
        && i.message.contains("duplicate model id")));
}

#[test]
fn tiers_must_start_at_zero() {
    let e = one_error(&ENDPOINTS.replacen(
        "[[endpoint.pricing]]\ninput = 0.000002",
        "[[endpoint.pricing]]\nthreshold = 5\ninput = 0.000002",
        1,
    ));
    assert_eq!(e, "authors/maker/endpoints.toml: endpoint m1:acme: pricing: the first tier has threshold 5; it must start at 0");
}

#[test]
fn tiers_must_strictly_increase() {
    let e = one_error(&ENDPOINTS.replacen("threshold = 500", "threshold = 0", 1));
    assert!(
        e.starts_with(
            "authors/maker/endpoints.toml: endpoint m1:rocky: pricing[1].threshold: tier 1 has threshold 0"
        ),
        "{e}"
    );
}

#[test]
fn negative_price() {
    let e = one_error(&ENDPOINTS.replacen("output = 0.000008", "output = -0.000008", 1));
    assert!(
        e.contains("endpoint m1:acme: pricing[0].output: tier 0 field `output` is negative"),
        "{e}"
    );
}

#[test]
fn non_numeric_price_names_the_field() {
    let e = one_error(&ENDPOINTS.replacen("input = \"0.000003\"", "input = \"three\"", 1));
    assert!(
        e.starts_with("authors/maker/endpoints.toml: endpoint m2:acme: pricing[0].input: "),
        "{e}"
    );
    assert!(e.contains("not a decimal number"), "{e}");
}

#[test]
fn unknown_field_is_an_error() {
    let e = one_error(&ENDPOINTS.replacen("ptb = true", "ptbb = true", 1));
    assert!(
        e.contains("endpoint m1:acme: ptbb: unknown field `ptbb`"),
        "{e}"
    );
}

#[test]
fn config_without_deployment() {
    let e = one_error(&ENDPOINTS.replacen(
        "deployments = [\"*\"]\n[[endpoint.pricing]]\ninput = \"0.000003\"",
        "[[endpoint.pricing]]\ninput = \"0.000003\"",
        1,
    ));
    assert!(
        e.contains("endpoint m2:acme: deployments: no deployment"),
        "{e}"
    );
}

#[test]
fn provider_model_ids_and_aliases_collide() {
    let e = one_error(&ENDPOINTS.replacen(
        "provider_model_id = \"acme-m2\"",
        "provider_model_id = \"acme-m1-latest\"",
        1,
    ));
    assert!(e.contains("endpoint m2:acme: provider_model_id: provider model id `acme-m1-latest` on `acme` is already used by `m1:acme`"), "{e}");
}

#[test]
fn required_deployment_config_missing() {
    let e = one_error(&ENDPOINTS.replacen(
        "[endpoint.deployments.us-east-1]",
        "[endpoint.deployments.\"*\"]",
        1,
    ));
    assert!(
        e.contains("endpoint m1:rocky:*: deployments.*: provider `rocky` needs `region`"),
        "{e}"
    );
}

#[test]
fn bad_model_fields() {
    let e = errors_of(
        ENDPOINTS,
        &MODELS
            .replacen("created = \"2025-01-02\"", "created = \"Jan 2025\"", 1)
            .replacen("tokenizer = \"GPT\"", "tokenizer = \"Gpt5\"", 1),
    );
    assert!(
        e.iter()
            .any(|e| e
                == "authors/maker/models.toml: m1: created: `Jan 2025` is not a YYYY-MM-DD date"),
        "{e:#?}"
    );
    assert!(
        e.iter()
            .any(|e| e.contains("m1: tokenizer: unknown tokenizer `Gpt5`")),
        "{e:#?}"
    );
}

#[test]
fn all_errors_are_listed_not_just_the_first() {
    let broken = ENDPOINTS
        .replacen("provider = \"acme\"", "provider = \"acne\"", 1)
        .replacen("output = \"0.000009\"", "output = -1", 1);
    assert_eq!(errors_of(&broken, MODELS).len(), 2);
}

#[test]
fn invalid_toml_names_the_file() {
    let e = one_error("[[endpoint]\nmodel = ");
    assert!(
        e.starts_with("authors/maker/endpoints.toml: not valid TOML"),
        "{e}"
    );
}

#[test]
fn load_dir_reads_the_same_as_files() {
    let dir = tempfile::tempdir().unwrap();
    for (path, text) in files(ENDPOINTS, MODELS) {
        let p = dir.path().join(path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }
    let r = Registry::load_dir(dir.path()).unwrap();
    assert_eq!(r.endpoints().len(), 4);
    let missing = Registry::load_dir(dir.path().join("nope")).unwrap_err();
    assert!(missing.0[0].message.contains("not a directory"));
}

#[test]
fn pinned_snapshot_without_endpoints_routes_to_its_base() {
    let models = format!(
        "{MODELS}\n[m1-20250101]\nname = \"Maker: M1 (2025-01-01)\"\ncontext_length = 1000\nmax_output_tokens = 100\ncreated = \"2025-01-01\"\ninput_modalities = [\"text\"]\noutput_modalities = [\"text\"]\ntokenizer = \"GPT\"\npinned_version_of = \"m1\"\n"
    );
    let r = Registry::from_files(&files(ENDPOINTS, &models)).unwrap();
    let ids: Vec<&str> = r
        .endpoints_for_model("m1-20250101")
        .map(|e| e.id.as_str())
        .collect();
    assert_eq!(
        ids,
        ["m1:rocky:eu-west-1", "m1:rocky:us-east-1", "m1:acme:*"]
    );
    assert_eq!(r.ptb_endpoints_for_model("m1-20250101").len(), 2);
    let bad = models.replace("pinned_version_of = \"m1\"", "pinned_version_of = \"m9\"");
    let e = errors_of(ENDPOINTS, &bad);
    assert!(
        e.iter()
            .any(|e| e.contains("m1-20250101: pinned_version_of: unknown model `m9`")),
        "{e:#?}"
    );
}
