//! OpenAI-shape usage → [`switchyard_cost::Usage`].
//!
//! Every OpenAI-compatible provider reports `usage` in OpenAI's shape, with its own additions.
//! One function reads them all; which fields a provider adds is recognised from the fields
//! themselves, so no provider id is needed and a new OpenAI-compatible provider needs no code.
//!
//! | Provider   | What differs                                                                 |
//! |------------|------------------------------------------------------------------------------|
//! | OpenAI     | `prompt_tokens` includes `prompt_tokens_details.cached_tokens` and audio;     |
//! |            | `completion_tokens` includes reasoning and audio output.                     |
//! | DeepSeek   | `prompt_cache_hit_tokens` + `prompt_cache_miss_tokens` = `prompt_tokens`.     |
//! | xAI        | reasoning is *not* in `completion_tokens` (total = prompt + completion +     |
//! |            | reasoning); cost in `cost_in_usd_ticks`, 1 USD = 10^10 ticks.                |
//! | OpenRouter | `cost` in credits (= USD); `prompt_tokens_details.cache_write_tokens`;       |
//! |            | BYOK requests add `cost_details.upstream_inference_cost`.                     |
//! | Perplexity | `cost.total_cost` in USD (includes its per-request search fee).              |
//! | Gemini via | thinking tokens are missing from `completion_tokens` but counted in          |
//! | OpenAI API | `total_tokens`; the difference is the reasoning.                             |

use rust_decimal::Decimal;
use serde_json::Value;
use switchyard_cost::{ModalityUsage, Usage};

/// xAI's cost unit: 1 USD = 10,000,000,000 ticks (docs.x.ai, "Cost Tracking").
const XAI_TICKS_PER_USD: i64 = 10_000_000_000;

fn count(v: &Value, path: &[&str]) -> Option<u64> {
    let mut cur = v;
    for k in path {
        cur = cur.get(k)?;
    }
    cur.as_u64()
        .or_else(|| cur.as_f64().filter(|f| *f >= 0.0).map(|f| f as u64))
}

fn decimal(v: &Value) -> Option<Decimal> {
    match v {
        // Through the textual form so 0.95 stays 0.95 and not the nearest binary float.
        Value::Number(n) => n
            .to_string()
            .parse::<Decimal>()
            .ok()
            .or_else(|| n.as_f64().and_then(|f| Decimal::try_from(f).ok())),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

/// Normalises an OpenAI-shape `usage` object. `Value::Null` (or a non-object) gives the
/// all-`None` usage: not reported.
pub fn from_openai(usage: &Value) -> Usage {
    let mut u = Usage::default();
    if !usage.is_object() {
        return u;
    }
    let prompt = count(usage, &["prompt_tokens"]);
    let completion = count(usage, &["completion_tokens"]);
    let total = count(usage, &["total_tokens"]);

    // Cache reads: DeepSeek's own fields win (they partition the prompt exactly), then OpenAI's.
    let deepseek_hit = count(usage, &["prompt_cache_hit_tokens"]);
    let deepseek_miss = count(usage, &["prompt_cache_miss_tokens"]);
    let cached = deepseek_hit.or_else(|| count(usage, &["prompt_tokens_details", "cached_tokens"]));
    let cache_write = count(usage, &["prompt_tokens_details", "cache_write_tokens"]);
    let audio_in = count(usage, &["prompt_tokens_details", "audio_tokens"]).unwrap_or(0);
    let audio_out = count(usage, &["completion_tokens_details", "audio_tokens"]).unwrap_or(0);
    let reasoning = count(usage, &["completion_tokens_details", "reasoning_tokens"])
        // Perplexity reports it at the top level.
        .or_else(|| count(usage, &["reasoning_tokens"]));

    if let Some(p) = prompt {
        let input = match (deepseek_hit, deepseek_miss) {
            (Some(_), Some(miss)) => miss.saturating_sub(audio_in),
            _ => p
                .saturating_sub(cached.unwrap_or(0))
                .saturating_sub(cache_write.unwrap_or(0))
                .saturating_sub(audio_in),
        };
        u.input = Some(input);
        u.cache_read = cached;
        // OpenRouter does not say the write's lifetime; 5 minutes is every provider's default.
        u.cache_write_5m = cache_write.filter(|w| *w > 0);
    }

    if let Some(c) = completion {
        let p = prompt.unwrap_or(0);
        let (output, reasoning) = match (reasoning, total) {
            // xAI: reasoning reported beside, not inside, completion_tokens.
            (Some(r), Some(t)) if r > 0 && t == p + c + r && t != p + c => (c + r, Some(r)),
            // Gemini through the OpenAI API: thinking only visible in the total.
            (None, Some(t)) if t > p + c => (t - p, Some(t - p - c)),
            (r, _) => (c, r),
        };
        u.output = Some(output.saturating_sub(audio_out));
        u.reasoning = reasoning;
    }

    if audio_in > 0 || audio_out > 0 {
        u.audio = Some(ModalityUsage {
            input: audio_in,
            cached_input: 0,
            output: audio_out,
        });
    }

    if let Some(n) = count(usage, &["num_search_queries"])
        .or_else(|| count(usage, &["server_tool_use", "web_search_requests"]))
        .filter(|n| *n > 0)
    {
        u.web_search = Some(n);
    }

    u.provider_cost = provider_cost(usage);
    u
}

/// The USD cost the provider reported, if any.
fn provider_cost(usage: &Value) -> Option<Decimal> {
    if let Some(ticks) = usage.get("cost_in_usd_ticks").and_then(decimal) {
        return Some(ticks / Decimal::from(XAI_TICKS_PER_USD));
    }
    match usage.get("cost")? {
        // Perplexity: a breakdown object with the total in USD.
        obj @ Value::Object(_) => obj.get("total_cost").and_then(decimal),
        // OpenRouter: credits, 1 credit = 1 USD. For BYOK the upstream provider billed the
        // caller directly; what the request cost in total is both amounts.
        v => {
            let cost = decimal(v)?;
            let byok = usage.get("is_byok").and_then(Value::as_bool) == Some(true);
            let upstream = usage
                .get("cost_details")
                .and_then(|d| d.get("upstream_inference_cost"))
                .and_then(decimal)
                .filter(|_| byok)
                .unwrap_or_default();
            Some(cost + upstream)
        }
    }
}

/// Normalises the `usage` of OpenAI's Responses API (`/v1/responses`): `input_tokens` includes
/// `input_tokens_details.cached_tokens`, and `output_tokens` includes
/// `output_tokens_details.reasoning_tokens`.
pub fn from_openai_responses(usage: &Value) -> Usage {
    if !usage.is_object() {
        return Usage::default();
    }
    let input = count(usage, &["input_tokens"]);
    let cached = count(usage, &["input_tokens_details", "cached_tokens"]);
    Usage {
        input: input.map(|i| i.saturating_sub(cached.unwrap_or(0))),
        cache_read: cached.filter(|_| input.is_some()),
        output: count(usage, &["output_tokens"]),
        reasoning: count(usage, &["output_tokens_details", "reasoning_tokens"]),
        ..Usage::default()
    }
}

/// Reads the `usage` of a whole OpenAI-shape response body.
pub fn from_openai_response(body: &Value) -> Usage {
    body.get("usage").map(from_openai).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;
    use serde_json::json;

    #[test]
    fn openai_cached_reasoning_audio() {
        let u = from_openai(&json!({
            "prompt_tokens": 2006, "completion_tokens": 300, "total_tokens": 2306,
            "prompt_tokens_details": {"cached_tokens": 1920, "audio_tokens": 6},
            "completion_tokens_details": {"reasoning_tokens": 192, "audio_tokens": 8,
                "accepted_prediction_tokens": 0, "rejected_prediction_tokens": 0}
        }));
        assert_eq!(u.input, Some(80));
        assert_eq!(u.cache_read, Some(1920));
        assert_eq!(u.output, Some(292));
        assert_eq!(u.reasoning, Some(192));
        assert_eq!(
            u.audio,
            Some(ModalityUsage {
                input: 6,
                cached_input: 0,
                output: 8
            })
        );
        assert_eq!(u.provider_cost, None);
        // Nothing lost: the prompt the provider saw is what it reported.
        assert_eq!(u.prompt_tokens(), 2006);
    }

    #[test]
    fn zero_is_reported_none_is_not() {
        let u =
            from_openai(&json!({"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}));
        assert_eq!((u.input, u.output, u.cache_read), (Some(0), Some(0), None));
        assert!(from_openai(&Value::Null).is_unreported());
        assert!(from_openai(&json!({})).is_unreported());
        let u = from_openai(&json!({"prompt_tokens": 5, "completion_tokens": 1,
            "prompt_tokens_details": {"cached_tokens": 0}}));
        assert_eq!(u.cache_read, Some(0));
    }

    #[test]
    fn deepseek_hit_miss() {
        let u = from_openai(&json!({
            "prompt_tokens": 1000, "completion_tokens": 50, "total_tokens": 1050,
            "prompt_cache_hit_tokens": 640, "prompt_cache_miss_tokens": 360,
            "prompt_tokens_details": {"cached_tokens": 640},
            "completion_tokens_details": {"reasoning_tokens": 20}
        }));
        assert_eq!(
            (u.input, u.cache_read, u.output, u.reasoning),
            (Some(360), Some(640), Some(50), Some(20))
        );
    }

    #[test]
    fn xai_reasoning_outside_completion_and_ticks() {
        let u = from_openai(&json!({
            "prompt_tokens": 32, "completion_tokens": 9, "total_tokens": 135,
            "prompt_tokens_details": {"text_tokens": 32, "audio_tokens": 0, "image_tokens": 0, "cached_tokens": 6},
            "completion_tokens_details": {"reasoning_tokens": 94, "audio_tokens": 0,
                "accepted_prediction_tokens": 0, "rejected_prediction_tokens": 0},
            "num_sources_used": 0,
            "cost_in_usd_ticks": 37756000
        }));
        assert_eq!(
            (u.input, u.cache_read, u.output, u.reasoning),
            (Some(26), Some(6), Some(103), Some(94))
        );
        assert_eq!(u.provider_cost, Some(dec!(0.0037756)));
    }

    #[test]
    fn openrouter_cost_and_cache_write() {
        let u = from_openai(&json!({
            "completion_tokens": 2, "completion_tokens_details": {"reasoning_tokens": 0},
            "cost": 0.95, "cost_details": {"upstream_inference_cost": 19},
            "prompt_tokens": 194,
            "prompt_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 100, "audio_tokens": 0},
            "total_tokens": 196
        }));
        assert_eq!(
            (u.input, u.cache_read, u.cache_write_5m),
            (Some(94), Some(0), Some(100))
        );
        assert_eq!(u.provider_cost, Some(dec!(0.95)));
        let byok = from_openai(
            &json!({"prompt_tokens": 1, "completion_tokens": 1, "cost": 0.001,
            "is_byok": true, "cost_details": {"upstream_inference_cost": 0.02}}),
        );
        assert_eq!(byok.provider_cost, Some(dec!(0.021)));
    }

    #[test]
    fn perplexity_cost_object_and_searches() {
        let u = from_openai(&json!({
            "prompt_tokens": 10, "completion_tokens": 200, "total_tokens": 210,
            "search_context_size": "low", "num_search_queries": 2, "reasoning_tokens": 50,
            "cost": {"input_tokens_cost": 0.00001, "output_tokens_cost": 0.0002,
                     "request_cost": 0.005, "total_cost": 0.00521}
        }));
        assert_eq!(u.provider_cost, Some(dec!(0.00521)));
        assert_eq!(u.web_search, Some(2));
        assert_eq!((u.output, u.reasoning), (Some(200), Some(50)));
    }

    #[test]
    fn responses_usage_splits_cache_and_reasoning() {
        let u = from_openai_responses(&json!({
            "input_tokens": 1200, "input_tokens_details": {"cached_tokens": 1000},
            "output_tokens": 300, "output_tokens_details": {"reasoning_tokens": 256},
            "total_tokens": 1500
        }));
        assert_eq!(
            (u.input, u.cache_read, u.output, u.reasoning),
            (Some(200), Some(1000), Some(300), Some(256))
        );
        assert_eq!(u.prompt_tokens(), 1200);
        assert!(from_openai_responses(&Value::Null).is_unreported());
    }

    #[test]
    fn gemini_compat_thinking_from_total() {
        let u =
            from_openai(&json!({"prompt_tokens": 21, "completion_tokens": 12, "total_tokens": 93}));
        assert_eq!(
            (u.input, u.output, u.reasoning),
            (Some(21), Some(72), Some(60))
        );
    }
}
