//! Price lists: tiers as written in data ([`TierSpec`]) and as resolved for use ([`Pricing`]).

use crate::cache::{CacheKind, CacheMultipliers, CachePrices};
use crate::decimal_serde::deserialize_opt_decimal;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// Which usage decides the tier of a request. Data, per provider.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TierBasis {
    /// The prompt the provider saw: input + cache reads + cache writes (+ modality inputs).
    /// This is how providers' price lists state long-context pricing.
    #[default]
    Prompt,
    /// Non-cached input tokens only.
    Input,
    /// Always the base tier; higher tiers are informational.
    Base,
}

/// Rates for one non-text modality (image, audio, video, file). Unset rates fall back to the
/// tier's text rates.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModalityRates {
    /// USD per input unit of this modality.
    #[serde(
        default,
        deserialize_with = "deserialize_opt_decimal",
        skip_serializing_if = "Option::is_none"
    )]
    pub input: Option<Decimal>,
    /// Multiplier of `input` for cached input of this modality.
    #[serde(
        default,
        deserialize_with = "deserialize_opt_decimal",
        skip_serializing_if = "Option::is_none"
    )]
    pub cached_input_multiplier: Option<Decimal>,
    /// USD per output unit of this modality.
    #[serde(
        default,
        deserialize_with = "deserialize_opt_decimal",
        skip_serializing_if = "Option::is_none"
    )]
    pub output: Option<Decimal>,
}

impl ModalityRates {
    fn fill_from(&mut self, lower: &ModalityRates) {
        fill(&mut self.input, &lower.input);
        fill(
            &mut self.cached_input_multiplier,
            &lower.cached_input_multiplier,
        );
        fill(&mut self.output, &lower.output);
    }
}

/// One price tier as written in a registry file. Every field but `threshold` may be left out of a
/// higher tier, which then inherits it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TierSpec {
    /// The tier applies when the request's tier basis is `>=` this many tokens.
    #[serde(default)]
    pub threshold: u64,
    /// USD per input token.
    #[serde(
        default,
        deserialize_with = "deserialize_opt_decimal",
        skip_serializing_if = "Option::is_none"
    )]
    pub input: Option<Decimal>,
    /// USD per output token.
    #[serde(
        default,
        deserialize_with = "deserialize_opt_decimal",
        skip_serializing_if = "Option::is_none"
    )]
    pub output: Option<Decimal>,
    /// Cache prices as multipliers of `input`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache: Option<CacheMultipliers>,
    /// Cache prices as USD per token. A kind may be given here or in `cache`, not both.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_price: Option<CachePrices>,
    /// USD per reasoning token; the output rate when unset.
    #[serde(
        default,
        deserialize_with = "deserialize_opt_decimal",
        skip_serializing_if = "Option::is_none"
    )]
    pub thinking: Option<Decimal>,
    /// USD per request.
    #[serde(
        default,
        deserialize_with = "deserialize_opt_decimal",
        skip_serializing_if = "Option::is_none"
    )]
    pub request: Option<Decimal>,
    /// USD per web search call.
    #[serde(
        default,
        deserialize_with = "deserialize_opt_decimal",
        skip_serializing_if = "Option::is_none"
    )]
    pub web_search: Option<Decimal>,
    /// USD per cached token per hour of storage. Kept for display; not part of a request's cost.
    #[serde(
        default,
        deserialize_with = "deserialize_opt_decimal",
        skip_serializing_if = "Option::is_none"
    )]
    pub cache_storage_per_hour: Option<Decimal>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<ModalityRates>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audio: Option<ModalityRates>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub video: Option<ModalityRates>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<ModalityRates>,
}

/// A resolved tier: inheritance applied, `input` and `output` always present.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Tier {
    pub threshold: u64,
    pub input: Decimal,
    pub output: Decimal,
    /// Cache kinds priced as multipliers of `input`. Read prices through
    /// [`Tier::cache_unit_price`], which also covers `cache_price`.
    pub cache: CacheMultipliers,
    /// Cache kinds priced as USD per token; never the same kind as `cache`.
    #[serde(skip_serializing_if = "CachePrices::is_empty")]
    pub cache_price: CachePrices,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub thinking: Option<Decimal>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request: Option<Decimal>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub web_search: Option<Decimal>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cache_storage_per_hour: Option<Decimal>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image: Option<ModalityRates>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub audio: Option<ModalityRates>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub video: Option<ModalityRates>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<ModalityRates>,
}

/// Why a list of [`TierSpec`]s is not a valid price list. Messages name the tier by position.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PricingError {
    #[error("no pricing tiers: at least one tier with threshold 0 is required")]
    Empty,
    #[error("the first tier has threshold {0}; it must start at 0")]
    FirstThresholdNotZero(u64),
    #[error("tier {index} has threshold {threshold}, not greater than the previous tier's {previous}; thresholds must strictly increase")]
    NotIncreasing {
        index: usize,
        threshold: u64,
        previous: u64,
    },
    #[error("tier {index} field `{field}` is negative ({value})")]
    Negative {
        index: usize,
        field: &'static str,
        value: Decimal,
    },
    #[error("the base tier has no `{0}` price")]
    MissingBaseField(&'static str),
    #[error("tier {index} prices cache {} twice, as `cache.{}` (a multiplier of input) and as `cache_price.{}` (USD per token); keep one", .kind.as_str(), .kind.as_str(), .kind.as_str())]
    CacheGivenTwice { index: usize, kind: CacheKind },
}

impl PricingError {
    /// Where the error is, relative to the tier list: `[1].cache_price.read`, or `None` for an
    /// error of the list as a whole.
    pub fn path(&self) -> Option<String> {
        match self {
            PricingError::Negative { index, field, .. } => Some(format!("[{index}].{field}")),
            PricingError::CacheGivenTwice { index, kind } => {
                Some(format!("[{index}].cache_price.{}", kind.as_str()))
            }
            PricingError::NotIncreasing { index, .. } => Some(format!("[{index}].threshold")),
            _ => None,
        }
    }
}

/// A validated price list: tiers with strictly increasing thresholds starting at 0, inheritance
/// applied.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct Pricing {
    tiers: Vec<Tier>,
}

fn fill<T: Clone>(slot: &mut Option<T>, lower: &Option<T>) {
    if slot.is_none() {
        slot.clone_from(lower);
    }
}

fn fill_modality(slot: &mut Option<ModalityRates>, lower: &Option<ModalityRates>) {
    match (slot.as_mut(), lower) {
        (Some(rates), Some(lower)) => rates.fill_from(lower),
        (None, Some(lower)) => *slot = Some(lower.clone()),
        _ => {}
    }
}

impl TierSpec {
    /// Fills every unset field from `lower`, recursively through nested groups.
    fn inherit(&mut self, lower: &TierSpec) {
        fill(&mut self.input, &lower.input);
        fill(&mut self.output, &lower.output);
        // Per cache kind: a tier that states it in either form keeps its own; otherwise it
        // inherits the lower tier's, in the form that tier has.
        for kind in CacheKind::ALL {
            let own = self.cache.as_ref().and_then(|c| c.get(kind)).is_some()
                || self
                    .cache_price
                    .as_ref()
                    .and_then(|c| c.get(kind))
                    .is_some();
            if own {
                continue;
            }
            if let Some(v) = lower.cache.as_ref().and_then(|c| c.get(kind)) {
                self.cache
                    .get_or_insert_with(Default::default)
                    .set(kind, Some(v));
            }
            if let Some(v) = lower.cache_price.as_ref().and_then(|c| c.get(kind)) {
                self.cache_price
                    .get_or_insert_with(Default::default)
                    .set(kind, Some(v));
            }
        }
        fill(&mut self.thinking, &lower.thinking);
        fill(&mut self.request, &lower.request);
        fill(&mut self.web_search, &lower.web_search);
        fill(
            &mut self.cache_storage_per_hour,
            &lower.cache_storage_per_hour,
        );
        fill_modality(&mut self.image, &lower.image);
        fill_modality(&mut self.audio, &lower.audio);
        fill_modality(&mut self.video, &lower.video);
        fill_modality(&mut self.file, &lower.file);
    }

    fn check_non_negative(&self, index: usize) -> Result<(), PricingError> {
        let mut fields: Vec<(&'static str, Option<Decimal>)> = vec![
            ("input", self.input),
            ("output", self.output),
            ("thinking", self.thinking),
            ("request", self.request),
            ("web_search", self.web_search),
            ("cache_storage_per_hour", self.cache_storage_per_hour),
        ];
        if let Some(c) = &self.cache {
            fields.extend([
                ("cache.read", c.read),
                ("cache.write_5m", c.write_5m),
                ("cache.write_1h", c.write_1h),
            ]);
        }
        if let Some(c) = &self.cache_price {
            fields.extend([
                ("cache_price.read", c.read),
                ("cache_price.write_5m", c.write_5m),
                ("cache_price.write_1h", c.write_1h),
            ]);
        }
        for (names, m) in [
            (
                [
                    "image.input",
                    "image.cached_input_multiplier",
                    "image.output",
                ],
                &self.image,
            ),
            (
                [
                    "audio.input",
                    "audio.cached_input_multiplier",
                    "audio.output",
                ],
                &self.audio,
            ),
            (
                [
                    "video.input",
                    "video.cached_input_multiplier",
                    "video.output",
                ],
                &self.video,
            ),
            (
                ["file.input", "file.cached_input_multiplier", "file.output"],
                &self.file,
            ),
        ] {
            if let Some(m) = m {
                fields.extend([
                    (names[0], m.input),
                    (names[1], m.cached_input_multiplier),
                    (names[2], m.output),
                ]);
            }
        }
        for (field, value) in fields {
            if let Some(value) = value {
                if value.is_sign_negative() && !value.is_zero() {
                    return Err(PricingError::Negative {
                        index,
                        field,
                        value,
                    });
                }
            }
        }
        if let (Some(m), Some(p)) = (&self.cache, &self.cache_price) {
            if let Some(kind) = CacheKind::ALL
                .into_iter()
                .find(|&k| m.get(k).is_some() && p.get(k).is_some())
            {
                return Err(PricingError::CacheGivenTwice { index, kind });
            }
        }
        Ok(())
    }
}

impl Pricing {
    /// Validates a tier list and applies inheritance. Tiers must be given in increasing
    /// threshold order, the first at 0, so a data file reads the way it is applied.
    pub fn resolve(specs: &[TierSpec]) -> Result<Pricing, PricingError> {
        let first = specs.first().ok_or(PricingError::Empty)?;
        if first.threshold != 0 {
            return Err(PricingError::FirstThresholdNotZero(first.threshold));
        }
        for (index, pair) in specs.windows(2).enumerate() {
            if pair[1].threshold <= pair[0].threshold {
                return Err(PricingError::NotIncreasing {
                    index: index + 1,
                    threshold: pair[1].threshold,
                    previous: pair[0].threshold,
                });
            }
        }
        let mut filled: Vec<TierSpec> = Vec::with_capacity(specs.len());
        for (index, spec) in specs.iter().enumerate() {
            spec.check_non_negative(index)?;
            let mut spec = spec.clone();
            if let Some(lower) = filled.last() {
                spec.inherit(lower);
            }
            filled.push(spec);
        }
        let tiers = filled
            .into_iter()
            .map(|s| {
                Ok(Tier {
                    threshold: s.threshold,
                    input: s.input.ok_or(PricingError::MissingBaseField("input"))?,
                    output: s.output.ok_or(PricingError::MissingBaseField("output"))?,
                    cache: s.cache.unwrap_or_default(),
                    cache_price: s.cache_price.unwrap_or_default(),
                    thinking: s.thinking,
                    request: s.request,
                    web_search: s.web_search,
                    cache_storage_per_hour: s.cache_storage_per_hour,
                    image: s.image,
                    audio: s.audio,
                    video: s.video,
                    file: s.file,
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Pricing { tiers })
    }

    /// The tiers, lowest threshold first.
    pub fn tiers(&self) -> &[Tier] {
        &self.tiers
    }

    /// The base tier (threshold 0).
    pub fn base(&self) -> &Tier {
        &self.tiers[0]
    }

    /// The highest tier whose threshold is `<= value` (inclusive).
    pub fn tier_for(&self, value: u64) -> &Tier {
        // Few tiers (1–3), so a reverse scan beats a binary search.
        self.tiers
            .iter()
            .rev()
            .find(|t| t.threshold <= value)
            .unwrap_or(&self.tiers[0])
    }

    /// Base input + output rate: the routing order key ("cheapest first").
    pub fn base_sort_key(&self) -> Decimal {
        self.base().input + self.base().output
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    fn tier(threshold: u64, input: Option<Decimal>, output: Option<Decimal>) -> TierSpec {
        TierSpec {
            threshold,
            input,
            output,
            ..Default::default()
        }
    }

    #[test]
    fn empty_and_first_threshold() {
        assert_eq!(Pricing::resolve(&[]), Err(PricingError::Empty));
        assert_eq!(
            Pricing::resolve(&[tier(10, Some(dec!(1)), Some(dec!(1)))]),
            Err(PricingError::FirstThresholdNotZero(10))
        );
    }

    #[test]
    fn thresholds_strictly_increase() {
        let err = Pricing::resolve(&[
            tier(0, Some(dec!(1)), Some(dec!(1))),
            tier(100, None, None),
            tier(100, None, None),
        ])
        .unwrap_err();
        assert_eq!(
            err,
            PricingError::NotIncreasing {
                index: 2,
                threshold: 100,
                previous: 100
            }
        );
    }

    #[test]
    fn negative_prices_are_refused() {
        let err = Pricing::resolve(&[tier(0, Some(dec!(-0.1)), Some(dec!(1)))]).unwrap_err();
        assert!(matches!(err, PricingError::Negative { field: "input", .. }));
    }

    #[test]
    fn base_must_have_input_and_output() {
        assert_eq!(
            Pricing::resolve(&[tier(0, Some(dec!(1)), None)]),
            Err(PricingError::MissingBaseField("output"))
        );
    }

    #[test]
    fn higher_tiers_inherit_nested_fields() {
        let base = TierSpec {
            web_search: Some(dec!(0.01)),
            cache: Some(CacheMultipliers {
                read: Some(dec!(0.1)),
                write_5m: Some(dec!(1.25)),
                write_1h: Some(dec!(2)),
            }),
            image: Some(ModalityRates {
                input: Some(dec!(0.001)),
                ..Default::default()
            }),
            ..tier(0, Some(dec!(0.000003)), Some(dec!(0.000015)))
        };
        let high = TierSpec {
            cache: Some(CacheMultipliers {
                read: Some(dec!(0.2)),
                ..Default::default()
            }),
            image: Some(ModalityRates {
                output: Some(dec!(0.5)),
                ..Default::default()
            }),
            ..tier(200_000, Some(dec!(0.000006)), None)
        };
        let p = Pricing::resolve(&[base, high]).unwrap();
        let t = &p.tiers()[1];
        assert_eq!(t.output, dec!(0.000015));
        assert_eq!(t.web_search, Some(dec!(0.01)));
        assert_eq!(t.cache.read, Some(dec!(0.2)));
        assert_eq!(t.cache.write_5m, Some(dec!(1.25)));
        assert_eq!(t.image.as_ref().unwrap().input, Some(dec!(0.001)));
        assert_eq!(t.image.as_ref().unwrap().output, Some(dec!(0.5)));
    }

    #[test]
    fn one_cache_kind_in_both_forms_is_refused() {
        let spec = TierSpec {
            cache: Some(CacheMultipliers {
                read: Some(dec!(0.1)),
                ..Default::default()
            }),
            cache_price: Some(CachePrices {
                read: Some(dec!(0.0000001)),
                ..Default::default()
            }),
            ..tier(0, Some(dec!(0.000001)), Some(dec!(0.000002)))
        };
        let err = Pricing::resolve(&[spec]).unwrap_err();
        assert_eq!(
            err,
            PricingError::CacheGivenTwice {
                index: 0,
                kind: CacheKind::Read
            }
        );
        assert_eq!(err.path().as_deref(), Some("[0].cache_price.read"));
        assert!(err.to_string().contains("`cache.read`"), "{err}");
    }

    #[test]
    fn cache_kinds_inherit_in_either_form_and_a_stated_form_wins() {
        let base = TierSpec {
            cache: Some(CacheMultipliers {
                read: Some(dec!(0.1)),
                write_5m: Some(dec!(1.25)),
                ..Default::default()
            }),
            cache_price: Some(CachePrices {
                write_1h: Some(dec!(0.000005)),
                ..Default::default()
            }),
            ..tier(0, Some(dec!(0.000001)), Some(dec!(0.000002)))
        };
        // The higher tier prices reads absolutely: it must not also inherit the 0.1 multiplier.
        let high = TierSpec {
            cache_price: Some(CachePrices {
                read: Some(dec!(0.0000003)),
                ..Default::default()
            }),
            ..tier(1000, Some(dec!(0.000002)), None)
        };
        let p = Pricing::resolve(&[base, high]).unwrap();
        let t = &p.tiers()[1];
        assert_eq!(t.cache.read, None);
        assert_eq!(t.cache_read_rate(), dec!(0.0000003));
        // 5m writes inherit the multiplier, applied to this tier's input.
        assert_eq!(t.cache_write_5m_rate(), dec!(0.0000025));
        assert_eq!(t.cache_write_1h_rate(), dec!(0.000005));
        assert_eq!(
            p.tiers()[0].cache_rate(CacheKind::Read),
            Some(crate::CacheRate::Multiplier(dec!(0.1)))
        );
    }

    #[test]
    fn negative_cache_price_names_its_field() {
        let spec = TierSpec {
            cache_price: Some(CachePrices {
                write_5m: Some(dec!(-1)),
                ..Default::default()
            }),
            ..tier(0, Some(dec!(1)), Some(dec!(1)))
        };
        let err = Pricing::resolve(&[spec]).unwrap_err();
        assert_eq!(err.path().as_deref(), Some("[0].cache_price.write_5m"));
    }

    #[test]
    fn tier_choice_is_inclusive() {
        let p = Pricing::resolve(&[
            tier(0, Some(dec!(1)), Some(dec!(1))),
            tier(200_000, Some(dec!(2)), None),
        ])
        .unwrap();
        assert_eq!(p.tier_for(199_999).threshold, 0);
        assert_eq!(p.tier_for(200_000).threshold, 200_000);
        assert_eq!(p.tier_for(u64::MAX).threshold, 200_000);
    }
}
