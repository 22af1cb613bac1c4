//! Pricing a [`Usage`] with a [`Pricing`]: the cost engine.

use crate::pricing::{ModalityRates, Pricing, Tier, TierBasis};
use crate::usage::{Modality, Usage};
use rust_decimal::Decimal;
use serde::Serialize;

/// Nano-dollars per USD: the storage precision of every amount.
pub const NANOS_PER_USD: i64 = 1_000_000_000;

/// What a [`CostLine`] charges for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LineKind {
    Input,
    CacheRead,
    CacheWrite5m,
    CacheWrite1h,
    Output,
    Thinking,
    ImageInput,
    ImageCachedInput,
    ImageOutput,
    AudioInput,
    AudioCachedInput,
    AudioOutput,
    VideoInput,
    VideoCachedInput,
    VideoOutput,
    FileInput,
    FileCachedInput,
    FileOutput,
    WebSearch,
    Request,
}

impl LineKind {
    /// A short label for tables.
    pub fn label(self) -> &'static str {
        match self {
            LineKind::Input => "input",
            LineKind::CacheRead => "cache read",
            LineKind::CacheWrite5m => "cache write 5m",
            LineKind::CacheWrite1h => "cache write 1h",
            LineKind::Output => "output",
            LineKind::Thinking => "thinking",
            LineKind::ImageInput => "image input",
            LineKind::ImageCachedInput => "image cached input",
            LineKind::ImageOutput => "image output",
            LineKind::AudioInput => "audio input",
            LineKind::AudioCachedInput => "audio cached input",
            LineKind::AudioOutput => "audio output",
            LineKind::VideoInput => "video input",
            LineKind::VideoCachedInput => "video cached input",
            LineKind::VideoOutput => "video output",
            LineKind::FileInput => "file input",
            LineKind::FileCachedInput => "file cached input",
            LineKind::FileOutput => "file output",
            LineKind::WebSearch => "web search",
            LineKind::Request => "request",
        }
    }
}

/// One priced quantity: `amount = quantity × unit_price`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CostLine {
    pub kind: LineKind,
    pub quantity: u64,
    #[serde(with = "rust_decimal::serde::str")]
    pub unit_price: Decimal,
    #[serde(with = "rust_decimal::serde::str")]
    pub amount: Decimal,
}

/// The priced lines of one request and its total.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CostBreakdown {
    /// Threshold of the tier every line was priced at.
    pub tier_threshold: u64,
    pub lines: Vec<CostLine>,
    /// Sum of the lines.
    #[serde(with = "rust_decimal::serde::str")]
    pub computed: Decimal,
    /// The provider's own figure, when it reported one.
    #[serde(with = "rust_decimal::serde::str_option")]
    pub provider_reported: Option<Decimal>,
    /// What the request costs: the provider's figure if reported, else `computed`.
    #[serde(with = "rust_decimal::serde::str")]
    pub total: Decimal,
}

impl CostBreakdown {
    /// The total in integer nano-dollars, for storage and the ledger.
    pub fn total_nanos(&self) -> i64 {
        crate::usd_to_nanos(self.total)
    }

    /// The amount of one kind of line, if it was charged.
    pub fn line(&self, kind: LineKind) -> Option<&CostLine> {
        self.lines.iter().find(|l| l.kind == kind)
    }
}

fn tier_value(basis: TierBasis, usage: &Usage) -> u64 {
    match basis {
        TierBasis::Prompt => usage.prompt_tokens(),
        TierBasis::Input => usage.input.unwrap_or(0),
        TierBasis::Base => 0,
    }
}

struct Lines(Vec<CostLine>);

impl Lines {
    fn push(&mut self, kind: LineKind, quantity: u64, unit_price: Decimal) {
        self.0.push(CostLine {
            kind,
            quantity,
            unit_price,
            amount: Decimal::from(quantity) * unit_price,
        });
    }

    fn push_nonzero(&mut self, kind: LineKind, quantity: u64, unit_price: Decimal) {
        if quantity > 0 {
            self.push(kind, quantity, unit_price);
        }
    }
}

fn modality_rates(tier: &Tier, m: Modality) -> Option<&ModalityRates> {
    match m {
        Modality::Image => tier.image.as_ref(),
        Modality::Audio => tier.audio.as_ref(),
        Modality::Video => tier.video.as_ref(),
        Modality::File => tier.file.as_ref(),
    }
}

fn modality_kinds(m: Modality) -> [LineKind; 3] {
    match m {
        Modality::Image => [
            LineKind::ImageInput,
            LineKind::ImageCachedInput,
            LineKind::ImageOutput,
        ],
        Modality::Audio => [
            LineKind::AudioInput,
            LineKind::AudioCachedInput,
            LineKind::AudioOutput,
        ],
        Modality::Video => [
            LineKind::VideoInput,
            LineKind::VideoCachedInput,
            LineKind::VideoOutput,
        ],
        Modality::File => [
            LineKind::FileInput,
            LineKind::FileCachedInput,
            LineKind::FileOutput,
        ],
    }
}

/// Prices `usage` with `pricing`, choosing the tier by `basis`.
///
/// The tier is chosen once and prices every line. Lines with no quantity are left out, except
/// input and output, which always appear. A cache kind with no price is charged as input.
pub fn price(pricing: &Pricing, basis: TierBasis, usage: &Usage) -> CostBreakdown {
    let tier = pricing.tier_for(tier_value(basis, usage));
    let mut lines = Lines(Vec::with_capacity(4));

    lines.push(LineKind::Input, usage.input.unwrap_or(0), tier.input);
    lines.push_nonzero(
        LineKind::CacheRead,
        usage.cache_read.unwrap_or(0),
        tier.cache_read_rate(),
    );
    lines.push_nonzero(
        LineKind::CacheWrite5m,
        usage.cache_write_5m.unwrap_or(0),
        tier.cache_write_5m_rate(),
    );
    lines.push_nonzero(
        LineKind::CacheWrite1h,
        usage.cache_write_1h.unwrap_or(0),
        tier.cache_write_1h_rate(),
    );

    // Reasoning is a part of output: only the rest is charged at the output rate.
    let output = usage.output.unwrap_or(0);
    let reasoning = usage.reasoning.unwrap_or(0);
    lines.push(
        LineKind::Output,
        output.saturating_sub(reasoning),
        tier.output,
    );
    lines.push_nonzero(
        LineKind::Thinking,
        reasoning,
        tier.thinking.unwrap_or(tier.output),
    );

    for (m, u) in usage.modalities() {
        let rates = modality_rates(tier, m);
        let in_rate = rates.and_then(|r| r.input).unwrap_or(tier.input);
        let out_rate = rates.and_then(|r| r.output).unwrap_or(tier.output);
        let cached_rate =
            tier.cached_modality_rate(in_rate, rates.and_then(|r| r.cached_input_multiplier));
        let [k_in, k_cached, k_out] = modality_kinds(m);
        lines.push_nonzero(k_in, u.input, in_rate);
        lines.push_nonzero(k_cached, u.cached_input, cached_rate);
        lines.push_nonzero(k_out, u.output, out_rate);
    }

    if let Some(rate) = tier.web_search {
        lines.push_nonzero(LineKind::WebSearch, usage.web_search.unwrap_or(0), rate);
    }
    if let Some(rate) = tier.request {
        lines.push_nonzero(LineKind::Request, usage.requests.unwrap_or(1), rate);
    }

    let computed: Decimal = lines.0.iter().map(|l| l.amount).sum();
    CostBreakdown {
        tier_threshold: tier.threshold,
        lines: lines.0,
        computed,
        provider_reported: usage.provider_cost,
        total: usage.provider_cost.unwrap_or(computed),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cache::{CacheMultipliers, CachePrices};
    use crate::pricing::TierSpec;
    use rust_decimal_macros::dec;

    fn claude_sonnet_4() -> Pricing {
        Pricing::resolve(&[
            TierSpec {
                threshold: 0,
                input: Some(dec!(0.000003)),
                output: Some(dec!(0.000015)),
                web_search: Some(dec!(0.01)),
                cache: Some(CacheMultipliers {
                    read: Some(dec!(0.1)),
                    write_5m: Some(dec!(1.25)),
                    write_1h: Some(dec!(2.0)),
                }),
                ..Default::default()
            },
            TierSpec {
                threshold: 200_000,
                input: Some(dec!(0.000006)),
                output: Some(dec!(0.0000225)),
                ..Default::default()
            },
        ])
        .unwrap()
    }

    #[test]
    fn zero_usage_costs_zero() {
        let b = price(&claude_sonnet_4(), TierBasis::Prompt, &Usage::default());
        assert_eq!(b.total, Decimal::ZERO);
        assert_eq!(b.total_nanos(), 0);
    }

    #[test]
    fn cache_writes_count_toward_the_threshold() {
        // 150k input + 50k cache write = 200k prompt: the long-context tier, for every line.
        let u = Usage {
            input: Some(150_000),
            cache_write_5m: Some(50_000),
            output: Some(10),
            ..Default::default()
        };
        let b = price(&claude_sonnet_4(), TierBasis::Prompt, &u);
        assert_eq!(b.tier_threshold, 200_000);
        assert_eq!(
            b.line(LineKind::CacheWrite5m).unwrap().amount,
            dec!(50000) * dec!(0.000006) * dec!(1.25)
        );
        // The same usage under the `input` basis stays in the base tier.
        let b = price(&claude_sonnet_4(), TierBasis::Input, &u);
        assert_eq!(b.tier_threshold, 0);
        assert_eq!(
            price(
                &claude_sonnet_4(),
                TierBasis::Base,
                &Usage::tokens(10_000_000, 1)
            )
            .tier_threshold,
            0
        );
    }

    #[test]
    fn reasoning_is_part_of_output() {
        let mut p = claude_sonnet_4();
        let u = Usage {
            input: Some(0),
            output: Some(1000),
            reasoning: Some(400),
            ..Default::default()
        };
        // No thinking rate: all 1000 output tokens at the output rate, split over two lines.
        let b = price(&p, TierBasis::Prompt, &u);
        assert_eq!(b.total, dec!(1000) * dec!(0.000015));
        p = Pricing::resolve(&[TierSpec {
            input: Some(dec!(0.000001)),
            output: Some(dec!(0.00001)),
            thinking: Some(dec!(0.00002)),
            ..Default::default()
        }])
        .unwrap();
        let b = price(&p, TierBasis::Prompt, &u);
        assert_eq!(
            b.total,
            dec!(600) * dec!(0.00001) + dec!(400) * dec!(0.00002)
        );
    }

    #[test]
    fn provider_cost_overrides_total() {
        let u = Usage {
            provider_cost: Some(dec!(0.123)),
            ..Usage::tokens(1000, 1000)
        };
        let b = price(&claude_sonnet_4(), TierBasis::Prompt, &u);
        assert_eq!(b.total, dec!(0.123));
        assert_eq!(b.computed, dec!(0.003) + dec!(0.015));
        assert_eq!(b.total_nanos(), 123_000_000);
    }

    #[test]
    fn request_and_modalities() {
        let p = Pricing::resolve(&[TierSpec {
            input: Some(dec!(0.000001)),
            output: Some(dec!(0.000002)),
            request: Some(dec!(0.005)),
            cache: Some(CacheMultipliers {
                read: Some(dec!(0.25)),
                ..Default::default()
            }),
            audio: Some(ModalityRates {
                input: Some(dec!(0.00004)),
                ..Default::default()
            }),
            ..Default::default()
        }])
        .unwrap();
        let u = Usage {
            input: Some(10),
            output: Some(10),
            audio: Some(crate::ModalityUsage {
                input: 100,
                cached_input: 100,
                output: 5,
            }),
            image: Some(crate::ModalityUsage {
                input: 3,
                cached_input: 0,
                output: 0,
            }),
            ..Default::default()
        };
        let b = price(&p, TierBasis::Prompt, &u);
        assert_eq!(b.line(LineKind::AudioInput).unwrap().amount, dec!(0.004));
        assert_eq!(
            b.line(LineKind::AudioCachedInput).unwrap().amount,
            dec!(0.001)
        );
        assert_eq!(b.line(LineKind::AudioOutput).unwrap().amount, dec!(0.00001));
        assert_eq!(b.line(LineKind::ImageInput).unwrap().amount, dec!(0.000003));
        assert_eq!(b.line(LineKind::Request).unwrap().amount, dec!(0.005));
    }

    /// $0.60 input with $0.11 cached input: no short multiplier gives 0.11/0.60, the absolute
    /// form prices it exactly.
    #[test]
    fn absolute_cache_prices_are_exact() {
        let p = Pricing::resolve(&[TierSpec {
            input: Some(dec!(0.0000006)),
            output: Some(dec!(0.0000024)),
            cache_price: Some(CachePrices {
                read: Some(dec!(0.00000011)),
                ..Default::default()
            }),
            cache: Some(CacheMultipliers {
                write_5m: Some(dec!(1.25)),
                ..Default::default()
            }),
            ..Default::default()
        }])
        .unwrap();
        let u = Usage {
            cache_read: Some(1_000_000),
            cache_write_5m: Some(1_000_000),
            ..Usage::tokens(1_000_000, 0)
        };
        let b = price(&p, TierBasis::Prompt, &u);
        let read = b.line(LineKind::CacheRead).unwrap();
        assert_eq!(read.unit_price, dec!(0.00000011));
        assert_eq!(read.amount, dec!(0.11));
        assert_eq!(b.line(LineKind::CacheWrite5m).unwrap().amount, dec!(0.75));
        assert_eq!(b.total, dec!(0.6) + dec!(0.11) + dec!(0.75));
        // An unpriced kind (1h writes here) is charged as input.
        let tier = p.base();
        assert_eq!(tier.cache_write_1h_rate(), dec!(0.0000006));
        assert_eq!(tier.max_input_rate(), dec!(0.00000075));
    }

    #[test]
    fn cached_modality_input_follows_an_absolute_cache_price() {
        let p = Pricing::resolve(&[TierSpec {
            input: Some(dec!(0.0000003)),
            output: Some(dec!(0.0000025)),
            cache_price: Some(CachePrices {
                read: Some(dec!(0.00000003)),
                ..Default::default()
            }),
            audio: Some(ModalityRates {
                input: Some(dec!(0.000001)),
                ..Default::default()
            }),
            ..Default::default()
        }])
        .unwrap();
        let u = Usage {
            audio: Some(crate::ModalityUsage {
                input: 0,
                cached_input: 1_000_000,
                output: 0,
            }),
            image: Some(crate::ModalityUsage {
                input: 0,
                cached_input: 1_000_000,
                output: 0,
            }),
            ..Usage::tokens(0, 0)
        };
        let b = price(&p, TierBasis::Prompt, &u);
        // Audio input is 1.00/M: the 0.03/0.30 ratio of text gives 0.10/M cached.
        assert_eq!(
            b.line(LineKind::AudioCachedInput).unwrap().amount,
            dec!(0.1)
        );
        // Image input has no rate of its own: the text cache price, exactly.
        assert_eq!(
            b.line(LineKind::ImageCachedInput).unwrap().amount,
            dec!(0.03)
        );
    }

    #[test]
    fn nanos_round_half_away_from_zero() {
        assert_eq!(crate::usd_to_nanos(dec!(0.0000000005)), 1);
        assert_eq!(crate::usd_to_nanos(dec!(0.0000000004999)), 0);
        assert_eq!(crate::usd_to_nanos(dec!(0.0105)), 10_500_000);
        assert_eq!(crate::nanos_to_usd(10_500_000), dec!(0.0105));
    }
}
