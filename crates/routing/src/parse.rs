//! Model strings: `model`, `model/provider`, `model/provider/<deployment or key id>`, comma
//! fallback chains, `!provider` exclusions, a `:online` suffix, renamed-model aliases.

use crate::RoutingError;
use switchyard_registry::{Model, Provider, Registry};

/// The model of one chain entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SpecModel<'r> {
    /// A registry model (a former id is already resolved to the current model).
    Known(&'r Model),
    /// A name the registry does not know, sent as is to an explicitly named provider (BYOK only).
    Passthrough(String),
}

/// One entry of the fallback chain.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ModelSpec<'r> {
    pub model: SpecModel<'r>,
    /// The provider named by the caller, if any. Naming one keeps the caller's order and allows
    /// endpoints that require explicit routing.
    pub provider: Option<&'r Provider>,
    /// Third segment: a registry deployment id (`us-east-1`, `global`, `*`) or one of the org's
    /// provider key ids. Resolved by [`crate::build_attempts`], which knows the keys.
    pub target: Option<String>,
    /// The `:online` suffix (web search) was given.
    pub online: bool,
    /// Position of this entry among the model entries as written (exclusions not counted).
    pub position: usize,
}

impl ModelSpec<'_> {
    /// The model id the entry resolved to, or the passthrough name.
    pub fn model_name(&self) -> &str {
        match &self.model {
            SpecModel::Known(m) => &m.id,
            SpecModel::Passthrough(name) => name,
        }
    }
}

/// A parsed `model` value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ModelRequest<'r> {
    /// Entries in the caller's order, minus entries whose provider is excluded.
    pub chain: Vec<ModelSpec<'r>>,
    /// Providers removed from every attempt (`!provider`).
    pub excluded: Vec<&'r Provider>,
}

impl ModelRequest<'_> {
    pub fn excludes(&self, provider: &str) -> bool {
        self.excluded.iter().any(|p| p.id == provider)
    }
}

const ONLINE: &str = ":online";

/// Longest chain entry accepted, in bytes. Real model ids (Bedrock ARNs, Fireworks paths) are
/// under 200; the cap keeps error messages and lookups small whatever the caller sends.
pub const MAX_ENTRY_BYTES: usize = 512;
/// Most `!provider` exclusions in one model string (the registry has fewer providers).
pub const MAX_EXCLUSIONS: usize = 64;
/// How much of the caller's input an error message echoes.
const ECHO_CHARS: usize = 200;

/// Bounds on the work one `model` value may cause. The server passes its configuration;
/// [`Limits::default`] is what it uses unless told otherwise.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Model entries in a fallback chain, as written (exclusions not counted). More is a
    /// [`RoutingError::TooManyModels`], found before the entries past the limit are parsed.
    pub max_models: usize,
    /// Upstream attempts planned for one request; [`crate::build_attempts_with`] keeps this many
    /// (every chain entry's first choice first, see there) and reports how many it left out.
    pub max_attempts: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_models: 10,
            // Below the widest model's expansion (kimi-k3: 19 attempts with every provider
            // billable): the plan is cut, keeping each chain entry's first choice, not refused.
            max_attempts: 10,
        }
    }
}

/// The caller's text as an error message shows it: at most [`ECHO_CHARS`] characters.
pub(crate) fn echo(s: &str) -> String {
    match s.char_indices().nth(ECHO_CHARS) {
        None => s.to_owned(),
        Some((cut, _)) => format!("{}...", &s[..cut]),
    }
}

/// Parses a `model` value against the registry.
///
/// **Where the provider is.** Provider model ids may contain `/` (`meta-llama/Llama-3.3-70B-Instruct`,
/// `accounts/fireworks/models/x`), so an entry is split from the right: if its last segment is a
/// registry provider key it is `model/provider`; else if its second-to-last segment is one, it is
/// `model/provider/<deployment or key id>`; else the whole entry is a model name. If both readings
/// are possible (`gpt-4o/openai/azure`), the one whose model part the registry knows wins, else the
/// first. A segment that is not a provider key therefore never splits: `meta-llama/Llama-3.3-70B-Instruct`
/// is one model name (unknown to the registry: 404), while `meta-llama/Llama-3.3-70B-Instruct/deepinfra`
/// sends that id to deepinfra.
///
/// **Strictness.** Unlike the reference, which logs and skips a bad entry, every entry must parse:
/// an unknown model or provider anywhere in a chain is reported, so a typo in a fallback is found
/// now rather than at the outage it was meant for.
///
/// **Bounds** ([`Limits::default`]; see [`parse_model_string_with`]).
pub fn parse_model_string<'r>(
    registry: &'r Registry,
    input: &str,
) -> Result<ModelRequest<'r>, RoutingError> {
    parse_model_string_with(registry, input, &Limits::default())
}

/// [`parse_model_string`] with explicit bounds. Entries are read lazily, left to right, so the
/// work done is bounded by the limits, not by the input: the `max_models + 1`-th model entry
/// stops the parse with [`RoutingError::TooManyModels`] (a 100,000-entry chain costs as much as
/// an 11-entry one), more than [`MAX_EXCLUSIONS`] exclusions with
/// [`RoutingError::TooManyExclusions`], and an entry over [`MAX_ENTRY_BYTES`] is invalid syntax.
pub fn parse_model_string_with<'r>(
    registry: &'r Registry,
    input: &str,
    limits: &Limits,
) -> Result<ModelRequest<'r>, RoutingError> {
    let input = input.trim();
    if input.is_empty() {
        return Err(RoutingError::EmptyModel);
    }
    let mut chain = Vec::new();
    let mut excluded: Vec<&'r Provider> = Vec::new();
    let mut exclusions = 0usize;
    for entry in input.split(',') {
        let entry = entry.trim();
        if entry.is_empty() {
            return Err(RoutingError::InvalidSyntax {
                entry: echo(input),
                reason: "it has an empty entry between commas",
            });
        }
        if entry.len() > MAX_ENTRY_BYTES {
            return Err(RoutingError::InvalidSyntax {
                entry: echo(entry),
                reason: "an entry is longer than 512 bytes",
            });
        }
        if let Some(name) = entry.strip_prefix('!') {
            exclusions += 1;
            if exclusions > MAX_EXCLUSIONS {
                return Err(RoutingError::TooManyExclusions {
                    limit: MAX_EXCLUSIONS,
                });
            }
            let name = name.trim();
            if name.is_empty() {
                return Err(RoutingError::InvalidExclusion);
            }
            let p = provider(registry, name)?;
            // At most one per registry provider, so this scan is bounded by the registry.
            if !excluded.iter().any(|e| e.id == p.id) {
                excluded.push(p);
            }
            continue;
        }
        if chain.len() >= limits.max_models {
            return Err(RoutingError::TooManyModels {
                limit: limits.max_models,
            });
        }
        let position = chain.len();
        chain.push(parse_entry(registry, entry, position)?);
    }
    if chain.is_empty() {
        return Err(RoutingError::EmptyModel);
    }
    if !excluded.is_empty() {
        chain.retain(|spec| !fully_excluded(registry, spec, &excluded));
        if chain.is_empty() {
            return Err(RoutingError::AllExcluded { input: echo(input) });
        }
    }
    Ok(ModelRequest { chain, excluded })
}

fn provider<'r>(registry: &'r Registry, name: &str) -> Result<&'r Provider, RoutingError> {
    registry
        .provider(name)
        .ok_or_else(|| invalid_provider(registry, name))
}

fn invalid_provider(registry: &Registry, name: &str) -> RoutingError {
    RoutingError::InvalidProvider {
        provider: name.to_owned(),
        valid: registry.providers().map(|p| p.id.clone()).collect(),
    }
}

/// An entry whose named provider is excluded, or whose model is served only by excluded providers.
fn fully_excluded(registry: &Registry, spec: &ModelSpec<'_>, excluded: &[&Provider]) -> bool {
    let is_excluded = |id: &str| excluded.iter().any(|p| p.id == id);
    match (spec.provider, &spec.model) {
        (Some(p), _) => is_excluded(&p.id),
        (None, SpecModel::Known(m)) => {
            let mut serving = registry
                .endpoints_for_model(&m.id)
                .map(|e| e.provider.as_str())
                .peekable();
            serving.peek().is_some() && serving.all(is_excluded)
        }
        // Unreachable by construction (a passthrough always names its provider); keep it routable.
        (None, SpecModel::Passthrough(_)) => false,
    }
}

fn parse_entry<'r>(
    registry: &'r Registry,
    entry: &str,
    position: usize,
) -> Result<ModelSpec<'r>, RoutingError> {
    if entry.starts_with('/') || entry.ends_with('/') || entry.contains("//") {
        return Err(RoutingError::InvalidSyntax {
            entry: entry.to_owned(),
            reason: "it has an empty part between slashes",
        });
    }
    let (name, provider, target) = split(registry, entry)?;
    let (name, online) = match name.strip_suffix(ONLINE) {
        Some(base) => (base, true),
        None => (name, false),
    };
    if name.is_empty() {
        return Err(RoutingError::InvalidSyntax {
            entry: entry.to_owned(),
            reason: "the model name is empty",
        });
    }
    let mut target = target.map(str::to_owned);
    let model = match registry.resolve_model(name) {
        Some(m) => SpecModel::Known(m),
        None => match provider {
            None => {
                return Err(RoutingError::UnknownModel {
                    model: name.to_owned(),
                })
            }
            Some(p) => match known_by_provider_model_id(registry, &p.id, name) {
                Some((m, deployment)) => {
                    if target.is_none() {
                        target = deployment.map(str::to_owned);
                    }
                    SpecModel::Known(m)
                }
                None => SpecModel::Passthrough(name.to_owned()),
            },
        },
    };
    Ok(ModelSpec {
        model,
        provider,
        target,
        online,
        position,
    })
}

/// Splits an entry into (model part, provider, target), reading from the right (see
/// [`parse_model_string`]).
fn split<'r, 'e>(
    registry: &'r Registry,
    entry: &'e str,
) -> Result<(&'e str, Option<&'r Provider>, Option<&'e str>), RoutingError> {
    let Some(last_slash) = entry.rfind('/') else {
        return Ok((entry, None, None));
    };
    let (head, last) = (&entry[..last_slash], &entry[last_slash + 1..]);
    let second = head.rfind('/').map(|i| (&head[..i], &head[i + 1..]));

    let as_provider = registry.provider(last).map(|p| (head, Some(p), None));
    let as_target = second
        .and_then(|(model, seg)| registry.provider(seg).map(|p| (model, Some(p), Some(last))));
    let known = |model: &str| {
        registry
            .resolve_model(model.strip_suffix(ONLINE).unwrap_or(model))
            .is_some()
    };
    match (as_provider, as_target) {
        (Some(a), Some(b)) => Ok(if !known(a.0) && known(b.0) { b } else { a }),
        (Some(a), None) => Ok(a),
        (None, Some(b)) => Ok(b),
        (None, None) => {
            // No provider segment. If what precedes a segment is a known model, the caller meant
            // that segment as a provider: say so instead of "unknown model".
            if known(head) {
                return Err(invalid_provider(registry, last));
            }
            if let Some((model, seg)) = second {
                if known(model) {
                    return Err(invalid_provider(registry, seg));
                }
            }
            Ok((entry, None, None))
        }
    }
}

/// A provider's own model id (or alias) that the registry prices: routes as that registry model
/// (priced, PTB-capable) instead of as an unpriced passthrough. A deployment-specific id pins
/// its deployment.
fn known_by_provider_model_id<'r>(
    registry: &'r Registry,
    provider: &str,
    name: &str,
) -> Option<(&'r Model, Option<&'r str>)> {
    let e = registry.endpoint_by_provider_model_id(provider, name)?;
    let config = registry.config(&e.model, &e.provider)?;
    let model = registry.model(&e.model)?;
    let pinned = (e.provider_model_id == name && config.provider_model_id != name)
        .then_some(e.deployment.as_str());
    Some((model, pinned))
}
