//! Phase 4 of the unified front door: routing (pure, borrowed) glued to the pipeline — the
//! org's keys as routing's [`Availability`], and each attempt with what the pipeline needs.

use std::borrow::Cow;
use std::collections::HashMap;

use switchyard_cost::{Pricing, TierSpec};
use switchyard_registry::{DeploymentConfig, Endpoint, Provider, Registry};
use switchyard_routing::{build_attempts_with, parse_model_string_with, Availability, Route};
use switchyard_store::{BillingMode, ProviderKey};

use crate::error::ApiError;
use crate::state::PtbCredentials;

/// The org's BYOK keys and, built once per cache fill, routing's view of them.
pub struct OrgKeys {
    pub keys: Vec<ProviderKey>,
    pub availability: Availability,
}

impl OrgKeys {
    pub fn new(keys: Vec<ProviderKey>, ptb: &HashMap<String, PtbCredentials>) -> OrgKeys {
        let mut availability = Availability::new().with_ptb(ptb.keys().cloned());
        for k in &keys {
            let c = &k.info.config;
            availability = availability.with_key(switchyard_routing::ProviderKey {
                id: k
                    .info
                    .key_name
                    .clone()
                    .unwrap_or_else(|| k.info.id.0.to_string()),
                provider: k.info.provider.clone(),
                model: None,
                config: DeploymentConfig {
                    region: c.region.clone(),
                    project_id: c.project_id.clone(),
                    resource_name: c.resource_name.clone(),
                    deployment_name: c.deployment_name.clone(),
                    base_uri: c.base_uri.clone(),
                    api_version: c.api_version.clone(),
                },
            });
        }
        OrgKeys { keys, availability }
    }
}

/// Who pays for an attempt.
#[derive(Clone, Debug)]
pub enum Billing {
    /// The org's own key: `keys[key_index]`.
    Byok { key_index: usize },
    /// The gateway's key, paid from the org's credits.
    Ptb,
    /// The caller's own provider key, forwarded in its request (passthrough proxy).
    Caller,
}

impl Billing {
    pub fn label(&self) -> &'static str {
        self.mode().as_str()
    }

    pub fn mode(&self) -> BillingMode {
        match self {
            // The caller pays the provider, as with a stored key.
            Billing::Byok { .. } | Billing::Caller => BillingMode::Byok,
            Billing::Ptb => BillingMode::Ptb,
        }
    }
}

/// One upstream attempt, ready for the proxy.
pub struct PlannedAttempt<'r> {
    pub provider: &'r Provider,
    /// The registry endpoint, or for a model the registry does not know a stand-in carrying
    /// the caller's provider model id.
    pub endpoint: Cow<'r, Endpoint>,
    /// True for models the registry does not know: their answers are unpriced.
    pub passthrough: bool,
    pub billing: Billing,
}

impl PlannedAttempt<'_> {
    /// `model:provider:deployment`, or `model:provider:passthrough`.
    pub fn endpoint_id(&self) -> String {
        if self.passthrough {
            format!(
                "{}:{}:passthrough",
                self.endpoint.provider_model_id, self.provider.id
            )
        } else {
            self.endpoint.id.clone()
        }
    }
}

pub(crate) fn passthrough_endpoint(provider: &Provider, provider_model_id: &str) -> Endpoint {
    // Never priced from this (the attempt is marked passthrough); a zero tier keeps the type
    // whole. Resolved once: every proxied request plans one of these.
    static ZERO: std::sync::LazyLock<Pricing> = std::sync::LazyLock::new(|| {
        Pricing::resolve(&[TierSpec {
            input: Some(0.into()),
            output: Some(0.into()),
            ..TierSpec::default()
        }])
        .expect("a zero tier is valid")
    });
    let pricing = ZERO.clone();
    Endpoint {
        id: format!("{provider_model_id}:{}:passthrough", provider.id),
        model: provider_model_id.to_owned(),
        provider: provider.id.clone(),
        deployment: "*".to_owned(),
        author: "passthrough".to_owned(),
        provider_model_id: provider_model_id.to_owned(),
        pricing,
        context_length: 0,
        max_completion_tokens: 0,
        ptb: false,
        version: None,
        rate_limits: None,
        priority: provider.priority,
        response_format: None,
        cross_region: false,
        require_explicit_routing: false,
        supported_parameters: Vec::new(),
        unsupported_parameters: Vec::new(),
        supported_plugins: Vec::new(),
        config: DeploymentConfig::default(),
        lifecycle: Default::default(),
        // Unpriced, so no price list to trace.
        pricing_source: String::new(),
        pricing_checked: time::Date::MIN,
    }
}

/// The ordered attempts for a model string, within the server's bounds
/// (`server.max_models_per_chain`: a longer chain is a 400; `server.max_attempts_per_request`:
/// a longer plan is cut, every chain entry's first choice kept).
pub fn plan<'r>(
    registry: &'r Registry,
    model: &str,
    org: &OrgKeys,
    server: &crate::edge::ServerConfig,
) -> Result<Vec<PlannedAttempt<'r>>, ApiError> {
    let limits = server.routing_limits();
    let request = parse_model_string_with(registry, model, &limits)?;
    // Lifecycle dates are UTC days: a model retired "on 2026-12-01" is gone from 00:00 UTC.
    let today = time::OffsetDateTime::now_utc().date();
    let planned = build_attempts_with(registry, &request, &org.availability, today, &limits)?;
    if planned.omitted > 0 {
        tracing::debug!(
            omitted = planned.omitted,
            kept = planned.attempts.len(),
            "attempts cut at server.max_attempts_per_request"
        );
    }
    let attempts = planned.attempts;
    let mut out = Vec::with_capacity(attempts.len());
    for a in &attempts {
        let billing = match &a.billing {
            switchyard_routing::Billing::Ptb => Billing::Ptb,
            switchyard_routing::Billing::Byok { key } => {
                let key_index = org
                    .availability
                    .keys
                    .iter()
                    .position(|k| std::ptr::eq(k, *key))
                    .ok_or_else(|| {
                        ApiError::Internal("routing chose a key the org does not have".into())
                    })?;
                Billing::Byok { key_index }
            }
        };
        // Attempts borrow from the request too; take the registry's own references back so the
        // plan lives as long as the registry.
        let provider = registry
            .provider(&a.provider.id)
            .ok_or_else(|| ApiError::Internal("routing chose an unknown provider".into()))?;
        let (endpoint, passthrough) = match a.route {
            Route::Endpoint(e) => {
                let e = registry.endpoint_by_id(&e.id).ok_or_else(|| {
                    ApiError::Internal("routing chose an unknown endpoint".into())
                })?;
                (Cow::Borrowed(e), false)
            }
            Route::Passthrough => (
                Cow::Owned(passthrough_endpoint(provider, a.provider_model_id)),
                true,
            ),
        };
        out.push(PlannedAttempt {
            provider,
            endpoint,
            passthrough,
            billing,
        });
    }
    Ok(out)
}
