//! Bedrock's own usage shapes: the Converse API's `usage` (`TokenUsage`) and the
//! `amazon-bedrock-invocationMetrics` that ends every InvokeModel stream, whatever the model.

use serde_json::Value;
use switchyard_cost::Usage;

fn count(v: &Value, key: &str) -> Option<u64> {
    v.get(key).and_then(Value::as_u64)
}

/// Normalised usage from a Converse `usage` object (also Nova's InvokeModel `usage`).
///
/// `inputTokens` does not include `cacheReadInputTokens` or `cacheWriteInputTokens`, which are
/// reported beside it (API reference, `TokenUsage`). `cacheDetails` splits the writes by TTL
/// (`"5m"` / `"1h"`); writes it does not explain count as 5-minute ones, the default TTL.
pub fn usage_from_converse(usage: &Value) -> Usage {
    let mut u = Usage {
        input: count(usage, "inputTokens"),
        output: count(usage, "outputTokens"),
        cache_read: count(usage, "cacheReadInputTokens")
            .or_else(|| count(usage, "cacheReadInputTokenCount")),
        ..Usage::default()
    };
    let writes =
        count(usage, "cacheWriteInputTokens").or_else(|| count(usage, "cacheWriteInputTokenCount"));
    let (mut w5, mut w1h) = (None::<u64>, None::<u64>);
    for d in usage
        .get("cacheDetails")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let n = count(d, "inputTokens").unwrap_or(0);
        match d.get("ttl").and_then(Value::as_str) {
            Some("1h") => w1h = Some(w1h.unwrap_or(0) + n),
            _ => w5 = Some(w5.unwrap_or(0) + n),
        }
    }
    if let Some(total) = writes {
        let known = w5.unwrap_or(0) + w1h.unwrap_or(0);
        if total > known {
            w5 = Some(w5.unwrap_or(0) + total - known);
        }
    }
    u.cache_write_5m = w5;
    u.cache_write_1h = w1h;
    u
}

/// Normalised usage from `amazon-bedrock-invocationMetrics` (`inputTokenCount`,
/// `outputTokenCount`, and for cached prompts `cacheReadInputTokenCount` /
/// `cacheWriteInputTokenCount`). It has no TTL split: writes count as 5-minute ones.
pub fn usage_from_invocation_metrics(metrics: &Value) -> Usage {
    Usage {
        input: count(metrics, "inputTokenCount"),
        output: count(metrics, "outputTokenCount"),
        cache_read: count(metrics, "cacheReadInputTokenCount"),
        cache_write_5m: count(metrics, "cacheWriteInputTokenCount"),
        ..Usage::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn converse_usage_with_cache_details() {
        let u = usage_from_converse(&json!({
            "inputTokens": 12, "outputTokens": 40, "totalTokens": 2100,
            "cacheReadInputTokens": 1000, "cacheWriteInputTokens": 1048,
            "cacheDetails": [{"ttl": "1h", "inputTokens": 1000}, {"ttl": "5m", "inputTokens": 40}]
        }));
        assert_eq!(
            (
                u.input,
                u.output,
                u.cache_read,
                u.cache_write_5m,
                u.cache_write_1h
            ),
            (Some(12), Some(40), Some(1000), Some(48), Some(1000))
        );
        assert_eq!(u.prompt_tokens() + u.output.unwrap(), 2100);
        let u = usage_from_converse(&json!({"inputTokens": 5, "outputTokens": 1}));
        assert_eq!((u.cache_read, u.cache_write_5m), (None, None));
    }

    #[test]
    fn invocation_metrics() {
        let u = usage_from_invocation_metrics(&json!({
            "inputTokenCount": 380, "outputTokenCount": 41, "invocationLatency": 1510,
            "firstByteLatency": 402
        }));
        assert_eq!(
            (u.input, u.output, u.cache_read),
            (Some(380), Some(41), None)
        );
    }
}
