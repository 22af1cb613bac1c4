//! A small in-memory registry whose order is easy to reason about.
#![allow(dead_code)]

use switchyard_registry::Registry;
use switchyard_routing::{build_attempts, parse_model_string, Availability, RoutingError};

/// The date routing is asked about in these tests (nothing in the fixture is retired then).
pub const TODAY: time::Date = time::macros::date!(2026 - 12 - 01);

fn provider(id: &str, priority: Option<u32>, regional: bool) -> String {
    let mut s = format!(
        "[{id}]\nname = \"{id}\"\nbase_url = \"https://{id}.test\"\nformat = \"openai\"\nchat_path = \"/v1/chat/completions\"\nauth = \"bearer\"\n"
    );
    if let Some(p) = priority {
        s += &format!("priority = {p}\n");
    }
    if regional {
        s += "required_config = [\"region\"]\ndeployment_config = [\"region\"]\n";
    }
    s += &format!(
        "[{id}.ui]\nlogo = \"/logos/{id}.svg\"\ndescription = \"Test.\"\ndocs_url = \"https://{id}.test/docs\"\napi_key_label = \"key\"\napi_key_placeholder = \"k-...\"\nrelevance = 1\n\n"
    );
    s
}

pub const MODELS: &str = r#"
[m1]
name = "Maker: M1"
context_length = 1000
max_output_tokens = 100
created = "2025-01-02"
input_modalities = ["text"]
output_modalities = ["text"]
tokenizer = "GPT"
former_ids = ["m-old"]

[m1-2025]
name = "Maker: M1 (2025 snapshot)"
context_length = 1000
max_output_tokens = 100
created = "2025-01-02"
input_modalities = ["text"]
output_modalities = ["text"]
tokenizer = "GPT"
pinned_version_of = "m1"

[m2]
name = "Maker: M2"
context_length = 1000
max_output_tokens = 100
created = "2025-01-02"
input_modalities = ["text"]
output_modalities = ["text"]
tokenizer = "GPT"
"#;

/// m1 on: alpha (priority 3, 2+8), beta (4, 1+4), rocky (4, 0.9+4; us-east-1 PTB, eu-west-1 not),
/// router (10, 0.5+1), house (require_explicit_routing, 0.1+0.1). m2 on beta only, not PTB, with a
/// provider model id containing a slash.
pub const ENDPOINTS: &str = r#"
pricing_source = "https://maker.test/pricing"
pricing_checked = "2026-11-01"

[[endpoint]]
model = "m1"
provider = "alpha"
provider_model_id = "alpha-m1"
context_length = 1000
max_completion_tokens = 100
ptb = true
deployments = ["*"]
[[endpoint.pricing]]
input = 0.000002
output = 0.000008

[[endpoint]]
model = "m1"
provider = "beta"
provider_model_id = "beta-m1"
context_length = 1000
max_completion_tokens = 100
ptb = true
deployments = ["*"]
[[endpoint.pricing]]
input = 0.000001
output = 0.000004

[[endpoint]]
model = "m1"
provider = "rocky"
provider_model_id = "maker.m1-v1:0"
context_length = 1000
max_completion_tokens = 100
ptb = true
[[endpoint.pricing]]
input = 0.0000009
output = 0.000004
[endpoint.deployments.us-east-1]
[endpoint.deployments.eu-west-1]
provider_model_id = "eu.maker.m1-v1:0"
ptb = false

[[endpoint]]
model = "m1"
provider = "router"
provider_model_id = "maker/m1"
context_length = 1000
max_completion_tokens = 100
ptb = true
deployments = ["*"]
[[endpoint.pricing]]
input = 0.0000005
output = 0.000001

[[endpoint]]
model = "m1"
provider = "house"
provider_model_id = "m1"
context_length = 1000
max_completion_tokens = 100
ptb = true
require_explicit_routing = true
deployments = ["*"]
[[endpoint.pricing]]
input = 0.0000001
output = 0.0000001

[[endpoint]]
model = "m2"
provider = "beta"
provider_model_id = "maker/m2-Instruct"
context_length = 1000
max_completion_tokens = 100
ptb = false
deployments = ["*"]
[[endpoint.pricing]]
input = 0.000003
output = 0.000009
"#;

pub fn small() -> Registry {
    small_from(MODELS, ENDPOINTS)
}

/// The small registry with other models.toml and endpoints.toml texts (variants of the above).
pub fn small_from(models: &str, endpoints: &str) -> Registry {
    let providers = [
        provider("alpha", Some(3), false),
        provider("beta", None, false),
        provider("rocky", None, true),
        provider("router", Some(10), false),
        provider("house", Some(2), false),
    ]
    .concat();
    let files = vec![
        ("providers.toml".to_owned(), providers),
        (
            "authors/maker/author.toml".to_owned(),
            "name = \"Maker\"\ndescription = \"Makes models.\"\n".to_owned(),
        ),
        ("authors/maker/models.toml".to_owned(), models.to_owned()),
        (
            "authors/maker/endpoints.toml".to_owned(),
            endpoints.to_owned(),
        ),
    ];
    Registry::from_files(&files).expect("test registry loads")
}

pub fn embedded() -> Registry {
    Registry::embedded().expect("embedded registry loads")
}

/// The gateway holds credentials for every provider of the registry.
pub fn ptb_everywhere(r: &Registry) -> Availability {
    Availability::new().with_ptb(r.providers().map(|p| p.id.clone()))
}

/// The attempts as `billing endpoint -> provider model id` lines, or the error.
pub fn lines(r: &Registry, model: &str, avail: &Availability) -> Result<Vec<String>, RoutingError> {
    let req = parse_model_string(r, model)?;
    let attempts = build_attempts(r, &req, avail, TODAY)?;
    for (i, a) in attempts.iter().enumerate() {
        assert_eq!(a.fallback_index, i, "fallback indexes are positions");
    }
    Ok(attempts
        .iter()
        .map(|a| {
            a.to_string()
                .split_once(' ')
                .map(|(_, rest)| rest.to_owned())
                .unwrap_or_default()
        })
        .collect())
}

pub fn err(r: &Registry, model: &str, avail: &Availability) -> RoutingError {
    match lines(r, model, avail) {
        Ok(l) => panic!("expected an error for {model:?}, got {l:#?}"),
        Err(e) => e,
    }
}
