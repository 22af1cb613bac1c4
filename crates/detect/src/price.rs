//! The reference's legacy `costOfPrompt` formula over one cost row, in exact decimals.

use crate::table::RowPrices;
use rust_decimal::Decimal;
use serde::Serialize;

/// Token counts as the legacy formula takes them. `prompt` is the non-cached prompt count: the
/// cache buckets are additive, not part of it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PromptUsage {
    pub prompt: u64,
    pub completion: u64,
    /// All cache-write tokens, including the 5m and 1h parts below.
    pub cache_write: u64,
    pub cache_read: u64,
    pub prompt_audio: u64,
    pub completion_audio: u64,
    /// The part of `cache_write` written with a 5-minute TTL, when the provider says.
    pub cache_write_5m: Option<u64>,
    /// The part of `cache_write` written with a 1-hour TTL, when the provider says.
    pub cache_write_1h: Option<u64>,
    /// Images billed per image (only rows with `per_image` charge them). Reference default 1.
    pub images: u64,
    /// Calls billed per call (only rows with `per_call` charge them). Reference default 1.
    pub calls: u64,
}

impl Default for PromptUsage {
    fn default() -> Self {
        PromptUsage {
            prompt: 0,
            completion: 0,
            cache_write: 0,
            cache_read: 0,
            prompt_audio: 0,
            completion_audio: 0,
            cache_write_5m: None,
            cache_write_1h: None,
            images: 1,
            calls: 1,
        }
    }
}

impl PromptUsage {
    /// Prompt and completion tokens only; images and calls at the reference's default of 1.
    pub fn tokens(prompt: u64, completion: u64) -> PromptUsage {
        PromptUsage {
            prompt,
            completion,
            ..Default::default()
        }
    }
}

/// A price computed by rule: exact USD and the stored nano-dollar integer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct RuleCost {
    pub usd: Decimal,
    pub nanos: i64,
}

fn d(n: u64) -> Decimal {
    Decimal::from(n)
}

/// The legacy formula (spec registry-and-cost.md §5.4):
///
/// ```text
/// prompt × prompt
/// + cache writes: if the row has a write rate and writes > 0, the writes not attributed to a
///   TTL at that rate, plus 5m writes at the 5m rate and 1h writes at the 1h rate; otherwise all
///   writes at the prompt rate
/// + cache reads at the read rate, else the prompt rate
/// + prompt audio at its rate, else the prompt rate
/// + completion × completion
/// + completion audio at its rate, else the completion rate
/// + images × per_image + calls × per_call
/// ```
///
/// Two deliberate differences from the JavaScript, both only for rows or inputs the reference
/// handles badly: a 5m/1h part whose row has no 5m/1h rate is charged at the row's write rate
/// (the reference subtracts it from the writes and then charges nothing for it), and the 5m+1h
/// parts are capped at the write total so the unattributed remainder is never negative. A rate
/// of 0 is a real zero here (the JavaScript treats 0 as "unset").
pub fn cost_of_prompt(row: &RowPrices, u: &PromptUsage) -> RuleCost {
    let mut total = d(u.prompt) * row.prompt;

    match row.cache_write {
        Some(write) if u.cache_write > 0 => {
            let w5m = u.cache_write_5m.unwrap_or(0).min(u.cache_write);
            let w1h = u.cache_write_1h.unwrap_or(0).min(u.cache_write - w5m);
            let rest = u.cache_write - w5m - w1h;
            total += d(rest) * write;
            total += d(w5m) * row.cache_write_5m.unwrap_or(write);
            total += d(w1h) * row.cache_write_1h.unwrap_or(write);
        }
        _ => total += d(u.cache_write) * row.prompt,
    }
    total += d(u.cache_read) * row.cache_read.unwrap_or(row.prompt);
    total += d(u.prompt_audio) * row.prompt_audio.unwrap_or(row.prompt);
    total += d(u.completion) * row.completion;
    total += d(u.completion_audio) * row.completion_audio.unwrap_or(row.completion);
    total += d(u.images) * row.per_image.unwrap_or_default();
    total += d(u.calls) * row.per_call.unwrap_or_default();

    let usd = total.normalize();
    RuleCost {
        usd,
        nanos: switchyard_cost::usd_to_nanos(usd),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    fn sonnet() -> RowPrices {
        RowPrices {
            prompt: dec!(0.000003),
            completion: dec!(0.000015),
            cache_read: Some(dec!(0.0000003)),
            cache_write: Some(dec!(0.00000375)),
            cache_write_5m: Some(dec!(0.00000375)),
            cache_write_1h: Some(dec!(0.000006)),
            ..Default::default()
        }
    }

    #[test]
    fn legacy_vector_12() {
        let c = cost_of_prompt(&sonnet(), &PromptUsage::tokens(1000, 500));
        assert_eq!(c.usd, dec!(0.0105));
        assert_eq!(c.nanos, 10_500_000);
    }

    #[test]
    fn cache_writes_split_without_double_counting() {
        let u = PromptUsage {
            cache_write: 150,
            cache_write_5m: Some(100),
            cache_write_1h: Some(50),
            cache_read: 500,
            ..PromptUsage::tokens(1500, 1000)
        };
        // 0.0045 + 0 × write + 100 × 0.00000375 + 50 × 0.000006 + 500 × 0.0000003 + 0.015:
        // the same lines as spec test vector 3 (0.020325).
        assert_eq!(cost_of_prompt(&sonnet(), &u).usd, dec!(0.020325));

        // Unsplit writes go at the write rate.
        let u = PromptUsage {
            cache_write: 1000,
            ..Default::default()
        };
        assert_eq!(cost_of_prompt(&sonnet(), &u).usd, dec!(0.00375));
    }

    #[test]
    fn fallbacks_to_prompt_and_completion_rates() {
        let row = RowPrices {
            prompt: dec!(0.000002),
            completion: dec!(0.000008),
            ..Default::default()
        };
        let u = PromptUsage {
            cache_write: 10,
            cache_write_5m: Some(10),
            cache_read: 20,
            prompt_audio: 30,
            completion_audio: 40,
            ..Default::default()
        };
        // (10 + 20 + 30) × 0.000002 + 40 × 0.000008
        assert_eq!(cost_of_prompt(&row, &u).usd, dec!(0.00044));
    }

    #[test]
    fn missing_ttl_rate_uses_write_rate_and_parts_are_capped() {
        let row = RowPrices {
            cache_write_5m: None,
            cache_write_1h: None,
            ..sonnet()
        };
        let u = PromptUsage {
            cache_write: 100,
            cache_write_5m: Some(80),
            cache_write_1h: Some(80),
            ..Default::default()
        };
        // 80 + 20 (capped) + 0 remainder, all at 0.00000375.
        assert_eq!(cost_of_prompt(&row, &u).usd, dec!(0.000375));
    }

    #[test]
    fn per_image_and_per_call_only_when_the_row_has_them() {
        let plain = cost_of_prompt(&sonnet(), &PromptUsage::default());
        assert_eq!(plain.usd, Decimal::ZERO);
        assert_eq!(plain.nanos, 0);
        let row = RowPrices {
            per_image: Some(dec!(0.04)),
            per_call: Some(dec!(0.005)),
            ..sonnet()
        };
        let u = PromptUsage {
            images: 3,
            ..Default::default()
        };
        assert_eq!(cost_of_prompt(&row, &u).usd, dec!(0.125));
    }
}
