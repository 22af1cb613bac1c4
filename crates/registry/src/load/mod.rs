//! Reading registry files and turning them into validated runtime types.
//!
//! Loading never stops at the first problem: every error is collected, each naming the file, the
//! entry and the field, so one `registry validate` run lists everything to fix.

mod endpoints;
mod models;

use crate::lifecycle::{parse_date, Lifecycle};
use crate::spec::ProviderSpec;
use crate::types::{
    Author, Endpoint, Model, ModelProviderConfig, Provider, ProviderUi, DEFAULT_PRIORITY,
};
use indexmap::IndexMap;
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;
use time::Date;

/// Files at the registry root that are not registry data: read by tools, skipped by the loader.
pub(crate) const TOOL_FILES: &[&str] = &["acknowledged.toml"];

/// One problem found in the registry files.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RegistryIssue {
    /// Path relative to the registry root, e.g. `authors/anthropic/endpoints.toml`.
    pub file: String,
    /// The entry: a provider key, a model id, `endpoint model:provider`.
    pub entry: Option<String>,
    /// The field path inside the entry, e.g. `pricing[1].input`.
    pub field: Option<String>,
    pub message: String,
}

impl fmt::Display for RegistryIssue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file)?;
        if let Some(entry) = &self.entry {
            write!(f, ": {entry}")?;
        }
        if let Some(field) = &self.field {
            write!(f, ": {field}")?;
        }
        write!(f, ": {}", self.message)
    }
}

/// Every problem found while loading a registry.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub struct RegistryErrors(pub Vec<RegistryIssue>);

impl fmt::Display for RegistryErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "the registry has {} error(s):", self.0.len())?;
        for issue in &self.0 {
            writeln!(f, "  {issue}")?;
        }
        Ok(())
    }
}

/// The registry's files: (path relative to the root, contents).
pub(crate) type Files = Vec<(String, String)>;

pub(crate) fn read_dir(root: &Path) -> Result<Files, RegistryErrors> {
    fn walk(dir: &Path, root: &Path, out: &mut Files, errors: &mut Vec<RegistryIssue>) {
        let entries = match std::fs::read_dir(dir) {
            Ok(e) => e,
            Err(e) => {
                errors.push(issue(
                    &dir.display().to_string(),
                    None,
                    None,
                    format!("cannot read directory: {e}"),
                ));
                return;
            }
        };
        let mut paths: Vec<_> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
        paths.sort();
        for path in paths {
            if path.is_dir() {
                walk(&path, root, out, errors);
            } else if path.extension().is_some_and(|x| x == "toml") {
                let rel = path
                    .strip_prefix(root)
                    .unwrap_or(&path)
                    .to_string_lossy()
                    .replace('\\', "/");
                match std::fs::read_to_string(&path) {
                    Ok(text) => out.push((rel, text)),
                    Err(e) => {
                        errors.push(issue(&rel, None, None, format!("cannot read file: {e}")))
                    }
                }
            }
        }
    }
    let mut files = Vec::new();
    let mut errors = Vec::new();
    if !root.is_dir() {
        return Err(RegistryErrors(vec![issue(
            &root.display().to_string(),
            None,
            None,
            "not a directory".into(),
        )]));
    }
    walk(root, root, &mut files, &mut errors);
    if errors.is_empty() {
        Ok(files)
    } else {
        Err(RegistryErrors(errors))
    }
}

fn issue(
    file: &str,
    entry: Option<String>,
    field: Option<String>,
    message: String,
) -> RegistryIssue {
    RegistryIssue {
        file: file.to_owned(),
        entry,
        field,
        message,
    }
}

/// Everything a registry holds, validated, before indexing.
pub(crate) struct Loaded {
    pub providers: IndexMap<String, Provider>,
    pub authors: IndexMap<String, Author>,
    pub models: IndexMap<String, Model>,
    pub configs: Vec<ModelProviderConfig>,
    pub endpoints: Vec<Endpoint>,
    pub archived: Vec<ModelProviderConfig>,
}

struct Loader {
    errors: Vec<RegistryIssue>,
}

impl Loader {
    fn push(
        &mut self,
        file: &str,
        entry: Option<String>,
        field: Option<String>,
        message: impl Into<String>,
    ) {
        self.errors.push(issue(file, entry, field, message.into()));
    }

    fn parse_table(&mut self, file: &str, text: &str) -> Option<toml::Table> {
        match text.parse::<toml::Table>() {
            Ok(t) => Some(t),
            Err(e) => {
                self.push(
                    file,
                    None,
                    None,
                    format!("not valid TOML: {}", e.message().trim()),
                );
                None
            }
        }
    }

    /// Deserializes one entry, reporting the failing field's path.
    fn entry<T: DeserializeOwned>(
        &mut self,
        file: &str,
        entry: &str,
        value: toml::Value,
    ) -> Option<T> {
        match serde_path_to_error::deserialize::<_, T>(value) {
            Ok(v) => Some(v),
            Err(e) => {
                let path = e.path().to_string();
                let field = (path != "." && !path.is_empty()).then_some(path);
                self.push(
                    file,
                    Some(entry.to_owned()),
                    field,
                    e.into_inner().to_string(),
                );
                None
            }
        }
    }

    /// A `YYYY-MM-DD` date, as a string or a bare TOML date.
    fn date(
        &mut self,
        file: &str,
        entry: &Option<String>,
        field: &str,
        value: Option<toml::Value>,
    ) -> Option<Date> {
        let text = match value? {
            toml::Value::String(s) => s,
            toml::Value::Datetime(d) => d.to_string(),
            other => {
                self.push(
                    file,
                    entry.clone(),
                    Some(field.into()),
                    format!("expected a \"YYYY-MM-DD\" date, found {}", other.type_str()),
                );
                return None;
            }
        };
        let parsed = parse_date(&text);
        if parsed.is_none() {
            self.push(
                file,
                entry.clone(),
                Some(field.into()),
                format!("`{text}` is not a YYYY-MM-DD date"),
            );
        }
        parsed
    }

    /// An http(s) URL.
    fn url(
        &mut self,
        file: &str,
        entry: &Option<String>,
        field: &str,
        value: Option<String>,
    ) -> Option<String> {
        let url = value?;
        let host = url
            .strip_prefix("https://")
            .or_else(|| url.strip_prefix("http://"));
        if host.is_none_or(|h| h.is_empty() || h.contains(char::is_whitespace)) {
            self.push(
                file,
                entry.clone(),
                Some(field.into()),
                format!("`{url}` is not an http(s) URL"),
            );
            return None;
        }
        Some(url)
    }

    /// `deprecated`, `retired`, `successor` of one level, dates checked. `at` prefixes the
    /// field names (`deployments.us-east-1.`).
    fn lifecycle(
        &mut self,
        file: &str,
        entry: &Option<String>,
        at: &str,
        deprecated: Option<toml::Value>,
        retired: Option<toml::Value>,
        successor: Option<String>,
    ) -> Lifecycle {
        let deprecated = self.date(file, entry, &format!("{at}deprecated"), deprecated);
        let retired = self.date(file, entry, &format!("{at}retired"), retired);
        if let (Some(d), Some(r)) = (deprecated, retired) {
            if r < d {
                self.push(
                    file,
                    entry.clone(),
                    Some(format!("{at}retired")),
                    format!("retired ({r}) is before deprecated ({d})"),
                );
            }
        }
        Lifecycle {
            deprecated,
            retired,
            successor,
        }
    }

    /// A successor names another model of the registry.
    fn check_successor(
        &mut self,
        file: &str,
        entry: &Option<String>,
        at: &str,
        lifecycle: &Lifecycle,
        model: &str,
        models: &IndexMap<String, Model>,
    ) {
        let Some(s) = &lifecycle.successor else {
            return;
        };
        let field = Some(format!("{at}successor"));
        if s == model {
            self.push(
                file,
                entry.clone(),
                field,
                format!("`{s}` is this model itself"),
            );
        } else if !models.contains_key(s) {
            self.push(
                file,
                entry.clone(),
                field,
                format!("unknown model `{s}`: a successor is a model id of the registry"),
            );
        }
    }

    fn providers(&mut self, files: &Files) -> IndexMap<String, Provider> {
        let file = "providers.toml";
        let mut out = IndexMap::new();
        let Some((_, text)) = files.iter().find(|(p, _)| p == file) else {
            self.push(
                file,
                None,
                None,
                "missing: the registry needs a providers.toml",
            );
            return out;
        };
        let Some(table) = self.parse_table(file, text) else {
            return out;
        };
        for (key, value) in table {
            let Some(spec) = self.entry::<ProviderSpec>(file, &key, value) else {
                continue;
            };
            let entry = Some(key.clone());
            if !valid_id(&key) {
                self.push(
                    file,
                    entry.clone(),
                    None,
                    "provider keys are lowercase letters, digits and '-'",
                );
            }
            if !(spec.base_url.starts_with("https://") || spec.base_url.starts_with("http://")) {
                self.push(
                    file,
                    entry.clone(),
                    Some("base_url".into()),
                    format!("`{}` is not an http(s) URL", spec.base_url),
                );
            }
            if spec.base_url.ends_with('/') {
                self.push(
                    file,
                    entry.clone(),
                    Some("base_url".into()),
                    "must not end with '/'; chat_path starts with it",
                );
            }
            if !spec.chat_path.starts_with('/') {
                self.push(
                    file,
                    entry.clone(),
                    Some("chat_path".into()),
                    "must start with '/'",
                );
            }
            out.insert(
                key.clone(),
                Provider {
                    id: key,
                    name: spec.name,
                    base_url: spec.base_url,
                    format: spec.format,
                    chat_path: spec.chat_path,
                    auth: spec.auth,
                    tier_basis: spec.tier_basis,
                    priority: spec.priority.unwrap_or(DEFAULT_PRIORITY),
                    required_config: spec.required_config,
                    deployment_config: spec.deployment_config,
                    error_message_paths: spec.error_message_paths,
                    stream_usage: spec.stream_usage,
                    pricing_pages: spec.pricing_pages,
                    model_pages: spec.model_pages,
                    ui: ProviderUi {
                        logo: spec.ui.logo,
                        description: spec.ui.description,
                        docs_url: spec.ui.docs_url,
                        api_key_label: spec.ui.api_key_label,
                        api_key_placeholder: spec.ui.api_key_placeholder,
                        relevance: spec.ui.relevance,
                    },
                },
            );
        }
        out
    }
}

fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

fn valid_date(s: &str) -> bool {
    parse_date(s).is_some()
}

/// Author folder → its three files.
#[derive(Default)]
struct AuthorFiles<'a> {
    author: Option<&'a str>,
    models: Option<&'a str>,
    endpoints: Option<&'a str>,
}

pub(crate) fn load(files: &Files) -> Result<Loaded, RegistryErrors> {
    let mut l = Loader { errors: Vec::new() };
    let providers = l.providers(files);

    let mut by_author: BTreeMap<&str, AuthorFiles> = BTreeMap::new();
    for (path, text) in files {
        if path == "providers.toml" || TOOL_FILES.contains(&path.as_str()) {
            continue;
        }
        let parts: Vec<&str> = path.split('/').collect();
        match parts.as_slice() {
            ["authors", author, name] => {
                let slot = by_author.entry(author).or_default();
                match *name {
                    "author.toml" => slot.author = Some(text),
                    "models.toml" => slot.models = Some(text),
                    "endpoints.toml" => slot.endpoints = Some(text),
                    _ => l.push(path, None, None, "unexpected file: an author folder holds author.toml, models.toml and endpoints.toml"),
                }
            }
            _ => l.push(
                path,
                None,
                None,
                "unexpected file: the registry holds providers.toml, acknowledged.toml and authors/<author>/*.toml",
            ),
        }
    }

    let am = models::authors_and_models(&mut l, &by_author);
    models::check_model_references(&mut l, &am.models, &am.model_file);
    let e = endpoints::endpoints(&mut l, &providers, &am.models, &am.endpoint_files);

    if l.errors.is_empty() {
        Ok(Loaded {
            providers,
            authors: am.authors,
            models: am.models,
            configs: e.configs,
            endpoints: e.endpoints,
            archived: e.archived,
        })
    } else {
        Err(RegistryErrors(l.errors))
    }
}
