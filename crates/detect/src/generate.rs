//! Cost rows generated from the registry, and the explicit rows for names it does not carry.

use crate::table::{CostRow, MatchOp, RowPrices, RowSource};
use rust_decimal::Decimal;
use serde::Deserialize;
use std::collections::BTreeMap;
use switchyard_cost::{CacheKind, Pricing};

/// The shipped explicit rows.
pub const EXPLICIT_ROWS_TOML: &str = include_str!("../data/explicit_rows.toml");

/// One provider-side model name the registry prices: a config's `provider_model_id`, one of its
/// aliases, or a deployment's overriding id.
#[derive(Clone, Copy, Debug)]
pub struct RegistryName<'a> {
    /// Registry provider key, e.g. `anthropic`.
    pub provider: &'a str,
    /// The registry model id the config belongs to (for the row's source).
    pub model: &'a str,
    /// The name a caller sends to the provider.
    pub name: &'a str,
    pub pricing: &'a Pricing,
}

/// The legacy row prices of a registry price list: its base tier (the reference's legacy tables
/// had no tiers), cache prices as input × multiplier. Registry image rates are per token, not
/// per image, so `per_image` stays unset; `request` becomes `per_call`.
pub fn row_prices(pricing: &Pricing) -> RowPrices {
    let base = pricing.base();
    // Either cache form (multiplier or absolute), as USD per token.
    let times = |k: CacheKind| base.stated_cache_price(k).map(|p| p.normalize());
    let write_5m = times(CacheKind::Write5m);
    RowPrices {
        prompt: base.input,
        completion: base.output,
        cache_read: times(CacheKind::Read),
        // The reference's unsplit write rate is Anthropic's default (5-minute) write.
        cache_write: write_5m,
        cache_write_5m: write_5m,
        cache_write_1h: times(CacheKind::Write1h),
        prompt_audio: base.audio.as_ref().and_then(|a| a.input),
        completion_audio: base.audio.as_ref().and_then(|a| a.output),
        per_image: None,
        per_call: base.request,
    }
}

/// Two registry entries of one provider price the same name differently.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("provider `{provider}`: name `{name}` is priced by both `{first_model}` and `{second_model}` with different prices")]
pub struct GenerateConflict {
    pub provider: String,
    pub name: String,
    pub first_model: String,
    pub second_model: String,
}

/// Builds one `equals` row per distinct (provider, lowercase name), grouped by provider and
/// sorted by name so the tables (and their snapshots) do not depend on registry file order.
/// A name repeated with the same prices, or by the same model (its regional deployments), is
/// kept once, first come; priced differently by two models it is an error.
pub fn generate_rows<'a>(
    names: impl IntoIterator<Item = RegistryName<'a>>,
) -> Result<BTreeMap<String, Vec<CostRow>>, Vec<GenerateConflict>> {
    let mut by_provider: BTreeMap<String, BTreeMap<String, CostRow>> = BTreeMap::new();
    let mut conflicts = Vec::new();
    for n in names {
        let rows = by_provider.entry(n.provider.to_string()).or_default();
        let prices = row_prices(n.pricing);
        let key = n.name.to_lowercase();
        if let Some(existing) = rows.get(&key) {
            let first_model = match &existing.source {
                RowSource::Registry { model, .. } => model.clone(),
                RowSource::Explicit { legacy } => legacy.clone(),
            };
            // One model's regional deployments may share an id at other prices: the legacy
            // tables know no regions, so the first (the config's base price) stands.
            if existing.prices != prices && first_model != n.model {
                conflicts.push(GenerateConflict {
                    provider: n.provider.to_string(),
                    name: n.name.to_string(),
                    first_model,
                    second_model: n.model.to_string(),
                });
            }
            continue;
        }
        rows.insert(
            key,
            CostRow {
                operator: MatchOp::Equals,
                value: n.name.to_string(),
                prices,
                source: RowSource::Registry {
                    model: n.model.to_string(),
                    provider: n.provider.to_string(),
                },
            },
        );
    }
    if !conflicts.is_empty() {
        return Err(conflicts);
    }
    Ok(by_provider
        .into_iter()
        .map(|(p, rows)| (p, rows.into_values().collect()))
        .collect())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ExplicitFile {
    row: Vec<ExplicitRow>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ExplicitRow {
    /// Legacy provider name the row belongs to.
    provider: String,
    operator: MatchOp,
    value: String,
    #[serde(deserialize_with = "switchyard_cost::deserialize_decimal")]
    prompt: Decimal,
    #[serde(deserialize_with = "switchyard_cost::deserialize_decimal")]
    completion: Decimal,
    #[serde(default, deserialize_with = "switchyard_cost::deserialize_opt_decimal")]
    cache_read: Option<Decimal>,
    #[serde(default, deserialize_with = "switchyard_cost::deserialize_opt_decimal")]
    cache_write: Option<Decimal>,
    #[serde(default, deserialize_with = "switchyard_cost::deserialize_opt_decimal")]
    cache_write_5m: Option<Decimal>,
    #[serde(default, deserialize_with = "switchyard_cost::deserialize_opt_decimal")]
    cache_write_1h: Option<Decimal>,
    #[serde(default, deserialize_with = "switchyard_cost::deserialize_opt_decimal")]
    prompt_audio: Option<Decimal>,
    #[serde(default, deserialize_with = "switchyard_cost::deserialize_opt_decimal")]
    completion_audio: Option<Decimal>,
    #[serde(default, deserialize_with = "switchyard_cost::deserialize_opt_decimal")]
    per_image: Option<Decimal>,
    #[serde(default, deserialize_with = "switchyard_cost::deserialize_opt_decimal")]
    per_call: Option<Decimal>,
}

/// Parses explicit rows into per-legacy-name lists, file order kept.
pub fn parse_explicit(toml_text: &str) -> Result<BTreeMap<String, Vec<CostRow>>, toml::de::Error> {
    let file: ExplicitFile = toml::from_str(toml_text)?;
    let mut out: BTreeMap<String, Vec<CostRow>> = BTreeMap::new();
    for r in file.row {
        out.entry(r.provider.clone()).or_default().push(CostRow {
            operator: r.operator,
            value: r.value,
            prices: RowPrices {
                prompt: r.prompt,
                completion: r.completion,
                cache_read: r.cache_read,
                cache_write: r.cache_write,
                cache_write_5m: r.cache_write_5m,
                cache_write_1h: r.cache_write_1h,
                prompt_audio: r.prompt_audio,
                completion_audio: r.completion_audio,
                per_image: r.per_image,
                per_call: r.per_call,
            },
            source: RowSource::Explicit { legacy: r.provider },
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;
    use switchyard_cost::{CacheMultipliers, TierSpec};

    fn pricing(input: rust_decimal::Decimal, output: rust_decimal::Decimal) -> Pricing {
        Pricing::resolve(&[TierSpec {
            input: Some(input),
            output: Some(output),
            cache: Some(CacheMultipliers {
                read: Some(dec!(0.1)),
                write_5m: Some(dec!(1.25)),
                write_1h: Some(dec!(2)),
            }),
            ..Default::default()
        }])
        .unwrap()
    }

    #[test]
    fn cache_prices_are_input_times_multiplier() {
        let p = row_prices(&pricing(dec!(0.000003), dec!(0.000015)));
        assert_eq!(p.prompt, dec!(0.000003));
        assert_eq!(p.completion, dec!(0.000015));
        // Read is the cheap one, write the dear one: the legacy anthropic table had them swapped.
        assert_eq!(p.cache_read, Some(dec!(0.0000003)));
        assert_eq!(p.cache_write, Some(dec!(0.00000375)));
        assert_eq!(p.cache_write_5m, Some(dec!(0.00000375)));
        assert_eq!(p.cache_write_1h, Some(dec!(0.000006)));
        assert_eq!(p.per_call, None);
    }

    #[test]
    fn duplicates_merge_and_conflicts_are_reported() {
        let a = pricing(dec!(1), dec!(2));
        let b = pricing(dec!(3), dec!(4));
        let name = |provider, model, name, pricing| RegistryName {
            provider,
            model,
            name,
            pricing,
        };
        let rows = generate_rows([
            name("x", "m1", "Zed", &a),
            name("x", "m1", "alpha", &a),
            name("x", "m2", "zed", &a),
            name("y", "m1", "zed", &b),
        ])
        .unwrap();
        let x: Vec<_> = rows["x"].iter().map(|r| r.value.as_str()).collect();
        assert_eq!(x, ["alpha", "Zed"]);
        assert_eq!(rows["y"].len(), 1);

        let err =
            generate_rows([name("x", "m1", "zed", &a), name("x", "m2", "ZED", &b)]).unwrap_err();
        assert_eq!(err.len(), 1);
        assert_eq!(err[0].second_model, "m2");
    }
}
