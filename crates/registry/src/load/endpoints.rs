//! `authors/<author>/endpoints.toml`: `[[endpoint]]` configs and their deployments.

use super::Loader;
use crate::lifecycle::Lifecycle;
use crate::spec::{ConfigSpec, DeploymentSpec, DeploymentsSpec};
use crate::types::{DeploymentConfig, Endpoint, Model, ModelProviderConfig, Provider};
use indexmap::IndexMap;
use std::collections::{HashMap, HashSet};
use switchyard_cost::Pricing;
use time::Date;

/// The keys an endpoints file may hold at its top level.
const FILE_KEYS: &[&str] = &["endpoint", "archived", "pricing_source", "pricing_checked"];

/// What the endpoint files define.
#[derive(Default)]
pub(super) struct Endpoints {
    pub configs: Vec<ModelProviderConfig>,
    pub endpoints: Vec<Endpoint>,
    pub archived: Vec<ModelProviderConfig>,
}

/// A file's or an entry's price source, before the levels below override it.
#[derive(Clone, Default)]
struct Source {
    url: Option<String>,
    checked: Option<Date>,
}

impl Source {
    fn over(&self, outer: &Source) -> Source {
        Source {
            url: self.url.clone().or_else(|| outer.url.clone()),
            checked: self.checked.or(outer.checked),
        }
    }
}

/// Uniqueness state across every endpoint file.
#[derive(Default)]
struct Seen {
    configs: HashMap<String, String>,
    archived: HashSet<String>,
    /// (provider, provider model id or alias) → config id that claimed it
    provider_ids: HashMap<(String, String), String>,
}

pub(super) fn endpoints(
    l: &mut Loader,
    providers: &IndexMap<String, Provider>,
    models: &IndexMap<String, Model>,
    endpoint_files: &[(String, String, &str)],
) -> Endpoints {
    let mut out = Endpoints::default();
    let mut seen = Seen::default();
    for (author_id, file, text) in endpoint_files {
        let Some(mut table) = l.parse_table(file, text) else {
            continue;
        };
        for key in table.keys() {
            if !FILE_KEYS.contains(&key.as_str()) {
                l.push(
                    file,
                    None,
                    Some(key.clone()),
                    "unknown key: an endpoints file holds `pricing_source`, `pricing_checked`, [[endpoint]] and [[archived]] entries",
                );
            }
        }
        let file_source = {
            let url = match table.remove("pricing_source") {
                None => None,
                Some(toml::Value::String(s)) => l.url(file, &None, "pricing_source", Some(s)),
                Some(other) => {
                    l.push(
                        file,
                        None,
                        Some("pricing_source".into()),
                        format!("expected a URL string, found {}", other.type_str()),
                    );
                    None
                }
            };
            let checked = l.date(
                file,
                &None,
                "pricing_checked",
                table.remove("pricing_checked"),
            );
            Source { url, checked }
        };
        table.retain(|k, _| k == "endpoint" || k == "archived");
        let Some(parsed) = l.entry::<EndpointsFileRaw>(file, "(file)", toml::Value::Table(table))
        else {
            continue;
        };
        for (is_archived, raw) in parsed
            .endpoint
            .into_iter()
            .map(|v| (false, v))
            .chain(parsed.archived.into_iter().map(|v| (true, v)))
        {
            let label = entry_label(&raw, is_archived);
            let Some(spec) = l.entry::<ConfigSpec>(file, &label, raw) else {
                continue;
            };
            let ctx = Ctx {
                file,
                author_id,
                providers,
                models,
                file_source: &file_source,
            };
            ctx.config(l, &mut seen, &mut out, spec, is_archived);
        }
    }
    out
}

struct Ctx<'a> {
    file: &'a str,
    author_id: &'a str,
    providers: &'a IndexMap<String, Provider>,
    models: &'a IndexMap<String, Model>,
    file_source: &'a Source,
}

impl Ctx<'_> {
    fn config(
        &self,
        l: &mut Loader,
        seen: &mut Seen,
        out: &mut Endpoints,
        spec: ConfigSpec,
        is_archived: bool,
    ) {
        let file = self.file;
        let id = format!("{}:{}", spec.model, spec.provider);
        let entry = Some(if is_archived {
            format!("archived {id}")
        } else {
            format!("endpoint {id}")
        });
        let mut ok = true;
        let model = match self.models.get(&spec.model) {
            None => {
                l.push(
                    file,
                    entry.clone(),
                    Some("model".into()),
                    format!("unknown model `{}`", spec.model),
                );
                ok = false;
                None
            }
            Some(m) if m.author != self.author_id => {
                l.push(file, entry.clone(), Some("model".into()), format!("model `{}` belongs to author `{}`; put its endpoints in authors/{}/endpoints.toml", spec.model, m.author, m.author));
                ok = false;
                None
            }
            Some(m) => Some(m),
        };
        let Some(provider) = self.providers.get(&spec.provider) else {
            l.push(
                file,
                entry.clone(),
                Some("provider".into()),
                format!("unknown provider `{}`", spec.provider),
            );
            return;
        };
        let pricing = match Pricing::resolve(&spec.pricing) {
            Ok(p) => Some(p),
            Err(e) => {
                let field = format!("pricing{}", e.path().unwrap_or_default());
                l.push(file, entry.clone(), Some(field), e.to_string());
                None
            }
        };
        let own_lifecycle = l.lifecycle(
            file,
            &entry,
            "",
            spec.deprecated,
            spec.retired,
            spec.successor,
        );
        l.check_successor(file, &entry, "", &own_lifecycle, &spec.model, self.models);
        let model_lifecycle = model.map(|m| m.lifecycle.clone()).unwrap_or_default();
        let source = Source {
            url: l.url(file, &entry, "pricing_source", spec.pricing_source),
            checked: l.date(file, &entry, "pricing_checked", spec.pricing_checked),
        }
        .over(self.file_source);
        let deployments: Vec<(String, DeploymentSpec)> = match spec.deployments {
            None => Vec::new(),
            Some(DeploymentsSpec::List(ids)) => ids
                .into_iter()
                .map(|d| (d, DeploymentSpec::default()))
                .collect(),
            Some(DeploymentsSpec::Map(map)) => map.into_iter().collect(),
        };
        if deployments.is_empty() {
            l.push(
                file,
                entry.clone(),
                Some("deployments".into()),
                "no deployment: add `deployments = [\"*\"]` (or regional ids)",
            );
            ok = false;
        }
        if is_archived {
            match &spec.version {
                None => {
                    l.push(
                        file,
                        entry.clone(),
                        Some("version".into()),
                        "archived entries need a version",
                    );
                    ok = false;
                }
                Some(v) => {
                    if !seen.archived.insert(format!("{id}:{v}")) {
                        l.push(
                            file,
                            entry.clone(),
                            Some("version".into()),
                            format!("duplicate archived version `{v}`"),
                        );
                        ok = false;
                    }
                }
            }
        } else if let Some(other) = seen.configs.insert(id.clone(), file.to_owned()) {
            l.push(
                file,
                entry.clone(),
                None,
                format!("duplicate endpoint `{id}`, already defined in {other}"),
            );
            ok = false;
        }
        let Some(pricing) = pricing else { return };
        if !ok {
            return;
        }
        let config = ModelProviderConfig {
            id: id.clone(),
            model: spec.model.clone(),
            provider: spec.provider.clone(),
            author: self.author_id.to_owned(),
            provider_model_id: spec.provider_model_id.clone(),
            aliases: spec.aliases.clone(),
            version: spec.version.clone(),
            pricing,
            context_length: spec.context_length,
            max_completion_tokens: spec.max_completion_tokens,
            ptb: spec.ptb,
            response_format: spec.response_format,
            cross_region: spec.cross_region,
            require_explicit_routing: spec.require_explicit_routing,
            priority: spec.priority,
            quantization: spec.quantization,
            supported_parameters: spec.supported_parameters.clone(),
            unsupported_parameters: spec.unsupported_parameters.clone(),
            supported_plugins: spec.supported_plugins.clone(),
            rate_limits: spec.rate_limits,
            deployments: deployments.iter().map(|(d, _)| d.clone()).collect(),
            lifecycle: own_lifecycle.within(&model_lifecycle),
            pricing_source: source.url.clone(),
            pricing_checked: source.checked,
        };
        if is_archived {
            // Archived versions are priced too (old requests are re-priced with them), so they
            // need a source as well.
            self.require_source(l, &entry, &source, "");
            out.archived.push(config);
            return;
        }
        // A provider model id or alias must name one config per provider; deployments of
        // the same config may share one.
        let mut claimed: Vec<(&str, &str)> =
            vec![("provider_model_id", spec.provider_model_id.as_str())];
        claimed.extend(spec.aliases.iter().map(|a| ("aliases", a.as_str())));
        claimed.extend(deployments.iter().filter_map(|(_, d)| {
            d.provider_model_id
                .as_deref()
                .map(|p| ("deployments.provider_model_id", p))
        }));
        for (field, pid) in claimed {
            let key = (spec.provider.clone(), pid.to_owned());
            match seen.provider_ids.get(&key) {
                Some(other) if other != &id => l.push(
                    file,
                    entry.clone(),
                    Some(field.into()),
                    format!(
                        "provider model id `{pid}` on `{}` is already used by `{other}`",
                        spec.provider
                    ),
                ),
                _ => {
                    seen.provider_ids.insert(key, id.clone());
                }
            }
        }
        let parent = Parent {
            config: &config,
            provider,
            own_lifecycle: &own_lifecycle,
            model_lifecycle: &model_lifecycle,
            source: &source,
        };
        for (dep_id, dep) in deployments {
            if let Some(e) = self.deployment(l, &parent, dep_id, dep) {
                out.endpoints.push(e);
            }
        }
        out.configs.push(config);
    }

    fn require_source(&self, l: &mut Loader, entry: &Option<String>, s: &Source, at: &str) {
        let file = self.file;
        if s.url.is_none() {
            l.push(file, entry.clone(), Some(format!("{at}pricing_source")), "no pricing source: set `pricing_source` (the URL of the provider's price list) at the top of the file, on the [[endpoint]] or on this deployment");
        }
        if s.checked.is_none() {
            l.push(file, entry.clone(), Some(format!("{at}pricing_checked")), "no pricing date: set `pricing_checked = \"YYYY-MM-DD\"` (when the prices were last checked against `pricing_source`) at the top of the file, on the [[endpoint]] or on this deployment");
        }
    }

    fn deployment(
        &self,
        l: &mut Loader,
        parent: &Parent<'_>,
        dep_id: String,
        dep: DeploymentSpec,
    ) -> Option<Endpoint> {
        let file = self.file;
        let config = parent.config;
        let provider = parent.provider;
        let id = &config.id;
        let dep_entry = Some(format!("endpoint {id}:{dep_id}"));
        let at = format!("deployments.{dep_id}.");
        let dep_pricing = match &dep.pricing {
            None => Some(config.pricing.clone()),
            Some(tiers) => match Pricing::resolve(tiers) {
                Ok(p) => Some(p),
                Err(e) => {
                    let field = format!("{at}pricing{}", e.path().unwrap_or_default());
                    l.push(file, dep_entry.clone(), Some(field), e.to_string());
                    None
                }
            },
        };
        // Deployment fields override the [[endpoint]]'s one by one; the model's dates apply last.
        let written = l.lifecycle(
            file,
            &dep_entry,
            &at,
            dep.deprecated,
            dep.retired,
            dep.successor,
        );
        l.check_successor(file, &dep_entry, &at, &written, &config.model, self.models);
        let own = parent.own_lifecycle;
        let lifecycle = Lifecycle {
            deprecated: written.deprecated.or(own.deprecated),
            retired: written.retired.or(own.retired),
            successor: written.successor.or_else(|| own.successor.clone()),
        }
        .within(parent.model_lifecycle);
        let source = Source {
            url: l.url(
                file,
                &dep_entry,
                &format!("{at}pricing_source"),
                dep.pricing_source,
            ),
            checked: l.date(
                file,
                &dep_entry,
                &format!("{at}pricing_checked"),
                dep.pricing_checked,
            ),
        }
        .over(parent.source);
        self.require_source(l, &dep_entry, &source, "");
        let dconfig = DeploymentConfig {
            region: dep
                .region
                .clone()
                .or_else(|| (dep_id != "*").then(|| dep_id.clone())),
            project_id: dep.project_id,
            resource_name: dep.resource_name,
            deployment_name: dep.deployment_name,
            base_uri: dep.base_uri,
            api_version: dep.api_version,
        };
        for field in &provider.deployment_config {
            if dconfig.get(*field).is_none() {
                l.push(file, dep_entry.clone(), Some(format!("deployments.{dep_id}")), format!("provider `{}` needs `{}` for every deployment: use a regional deployment id or set it", provider.id, field.as_str()));
            }
        }
        if dep_id.is_empty() || dep_id.contains(':') {
            l.push(
                file,
                dep_entry.clone(),
                Some("deployments".into()),
                "deployment ids are `*` or a region such as `us-east-1`, without ':'",
            );
        }
        let (pricing, url, checked) = (dep_pricing?, source.url?, source.checked?);
        Some(Endpoint {
            id: format!("{id}:{dep_id}"),
            model: config.model.clone(),
            provider: config.provider.clone(),
            deployment: dep_id,
            author: config.author.clone(),
            provider_model_id: dep
                .provider_model_id
                .unwrap_or_else(|| config.provider_model_id.clone()),
            pricing,
            context_length: dep.context_length.unwrap_or(config.context_length),
            max_completion_tokens: dep
                .max_completion_tokens
                .unwrap_or(config.max_completion_tokens),
            ptb: dep.ptb.unwrap_or(config.ptb),
            version: dep.version.or_else(|| config.version.clone()),
            rate_limits: dep.rate_limits.or(config.rate_limits),
            priority: dep
                .priority
                .or(config.priority)
                .unwrap_or(provider.priority),
            response_format: config.response_format,
            cross_region: dep.cross_region.unwrap_or(config.cross_region),
            require_explicit_routing: config.require_explicit_routing,
            supported_parameters: config.supported_parameters.clone(),
            unsupported_parameters: config.unsupported_parameters.clone(),
            supported_plugins: config.supported_plugins.clone(),
            config: dconfig,
            lifecycle,
            pricing_source: url,
            pricing_checked: checked,
        })
    }
}

/// What a deployment inherits from its `[[endpoint]]`.
struct Parent<'a> {
    config: &'a ModelProviderConfig,
    provider: &'a Provider,
    /// The `[[endpoint]]`'s lifecycle as written, without the model's.
    own_lifecycle: &'a Lifecycle,
    model_lifecycle: &'a Lifecycle,
    source: &'a Source,
}

/// The file's two arrays, kept as raw values so each entry is checked (and named) alone.
#[derive(serde::Deserialize)]
struct EndpointsFileRaw {
    #[serde(default)]
    endpoint: Vec<toml::Value>,
    #[serde(default)]
    archived: Vec<toml::Value>,
}

fn entry_label(raw: &toml::Value, archived: bool) -> String {
    let get = |k: &str| raw.get(k).and_then(|v| v.as_str()).unwrap_or("?");
    let kind = if archived { "archived" } else { "endpoint" };
    format!("{kind} {}:{}", get("model"), get("provider"))
}
