//! The provider pattern list as data (`data/patterns.toml`), compiled once into one
//! [`regex::RegexSet`].

use regex::{Regex, RegexSet};
use serde::{Deserialize, Serialize};

/// The shipped pattern list.
pub const PATTERNS_TOML: &str = include_str!("../data/patterns.toml");

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Scheme {
    #[default]
    Https,
    Http,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PortRule {
    /// No port written, or the scheme's default.
    #[default]
    Default,
    /// An explicit `:N` is required (the LOCAL loopback pattern).
    Required,
}

/// Hosts of an entry that belong to another registry provider.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegistryOverride {
    pub host: String,
    pub registry: String,
}

/// One entry of the pattern list, as written.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PatternEntry {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registry: Option<String>,
    pub host: String,
    #[serde(default)]
    pub scheme: Scheme,
    #[serde(default)]
    pub port: PortRule,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub registry_overrides: Vec<RegistryOverride>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub costs_also: Vec<String>,
}

impl PatternEntry {
    /// The regex matched against a canonical URL (`scheme://host[:port]/path`).
    pub fn compiled_pattern(&self) -> String {
        let scheme = match self.scheme {
            Scheme::Https => "https",
            Scheme::Http => "http",
        };
        let port = match self.port {
            PortRule::Default => "",
            PortRule::Required => r":\d+",
        };
        let path = match &self.path {
            Some(p) => format!("/(?:{p})$"),
            None => "/".to_string(),
        };
        format!("^{scheme}://(?:{}){port}{path}", self.host)
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PatternFile {
    provider: Vec<PatternEntry>,
}

/// Why a pattern list is refused.
#[derive(Debug, thiserror::Error)]
pub enum PatternError {
    #[error("pattern file: {0}")]
    Toml(#[from] toml::de::Error),
    #[error("entry {index} ({name}): invalid regex: {source}")]
    Regex {
        index: usize,
        name: String,
        source: Box<regex::Error>,
    },
    #[error("entry {index} ({name}): `costs_also` names `{also}`, which has no entry")]
    UnknownCostsAlso {
        index: usize,
        name: String,
        also: String,
    },
    #[error("the pattern list has no OPENAI entry (the default provider)")]
    NoDefault,
}

/// A registry override, compiled.
#[derive(Clone, Debug)]
pub(crate) struct CompiledOverride {
    pub host: Regex,
    pub registry: String,
}

/// The pattern list compiled: one `RegexSet` over every entry, in order.
#[derive(Clone, Debug)]
pub struct PatternSet {
    entries: Vec<PatternEntry>,
    compiled: Vec<String>,
    set: RegexSet,
    overrides: Vec<Vec<CompiledOverride>>,
}

impl PatternSet {
    /// Parses a pattern file.
    pub fn parse(toml_text: &str) -> Result<PatternSet, PatternError> {
        let file: PatternFile = toml::from_str(toml_text)?;
        PatternSet::new(file.provider)
    }

    /// The shipped list (`data/patterns.toml`).
    pub fn shipped() -> Result<PatternSet, PatternError> {
        PatternSet::parse(PATTERNS_TOML)
    }

    pub fn new(entries: Vec<PatternEntry>) -> Result<PatternSet, PatternError> {
        let compiled: Vec<String> = entries.iter().map(PatternEntry::compiled_pattern).collect();
        // Compile one by one first so an error names its entry.
        let mut overrides = Vec::with_capacity(entries.len());
        for (index, (entry, pattern)) in entries.iter().zip(&compiled).enumerate() {
            let err = |source| PatternError::Regex {
                index,
                name: entry.name.clone(),
                source: Box::new(source),
            };
            Regex::new(pattern).map_err(err)?;
            let mut list = Vec::new();
            for o in &entry.registry_overrides {
                list.push(CompiledOverride {
                    host: Regex::new(&format!("^(?:{})$", o.host)).map_err(err)?,
                    registry: o.registry.clone(),
                });
            }
            overrides.push(list);
            for also in &entry.costs_also {
                if !entries.iter().any(|e| &e.name == also) {
                    return Err(PatternError::UnknownCostsAlso {
                        index,
                        name: entry.name.clone(),
                        also: also.clone(),
                    });
                }
            }
        }
        if !entries.iter().any(|e| e.name == "OPENAI") {
            return Err(PatternError::NoDefault);
        }
        let set = RegexSet::new(&compiled).map_err(|source| PatternError::Regex {
            index: 0,
            name: "(set)".to_string(),
            source: Box::new(source),
        })?;
        Ok(PatternSet {
            entries,
            compiled,
            set,
            overrides,
        })
    }

    /// The index of the first entry whose pattern matches a canonical URL.
    pub fn first_match(&self, canonical: &str) -> Option<usize> {
        // `SetMatches` iterates in pattern order, so the first is the reference's `find`.
        self.set.matches(canonical).iter().next()
    }

    /// The registry provider of entry `index` for `host` (overrides first).
    pub fn registry_for(&self, index: usize, host: &str) -> Option<&str> {
        self.overrides[index]
            .iter()
            .find(|o| o.host.is_match(host))
            .map(|o| o.registry.as_str())
            .or(self.entries[index].registry.as_deref())
    }

    pub fn entries(&self) -> &[PatternEntry] {
        &self.entries
    }

    /// The compiled regexes, one per entry, in order (the approved domains).
    pub fn compiled(&self) -> &[String] {
        &self.compiled
    }

    /// Every registry key any entry maps to (defaults and overrides).
    pub fn registry_keys(&self) -> Vec<&str> {
        let mut keys: Vec<&str> = Vec::new();
        for e in &self.entries {
            for k in e
                .registry
                .iter()
                .chain(e.registry_overrides.iter().map(|o| &o.registry))
            {
                if !keys.contains(&k.as_str()) {
                    keys.push(k);
                }
            }
        }
        keys
    }
}
