//! The registry files as written: raw serde structs, unknown fields refused. Dates stay raw
//! TOML values here (a string or a TOML date) so the loader can name a bad one precisely.

use crate::types::{
    AuthStyle, ConfigField, Modality, Parameter, Quantization, RateLimits, ResponseFormat,
    StreamUsage, WireFormat,
};
use indexmap::IndexMap;
use serde::Deserialize;
use switchyard_cost::{TierBasis, TierSpec};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProviderSpec {
    pub name: String,
    pub base_url: String,
    pub format: WireFormat,
    pub chat_path: String,
    pub auth: AuthStyle,
    #[serde(default)]
    pub tier_basis: TierBasis,
    pub priority: Option<u32>,
    #[serde(default)]
    pub required_config: Vec<ConfigField>,
    #[serde(default)]
    pub deployment_config: Vec<ConfigField>,
    #[serde(default)]
    pub error_message_paths: Vec<String>,
    #[serde(default)]
    pub stream_usage: StreamUsage,
    #[serde(default)]
    pub pricing_pages: Vec<String>,
    #[serde(default)]
    pub model_pages: Vec<String>,
    pub ui: UiSpec,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UiSpec {
    pub logo: String,
    pub description: String,
    pub docs_url: String,
    pub api_key_label: String,
    pub api_key_placeholder: String,
    pub relevance: u32,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthorSpec {
    pub name: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub website: Option<String>,
    #[serde(default)]
    pub api_url: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelSpec {
    pub name: String,
    #[serde(default)]
    pub description: String,
    pub context_length: u64,
    pub max_output_tokens: u64,
    pub created: String,
    pub input_modalities: Vec<Modality>,
    pub output_modalities: Vec<Modality>,
    pub tokenizer: String,
    pub pinned_version_of: Option<String>,
    #[serde(default)]
    pub former_ids: Vec<String>,
    pub deprecated: Option<toml::Value>,
    pub retired: Option<toml::Value>,
    pub successor: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigSpec {
    pub model: String,
    pub provider: String,
    pub provider_model_id: String,
    #[serde(default)]
    pub aliases: Vec<String>,
    pub version: Option<String>,
    pub context_length: u64,
    pub max_completion_tokens: u64,
    #[serde(default)]
    pub ptb: bool,
    pub response_format: Option<ResponseFormat>,
    #[serde(default)]
    pub cross_region: bool,
    #[serde(default)]
    pub require_explicit_routing: bool,
    pub priority: Option<u32>,
    pub quantization: Option<Quantization>,
    #[serde(default)]
    pub supported_parameters: Vec<Parameter>,
    #[serde(default)]
    pub unsupported_parameters: Vec<Parameter>,
    #[serde(default)]
    pub supported_plugins: Vec<String>,
    pub rate_limits: Option<RateLimits>,
    #[serde(default)]
    pub pricing: Vec<TierSpec>,
    #[serde(default)]
    pub deployments: Option<DeploymentsSpec>,
    pub deprecated: Option<toml::Value>,
    pub retired: Option<toml::Value>,
    pub successor: Option<String>,
    pub pricing_source: Option<String>,
    pub pricing_checked: Option<toml::Value>,
}

/// `deployments = ["*", "us-east-1"]` or `[endpoint.deployments.<id>]` tables with overrides.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum DeploymentsSpec {
    List(Vec<String>),
    Map(IndexMap<String, DeploymentSpec>),
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeploymentSpec {
    pub provider_model_id: Option<String>,
    pub pricing: Option<Vec<TierSpec>>,
    pub context_length: Option<u64>,
    pub max_completion_tokens: Option<u64>,
    pub ptb: Option<bool>,
    pub version: Option<String>,
    pub rate_limits: Option<RateLimits>,
    pub priority: Option<u32>,
    pub cross_region: Option<bool>,
    pub region: Option<String>,
    pub project_id: Option<String>,
    pub resource_name: Option<String>,
    pub deployment_name: Option<String>,
    pub base_uri: Option<String>,
    pub api_version: Option<String>,
    pub deprecated: Option<toml::Value>,
    pub retired: Option<toml::Value>,
    pub successor: Option<String>,
    pub pricing_source: Option<String>,
    pub pricing_checked: Option<toml::Value>,
}
