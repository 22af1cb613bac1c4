//! The loaded registry and its indexes, built once.

use crate::lifecycle::{LifecycleStatus, Retirement};
use crate::load::{self, Files, Loaded, RegistryErrors};
use crate::types::{Author, Endpoint, Model, ModelProviderConfig, Provider};
use indexmap::IndexMap;
use rustc_hash::FxHashMap;
use std::path::Path;
use switchyard_cost::{CostBreakdown, Usage};
use time::Date;

type Map<V> = FxHashMap<Box<str>, V>;

/// Why a (provider, provider model id) could not be priced. A cost is never silently 0.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Unpriced {
    #[error("unknown provider `{0}`")]
    UnknownProvider(String),
    #[error("no price for `{model}` on `{provider}`")]
    UnknownModel { provider: String, model: String },
}

/// Providers, authors, models and endpoints, validated, with O(1) indexes.
///
/// Immutable once built; share it behind an `Arc`. A price change is a new `Registry`.
#[derive(Debug)]
pub struct Registry {
    providers: IndexMap<String, Provider>,
    authors: IndexMap<String, Author>,
    models: IndexMap<String, Model>,
    configs: Vec<ModelProviderConfig>,
    endpoints: Vec<Endpoint>,
    archived: Vec<ModelProviderConfig>,

    /// `model:provider` → config
    config_by_id: Map<u32>,
    /// model → provider → config
    config_by_model_provider: Map<Map<u32>>,
    /// `model:provider:deployment` → endpoint
    endpoint_by_id: Map<u32>,
    /// model → endpoints, cheapest base tier first, then priority
    model_endpoints: Map<Vec<u32>>,
    /// model → PTB endpoints, same order
    model_ptb_endpoints: Map<Vec<u32>>,
    /// model → providers (registry order)
    model_providers: Map<Vec<u32>>,
    /// provider → model ids
    provider_models: Map<Vec<u32>>,
    /// provider → provider model id or alias → endpoint used for pricing
    by_provider_model_id: Map<Map<u32>>,
    /// former model id → current id
    former_ids: Map<u32>,
    /// `model:provider:version` → archived config
    archived_by_key: Map<u32>,
}

const EMPTY: &[u32] = &[];

impl Registry {
    /// The registry embedded in the binary at build time.
    pub fn embedded() -> Result<Registry, RegistryErrors> {
        let files: Files = crate::EMBEDDED
            .iter()
            .map(|(p, t)| (p.to_string(), t.to_string()))
            .collect();
        Self::from_files(&files)
    }

    /// Loads a registry folder (the layout of `registry/` in the repository).
    pub fn load_dir(root: impl AsRef<Path>) -> Result<Registry, RegistryErrors> {
        Self::from_files(&load::read_dir(root.as_ref())?)
    }

    /// Loads from (relative path, contents) pairs.
    pub fn from_files(files: &[(String, String)]) -> Result<Registry, RegistryErrors> {
        let files: Files = files.to_vec();
        load::load(&files).map(Self::index)
    }

    fn index(l: Loaded) -> Registry {
        let Loaded {
            providers,
            authors,
            models,
            configs,
            mut endpoints,
            archived,
        } = l;
        // Deterministic routing order: cheapest base tier, then priority, then id.
        endpoints.sort_by(|a, b| {
            (a.pricing.base_sort_key(), a.priority, &a.id).cmp(&(
                b.pricing.base_sort_key(),
                b.priority,
                &b.id,
            ))
        });

        let mut r = Registry {
            providers,
            authors,
            models,
            configs,
            endpoints,
            archived,
            config_by_id: Map::default(),
            config_by_model_provider: Map::default(),
            endpoint_by_id: Map::default(),
            model_endpoints: Map::default(),
            model_ptb_endpoints: Map::default(),
            model_providers: Map::default(),
            provider_models: Map::default(),
            by_provider_model_id: Map::default(),
            former_ids: Map::default(),
            archived_by_key: Map::default(),
        };

        for (i, c) in r.configs.iter().enumerate() {
            let i = i as u32;
            r.config_by_id.insert(c.id.as_str().into(), i);
            r.config_by_model_provider
                .entry(c.model.as_str().into())
                .or_default()
                .insert(c.provider.as_str().into(), i);
        }
        // Providers of a model and models of a provider, in registry (file) order.
        for (pi, p) in r.providers.values().enumerate() {
            let mut models_here = Vec::new();
            for (mi, m) in r.models.values().enumerate() {
                let has = r
                    .config_by_model_provider
                    .get(m.id.as_str())
                    .is_some_and(|by_p| by_p.contains_key(p.id.as_str()));
                if has {
                    models_here.push(mi as u32);
                    r.model_providers
                        .entry(m.id.as_str().into())
                        .or_default()
                        .push(pi as u32);
                }
            }
            r.provider_models.insert(p.id.as_str().into(), models_here);
        }
        for (i, e) in r.endpoints.iter().enumerate() {
            let i = i as u32;
            r.endpoint_by_id.insert(e.id.as_str().into(), i);
            r.model_endpoints
                .entry(e.model.as_str().into())
                .or_default()
                .push(i);
            if e.ptb {
                r.model_ptb_endpoints
                    .entry(e.model.as_str().into())
                    .or_default()
                    .push(i);
            }
        }
        // A dated snapshot with no endpoints of its own routes to its base model's endpoints:
        // both send the same provider model id, which may name one config per provider.
        for m in r.models.values() {
            let Some(base) = &m.pinned_version_of else {
                continue;
            };
            if r.model_endpoints.contains_key(m.id.as_str()) {
                continue;
            }
            for map in [&mut r.model_endpoints, &mut r.model_ptb_endpoints] {
                if let Some(list) = map.get(base.as_str()).cloned() {
                    map.insert(m.id.as_str().into(), list);
                }
            }
        }
        // Pricing by provider model id: the config's `*` deployment if it has one, else its first.
        for c in &r.configs {
            let mut deps: Vec<u32> = c
                .deployments
                .iter()
                .filter_map(|d| {
                    r.endpoint_by_id
                        .get(format!("{}:{d}", c.id).as_str())
                        .copied()
                })
                .collect();
            deps.sort_by_key(|&i| r.endpoints[i as usize].deployment != "*");
            let by_pid = r
                .by_provider_model_id
                .entry(c.provider.as_str().into())
                .or_default();
            let Some(&first) = deps.first() else { continue };
            for name in std::iter::once(&c.provider_model_id).chain(&c.aliases) {
                by_pid.entry(name.as_str().into()).or_insert(first);
            }
            for &d in &deps {
                let pid = r.endpoints[d as usize].provider_model_id.as_str();
                by_pid.entry(pid.into()).or_insert(d);
            }
        }
        for (i, m) in r.models.values().enumerate() {
            for f in &m.former_ids {
                r.former_ids.insert(f.as_str().into(), i as u32);
            }
        }
        for (i, c) in r.archived.iter().enumerate() {
            let key = format!("{}:{}", c.id, c.version.as_deref().unwrap_or(""));
            r.archived_by_key.insert(key.into(), i as u32);
        }
        r
    }

    // ---- whole collections -------------------------------------------------------------

    /// Providers in file order.
    pub fn providers(&self) -> impl ExactSizeIterator<Item = &Provider> + Clone {
        self.providers.values()
    }

    pub fn authors(&self) -> impl ExactSizeIterator<Item = &Author> + Clone {
        self.authors.values()
    }

    pub fn models(&self) -> impl ExactSizeIterator<Item = &Model> + Clone {
        self.models.values()
    }

    /// Every `model:provider` config, in file order.
    pub fn configs(&self) -> impl ExactSizeIterator<Item = &ModelProviderConfig> + Clone {
        self.configs.iter()
    }

    /// Every endpoint, cheapest base tier first.
    pub fn endpoints(&self) -> impl ExactSizeIterator<Item = &Endpoint> + Clone {
        self.endpoints.iter()
    }

    pub fn archived(&self) -> impl ExactSizeIterator<Item = &ModelProviderConfig> + Clone {
        self.archived.iter()
    }

    // ---- lookups ------------------------------------------------------------------------

    pub fn provider(&self, id: &str) -> Option<&Provider> {
        self.providers.get(id)
    }

    pub fn author(&self, id: &str) -> Option<&Author> {
        self.authors.get(id)
    }

    pub fn model(&self, id: &str) -> Option<&Model> {
        self.models.get(id)
    }

    /// The current model a former (renamed) id stands for.
    pub fn renamed(&self, former_id: &str) -> Option<&Model> {
        self.former_ids
            .get(former_id)
            .map(|&i| &self.models[i as usize])
    }

    /// A model by its id or a former id.
    pub fn resolve_model(&self, id: &str) -> Option<&Model> {
        self.model(id).or_else(|| self.renamed(id))
    }

    /// Every endpoint of a model: cheapest base tier first, then provider priority. A pinned
    /// snapshot without endpoints of its own gets its base model's.
    pub fn endpoints_for_model(
        &self,
        model: &str,
    ) -> impl ExactSizeIterator<Item = &Endpoint> + Clone + '_ {
        self.ids(&self.model_endpoints, model)
            .iter()
            .map(|&i| &self.endpoints[i as usize])
    }

    /// The endpoints of a model that the gateway may bill through (PTB), same order.
    pub fn ptb_endpoints_for_model(
        &self,
        model: &str,
    ) -> impl ExactSizeIterator<Item = &Endpoint> + Clone + '_ {
        self.ids(&self.model_ptb_endpoints, model)
            .iter()
            .map(|&i| &self.endpoints[i as usize])
    }

    /// The providers serving a model, in provider file order.
    pub fn providers_for_model(
        &self,
        model: &str,
    ) -> impl ExactSizeIterator<Item = &Provider> + Clone + '_ {
        self.ids(&self.model_providers, model)
            .iter()
            .map(|&i| &self.providers[i as usize])
    }

    /// The models a provider serves, in model file order.
    pub fn models_for_provider(
        &self,
        provider: &str,
    ) -> impl ExactSizeIterator<Item = &Model> + Clone + '_ {
        self.ids(&self.provider_models, provider)
            .iter()
            .map(|&i| &self.models[i as usize])
    }

    /// The `model:provider` config.
    pub fn config(&self, model: &str, provider: &str) -> Option<&ModelProviderConfig> {
        let i = *self.config_by_model_provider.get(model)?.get(provider)?;
        Some(&self.configs[i as usize])
    }

    /// A config by its id `model:provider`.
    pub fn config_by_id(&self, id: &str) -> Option<&ModelProviderConfig> {
        self.config_by_id
            .get(id)
            .map(|&i| &self.configs[i as usize])
    }

    /// An endpoint by its id `model:provider:deployment`.
    pub fn endpoint_by_id(&self, id: &str) -> Option<&Endpoint> {
        self.endpoint_by_id
            .get(id)
            .map(|&i| &self.endpoints[i as usize])
    }

    /// The endpoints of one `model:provider` config, in deployment file order.
    pub fn endpoints_for_config<'a>(
        &'a self,
        config: &'a ModelProviderConfig,
    ) -> impl Iterator<Item = &'a Endpoint> + 'a {
        config
            .deployments
            .iter()
            .filter_map(move |d| self.endpoint(&config.model, &config.provider, d))
    }

    /// An endpoint by its parts.
    pub fn endpoint(&self, model: &str, provider: &str, deployment: &str) -> Option<&Endpoint> {
        let c = self.config(model, provider)?;
        // A config has a handful of deployments: a scan is cheaper than building the id.
        c.deployments.iter().any(|d| d == deployment).then(|| {
            self.endpoints
                .iter()
                .find(|e| e.deployment == deployment && e.model == model && e.provider == provider)
        })?
    }

    /// The endpoint that prices a provider's model id (or alias) on that provider.
    pub fn endpoint_by_provider_model_id(
        &self,
        provider: &str,
        provider_model_id: &str,
    ) -> Option<&Endpoint> {
        let i = *self
            .by_provider_model_id
            .get(provider)?
            .get(provider_model_id)?;
        Some(&self.endpoints[i as usize])
    }

    /// The config a provider's model id (or alias) belongs to.
    pub fn config_by_provider_model_id(
        &self,
        provider: &str,
        provider_model_id: &str,
    ) -> Option<&ModelProviderConfig> {
        let e = self.endpoint_by_provider_model_id(provider, provider_model_id)?;
        self.config(&e.model, &e.provider)
    }

    /// The config of a given version: the current one if its version matches (or both are
    /// unset), else the archived one.
    pub fn config_by_version(
        &self,
        model: &str,
        provider: &str,
        version: Option<&str>,
    ) -> Option<&ModelProviderConfig> {
        if let Some(c) = self.config(model, provider) {
            if c.version.as_deref() == version {
                return Some(c);
            }
        }
        let key = format!("{model}:{provider}:{}", version?);
        self.archived_by_key
            .get(key.as_str())
            .map(|&i| &self.archived[i as usize])
    }

    /// Prices a response of `provider` for its model id `provider_model_id`.
    pub fn price(
        &self,
        provider: &str,
        provider_model_id: &str,
        usage: &Usage,
    ) -> Result<CostBreakdown, Unpriced> {
        let p = self
            .provider(provider)
            .ok_or_else(|| Unpriced::UnknownProvider(provider.to_owned()))?;
        let e = self
            .endpoint_by_provider_model_id(provider, provider_model_id)
            .ok_or_else(|| Unpriced::UnknownModel {
                provider: provider.to_owned(),
                model: provider_model_id.to_owned(),
            })?;
        Ok(switchyard_cost::price(&e.pricing, p.tier_basis, usage))
    }

    /// Prices a response of an endpoint the gateway routed to.
    pub fn price_endpoint(&self, endpoint: &Endpoint, usage: &Usage) -> CostBreakdown {
        let basis = self
            .provider(&endpoint.provider)
            .map(|p| p.tier_basis)
            .unwrap_or_default();
        switchyard_cost::price(&endpoint.pricing, basis, usage)
    }

    // ---- lifecycle ----------------------------------------------------------------------

    /// A model's status on `date`: its own, or retired when it has endpoints and every one of
    /// them is retired. `None` for an unknown model.
    pub fn model_status_at(&self, model: &str, date: Date) -> Option<LifecycleStatus> {
        let m = self.model(model)?;
        Some(if self.retirement(model, None, date).is_some() {
            LifecycleStatus::Retired
        } else {
            m.status_at(date)
        })
    }

    /// Why `model` cannot be routed on `date`, if retirement is the reason: the model itself is
    /// retired, or it has endpoints (on `provider`, when given) and all of them are retired.
    pub fn retirement(
        &self,
        model: &str,
        provider: Option<&str>,
        date: Date,
    ) -> Option<Retirement> {
        let m = self.model(model)?;
        if let Some(retired) = m.lifecycle.retired.filter(|&r| r <= date) {
            return Some(Retirement {
                model: m.id.clone(),
                retired,
                successor: m.lifecycle.successor.clone(),
            });
        }
        let mut latest: Option<Date> = None;
        let mut successor = m.lifecycle.successor.clone();
        for e in self
            .endpoints_for_model(model)
            .filter(|e| provider.is_none_or(|p| e.provider == p))
        {
            let retired = e.lifecycle.retired.filter(|&r| r <= date)?;
            latest = Some(latest.map_or(retired, |l| l.max(retired)));
            if successor.is_none() {
                successor.clone_from(&e.lifecycle.successor);
            }
        }
        Some(Retirement {
            model: m.id.clone(),
            retired: latest?,
            successor,
        })
    }

    fn ids<'a>(&self, map: &'a Map<Vec<u32>>, key: &str) -> &'a [u32] {
        map.get(key).map(Vec::as_slice).unwrap_or(EMPTY)
    }
}
