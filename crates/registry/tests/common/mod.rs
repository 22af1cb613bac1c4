//! The small registry the validation tests start from, and helpers to load variants of it.
#![allow(dead_code)] // each test file uses its own subset

use switchyard_registry::{Registry, RegistryErrors};

pub const PROVIDERS: &str = r#"
[acme]
name = "Acme"
base_url = "https://api.acme.test"
format = "openai"
chat_path = "/v1/chat/completions"
auth = "bearer"
[acme.ui]
logo = "/logos/acme.svg"
description = "Test provider."
docs_url = "https://acme.test/docs"
api_key_label = "Acme key"
api_key_placeholder = "ak-..."
relevance = 1

[rocky]
name = "Rocky"
base_url = "https://rocky.{region}.test"
format = "bedrock"
chat_path = "/model/{model}/invoke"
auth = "aws-sigv4"
required_config = ["region"]
deployment_config = ["region"]
[rocky.ui]
logo = "/logos/rocky.svg"
description = "Regional test provider."
docs_url = "https://rocky.test/docs"
api_key_label = "Rocky key"
api_key_placeholder = "AKIA..."
relevance = 2
"#;

pub const AUTHOR: &str = "name = \"Maker\"\ndescription = \"Makes models.\"\n";

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

[m2]
name = "Maker: M2"
context_length = 1000
max_output_tokens = 100
created = "2025-01-02"
input_modalities = ["text", "image"]
output_modalities = ["text"]
tokenizer = "GPT"
"#;

pub const ENDPOINTS: &str = r#"
pricing_source = "https://acme.test/pricing"
pricing_checked = "2026-11-01"
[[endpoint]]
model = "m1"
provider = "acme"
provider_model_id = "acme-m1"
aliases = ["acme-m1-latest"]
context_length = 1000
max_completion_tokens = 100
ptb = true
deployments = ["*"]
[[endpoint.pricing]]
input = 0.000002
output = 0.000008

[[endpoint]]
model = "m1"
provider = "rocky"
provider_model_id = "maker.m1-v1:0"
context_length = 1000
max_completion_tokens = 100
ptb = true
[[endpoint.pricing]]
input = 0.000001
output = 0.000004
[[endpoint.pricing]]
threshold = 500
input = 0.000002
[endpoint.deployments.us-east-1]
[endpoint.deployments.eu-west-1]
provider_model_id = "eu.maker.m1-v1:0"
ptb = false

[[endpoint]]
model = "m2"
provider = "acme"
provider_model_id = "acme-m2"
context_length = 1000
max_completion_tokens = 100
deployments = ["*"]
[[endpoint.pricing]]
input = "0.000003"
output = "0.000009"

[[archived]]
model = "m1"
provider = "acme"
provider_model_id = "acme-m1-2024"
version = "2024"
context_length = 1000
max_completion_tokens = 100
deployments = ["*"]
[[archived.pricing]]
input = 0.000001
output = 0.000001
"#;

pub fn files(endpoints: &str, models: &str) -> Vec<(String, String)> {
    vec![
        ("providers.toml".into(), PROVIDERS.into()),
        ("authors/maker/author.toml".into(), AUTHOR.into()),
        ("authors/maker/models.toml".into(), models.into()),
        ("authors/maker/endpoints.toml".into(), endpoints.into()),
    ]
}

pub fn errors_of(endpoints: &str, models: &str) -> Vec<String> {
    match Registry::from_files(&files(endpoints, models)) {
        Ok(_) => panic!("expected errors"),
        Err(RegistryErrors(issues)) => issues.iter().map(|i| i.to_string()).collect(),
    }
}

pub fn one_error(endpoints: &str) -> String {
    let errors = errors_of(endpoints, MODELS);
    assert_eq!(errors.len(), 1, "{errors:#?}");
    errors.into_iter().next().unwrap()
}
