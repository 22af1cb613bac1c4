//! Reading an external price list in LiteLLM's `model_prices_and_context_window.json` format,
//! and mapping its keys onto our providers and provider model ids.
//!
//! One entry per JSON key, e.g. `"us.anthropic.claude-sonnet-4-5-20250929-v1:0": {
//! "litellm_provider": "bedrock_converse", "input_cost_per_token": 3.3e-06, ... }`. Prices are USD
//! per token as JSON numbers; tiers are `<field>_above_<N>k_tokens`.

use crate::lifecycle::parse_date;
use rust_decimal::Decimal;
use serde_json::Value;
use std::collections::BTreeMap;
use std::str::FromStr;
use time::Date;

/// LiteLLM's `litellm_provider` → our provider id. `vertex_ai-*` (per model family) are mapped
/// by prefix in [`our_provider`].
const PROVIDERS: &[(&str, &str)] = &[
    ("openai", "openai"),
    ("anthropic", "anthropic"),
    ("azure", "azure"),
    ("azure_ai", "azure"),
    ("bedrock", "bedrock"),
    ("bedrock_converse", "bedrock"),
    ("vertex_ai", "vertex"),
    ("gemini", "google-ai-studio"),
    ("xai", "xai"),
    ("mistral", "mistral"),
    ("deepseek", "deepseek"),
    ("groq", "groq"),
    ("fireworks_ai", "fireworks"),
    ("deepinfra", "deepinfra"),
    ("openrouter", "openrouter"),
    ("perplexity", "perplexity"),
    ("cerebras", "cerebras"),
    ("nebius", "nebius"),
    ("novita", "novita"),
    ("cohere", "cohere"),
    ("cohere_chat", "cohere"),
    ("baseten", "baseten"),
    ("chutes", "chutes"),
    ("canopywave", "canopywave"),
];

/// Our provider for a `litellm_provider` value.
pub fn our_provider(litellm_provider: &str) -> Option<&'static str> {
    if litellm_provider.starts_with("vertex_ai") {
        return Some("vertex");
    }
    PROVIDERS
        .iter()
        .find(|(l, _)| *l == litellm_provider)
        .map(|(_, o)| *o)
}

/// Every provider of ours that LiteLLM's map can describe.
pub fn mapped_providers() -> impl Iterator<Item = &'static str> {
    let mut seen: Vec<&'static str> = Vec::new();
    for (_, o) in PROVIDERS {
        if !seen.contains(o) {
            seen.push(o);
        }
    }
    seen.into_iter()
}

/// Bedrock's geographic inference-profile prefixes (`us.anthropic.claude-...`).
const BEDROCK_GEOS: &[&str] = &[
    "us-gov", "us", "eu", "apac", "au", "jp", "in", "ca", "global",
];
/// Azure's data-zone path segments (`azure/eu/gpt-4o`).
const AZURE_GEOS: &[&str] = &["eu", "us", "global", "global-standard", "apac", "us-gov"];

/// A key, mapped: the model id as the provider's API knows it, without region or geography,
/// and that qualifier apart.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MappedId {
    pub provider: &'static str,
    /// e.g. `anthropic.claude-sonnet-4-5-20250929-v1:0`, `gpt-4o`, `claude-opus-4-6`.
    pub id: String,
    /// A Bedrock geography (`us`) or region (`us-east-1`), an Azure data zone (`eu`).
    pub qualifier: Option<String>,
}

/// Splits a provider model id of ours the way [`map_key`] splits LiteLLM's keys.
pub fn split_id(provider: &str, pid: &str) -> (String, Option<String>) {
    match provider {
        "bedrock" => {
            for g in BEDROCK_GEOS {
                if let Some(rest) = pid.strip_prefix(g).and_then(|r| r.strip_prefix('.')) {
                    // `us.anthropic...` is a profile; `us-east-1`-like text never has a dot next.
                    return (rest.to_owned(), Some((*g).to_owned()));
                }
            }
            (pid.to_owned(), None)
        }
        "vertex" => (pid.strip_suffix("@default").unwrap_or(pid).to_owned(), None),
        "fireworks" if !pid.starts_with("accounts/") => {
            (format!("accounts/fireworks/models/{pid}"), None)
        }
        _ => (pid.to_owned(), None),
    }
}

fn looks_like_region(s: &str) -> bool {
    s.contains('-') && s.ends_with(|c: char| c.is_ascii_digit())
}

/// Maps one LiteLLM key. `None` for keys that are not a model's on-demand price (fine-tune
/// rates `ft:...`, Bedrock provisioned-throughput commitments) or of a provider we lack.
pub fn map_key(key: &str, litellm_provider: &str) -> Option<MappedId> {
    let provider = our_provider(litellm_provider)?;
    let mut rest = key;
    for prefix in [
        &format!("{litellm_provider}/")[..],
        "vertex_ai/",
        "azure_ai/",
        "azure/",
        "bedrock/",
        "gemini/",
        "cohere/",
        "cohere_chat/",
        "fireworks_ai/",
        "deepseek/",
    ] {
        if let Some(r) = rest.strip_prefix(prefix) {
            rest = r;
            break;
        }
    }
    if rest.starts_with("ft:") || rest.contains("commitment/") {
        return None;
    }
    let mut qualifier = None;
    match provider {
        "bedrock" => {
            // `<region>/<id>`, `*/<id>`, `invoke/<id>`: the id is the last segment.
            // `claude_platform/` is Anthropic's own API sold through AWS, not a Bedrock model id.
            let mut segments: Vec<&str> = rest.split('/').collect();
            let id = segments.pop()?;
            if segments.contains(&"claude_platform") {
                return None;
            }
            qualifier = segments
                .iter()
                .find(|s| looks_like_region(s))
                .map(|s| (*s).to_owned());
            let (id, geo) = split_id("bedrock", id);
            return Some(MappedId {
                provider,
                id,
                qualifier: geo.or(qualifier),
            });
        }
        "azure" => {
            if let Some((first, r)) = rest.split_once('/') {
                if AZURE_GEOS.contains(&first) {
                    qualifier = Some(first.to_owned());
                    rest = r;
                }
            }
        }
        _ => {}
    }
    let (id, _) = split_id(provider, rest);
    Some(MappedId {
        provider,
        id,
        qualifier,
    })
}

/// The compared prices of one tier, USD per token.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TheirTier {
    pub input: Option<Decimal>,
    pub output: Option<Decimal>,
    pub cache_read: Option<Decimal>,
    pub cache_write_5m: Option<Decimal>,
    pub cache_write_1h: Option<Decimal>,
}

impl TheirTier {
    fn slot(&mut self, field: &str) -> Option<&mut Option<Decimal>> {
        Some(match field {
            "input_cost_per_token" => &mut self.input,
            "output_cost_per_token" => &mut self.output,
            "cache_read_input_token_cost" => &mut self.cache_read,
            "cache_creation_input_token_cost" => &mut self.cache_write_5m,
            "cache_creation_input_token_cost_above_1hr" => &mut self.cache_write_1h,
            _ => return None,
        })
    }

    /// `(field name, value)` in report order.
    pub fn fields(&self) -> [(&'static str, Option<Decimal>); 5] {
        [
            ("input", self.input),
            ("output", self.output),
            ("cache_read", self.cache_read),
            ("cache_write_5m", self.cache_write_5m),
            ("cache_write_1h", self.cache_write_1h),
        ]
    }
}

/// One entry of the external list.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TheirEntry {
    /// The JSON key, as written.
    pub key: String,
    pub litellm_provider: String,
    pub mapped: MappedId,
    pub mode: Option<String>,
    pub deprecation_date: Option<Date>,
    pub base: TheirTier,
    /// Threshold in tokens (`_above_200k_tokens` → 200000) → that tier's stated prices.
    pub tiers: BTreeMap<u64, TheirTier>,
    pub max_input_tokens: Option<u64>,
    pub max_output_tokens: Option<u64>,
}

impl TheirEntry {
    /// Whether the entry counts as a current chat model on `date`: chat mode, and no
    /// deprecation date on or before it.
    pub fn is_current_chat(&self, date: Date) -> bool {
        self.mode.as_deref() == Some("chat") && self.deprecation_date.is_none_or(|d| d > date)
    }

    /// Their price of `field` for a request of `tokens` tokens: the highest tier at or below
    /// that size that states the field, else the base.
    pub fn at(&self, tokens: u64, field: &str) -> Option<Decimal> {
        let pick = |t: &TheirTier| t.fields().into_iter().find(|(f, _)| *f == field)?.1;
        self.tiers
            .range(..=tokens)
            .rev()
            .find_map(|(_, t)| pick(t))
            .or_else(|| pick(&self.base))
    }
}

/// Why the external file could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ExternalError {
    #[error("not JSON: {0}")]
    Json(#[from] serde_json::Error),
    #[error("expected a JSON object of model entries at the top level")]
    NotAnObject,
}

fn decimal(v: &Value) -> Option<Decimal> {
    let d = match v {
        // `{}` on f64 prints the shortest text that round-trips, without exponent.
        Value::Number(n) => n
            .as_f64()
            .and_then(|f| Decimal::from_str(&format!("{f}")).ok()),
        Value::String(s) => Decimal::from_str(s).ok(),
        _ => None,
    }?;
    // The file is written by float arithmetic (`8.900000000000001e-07`): 15 significant digits
    // is all an f64 holds, and every real price fits in them.
    Some(d.round_sf(15).unwrap_or(d).normalize())
}

/// Parses the file. Entries of providers we lack, and keys that are not a model's on-demand
/// price, are left out.
pub fn parse(json: &str) -> Result<Vec<TheirEntry>, ExternalError> {
    let doc: Value = serde_json::from_str(json)?;
    let Value::Object(map) = doc else {
        return Err(ExternalError::NotAnObject);
    };
    let mut out = Vec::new();
    for (key, v) in map {
        let Some(obj) = v.as_object() else { continue };
        let Some(lp) = obj.get("litellm_provider").and_then(Value::as_str) else {
            continue;
        };
        let Some(mapped) = map_key(&key, lp) else {
            continue;
        };
        let mut base = TheirTier::default();
        let mut tiers: BTreeMap<u64, TheirTier> = BTreeMap::new();
        for (field, value) in obj {
            let (name, threshold) = match tier_of(field) {
                Some((name, n)) => (name, Some(n)),
                None => (field.as_str(), None),
            };
            let tier = match threshold {
                Some(n) => tiers.entry(n).or_default(),
                None => &mut base,
            };
            if let Some(slot) = tier.slot(name) {
                *slot = decimal(value);
            }
        }
        tiers.retain(|_, t| *t != TheirTier::default());
        out.push(TheirEntry {
            key,
            litellm_provider: lp.to_owned(),
            mapped,
            mode: obj.get("mode").and_then(Value::as_str).map(str::to_owned),
            deprecation_date: obj
                .get("deprecation_date")
                .and_then(Value::as_str)
                .and_then(parse_date),
            base,
            tiers,
            max_input_tokens: obj.get("max_input_tokens").and_then(Value::as_u64),
            max_output_tokens: obj.get("max_output_tokens").and_then(Value::as_u64),
        });
    }
    Ok(out)
}

/// `input_cost_per_token_above_200k_tokens` → (`input_cost_per_token`, 200000).
fn tier_of(field: &str) -> Option<(&str, u64)> {
    let head = field.strip_suffix("k_tokens")?;
    let at = head.rfind("_above_")?;
    let n: u64 = head[at + "_above_".len()..].parse().ok()?;
    Some((&field[..at], n * 1000))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(provider: &'static str, id: &str, q: Option<&str>) -> Option<MappedId> {
        Some(MappedId {
            provider,
            id: id.to_owned(),
            qualifier: q.map(str::to_owned),
        })
    }

    #[test]
    fn keys_map_to_our_ids_with_regions_apart() {
        let a = "anthropic.claude-sonnet-4-5-20250929-v1:0";
        assert_eq!(
            map_key(&format!("us.{a}"), "bedrock_converse"),
            m("bedrock", a, Some("us"))
        );
        assert_eq!(
            map_key(&format!("bedrock/eu-west-1/{a}"), "bedrock"),
            m("bedrock", a, Some("eu-west-1"))
        );
        assert_eq!(map_key(a, "bedrock"), m("bedrock", a, None));
        assert_eq!(
            map_key(
                "bedrock/ap-northeast-1/1-month-commitment/anthropic.claude-v1",
                "bedrock"
            ),
            None
        );
        assert_eq!(
            map_key("azure/eu/gpt-4o", "azure"),
            m("azure", "gpt-4o", Some("eu"))
        );
        assert_eq!(
            map_key("azure_ai/claude-opus-4-6", "azure_ai"),
            m("azure", "claude-opus-4-6", None)
        );
        assert_eq!(
            map_key(
                "vertex_ai/claude-opus-4-6@default",
                "vertex_ai-anthropic_models"
            ),
            m("vertex", "claude-opus-4-6", None)
        );
        assert_eq!(
            map_key("gemini-2.5-pro", "vertex_ai-language-models"),
            m("vertex", "gemini-2.5-pro", None)
        );
        assert_eq!(
            map_key("gemini/gemini-2.5-pro", "gemini"),
            m("google-ai-studio", "gemini-2.5-pro", None)
        );
        assert_eq!(
            map_key("fireworks_ai/deepseek-v3", "fireworks_ai"),
            m("fireworks", "accounts/fireworks/models/deepseek-v3", None)
        );
        assert_eq!(
            map_key(
                "fireworks_ai/accounts/fireworks/models/deepseek-v3",
                "fireworks_ai"
            ),
            m("fireworks", "accounts/fireworks/models/deepseek-v3", None)
        );
        assert_eq!(
            map_key("deepseek/deepseek-chat", "deepseek"),
            m("deepseek", "deepseek-chat", None)
        );
        assert_eq!(
            map_key("groq/openai/gpt-oss-120b", "groq"),
            m("groq", "openai/gpt-oss-120b", None)
        );
        assert_eq!(
            map_key("command-a-03-2025", "cohere_chat"),
            m("cohere", "command-a-03-2025", None)
        );
        assert_eq!(map_key("ft:gpt-4o-2024-08-06", "openai"), None);
        assert_eq!(
            map_key("bedrock/claude_platform/claude-opus-4-5", "bedrock"),
            None
        );
        assert_eq!(map_key("x", "together_ai"), None);
    }

    #[test]
    fn tiers_and_prices_parse_exactly() {
        let e = parse(
            r#"{
            "gemini/gemini-2.5-pro": {"litellm_provider": "gemini", "mode": "chat",
              "input_cost_per_token": 1.25e-06, "output_cost_per_token": 8.900000000000001e-06,
              "cache_read_input_token_cost": 1.25e-07,
              "input_cost_per_token_above_200k_tokens": 2.5e-06,
              "input_cost_per_token_above_200k_tokens_priority": 4.5e-06,
              "cache_creation_input_token_cost_above_1hr_above_200k_tokens": 1e-05,
              "max_input_tokens": 1048576, "deprecation_date": "2026-12-01"},
            "sample_spec": {"litellm_provider": "one of ...", "mode": "one of ..."}
        }"#,
        )
        .unwrap();
        assert_eq!(e.len(), 1);
        let e = &e[0];
        assert_eq!(e.base.input, Some(Decimal::from_str("0.00000125").unwrap()));
        assert_eq!(
            e.base.cache_read,
            Some(Decimal::from_str("0.000000125").unwrap())
        );
        assert_eq!(
            e.tiers[&200_000].input,
            Some(Decimal::from_str("0.0000025").unwrap())
        );
        assert_eq!(
            e.tiers[&200_000].cache_write_1h,
            Some(Decimal::from_str("0.00001").unwrap())
        );
        // Float noise is rounded away; the tier without its own output inherits the base's.
        assert_eq!(
            e.at(250_000, "output"),
            Some(Decimal::from_str("0.0000089").unwrap())
        );
        assert_eq!(e.max_input_tokens, Some(1_048_576));
        assert!(e.is_current_chat(time::macros::date!(2026 - 11 - 30)));
        assert!(!e.is_current_chat(time::macros::date!(2026 - 12 - 01)));
    }
}
