//! `registry/acknowledged.toml`: reviewed exceptions to `check-prices`. Each entry says why a
//! disagreement with the external list is right on our side (the provider's page says so), or
//! why a model it lists is deliberately not in the registry.

use serde::{Deserialize, Serialize};

/// One reviewed exception.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Acknowledgement {
    /// Our provider id (`bedrock`, `google-ai-studio`).
    pub provider: String,
    /// The model id as the provider's API knows it, region and geography prefixes removed
    /// (`anthropic.claude-sonnet-4-5-20250929-v1:0`, `gpt-4o`): the `id` check-prices reports.
    pub id: String,
    /// A compared field (`input`, `cache_read`, `input>200k`, `context`, `max_output`, ...), or
    /// `missing` for a model we leave out on purpose.
    pub field: String,
    /// Why, citing the provider's page.
    pub reason: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    acknowledged: Vec<Acknowledgement>,
}

/// Parses the file; the error names the failing entry's field.
pub fn parse_acknowledged(text: &str) -> Result<Vec<Acknowledgement>, String> {
    let value: toml::Value = text
        .parse::<toml::Table>()
        .map(toml::Value::Table)
        .map_err(|e| format!("not valid TOML: {}", e.message().trim()))?;
    serde_path_to_error::deserialize::<_, File>(value)
        .map(|f| f.acknowledged)
        .map_err(|e| format!("{}: {}", e.path(), e.inner()))
}

/// The field names an acknowledgement may name, besides tier variants (`<field>>200k`).
pub(crate) const FIELDS: &[&str] = &[
    "input",
    "output",
    "cache_read",
    "cache_write_5m",
    "cache_write_1h",
    "context",
    "max_output",
    "missing",
];

pub(crate) fn known_field(field: &str) -> bool {
    let base = field.split_once('>').map_or(field, |(f, _)| f);
    FIELDS.contains(&base)
        && (base == field || !["context", "max_output", "missing"].contains(&base))
}
