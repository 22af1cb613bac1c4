//! Provider detection from URLs, approved domains, and the legacy cost tables by match rule.
//!
//! Pure: no I/O. The reference is Helicone's `packages/cost/providers/mappings.ts` and
//! `packages/cost/index.ts` (spec `registry-and-cost.md` §5); where we differ, see
//! `decisions.md` ("Passthrough proxy"): hostile URLs are refused, and prices come from the
//! registry, with explicit rows only for names the registry does not carry.
//!
//! - [`PatternSet`]: the 37 legacy names (plus BASETEN) and their host patterns, as data
//!   (`data/patterns.toml`), compiled into one `RegexSet`; first match wins.
//! - [`check_url`]: URL parsing and the structural refusals (scheme, user info, IP literals,
//!   ports, encoded/unicode/punycode hosts, trailing dots).
//! - [`CostTable`]: ordered `equals`/`startsWith`/`includes` rows with the shadowed-row check.
//! - [`generate_rows`]: rows from registry prices; [`parse_explicit`]: the explicit rows.
//! - [`cost_of_prompt`]: the legacy formula in exact decimals.
//! - [`Detector`]: all of it assembled, with the lookups.

mod generate;
mod patterns;
mod price;
mod table;
mod url_check;

pub use generate::{
    generate_rows, parse_explicit, row_prices, GenerateConflict, RegistryName, EXPLICIT_ROWS_TOML,
};
pub use patterns::{
    PatternEntry, PatternError, PatternSet, PortRule, RegistryOverride, Scheme, PATTERNS_TOML,
};
pub use price::{cost_of_prompt, PromptUsage, RuleCost};
pub use table::{
    check_rows, CostRow, CostTable, MatchOp, RowPrices, RowSource, TableError, TableErrors,
};
pub use url_check::{check_url, CheckedUrl, Refusal};

use rustc_hash::FxHashMap;
use serde::Serialize;
use std::collections::BTreeMap;

/// The legacy name of the default provider, whose table prices unknown providers.
pub const DEFAULT_PROVIDER: &str = "OPENAI";

/// Why a [`Detector`] could not be assembled.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error(transparent)]
    Patterns(#[from] PatternError),
    #[error("explicit rows: {0}")]
    Explicit(#[from] toml::de::Error),
    #[error("explicit rows name provider `{0}`, which has no pattern entry")]
    UnknownExplicitProvider(String),
    #[error("registry rows: {}", .0.iter().map(|c| c.to_string()).collect::<Vec<_>>().join("; "))]
    Generate(Vec<GenerateConflict>),
    #[error("cost table of {name}{}: {errors}", .registry.as_deref().map(|r| format!(" ({r})")).unwrap_or_default())]
    Table {
        name: String,
        registry: Option<String>,
        errors: TableErrors,
    },
    #[error("registry: {0}")]
    Registry(String),
}

/// A URL or name resolved to a pattern entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Detection<'a> {
    /// Position in the pattern list.
    pub index: usize,
    /// Legacy name, e.g. `ANTHROPIC`.
    pub name: &'a str,
    /// Registry provider key, when the name maps to one.
    pub registry: Option<&'a str>,
    #[serde(skip)]
    table: usize,
}

/// Why a provider could not be found.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum LookupError {
    #[error("not an approved domain: {0}")]
    Refused(#[from] Refusal),
    #[error("unknown provider name `{0}`")]
    UnknownName(String),
}

/// Why a model could not be priced by rule.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CostError {
    #[error(transparent)]
    Lookup(#[from] LookupError),
    #[error("empty model name")]
    EmptyModel,
    #[error("provider {0} has no cost table")]
    NoCostTable(String),
    #[error("no cost row of provider {provider} matches model `{model}`")]
    NoRow { provider: String, model: String },
}

/// A rule price with what matched.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RulePrice<'a> {
    pub provider: Detection<'a>,
    pub row: &'a CostRow,
    pub cost: RuleCost,
}

/// Row counts of an assembled detector.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Stats {
    pub pattern_entries: usize,
    pub tables: usize,
    /// Rows generated from the registry, over all registry providers.
    pub generated_rows: usize,
    /// Rows in `data/explicit_rows.toml`.
    pub explicit_rows: usize,
    /// Rows over all distinct tables (AZURE repeats OpenAI's rows; AWS and BEDROCK share the
    /// bedrock rows).
    pub table_rows: usize,
}

/// The assembled detector: patterns, one cost table per (legacy name, registry provider).
#[derive(Clone, Debug)]
pub struct Detector {
    patterns: PatternSet,
    /// One per distinct (name, registry) pair, in first-use order.
    tables: Vec<(String, Option<String>, CostTable)>,
    table_index: FxHashMap<(String, Option<String>), usize>,
    /// Legacy name (uppercase) → first entry with it.
    by_name: FxHashMap<String, usize>,
    generated_rows: usize,
    explicit_rows: usize,
}

impl Detector {
    /// Assembles a detector from its parts. `generated` is keyed by registry provider,
    /// `explicit` by legacy name.
    ///
    /// A table is the registry provider's generated rows, then the legacy name's explicit rows;
    /// it must pass [`check_rows`]. Then the tables named in `costs_also` follow, minus the
    /// rows already covered.
    pub fn build(
        patterns: PatternSet,
        generated: BTreeMap<String, Vec<CostRow>>,
        explicit: BTreeMap<String, Vec<CostRow>>,
    ) -> Result<Detector, BuildError> {
        if let Some(name) = explicit
            .keys()
            .find(|n| !patterns.entries().iter().any(|e| &e.name == *n))
        {
            return Err(BuildError::UnknownExplicitProvider(name.clone()));
        }
        // Every (name, registry) pair an entry can resolve to, in entry order.
        let mut keys: Vec<(String, Option<String>)> = Vec::new();
        let mut key_of_entry = Vec::new();
        for e in patterns.entries() {
            let default = (e.name.clone(), e.registry.clone());
            for k in std::iter::once(default.clone()).chain(
                e.registry_overrides
                    .iter()
                    .map(|o| (e.name.clone(), Some(o.registry.clone()))),
            ) {
                if !keys.contains(&k) {
                    keys.push(k);
                }
            }
            key_of_entry.push(default);
        }
        let mut base: Vec<CostTable> = Vec::with_capacity(keys.len());
        for (name, registry) in &keys {
            let mut rows: Vec<CostRow> = registry
                .as_ref()
                .and_then(|r| generated.get(r))
                .cloned()
                .unwrap_or_default();
            rows.extend(explicit.get(name).into_iter().flatten().cloned());
            base.push(CostTable::new(rows).map_err(|errors| BuildError::Table {
                name: name.clone(),
                registry: registry.clone(),
                errors,
            })?);
        }
        let table_index: FxHashMap<(String, Option<String>), usize> = keys
            .iter()
            .cloned()
            .enumerate()
            .map(|(i, k)| (k, i))
            .collect();
        let mut tables = Vec::with_capacity(keys.len());
        for (i, (name, registry)) in keys.iter().enumerate() {
            let mut table = base[i].clone();
            let entry = patterns.entries().iter().find(|e| &e.name == name);
            for also in entry.map(|e| e.costs_also.as_slice()).unwrap_or_default() {
                let j = patterns
                    .entries()
                    .iter()
                    .position(|e| &e.name == also)
                    .map(|p| &key_of_entry[p])
                    .and_then(|k| table_index.get(k));
                if let Some(&j) = j {
                    table.extend_unshadowed(&base[j]);
                }
            }
            tables.push((name.clone(), registry.clone(), table));
        }
        let mut by_name = FxHashMap::default();
        for (i, e) in patterns.entries().iter().enumerate() {
            by_name.entry(e.name.to_ascii_uppercase()).or_insert(i);
        }
        Ok(Detector {
            patterns,
            tables,
            table_index,
            by_name,
            generated_rows: generated.values().map(Vec::len).sum(),
            explicit_rows: explicit.values().map(Vec::len).sum(),
        })
    }

    /// The shipped patterns and explicit rows, with rows generated from `names` (the registry's
    /// provider model ids and aliases with their prices).
    pub fn from_registry_names<'a>(
        names: impl IntoIterator<Item = RegistryName<'a>>,
    ) -> Result<Detector, BuildError> {
        let generated = generate_rows(names).map_err(BuildError::Generate)?;
        Detector::build(
            PatternSet::shipped()?,
            generated,
            parse_explicit(EXPLICIT_ROWS_TOML)?,
        )
    }

    /// The shipped patterns and explicit rows, with rows generated from a registry.
    ///
    /// Refuses a pattern list that maps a name to a provider the registry does not have.
    pub fn from_registry(registry: &switchyard_registry::Registry) -> Result<Detector, BuildError> {
        let patterns = PatternSet::shipped()?;
        if let Some(missing) = patterns
            .registry_keys()
            .into_iter()
            .find(|k| registry.provider(k).is_none())
        {
            return Err(BuildError::Registry(format!(
                "a pattern entry maps to registry provider `{missing}`, which the registry does not have"
            )));
        }
        let generated = generate_rows(registry_names(registry)).map_err(BuildError::Generate)?;
        Detector::build(patterns, generated, parse_explicit(EXPLICIT_ROWS_TOML)?)
    }

    fn detection(&self, index: usize, registry: Option<&str>) -> Detection<'_> {
        let entry = &self.patterns.entries()[index];
        let key = (entry.name.clone(), registry.map(str::to_string));
        let (_, registry, _) = &self.tables[self.table_index[&key]];
        Detection {
            index,
            name: &entry.name,
            registry: registry.as_deref(),
            table: self.table_index[&key],
        }
    }

    /// The provider of a URL: the first pattern entry matching its canonical form.
    pub fn provider_by_url(&self, url: &str) -> Result<Detection<'_>, Refusal> {
        let checked = check_url(url)?;
        match self.patterns.first_match(&checked.canonical) {
            Some(index) => {
                let host = checked.url.host_str().unwrap_or_default();
                Ok(self.detection(index, self.patterns.registry_for(index, host)))
            }
            None => Err(checked.no_match_reason()),
        }
    }

    /// The first entry with this legacy name (ASCII case-insensitive), with its default registry
    /// provider. BEDROCK is reachable only this way.
    pub fn provider_by_name(&self, name: &str) -> Option<Detection<'_>> {
        let index = *self.by_name.get(&name.to_ascii_uppercase())?;
        Some(self.detection(index, self.patterns.entries()[index].registry.as_deref()))
    }

    /// A legacy name or a URL (anything containing `://`), as the reference's `costOf` accepts.
    pub fn resolve(&self, name_or_url: &str) -> Result<Detection<'_>, LookupError> {
        if name_or_url.contains("://") {
            Ok(self.provider_by_url(name_or_url)?)
        } else {
            self.provider_by_name(name_or_url)
                .ok_or_else(|| LookupError::UnknownName(name_or_url.to_string()))
        }
    }

    /// Whether a URL resolves to a provider.
    pub fn is_approved(&self, url: &str) -> bool {
        self.provider_by_url(url).is_ok()
    }

    /// The compiled pattern of every entry, in order.
    pub fn approved_domains(&self) -> &[String] {
        self.patterns.compiled()
    }

    /// The OPENAI entry, whose table prices unknown providers in the reference's SQL.
    pub fn default_provider(&self) -> Detection<'_> {
        self.provider_by_name(DEFAULT_PROVIDER)
            .expect("PatternSet::new refuses a list without OPENAI")
    }

    /// The cost table of a detection.
    pub fn table(&self, d: &Detection<'_>) -> &CostTable {
        &self.tables[d.table].2
    }

    /// The first row of the provider's table matching `model` (the reference's `costOf`).
    pub fn cost_of(&self, name_or_url: &str, model: &str) -> Result<RuleRow<'_>, CostError> {
        if model.is_empty() {
            return Err(CostError::EmptyModel);
        }
        let provider = self.resolve(name_or_url)?;
        let table = self.table(&provider);
        if table.is_empty() {
            return Err(CostError::NoCostTable(provider.name.to_string()));
        }
        let row = table.find(model).ok_or_else(|| CostError::NoRow {
            provider: provider.name.to_string(),
            model: model.to_string(),
        })?;
        Ok(RuleRow { provider, row })
    }

    /// Prices usage by rule (the reference's `costOfPrompt`).
    pub fn cost_of_prompt(
        &self,
        name_or_url: &str,
        model: &str,
        usage: &PromptUsage,
    ) -> Result<RulePrice<'_>, CostError> {
        let RuleRow { provider, row } = self.cost_of(name_or_url, model)?;
        Ok(RulePrice {
            provider,
            row,
            cost: cost_of_prompt(&row.prices, usage),
        })
    }

    /// Every row of every distinct table, tables in first-use order: (legacy name, registry
    /// provider, row).
    pub fn all_costs(&self) -> impl Iterator<Item = (&str, Option<&str>, &CostRow)> {
        self.tables.iter().flat_map(|(name, registry, table)| {
            table
                .rows()
                .iter()
                .map(move |row| (name.as_str(), registry.as_deref(), row))
        })
    }

    /// Every row value, deduplicated (case-insensitive), first occurrence kept.
    pub fn model_names(&self) -> Vec<&str> {
        let mut seen = rustc_hash::FxHashSet::default();
        self.all_costs()
            .map(|(_, _, row)| row.value.as_str())
            .filter(|v| seen.insert(v.to_lowercase()))
            .collect()
    }

    /// The pattern list.
    pub fn patterns(&self) -> &PatternSet {
        &self.patterns
    }

    /// The distinct tables: (legacy name, registry provider, table).
    pub fn tables(&self) -> impl Iterator<Item = (&str, Option<&str>, &CostTable)> {
        self.tables
            .iter()
            .map(|(n, r, t)| (n.as_str(), r.as_deref(), t))
    }

    pub fn stats(&self) -> Stats {
        Stats {
            pattern_entries: self.patterns.entries().len(),
            tables: self.tables.len(),
            generated_rows: self.generated_rows,
            explicit_rows: self.explicit_rows,
            table_rows: self.tables.iter().map(|(_, _, t)| t.len()).sum(),
        }
    }
}

/// Every name the registry prices on a provider: each deployment's provider model id (with the
/// deployment's prices) and each config's provider model id and aliases (with the config's).
pub fn registry_names(
    registry: &switchyard_registry::Registry,
) -> impl Iterator<Item = RegistryName<'_>> {
    let endpoints = registry.endpoints().map(|e| RegistryName {
        provider: &e.provider,
        model: &e.model,
        name: &e.provider_model_id,
        pricing: &e.pricing,
    });
    let configs = registry.configs().flat_map(|c| {
        std::iter::once(&c.provider_model_id)
            .chain(&c.aliases)
            .map(move |name| RegistryName {
                provider: &c.provider,
                model: &c.model,
                name,
                pricing: &c.pricing,
            })
    });
    // Configs first: their price is the base deployment's, which a name keeps.
    configs.chain(endpoints)
}

/// A matched row with its provider.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RuleRow<'a> {
    pub provider: Detection<'a>,
    pub row: &'a CostRow,
}
