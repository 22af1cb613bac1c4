//! Pass-through billing: the upper bound reserved before an upstream call.
//!
//! The hold must cover the worst case so that concurrent requests can never spend more than
//! the balance; the settlement then debits the exact computed cost.

use rust_decimal::Decimal;
use serde_json::Value;
use switchyard_registry::Endpoint;

/// Output tokens assumed when neither the request nor the registry gives a limit.
const FALLBACK_MAX_OUTPUT: u64 = 32_768;

/// An upper bound of the prompt in tokens: no tokenizer maps fewer than one byte of UTF-8 to a
/// token, so the request body's length bounds the tokens of its text.
pub fn prompt_upper_bound(body_len: usize) -> u64 {
    body_len as u64
}

/// The most output the request can produce on this endpoint.
pub fn output_upper_bound(request: &Value, endpoint: &Endpoint) -> u64 {
    let asked = ["max_completion_tokens", "max_tokens"]
        .iter()
        .find_map(|k| request.get(*k).and_then(Value::as_u64));
    let limit = if endpoint.max_completion_tokens > 0 {
        endpoint.max_completion_tokens
    } else {
        FALLBACK_MAX_OUTPUT
    };
    asked.map_or(limit, |a| a.min(limit))
}

/// The most this request can cost on this endpoint, in nano-USD (rounded up).
pub fn reservation_nanos(request: &Value, body_len: usize, endpoint: &Endpoint) -> i64 {
    let prompt = prompt_upper_bound(body_len);
    let output = output_upper_bound(request, endpoint);
    let tier = endpoint.pricing.tier_for(prompt);
    // Every prompt token could be a cache write, the dearest kind of input.
    let output_rate = tier.thinking.map_or(tier.output, |t| t.max(tier.output));
    let usd = Decimal::from(prompt) * tier.max_input_rate()
        + Decimal::from(output) * output_rate
        + tier.request.unwrap_or_default();
    use rust_decimal::prelude::ToPrimitive;
    (usd * Decimal::from(switchyard_cost::NANOS_PER_USD))
        .ceil()
        .to_i64()
        .unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use switchyard_cost::Usage;
    use switchyard_registry::Registry;

    #[test]
    fn the_hold_covers_the_real_cost() {
        let r = Registry::embedded().unwrap();
        let e = r
            .endpoint_by_provider_model_id("anthropic", "claude-sonnet-4-20250514")
            .unwrap();
        let req = serde_json::json!({"model": "claude-sonnet-4", "max_tokens": 1000, "messages": [{"role": "user", "content": "hello there"}]});
        let body_len = serde_json::to_vec(&req).unwrap().len();
        let hold = reservation_nanos(&req, body_len, e);
        // The worst real answer: every prompt byte a token written to the 1h cache, 1000 out.
        let worst = Usage {
            cache_write_1h: Some(body_len as u64),
            output: Some(1000),
            input: Some(0),
            ..Default::default()
        };
        let real = r.price_endpoint(e, &worst).total_nanos();
        assert!(hold >= real, "hold {hold} < real {real}");
        assert!(hold > 0);
    }

    #[test]
    fn output_bound_respects_request_and_endpoint() {
        let r = Registry::embedded().unwrap();
        let e = r.endpoint_by_provider_model_id("openai", "gpt-4o").unwrap();
        assert_eq!(
            output_upper_bound(&serde_json::json!({"max_tokens": 10}), e),
            10
        );
        assert_eq!(
            output_upper_bound(&serde_json::json!({"max_completion_tokens": 10_000_000}), e),
            e.max_completion_tokens
        );
        assert_eq!(
            output_upper_bound(&serde_json::json!({}), e),
            e.max_completion_tokens
        );
    }
}
