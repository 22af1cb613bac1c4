//! Authors and models: `authors/<author>/author.toml` and `models.toml`.

use super::{valid_date, valid_id, AuthorFiles, Loader};
use crate::spec::{AuthorSpec, ModelSpec};
use crate::types::{Author, Model};
use indexmap::IndexMap;
use std::collections::{BTreeMap, HashMap};

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

/// What the author folders define, before endpoints are read.
pub(super) struct AuthorsAndModels<'a> {
    pub authors: IndexMap<String, Author>,
    pub models: IndexMap<String, Model>,
    /// model id → the models.toml that defines it
    pub model_file: HashMap<String, String>,
    /// (author id, endpoints.toml path, contents)
    pub endpoint_files: Vec<(String, String, &'a str)>,
}

pub(super) fn authors_and_models<'a>(
    l: &mut Loader,
    by_author: &BTreeMap<&str, AuthorFiles<'a>>,
) -> AuthorsAndModels<'a> {
    let mut authors = IndexMap::new();
    let mut models: IndexMap<String, Model> = IndexMap::new();
    let mut model_file: HashMap<String, String> = HashMap::new();
    // Endpoint files are read after every model is known, so an endpoint may name a model
    // defined later in file order.
    let mut endpoint_files = Vec::new();
    for (author_id, af) in by_author {
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
                // The successor is checked once every model is known (below).
                let lifecycle = l.lifecycle(
                    &models_file,
                    &entry,
                    "",
                    spec.deprecated,
                    spec.retired,
                    spec.successor,
                );
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
                        lifecycle,
                    },
                );
            }
        }
        if let Some(text) = af.endpoints {
            endpoint_files.push((author_id.to_string(), format!("{dir}/endpoints.toml"), text));
        }
    }
    AuthorsAndModels {
        authors,
        models,
        model_file,
        endpoint_files,
    }
}

/// References between models: pinned versions, former ids, successors.
pub(super) fn check_model_references(
    l: &mut Loader,
    models: &IndexMap<String, Model>,
    model_file: &HashMap<String, String>,
) {
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
        l.check_successor(file, &Some(m.id.clone()), "", &m.lifecycle, &m.id, models);
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
}
