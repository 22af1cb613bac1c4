//! The caller-facing routing errors: every one is the caller's to fix, so each message says how.

/// Why a model string could not be parsed or routed. Never a gateway fault: 400, or 404 for an
/// unknown or retired model (decisions.md, "Routing and errors").
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RoutingError {
    #[error("Missing model. Set `model` to a model id from GET /v1/models (e.g. gpt-4o-mini), optionally with a provider (gpt-4o-mini/openai), or to a comma-separated fallback list")]
    EmptyModel,

    #[error("Invalid model string `{entry}`: {reason}. Use model, model/provider or model/provider/<deployment or key id>, separated by commas for fallbacks")]
    InvalidSyntax { entry: String, reason: &'static str },

    #[error("Invalid exclusion syntax. Use !provider (e.g. !openai)")]
    InvalidExclusion,

    #[error("Unknown model: {model}. Use a model id from GET /v1/models, or name a provider (e.g. {model}/openai) to pass the provider's own model id")]
    UnknownModel { model: String },

    #[error("Invalid provider: {provider}. Valid providers: {}", .valid.join(", "))]
    InvalidProvider {
        provider: String,
        valid: Vec<String>,
    },

    #[error("Every model in `{input}` is on an excluded provider. Remove an exclusion (!provider) or add a model that another provider serves")]
    AllExcluded { input: String },

    #[error("Unknown deployment or key id `{target}` for {model} on {provider}. {}", target_hint(.deployments))]
    UnknownTarget {
        model: String,
        provider: String,
        target: String,
        deployments: Vec<String>,
    },

    #[error("No usable endpoint for model {model}: it is served by {}. Add your own provider key for one of these providers (BYOK), or use a provider the gateway can bill with credits (PTB)", or_none(.providers))]
    NoUsableEndpoint {
        model: String,
        providers: Vec<String>,
    },

    #[error("Model {model} is not in the registry for {provider}, so it can only be sent with your own {provider} key (BYOK). Add a {provider} provider key, or use a model id from GET /v1/models")]
    PassthroughNeedsKey { model: String, provider: String },

    #[error("Model {model}{} was retired on {retired}; {}", on_where(.on), use_instead(.model, .on, .successor))]
    ModelRetired {
        model: String,
        /// `provider` or `provider/deployment` when only that one is retired.
        on: Option<String>,
        retired: time::Date,
        successor: Option<String>,
    },

    #[error("Too many models: a fallback chain may name at most {limit} models (server.max_models_per_chain) and this one names more. Shorten the chain")]
    TooManyModels { limit: usize },

    #[error("Too many exclusions: a model string may have at most {limit} !provider entries")]
    TooManyExclusions { limit: usize },
}

fn on_where(on: &Option<String>) -> String {
    on.as_deref()
        .map(|o| format!(" on {o}"))
        .unwrap_or_default()
}

fn use_instead(model: &str, on: &Option<String>, successor: &Option<String>) -> String {
    match (successor, on) {
        (Some(s), _) => format!("use `{s}`"),
        (None, Some(_)) => format!("use `{model}` on another provider (without naming one), or another model from GET /v1/models"),
        (None, None) => "use another model from GET /v1/models".to_owned(),
    }
}

fn target_hint(deployments: &[String]) -> String {
    if deployments.is_empty() {
        "Use the id of one of your provider keys for this provider".to_owned()
    } else {
        format!(
            "Use one of the deployments {} or the id of one of your provider keys",
            deployments.join(", ")
        )
    }
}

fn or_none(providers: &[String]) -> String {
    if providers.is_empty() {
        "no provider that is not excluded or that routes without being named".to_owned()
    } else {
        providers.join(", ")
    }
}

impl RoutingError {
    /// The HTTP status: 404 for an unknown or retired model, 400 for everything else.
    pub fn http_status(&self) -> u16 {
        match self {
            RoutingError::UnknownModel { .. } | RoutingError::ModelRetired { .. } => 404,
            _ => 400,
        }
    }

    /// The OpenAI-style `error.code`.
    pub fn code(&self) -> &'static str {
        match self {
            RoutingError::EmptyModel => "missing_model",
            RoutingError::InvalidSyntax { .. } => "invalid_model_string",
            RoutingError::InvalidExclusion => "invalid_exclusion",
            RoutingError::UnknownModel { .. } => "model_not_found",
            RoutingError::InvalidProvider { .. } => "invalid_provider",
            RoutingError::AllExcluded { .. } => "all_providers_excluded",
            RoutingError::UnknownTarget { .. } => "unknown_deployment",
            RoutingError::NoUsableEndpoint { .. } => "no_usable_endpoint",
            RoutingError::PassthroughNeedsKey { .. } => "provider_key_required",
            RoutingError::ModelRetired { .. } => "model_retired",
            RoutingError::TooManyModels { .. } => "too_many_models",
            RoutingError::TooManyExclusions { .. } => "too_many_exclusions",
        }
    }

    /// Every `(code, HTTP status)` a routing error can have, for the error catalogue
    /// (`notes/ERRORS.md`, checked by a test of the server).
    pub fn catalog() -> Vec<(&'static str, u16)> {
        Self::one_of_each()
            .iter()
            .map(|e| (e.code(), e.http_status()))
            .collect()
    }

    fn one_of_each() -> Vec<RoutingError> {
        let s = String::new;
        let all = vec![
            RoutingError::EmptyModel,
            RoutingError::InvalidSyntax {
                entry: s(),
                reason: "",
            },
            RoutingError::InvalidExclusion,
            RoutingError::UnknownModel { model: s() },
            RoutingError::InvalidProvider {
                provider: s(),
                valid: Vec::new(),
            },
            RoutingError::AllExcluded { input: s() },
            RoutingError::UnknownTarget {
                model: s(),
                provider: s(),
                target: s(),
                deployments: Vec::new(),
            },
            RoutingError::NoUsableEndpoint {
                model: s(),
                providers: Vec::new(),
            },
            RoutingError::PassthroughNeedsKey {
                model: s(),
                provider: s(),
            },
            RoutingError::ModelRetired {
                model: s(),
                on: None,
                retired: time::Date::MIN,
                successor: None,
            },
            RoutingError::TooManyModels { limit: 0 },
            RoutingError::TooManyExclusions { limit: 0 },
        ];
        // A new variant fails to compile here until it is added to the list above.
        for e in &all {
            match e {
                RoutingError::EmptyModel
                | RoutingError::InvalidSyntax { .. }
                | RoutingError::InvalidExclusion
                | RoutingError::UnknownModel { .. }
                | RoutingError::InvalidProvider { .. }
                | RoutingError::AllExcluded { .. }
                | RoutingError::UnknownTarget { .. }
                | RoutingError::NoUsableEndpoint { .. }
                | RoutingError::PassthroughNeedsKey { .. }
                | RoutingError::ModelRetired { .. }
                | RoutingError::TooManyModels { .. }
                | RoutingError::TooManyExclusions { .. } => {}
            }
        }
        all
    }

    /// The OpenAI-style `error.type`: these are all request errors.
    pub fn error_type(&self) -> &'static str {
        "invalid_request_error"
    }

    /// The OpenAI-style `error.param`: always the `model` field.
    pub fn param(&self) -> &'static str {
        "model"
    }
}
