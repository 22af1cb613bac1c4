//! From a parsed model string to the ordered list of attempts (gateway-flow.md §2.2).

use crate::lifecycle::{retired, retired_deployment, routable};
use crate::parse::{Limits, ModelRequest, ModelSpec, SpecModel};
use crate::RoutingError;
use std::collections::HashSet;
use std::fmt;
use switchyard_registry::{DeploymentConfig, Endpoint, Model, Provider, Registry};
use time::Date;

/// One of the org's provider keys as routing sees it: its id and settings, never the secret.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ProviderKey {
    /// The id a caller may name as `model/provider/<key id>`.
    pub id: String,
    pub provider: String,
    /// Set when the key serves one registry model only (e.g. an Azure deployment): the key is
    /// then not used for other models unless named.
    pub model: Option<String>,
    /// Per-key settings (region, project, deployment, resource, API version). A region picks the
    /// matching regional deployment of the registry when there is one.
    pub config: DeploymentConfig,
}

impl ProviderKey {
    pub fn new(id: impl Into<String>, provider: impl Into<String>) -> Self {
        ProviderKey {
            id: id.into(),
            provider: provider.into(),
            ..ProviderKey::default()
        }
    }

    pub fn with_region(mut self, region: impl Into<String>) -> Self {
        self.config.region = Some(region.into());
        self
    }

    pub fn for_model(mut self, model: impl Into<String>) -> Self {
        self.model = Some(model.into());
        self
    }
}

/// What the request may be routed through: the org's BYOK keys, and the providers the gateway
/// holds its own credentials for (PTB).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Availability {
    /// The org's enabled provider keys, in preference order (the first eligible one is used).
    pub keys: Vec<ProviderKey>,
    /// Provider ids the gateway can bill through with credits.
    pub ptb: Vec<String>,
}

impl Availability {
    pub fn new() -> Self {
        Availability::default()
    }

    pub fn with_key(mut self, key: ProviderKey) -> Self {
        self.keys.push(key);
        self
    }

    pub fn with_ptb<S: Into<String>>(mut self, providers: impl IntoIterator<Item = S>) -> Self {
        self.ptb.extend(providers.into_iter().map(Into::into));
        self
    }

    pub fn has_ptb(&self, provider: &str) -> bool {
        self.ptb.iter().any(|p| p == provider)
    }

    /// The org's key for a provider and model: the first key of that provider not reserved for
    /// another model (the reference's choice rule).
    pub fn key(&self, provider: &str, model: &str) -> Option<&ProviderKey> {
        self.keys
            .iter()
            .find(|k| k.provider == provider && k.model.as_deref().is_none_or(|m| m == model))
    }

    /// A key named by its id.
    pub fn key_by_id(&self, provider: &str, id: &str) -> Option<&ProviderKey> {
        self.keys
            .iter()
            .find(|k| k.provider == provider && k.id == id)
    }
}

/// Where an attempt goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Route<'a> {
    /// A registry endpoint: priced.
    Endpoint(&'a Endpoint),
    /// A model the registry does not have on this provider: sent as named, unpriced, BYOK only.
    Passthrough,
}

/// Who pays the provider.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Billing<'a> {
    /// The org's own key.
    Byok { key: &'a ProviderKey },
    /// The gateway's credentials, paid from the org's credits.
    Ptb,
}

impl Billing<'_> {
    pub fn as_str(&self) -> &'static str {
        match self {
            Billing::Byok { .. } => "byok",
            Billing::Ptb => "ptb",
        }
    }
}

/// One upstream call to try, in order. Borrows everything: building the list allocates only the
/// list itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Attempt<'a> {
    pub route: Route<'a>,
    pub provider: &'a Provider,
    /// The model id sent to the provider.
    pub provider_model_id: &'a str,
    pub billing: Billing<'a>,
    /// The `:online` suffix was given on the chain entry.
    pub online: bool,
    /// The chain entry this attempt came from (position among the model entries as written).
    pub chain_index: usize,
    /// Position in the attempt list: 0 is the first choice (`x-switchyard-fallback-index`).
    pub fallback_index: usize,
}

impl<'a> Attempt<'a> {
    pub fn endpoint(&self) -> Option<&'a Endpoint> {
        match self.route {
            Route::Endpoint(e) => Some(e),
            Route::Passthrough => None,
        }
    }

    /// The registry endpoint id `model:provider:deployment`; `None` for a passthrough.
    pub fn endpoint_id(&self) -> Option<&'a str> {
        self.endpoint().map(|e| e.id.as_str())
    }

    /// Whether the registry prices this attempt (a passthrough is unpriced, never $0).
    pub fn is_priced(&self) -> bool {
        self.endpoint().is_some()
    }

    pub fn key(&self) -> Option<&'a ProviderKey> {
        match self.billing {
            Billing::Byok { key } => Some(key),
            Billing::Ptb => None,
        }
    }

    /// `x-switchyard-endpoint`: the endpoint id, or `<model>:<provider>:passthrough`.
    pub fn endpoint_label(&self) -> String {
        match self.route {
            Route::Endpoint(e) => e.id.clone(),
            Route::Passthrough => format!(
                "{}:{}:passthrough",
                self.provider_model_id, self.provider.id
            ),
        }
    }

    /// What makes two attempts the same call: the route (an endpoint, or a passthrough
    /// provider and model) and who pays (the gateway, or one key).
    fn target(&self) -> Target<'a> {
        let route = match self.route {
            // One registry holds each endpoint once, so identity is the address.
            Route::Endpoint(e) => (std::ptr::from_ref(e) as usize, "", ""),
            Route::Passthrough => (0, self.provider.id.as_str(), self.provider_model_id),
        };
        let billing = match self.billing {
            Billing::Ptb => None,
            Billing::Byok { key } => Some((key.provider.as_str(), key.id.as_str())),
        };
        (route, billing)
    }
}

/// See [`Attempt::target`].
type Target<'a> = ((usize, &'a str, &'a str), Option<(&'a str, &'a str)>);

/// The attempts built so far and the set of their targets, so that dropping a repeat is one
/// hash lookup (routing stays linear in the number of attempts).
struct Out<'a> {
    list: Vec<Attempt<'a>>,
    seen: HashSet<Target<'a>>,
}

impl<'a> Out<'a> {
    fn push(&mut self, attempt: Attempt<'a>) {
        if self.seen.insert(attempt.target()) {
            self.list.push(attempt);
        }
    }

    fn len(&self) -> usize {
        self.list.len()
    }
}

impl fmt::Display for Attempt<'_> {
    /// `#0 byok(key-1) claude-sonnet-4:anthropic:* -> claude-sonnet-4-20250514`
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{} ", self.fallback_index)?;
        match self.billing {
            Billing::Byok { key } => write!(f, "byok({})", key.id)?,
            Billing::Ptb => f.write_str("ptb")?,
        }
        match self.route {
            Route::Endpoint(e) => write!(f, " {}", e.id)?,
            Route::Passthrough => write!(f, " passthrough {}", self.provider.id)?,
        }
        write!(f, " -> {}", self.provider_model_id)?;
        if self.online {
            f.write_str(" [online]")?;
        }
        Ok(())
    }
}

/// Builds the ordered attempts for a parsed model string.
///
/// Chain entries are processed in order and their attempts concatenated. Within an entry without
/// a provider: the org's keys (BYOK, which count as priority 1) before the gateway's (PTB), then
/// provider priority, then the cheapest base tier (ties keep registry order); endpoints that
/// require explicit routing are left out. An entry that names its provider keeps that provider:
/// its BYOK attempt, then its PTB deployments, cheapest first. A third segment picks one key
/// id or one deployment. PTB only on `ptb` endpoints of providers the gateway has credentials
/// for; a passthrough is BYOK only (a PTB request must be priced). Excluded providers are
/// removed everywhere, and an (endpoint, billing) pair already in the list is not repeated.
///
/// Endpoints retired on `today` are never attempted, even when named; a retired model yields
/// no attempts (a later chain entry may still serve the request).
///
/// An empty result is the caller's error: [`RoutingError::NoUsableEndpoint`] (or
/// [`RoutingError::PassthroughNeedsKey`], or [`RoutingError::ModelRetired`]) for the first chain
/// entry that yielded nothing.
///
/// At most [`Limits::default`]`.max_attempts` are kept; see [`build_attempts_with`].
pub fn build_attempts<'a>(
    registry: &'a Registry,
    request: &'a ModelRequest<'a>,
    availability: &'a Availability,
    today: Date,
) -> Result<Vec<Attempt<'a>>, RoutingError> {
    build_attempts_with(registry, request, availability, today, &Limits::default())
        .map(|p| p.attempts)
}

/// The attempts of a request, and how many were left out by [`Limits::max_attempts`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AttemptPlan<'a> {
    pub attempts: Vec<Attempt<'a>>,
    /// Attempts routing would have made beyond the limit.
    pub omitted: usize,
}

/// [`build_attempts`] with explicit bounds.
///
/// When the chain expands to more than `limits.max_attempts` attempts (one unnamed model can
/// expand to every provider and region the gateway holds credentials for), the first choice of
/// every chain entry is kept first, then the rest in order until the limit: a fallback the caller
/// wrote is never crowded out by the expansion of the entry before it. The order is unchanged.
/// This is a cut, not an error: the caller did nothing wrong by naming a widely served model.
pub fn build_attempts_with<'a>(
    registry: &'a Registry,
    request: &'a ModelRequest<'a>,
    availability: &'a Availability,
    today: Date,
    limits: &Limits,
) -> Result<AttemptPlan<'a>, RoutingError> {
    let mut out = Out {
        list: Vec::with_capacity(8),
        seen: HashSet::with_capacity(8),
    };
    let mut first_empty: Option<&ModelSpec<'a>> = None;
    for spec in &request.chain {
        let before = out.len();
        if spec.provider.is_some_and(|p| request.excludes(&p.id)) {
            continue;
        }
        match (&spec.model, spec.provider) {
            (SpecModel::Known(model), _) if model.lifecycle.is_retired_at(today) => {}
            (SpecModel::Known(model), None) => unnamed(
                registry,
                request,
                availability,
                spec,
                model,
                today,
                &mut out,
            ),
            (SpecModel::Known(model), Some(provider)) => {
                named(
                    registry,
                    availability,
                    spec,
                    model,
                    provider,
                    today,
                    &mut out,
                )?;
            }
            (SpecModel::Passthrough(name), Some(provider)) => {
                passthrough(availability, spec, name, provider, &mut out)?;
            }
            // A passthrough without provider cannot come out of the parser; nothing to route.
            (SpecModel::Passthrough(_), None) => {}
        }
        if out.len() == before && first_empty.is_none() {
            first_empty = Some(spec);
        }
    }
    if out.list.is_empty() {
        return Err(match first_empty {
            Some(spec) => no_usable_endpoint(registry, request, spec, today),
            None => RoutingError::EmptyModel,
        });
    }
    let (mut attempts, omitted) = keep_at_most(out.list, limits.max_attempts.max(1));
    for (i, a) in attempts.iter_mut().enumerate() {
        a.fallback_index = i;
    }
    Ok(AttemptPlan { attempts, omitted })
}

/// Keeps `max` attempts: each chain entry's first, then the others in order (see
/// [`build_attempts_with`]). Returns the kept ones in their original order and the count cut.
fn keep_at_most(list: Vec<Attempt<'_>>, max: usize) -> (Vec<Attempt<'_>>, usize) {
    if list.len() <= max {
        return (list, 0);
    }
    let mut keep = vec![false; list.len()];
    let mut budget = max;
    let mut entry = None;
    for (i, a) in list.iter().enumerate() {
        if budget > 0 && entry != Some(a.chain_index) {
            entry = Some(a.chain_index);
            keep[i] = true;
            budget -= 1;
        }
    }
    for k in keep.iter_mut() {
        if budget == 0 {
            break;
        }
        if !*k {
            *k = true;
            budget -= 1;
        }
    }
    let omitted = list.len() - max;
    let kept = list
        .into_iter()
        .zip(keep)
        .filter_map(|(a, k)| k.then_some(a))
        .collect();
    (kept, omitted)
}

fn attempt<'a>(
    spec: &ModelSpec<'_>,
    provider: &'a Provider,
    e: &'a Endpoint,
    billing: Billing<'a>,
) -> Attempt<'a> {
    Attempt {
        route: Route::Endpoint(e),
        provider,
        provider_model_id: &e.provider_model_id,
        billing,
        online: spec.online,
        chain_index: spec.position,
        fallback_index: 0,
    }
}

/// The endpoint a BYOK key uses among a config's endpoints: the deployment of the key's region,
/// else the default `*` deployment, else the cheapest. (The key's own config still travels with
/// the attempt, so a region the registry lacks is still the region called.)
fn byok_endpoint<'a, I>(endpoints: impl Fn() -> I, key: &ProviderKey) -> Option<&'a Endpoint>
where
    I: Iterator<Item = &'a Endpoint>,
{
    if let Some(region) = key.config.region.as_deref() {
        if let Some(e) = endpoints().find(|e| e.config.region.as_deref() == Some(region)) {
            return Some(e);
        }
    }
    endpoints()
        .find(|e| e.deployment == "*")
        .or_else(|| endpoints().next())
}

/// `model`: every provider of the model, sorted.
fn unnamed<'a>(
    registry: &'a Registry,
    request: &ModelRequest<'_>,
    availability: &'a Availability,
    spec: &ModelSpec<'_>,
    model: &Model,
    today: Date,
    out: &mut Out<'a>,
) {
    // The registry's iterators are not Clone; a closure re-creates one for each pass.
    let eligible = || {
        registry.endpoints_for_model(&model.id).filter(|e| {
            !e.require_explicit_routing && !request.excludes(&e.provider) && routable(e, today)
        })
    };
    // (sort key, attempt): keys computed once, not per comparison.
    let mut group = Vec::with_capacity(8);
    for e in eligible() {
        if group
            .iter()
            .any(|(_, a): &(_, Attempt<'_>)| a.provider.id == e.provider)
        {
            continue;
        }
        let (Some(key), Some(provider)) = (
            availability.key(&e.provider, &model.id),
            registry.provider(&e.provider),
        ) else {
            continue;
        };
        let of_provider = || eligible().filter(|x| x.provider == e.provider);
        if let Some(chosen) = byok_endpoint(of_provider, key) {
            group.push((
                (0u8, 1u32, chosen.pricing.base_sort_key()),
                attempt(spec, provider, chosen, Billing::Byok { key }),
            ));
        }
    }
    for e in eligible().filter(|e| e.ptb && availability.has_ptb(&e.provider)) {
        if let Some(provider) = registry.provider(&e.provider) {
            group.push((
                (1, e.priority, e.pricing.base_sort_key()),
                attempt(spec, provider, e, Billing::Ptb),
            ));
        }
    }
    // Stable: equal keys keep the registry's order (cheapest base tier, then id).
    group.sort_by_key(|(k, _)| *k);
    for (_, a) in group {
        out.push(a);
    }
}

/// `model/provider[/target]` for a model the registry knows.
fn named<'a>(
    registry: &'a Registry,
    availability: &'a Availability,
    spec: &'a ModelSpec<'a>,
    model: &'a Model,
    provider: &'a Provider,
    today: Date,
    out: &mut Out<'a>,
) -> Result<(), RoutingError> {
    // Through endpoints_for_model, a pinned snapshot finds its base model's endpoints.
    let all = || {
        registry
            .endpoints_for_model(&model.id)
            .filter(|e| e.provider == provider.id)
    };
    let endpoints = || all().filter(|e| routable(e, today));
    if all().next().is_none() {
        // Not in the registry on this provider: the reference's passthrough, with the canonical id.
        return passthrough(availability, spec, &model.id, provider, out);
    }
    let ptb_from = |e: &'a Endpoint, out: &mut Out<'a>| {
        if e.ptb && availability.has_ptb(&provider.id) {
            out.push(attempt(spec, provider, e, Billing::Ptb));
        }
    };
    match spec.target.as_deref() {
        Some(target) => {
            if let Some(key) = availability.key_by_id(&provider.id, target) {
                if let Some(e) = byok_endpoint(endpoints, key) {
                    out.push(attempt(spec, provider, e, Billing::Byok { key }));
                }
            } else if let Some(e) = endpoints().find(|e| e.deployment == target) {
                if let Some(key) = availability.key(&provider.id, &model.id) {
                    out.push(attempt(spec, provider, e, Billing::Byok { key }));
                }
                ptb_from(e, out);
            } else if let Some(e) = all().find(|e| e.deployment == target) {
                return Err(retired_deployment(e));
            } else {
                return Err(RoutingError::UnknownTarget {
                    model: model.id.clone(),
                    provider: provider.id.clone(),
                    target: target.to_owned(),
                    deployments: endpoints().map(|e| e.deployment.clone()).collect(),
                });
            }
        }
        None => {
            if let Some(key) = availability.key(&provider.id, &model.id) {
                if let Some(e) = byok_endpoint(endpoints, key) {
                    out.push(attempt(spec, provider, e, Billing::Byok { key }));
                }
            }
            for e in endpoints() {
                ptb_from(e, out);
            }
        }
    }
    Ok(())
}

/// A name the registry does not have on this provider: the org's key only, sent as named.
fn passthrough<'a>(
    availability: &'a Availability,
    spec: &ModelSpec<'_>,
    name: &'a str,
    provider: &'a Provider,
    out: &mut Out<'a>,
) -> Result<(), RoutingError> {
    let key =
        match spec.target.as_deref() {
            Some(target) => Some(availability.key_by_id(&provider.id, target).ok_or_else(
                || RoutingError::UnknownTarget {
                    model: name.to_owned(),
                    provider: provider.id.clone(),
                    target: target.to_owned(),
                    deployments: Vec::new(),
                },
            )?),
            None => availability.key(&provider.id, name),
        };
    if let Some(key) = key {
        out.push(Attempt {
            route: Route::Passthrough,
            provider,
            provider_model_id: name,
            billing: Billing::Byok { key },
            online: spec.online,
            chain_index: spec.position,
            fallback_index: 0,
        });
    }
    Ok(())
}

fn no_usable_endpoint(
    registry: &Registry,
    request: &ModelRequest<'_>,
    spec: &ModelSpec<'_>,
    today: Date,
) -> RoutingError {
    if let SpecModel::Known(model) = &spec.model {
        if let Some(e) = retired(
            registry,
            &model.id,
            spec.provider.map(|p| p.id.as_str()),
            today,
        ) {
            return e;
        }
    }
    match (&spec.model, spec.provider) {
        (SpecModel::Known(model), None) => {
            let mut providers: Vec<String> = Vec::new();
            for e in registry.endpoints_for_model(&model.id) {
                if !e.require_explicit_routing
                    && routable(e, today)
                    && !request.excludes(&e.provider)
                    && !providers.contains(&e.provider)
                {
                    providers.push(e.provider.clone());
                }
            }
            RoutingError::NoUsableEndpoint {
                model: model.id.clone(),
                providers,
            }
        }
        (SpecModel::Known(model), Some(p))
            if registry
                .endpoints_for_model(&model.id)
                .any(|e| e.provider == p.id) =>
        {
            RoutingError::NoUsableEndpoint {
                model: model.id.clone(),
                providers: vec![p.id.clone()],
            }
        }
        (_, Some(p)) => RoutingError::PassthroughNeedsKey {
            model: spec.model_name().to_owned(),
            provider: p.id.clone(),
        },
        (SpecModel::Passthrough(name), None) => RoutingError::UnknownModel {
            model: name.clone(),
        },
    }
}
