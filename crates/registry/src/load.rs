//! Reading registry files and turning them into validated runtime types.
//!
//! Loading never stops at the first problem: every error is collected, each naming the file, the
//! entry and the field, so one `registry validate` run lists everything to fix.

use crate::spec::{
    AuthorSpec, ConfigSpec, DeploymentSpec, DeploymentsSpec, ModelSpec, ProviderSpec,
};
use crate::types::{
    Author, DeploymentConfig, Endpoint, Model, ModelProviderConfig, Provider, ProviderUi,
    DEFAULT_PRIORITY,
};
use indexmap::IndexMap;
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::path::Path;
use switchyard_cost::Pricing;

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

const TOKENIZERS: &[&str] = &[
    "Claude",
    "GPT",
    "Llama",
    "Llama3",
    "Llama4",
    "Gemini",
    "Mistral",
    "MoonshotAI",
    "Qwen",
    "DeepSeek",
    "Cohere",
    "Grok",
    "Tekken",
    "Zai",
    "Baidu",
    "Nova",
];

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
    let b = s.as_bytes();
    b.len() == 10
        && b[4] == b'-'
        && b[7] == b'-'
        && b.iter()
            .enumerate()
            .all(|(i, c)| i == 4 || i == 7 || c.is_ascii_digit())
        && (1..=12).contains(&s[5..7].parse::<u8>().unwrap_or(0))
        && (1..=31).contains(&s[8..10].parse::<u8>().unwrap_or(0))
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
        if path == "providers.toml" {
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
                "unexpected file: the registry holds providers.toml and authors/<author>/*.toml",
            ),
        }
    }

    let mut authors = IndexMap::new();
    let mut models: IndexMap<String, Model> = IndexMap::new();
    let mut model_file: HashMap<String, String> = HashMap::new();
    // Endpoint files are read after every model is known, so an endpoint may name a model
    // defined later in file order.
    let mut endpoint_files = Vec::new();
    for (author_id, af) in &by_author {
        let dir = format!("authors/{author_id}");
        if !valid_id(author_id) {
            l.push(
                &dir,
                None,
                None,
                "author folder names are lowercase letters, digits and '-'",
            );
        }
        let author_file = format!("{dir}/author.toml");
        match af.author.and_then(|t| l.parse_table(&author_file, t)) {
            Some(table) => {
                if let Some(spec) =
                    l.entry::<AuthorSpec>(&author_file, author_id, toml::Value::Table(table))
                {
                    authors.insert(
                        author_id.to_string(),
                        Author {
                            id: author_id.to_string(),
                            name: spec.name,
                            description: spec.description,
                            website: spec.website,
                            api_url: spec.api_url,
                        },
                    );
                }
            }
            None if af.author.is_none() => l.push(
                &author_file,
                None,
                None,
                "missing: every author folder needs an author.toml",
            ),
            None => {}
        }
        let models_file = format!("{dir}/models.toml");
        if let Some(table) = af.models.and_then(|t| l.parse_table(&models_file, t)) {
            for (id, value) in table {
                let Some(spec) = l.entry::<ModelSpec>(&models_file, &id, value) else {
                    continue;
                };
                let entry = Some(id.clone());
                if let Some(other) = model_file.get(&id) {
                    l.push(
                        &models_file,
                        entry.clone(),
                        None,
                        format!("duplicate model id, already defined in {other}"),
                    );
                    continue;
                }
                if !valid_date(&spec.created) {
                    l.push(
                        &models_file,
                        entry.clone(),
                        Some("created".into()),
                        format!("`{}` is not a YYYY-MM-DD date", spec.created),
                    );
                }
                if !TOKENIZERS.contains(&spec.tokenizer.as_str()) {
                    l.push(
                        &models_file,
                        entry.clone(),
                        Some("tokenizer".into()),
                        format!(
                            "unknown tokenizer `{}`; known: {}",
                            spec.tokenizer,
                            TOKENIZERS.join(", ")
                        ),
                    );
                }
                if spec.input_modalities.is_empty() || spec.output_modalities.is_empty() {
                    l.push(
                        &models_file,
                        entry.clone(),
                        None,
                        "input_modalities and output_modalities must not be empty",
                    );
                }
                model_file.insert(id.clone(), models_file.clone());
                models.insert(
                    id.clone(),
                    Model {
                        id,
                        name: spec.name,
                        author: author_id.to_string(),
                        description: spec.description,
                        context_length: spec.context_length,
                        max_output_tokens: spec.max_output_tokens,
                        created: spec.created,
                        input_modalities: spec.input_modalities,
                        output_modalities: spec.output_modalities,
                        tokenizer: spec.tokenizer,
                        pinned_version_of: spec.pinned_version_of,
                        former_ids: spec.former_ids,
                    },
                );
            }
        }
        if let Some(text) = af.endpoints {
            endpoint_files.push((author_id.to_string(), format!("{dir}/endpoints.toml"), text));
        }
    }

    // Model references: pinned versions and former ids.
    let mut former: HashMap<&str, &str> = HashMap::new();
    for m in models.values() {
        let file = &model_file[&m.id];
        if let Some(p) = &m.pinned_version_of {
            if !models.contains_key(p) {
                l.push(
                    file,
                    Some(m.id.clone()),
                    Some("pinned_version_of".into()),
                    format!("unknown model `{p}`"),
                );
            }
        }
        for f in &m.former_ids {
            if models.contains_key(f.as_str()) {
                l.push(
                    file,
                    Some(m.id.clone()),
                    Some("former_ids".into()),
                    format!("`{f}` is a current model id"),
                );
            } else if let Some(other) = former.insert(f, &m.id) {
                l.push(
                    file,
                    Some(m.id.clone()),
                    Some("former_ids".into()),
                    format!("`{f}` is already a former id of `{other}`"),
                );
            }
        }
    }

    let mut configs = Vec::new();
    let mut endpoints = Vec::new();
    let mut archived = Vec::new();
    let mut seen_configs: HashMap<String, String> = HashMap::new();
    let mut seen_archived: HashSet<String> = HashSet::new();
    // (provider, provider model id or alias) → config id that claimed it
    let mut provider_ids: HashMap<(String, String), String> = HashMap::new();

    for (author_id, file, text) in &endpoint_files {
        let Some(mut table) = l.parse_table(file, text) else {
            continue;
        };
        for key in table.keys() {
            if key != "endpoint" && key != "archived" {
                l.push(
                    file,
                    None,
                    Some(key.clone()),
                    "unknown key: an endpoints file holds [[endpoint]] and [[archived]] entries",
                );
            }
        }
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
            let id = format!("{}:{}", spec.model, spec.provider);
            let entry = Some(if is_archived {
                format!("archived {id}")
            } else {
                format!("endpoint {id}")
            });
            let mut ok = true;
            match models.get(&spec.model) {
                None => {
                    l.push(
                        file,
                        entry.clone(),
                        Some("model".into()),
                        format!("unknown model `{}`", spec.model),
                    );
                    ok = false;
                }
                Some(m) if &m.author != author_id => {
                    l.push(file, entry.clone(), Some("model".into()), format!("model `{}` belongs to author `{}`; put its endpoints in authors/{}/endpoints.toml", spec.model, m.author, m.author));
                    ok = false;
                }
                Some(_) => {}
            }
            let Some(provider) = providers.get(&spec.provider) else {
                l.push(
                    file,
                    entry.clone(),
                    Some("provider".into()),
                    format!("unknown provider `{}`", spec.provider),
                );
                continue;
            };
            let pricing = match Pricing::resolve(&spec.pricing) {
                Ok(p) => Some(p),
                Err(e) => {
                    l.push(file, entry.clone(), Some("pricing".into()), e.to_string());
                    None
                }
            };
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
                        if !seen_archived.insert(format!("{id}:{v}")) {
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
            } else if let Some(other) = seen_configs.insert(id.clone(), file.clone()) {
                l.push(
                    file,
                    entry.clone(),
                    None,
                    format!("duplicate endpoint `{id}`, already defined in {other}"),
                );
                ok = false;
            }
            let Some(pricing) = pricing else { continue };
            if !ok {
                continue;
            }
            let config = ModelProviderConfig {
                id: id.clone(),
                model: spec.model.clone(),
                provider: spec.provider.clone(),
                author: author_id.clone(),
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
            };
            if is_archived {
                archived.push(config);
                continue;
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
                match provider_ids.get(&key) {
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
                        provider_ids.insert(key, id.clone());
                    }
                }
            }
            for (dep_id, dep) in deployments {
                let dep_entry = Some(format!("endpoint {id}:{dep_id}"));
                let dep_pricing = match &dep.pricing {
                    None => config.pricing.clone(),
                    Some(tiers) => match Pricing::resolve(tiers) {
                        Ok(p) => p,
                        Err(e) => {
                            l.push(
                                file,
                                dep_entry,
                                Some(format!("deployments.{dep_id}.pricing")),
                                e.to_string(),
                            );
                            continue;
                        }
                    },
                };
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
                endpoints.push(Endpoint {
                    id: format!("{id}:{dep_id}"),
                    model: config.model.clone(),
                    provider: config.provider.clone(),
                    deployment: dep_id,
                    author: config.author.clone(),
                    provider_model_id: dep
                        .provider_model_id
                        .unwrap_or_else(|| config.provider_model_id.clone()),
                    pricing: dep_pricing,
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
                });
            }
            configs.push(config);
        }
    }

    if l.errors.is_empty() {
        Ok(Loaded {
            providers,
            authors,
            models,
            configs,
            endpoints,
            archived,
        })
    } else {
        Err(RegistryErrors(l.errors))
    }
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
