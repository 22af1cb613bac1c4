//! The registry's runtime types: what the gateway reads.

use crate::lifecycle::{serialize_date, Lifecycle, LifecycleStatus};
use serde::{Deserialize, Serialize};
use switchyard_cost::{Pricing, TierBasis};
use time::Date;

/// The wire format a provider speaks. Each non-OpenAI format is one adapter module.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WireFormat {
    Openai,
    Anthropic,
    Bedrock,
    Vertex,
    Google,
}

/// How a provider authenticates a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AuthStyle {
    /// `Authorization: Bearer <key>`
    Bearer,
    /// `x-api-key: <key>`
    XApiKey,
    /// `api-key: <key>`
    ApiKey,
    /// AWS Signature Version 4.
    AwsSigv4,
    /// A Google service-account JSON exchanged for an OAuth access token.
    GoogleServiceAccount,
}

/// How an OpenAI-compatible provider reports usage in a stream.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StreamUsage {
    /// Only when asked with `stream_options.include_usage`; the gateway always asks.
    #[default]
    OnRequest,
    /// Always, in the last chunk; the provider rejects `stream_options`, so it is not sent.
    Always,
}

/// A per-deployment or per-key setting a provider may need.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConfigField {
    Region,
    ProjectId,
    ResourceName,
    DeploymentName,
    ApiVersion,
    BaseUri,
}

impl ConfigField {
    pub fn as_str(self) -> &'static str {
        match self {
            ConfigField::Region => "region",
            ConfigField::ProjectId => "project_id",
            ConfigField::ResourceName => "resource_name",
            ConfigField::DeploymentName => "deployment_name",
            ConfigField::ApiVersion => "api_version",
            ConfigField::BaseUri => "base_uri",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Modality {
    Text,
    Image,
    Audio,
    Video,
    File,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResponseFormat {
    Openai,
    Anthropic,
    Google,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Quantization {
    Fp4,
    Fp8,
    Fp16,
    Bf16,
    Int4,
}

/// Informational provider limits.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimits {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rpm: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tpm: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tpd: Option<u64>,
}

macro_rules! parameters {
    ($($variant:ident => $name:literal),* $(,)?) => {
        /// A request parameter of the OpenAI chat API that an endpoint may or may not support.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        pub enum Parameter {
            $(#[serde(rename = $name)] $variant,)*
        }

        impl Parameter {
            /// Every parameter, in declaration order.
            pub const ALL: &'static [Parameter] = &[$(Parameter::$variant),*];

            /// The parameter's name in a request body.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(Parameter::$variant => $name,)*
                }
            }
        }
    };
}

parameters! {
    MaxTokens => "max_tokens",
    MaxCompletionTokens => "max_completion_tokens",
    Temperature => "temperature",
    TopP => "top_p",
    TopK => "top_k",
    Stop => "stop",
    Stream => "stream",
    FrequencyPenalty => "frequency_penalty",
    PresencePenalty => "presence_penalty",
    RepetitionPenalty => "repetition_penalty",
    Seed => "seed",
    Tools => "tools",
    ToolChoice => "tool_choice",
    Functions => "functions",
    FunctionCall => "function_call",
    Reasoning => "reasoning",
    IncludeReasoning => "include_reasoning",
    Thinking => "thinking",
    ResponseFormat => "response_format",
    JsonMode => "json_mode",
    Truncate => "truncate",
    MinP => "min_p",
    LogitBias => "logit_bias",
    Logprobs => "logprobs",
    TopLogprobs => "top_logprobs",
    StructuredOutputs => "structured_outputs",
    Verbosity => "verbosity",
    N => "n",
}

/// Dashboard metadata of a provider.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ProviderUi {
    pub logo: String,
    pub description: String,
    pub docs_url: String,
    pub api_key_label: String,
    pub api_key_placeholder: String,
    pub relevance: u32,
}

/// An inference host.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Provider {
    pub id: String,
    pub name: String,
    pub base_url: String,
    pub format: WireFormat,
    pub chat_path: String,
    pub auth: AuthStyle,
    pub tier_basis: TierBasis,
    /// Routing priority, lower first.
    pub priority: u32,
    pub required_config: Vec<ConfigField>,
    pub deployment_config: Vec<ConfigField>,
    pub error_message_paths: Vec<String>,
    pub stream_usage: StreamUsage,
    pub pricing_pages: Vec<String>,
    pub model_pages: Vec<String>,
    pub ui: ProviderUi,
}

/// Priority of a provider that does not set one.
pub const DEFAULT_PRIORITY: u32 = 4;

/// A company that makes models.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Author {
    pub id: String,
    pub name: String,
    pub description: String,
    pub website: Option<String>,
    pub api_url: Option<String>,
}

/// A model definition, independent of where it runs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Model {
    pub id: String,
    pub name: String,
    pub author: String,
    pub description: String,
    pub context_length: u64,
    pub max_output_tokens: u64,
    pub created: String,
    pub input_modalities: Vec<Modality>,
    pub output_modalities: Vec<Modality>,
    pub tokenizer: String,
    pub pinned_version_of: Option<String>,
    pub former_ids: Vec<String>,
    /// `deprecated`, `retired`, `successor` as written in models.toml.
    #[serde(flatten)]
    pub lifecycle: Lifecycle,
}

impl Model {
    pub fn status_at(&self, date: Date) -> LifecycleStatus {
        self.lifecycle.status_at(date)
    }
}

/// Provider settings of one deployment, after inheritance; also a BYOK key's settings (the
/// store keeps it as JSON in clear) and the gateway's own per-provider settings. One type, so
/// a key's config merges over a deployment's field by field.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(default)]
pub struct DeploymentConfig {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub project_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resource_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deployment_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub base_uri: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api_version: Option<String>,
}

impl DeploymentConfig {
    pub fn get(&self, field: ConfigField) -> Option<&str> {
        match field {
            ConfigField::Region => self.region.as_deref(),
            ConfigField::ProjectId => self.project_id.as_deref(),
            ConfigField::ResourceName => self.resource_name.as_deref(),
            ConfigField::DeploymentName => self.deployment_name.as_deref(),
            ConfigField::BaseUri => self.base_uri.as_deref(),
            ConfigField::ApiVersion => self.api_version.as_deref(),
        }
    }
}

/// A model on one provider (`model:provider`): the parent of its deployments.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ModelProviderConfig {
    /// `model:provider`
    pub id: String,
    pub model: String,
    pub provider: String,
    pub author: String,
    pub provider_model_id: String,
    pub aliases: Vec<String>,
    pub version: Option<String>,
    pub pricing: Pricing,
    pub context_length: u64,
    pub max_completion_tokens: u64,
    pub ptb: bool,
    pub response_format: Option<ResponseFormat>,
    pub cross_region: bool,
    pub require_explicit_routing: bool,
    pub priority: Option<u32>,
    pub quantization: Option<Quantization>,
    pub supported_parameters: Vec<Parameter>,
    pub unsupported_parameters: Vec<Parameter>,
    pub supported_plugins: Vec<String>,
    pub rate_limits: Option<RateLimits>,
    /// Deployment ids in file order.
    pub deployments: Vec<String>,
    /// The `[[endpoint]]`'s lifecycle fields with its model's applied (see [`Lifecycle::within`]).
    #[serde(flatten)]
    pub lifecycle: Lifecycle,
    /// The price list's source at this level: the `[[endpoint]]`'s, else the file's. A
    /// deployment may override it; [`Endpoint::pricing_source`] is always resolved.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pricing_source: Option<String>,
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "serialize_opt_date"
    )]
    pub pricing_checked: Option<Date>,
}

fn serialize_opt_date<S: serde::Serializer>(d: &Option<Date>, s: S) -> Result<S::Ok, S::Error> {
    match d {
        Some(d) => serialize_date(d, s),
        None => s.serialize_none(),
    }
}

/// One routable deployment (`model:provider:deployment`), every field resolved.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Endpoint {
    pub id: String,
    pub model: String,
    pub provider: String,
    pub deployment: String,
    pub author: String,
    pub provider_model_id: String,
    pub pricing: Pricing,
    pub context_length: u64,
    pub max_completion_tokens: u64,
    pub ptb: bool,
    pub version: Option<String>,
    pub rate_limits: Option<RateLimits>,
    pub priority: u32,
    pub response_format: Option<ResponseFormat>,
    pub cross_region: bool,
    pub require_explicit_routing: bool,
    pub supported_parameters: Vec<Parameter>,
    pub unsupported_parameters: Vec<Parameter>,
    pub supported_plugins: Vec<String>,
    pub config: DeploymentConfig,
    /// Effective lifecycle: the deployment's fields, else the `[[endpoint]]`'s, with the
    /// model's applied on top (an endpoint is retired when its model is).
    #[serde(flatten)]
    pub lifecycle: Lifecycle,
    /// The URL the prices were taken from (deployment, else `[[endpoint]]`, else file).
    pub pricing_source: String,
    /// The date someone last checked the prices against `pricing_source`.
    #[serde(serialize_with = "serialize_date")]
    pub pricing_checked: Date,
}

impl Endpoint {
    pub fn status_at(&self, date: Date) -> LifecycleStatus {
        self.lifecycle.status_at(date)
    }

    /// A retired endpoint is never routed, not even when named.
    pub fn is_retired_at(&self, date: Date) -> bool {
        self.lifecycle.is_retired_at(date)
    }
}
