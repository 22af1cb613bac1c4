//! Pass-through billing: the worst-case cost held before an upstream call.
//!
//! The hold must be a true upper bound of what the provider can bill for the request as sent,
//! so that the holds of concurrent requests can never add up to more than the balance; the
//! settlement then debits the exact computed cost.

use rust_decimal::prelude::ToPrimitive;
use rust_decimal::Decimal;
use serde_json::Value;
use switchyard_cost::Tier;
use switchyard_registry::Endpoint;

/// An upper bound of what a provider can report for one request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UsageBound {
    pub max_prompt_tokens: u64,
    pub max_output_tokens: u64,
    pub max_web_searches: u64,
}

/// Output tokens the Anthropic-format adapters send when the caller gives no limit.
const ANTHROPIC_DEFAULT_MAX_TOKENS: u64 = 4096;

/// The bound of an OpenAI chat request on an endpoint: text bytes bound text tokens (no
/// tokenizer maps less than a byte to a token); a part that is not text (image, audio, file)
/// is bounded by the context length; output is the limit the adapter sends, times `n`.
pub fn usage_bound(
    request: &Value,
    body_len: usize,
    endpoint: &Endpoint,
    anthropic: bool,
) -> UsageBound {
    let context = endpoint.context_length;
    let has_media = request
        .get("messages")
        .and_then(Value::as_array)
        .is_some_and(|m| {
            m.iter().any(|msg| {
                msg.get("content")
                    .and_then(Value::as_array)
                    .is_some_and(|parts| {
                        parts.iter().any(|p| {
                            p.get("type")
                                .and_then(Value::as_str)
                                .is_some_and(|t| t != "text")
                        })
                    })
            })
        });
    let mut prompt = body_len as u64;
    if has_media && context > 0 {
        prompt = prompt.max(context);
    }
    if context > 0 {
        prompt = prompt.min(context.max(body_len as u64));
    }
    let asked = ["max_completion_tokens", "max_tokens"]
        .iter()
        .find_map(|k| request.get(*k).and_then(Value::as_u64));
    let endpoint_max = if endpoint.max_completion_tokens > 0 {
        endpoint.max_completion_tokens
    } else if context > 0 {
        context
    } else {
        32_768
    };
    let sent = match asked {
        Some(a) => a,
        // With reasoning asked for, the adapter raises its default above the thinking budget.
        None if anthropic
            && !["reasoning", "reasoning_effort", "thinking"]
                .iter()
                .any(|k| request.get(*k).is_some_and(|v| !v.is_null())) =>
        {
            ANTHROPIC_DEFAULT_MAX_TOKENS
        }
        None => endpoint_max,
    };
    let n = request.get("n").and_then(Value::as_u64).unwrap_or(1).max(1);
    UsageBound {
        max_prompt_tokens: prompt,
        max_output_tokens: sent.min(endpoint_max).saturating_mul(n),
        max_web_searches: 0,
    }
}

/// The dearest rate any kind of prompt token can be billed at in a tier: plain input, cache
/// reads and writes (every prompt token could be one) and the input rates of other modalities.
fn dearest_input_rate(tier: &Tier) -> Decimal {
    let mut rate = tier.max_input_rate();
    for m in [&tier.image, &tier.audio, &tier.video, &tier.file]
        .into_iter()
        .flatten()
    {
        if let Some(r) = m.input {
            rate = rate.max(r);
        }
    }
    rate
}

/// The dearest rate an output token can be billed at: output, thinking, other modalities.
fn dearest_output_rate(tier: &Tier) -> Decimal {
    let mut rate = tier.output;
    if let Some(t) = tier.thinking {
        rate = rate.max(t);
    }
    for m in [&tier.image, &tier.audio, &tier.video, &tier.file]
        .into_iter()
        .flatten()
    {
        if let Some(r) = m.output {
            rate = rate.max(r);
        }
    }
    rate
}

/// The most a request within `bound` can cost on this endpoint, in nano-USD (rounded up).
/// Every tier a prompt of that size could fall in is considered, and the dearest rate of each
/// kind taken, so the figure bounds the real price whatever the mix of tokens.
pub fn hold_nanos(endpoint: &Endpoint, bound: &UsageBound) -> i64 {
    let prompt = bound.max_prompt_tokens;
    let (mut input_rate, mut output_rate) = (Decimal::ZERO, Decimal::ZERO);
    let (mut request_fee, mut search_fee) = (Decimal::ZERO, Decimal::ZERO);
    for tier in endpoint
        .pricing
        .tiers()
        .iter()
        .filter(|t| t.threshold <= prompt)
    {
        input_rate = input_rate.max(dearest_input_rate(tier));
        output_rate = output_rate.max(dearest_output_rate(tier));
        request_fee = request_fee.max(tier.request.unwrap_or_default());
        search_fee = search_fee.max(tier.web_search.unwrap_or_default());
    }
    let usd = Decimal::from(prompt) * input_rate
        + Decimal::from(bound.max_output_tokens) * output_rate
        + request_fee
        + Decimal::from(bound.max_web_searches) * search_fee;
    (usd * Decimal::from(switchyard_cost::NANOS_PER_USD))
        .ceil()
        .to_i64()
        .unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use switchyard_cost::{ModalityUsage, Usage};
    use switchyard_registry::Registry;

    fn registry() -> &'static Registry {
        static R: std::sync::OnceLock<Registry> = std::sync::OnceLock::new();
        R.get_or_init(|| Registry::embedded().unwrap())
    }

    /// The endpoints with the richest pricing shapes: tiers, cache writes, thinking, fees.
    fn endpoints() -> Vec<&'static Endpoint> {
        registry().endpoints().filter(|e| e.ptb).collect()
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2_000))]
        /// Whatever usage a provider reports within the bound — any split of the prompt into
        /// plain input, cache reads and writes, any split of the output into reasoning — the
        /// hold covers its price.
        #[test]
        fn the_hold_covers_every_usage_within_the_bound(
            e in 0usize..10_000,
            prompt in 0u64..2_000_000,
            output in 0u64..200_000,
            searches in 0u64..4,
            split in proptest::array::uniform6(0u64..=100),
            reasoning_pct in 0u64..=100,
            audio_out_pct in 0u64..=100,
        ) {
            let all = endpoints();
            let endpoint = all[e % all.len()];
            let bound = UsageBound {
                max_prompt_tokens: prompt,
                max_output_tokens: output,
                max_web_searches: searches,
            };
            let hold = hold_nanos(endpoint, &bound);
            let total: u64 = split.iter().sum::<u64>().max(1);
            let part = |i: usize| prompt * split[i] / total;
            let rest = prompt - (0..5).map(part).sum::<u64>();
            let audio_out = output * audio_out_pct / 100;
            let text_out = output - audio_out;
            let usage = Usage {
                input: Some(part(0)),
                cache_read: Some(part(1)),
                cache_write_5m: Some(part(2)),
                cache_write_1h: Some(part(3)),
                image: Some(ModalityUsage { input: part(4), cached_input: 0, output: 0 }),
                audio: Some(ModalityUsage { input: rest, cached_input: 0, output: audio_out }),
                output: Some(text_out),
                reasoning: Some(text_out * reasoning_pct / 100),
                web_search: Some(searches),
                ..Default::default()
            };
            let real = registry().price_endpoint(endpoint, &usage).total_nanos();
            prop_assert!(hold >= real, "{}: hold {hold} < real {real} for {usage:?}", endpoint.id);
        }
    }

    #[test]
    fn a_bigger_bound_holds_more() {
        let e = registry()
            .endpoint_by_provider_model_id("anthropic", "claude-sonnet-4-20250514")
            .unwrap();
        let small = UsageBound {
            max_prompt_tokens: 100,
            max_output_tokens: 4_096,
            max_web_searches: 0,
        };
        let big = UsageBound {
            max_output_tokens: 64_000,
            ..small
        };
        let (a, b) = (hold_nanos(e, &small), hold_nanos(e, &big));
        assert!(a > 0 && a < b, "{a} {b}");
        // 4,096 output tokens at $15/M and 100 prompt tokens at the 1h cache-write rate.
        assert!(a >= 61_440_000, "{a}");
    }
}
