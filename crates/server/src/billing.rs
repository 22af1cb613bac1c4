//! Pass-through billing: the worst-case cost held before an upstream call.
//!
//! The hold must be a true upper bound of what the provider can bill for the request as sent,
//! so that the holds of concurrent requests can never add up to more than the balance; the
//! settlement then debits the exact computed cost. The bound of the usage is the adapter's
//! ([`switchyard_providers::adapter::usage_bound`]: every input part, the `max_tokens` it
//! writes into the upstream body, `n`); pricing it at the endpoint's dearest rates is
//! [`UsageBound::max_cost`].

use rust_decimal::prelude::ToPrimitive;
use rust_decimal::Decimal;
pub use switchyard_providers::adapter::UsageBound;
use switchyard_registry::Endpoint;

/// The most a request within `bound` can cost on this endpoint, in nano-USD (rounded up).
pub fn hold_nanos(endpoint: &Endpoint, bound: &UsageBound) -> i64 {
    let usd = bound.max_cost(&endpoint.pricing);
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

    fn ptb_endpoints() -> Vec<&'static Endpoint> {
        registry().endpoints().filter(|e| e.ptb).collect()
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2_000))]
        /// On every PTB endpoint of the registry, whatever usage a provider reports within the
        /// bound — any split of the prompt into plain input, cache reads and writes, image and
        /// audio tokens, any split of the output into text, reasoning and audio — the hold
        /// covers its price.
        #[test]
        fn the_hold_covers_every_usage_within_the_bound(
            e in 0usize..10_000,
            prompt in 0u64..2_000_000,
            output in 0u64..200_000,
            searches in 0u32..4,
            split in proptest::array::uniform6(0u64..=100),
            reasoning_pct in 0u64..=100,
            audio_out_pct in 0u64..=100,
        ) {
            let all = ptb_endpoints();
            let endpoint = all[e % all.len()];
            let bound = UsageBound {
                max_prompt_tokens: prompt,
                max_output_tokens: output,
                web_search_calls: searches,
                requests: 1,
                ..UsageBound::default()
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
                web_search: Some(u64::from(searches)),
                ..Default::default()
            };
            let real = registry().price_endpoint(endpoint, &usage).total_nanos();
            prop_assert!(hold >= real, "{}: hold {hold} < real {real} for {usage:?}", endpoint.id);
        }
    }

    #[test]
    fn the_hold_follows_the_adapter_default_not_the_endpoint_maximum() {
        use switchyard_providers::adapter::{usage_bound, Target};
        let r = registry();
        let e = r
            .endpoint_by_provider_model_id("anthropic", "claude-sonnet-4-20250514")
            .unwrap();
        let p = r.provider("anthropic").unwrap();
        let config = switchyard_registry::DeploymentConfig::default();
        let target = Target::new(p, e, &config);
        let body = serde_json::json!({"model": "claude-sonnet-4", "messages": [{"role": "user", "content": "hi"}]});
        let bound = usage_bound(&target, &body).unwrap();
        assert_eq!(bound.max_tokens_in_body, Some(4096));
        assert!(bound.max_output_tokens < e.max_completion_tokens);
        let hold = hold_nanos(e, &bound);
        // About 4,096 output tokens at $15/M: far below the 64,000-token worst case.
        assert!((61_440_000..100_000_000).contains(&hold), "{hold}");
    }
}
