//! Anthropic Messages response → OpenAI `chat.completion`.

use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{json, Map, Value};
use switchyard_cost::Usage;

use super::types::{usage_from_anthropic, TranslateError, JSON_RESPONSE_TOOL};

/// `format` tag on the `reasoning_details` entries we emit, as OpenRouter labels Claude thinking;
/// the request translator reads these entries back into signed thinking blocks.
pub(crate) const REASONING_FORMAT: &str = "anthropic-claude-v1";

pub(crate) fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Anthropic `stop_reason` → OpenAI `finish_reason`.
pub fn finish_reason(stop_reason: &str) -> &'static str {
    match stop_reason {
        "max_tokens" | "model_context_window_exceeded" => "length",
        "tool_use" => "tool_calls",
        "refusal" => "content_filter",
        // end_turn, stop_sequence, pause_turn (a server tool paused the turn) and anything new.
        _ => "stop",
    }
}

/// The OpenAI `usage` object for a normalised usage: `prompt_tokens` is everything the provider
/// read (input + cache reads + cache writes), `cached_tokens` the cache reads. Cache writes and
/// web searches are reported in the reference's extension fields.
pub fn openai_usage(u: &Usage) -> Value {
    let prompt = u.prompt_tokens();
    let completion = u.output.unwrap_or(0);
    let mut prompt_details = json!({"cached_tokens": u.cache_read.unwrap_or(0)});
    if u.cache_write() > 0 {
        prompt_details["cache_write_tokens"] = json!(u.cache_write());
        prompt_details["cache_write_details"] = json!({
            "write_5m_tokens": u.cache_write_5m.unwrap_or(0),
            "write_1h_tokens": u.cache_write_1h.unwrap_or(0),
        });
    }
    let mut out = json!({
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": prompt_details,
    });
    if let Some(r) = u.reasoning {
        out["completion_tokens_details"] = json!({"reasoning_tokens": r});
    }
    if let Some(w) = u.web_search.filter(|w| *w > 0) {
        out["server_tool_use"] = json!({"web_search_requests": w});
    }
    out
}

/// Translates a whole Messages response body. `model` is the name reported back to the caller.
///
/// Thinking blocks become `reasoning_content` (their text, the field most OpenAI-compatible
/// clients read) plus `reasoning_details` entries carrying the signature, so a client that sends
/// the assistant message back keeps multi-turn thinking with tools working.
pub fn response_to_openai(body: &[u8], model: &str) -> Result<(Value, Usage), TranslateError> {
    let v: Value = serde_json::from_slice(body)
        .map_err(|e| TranslateError::InvalidResponse(format!("not JSON: {e}")))?;
    if v.get("type").and_then(Value::as_str) == Some("error") {
        return Err(upstream_error(&v));
    }
    let blocks = v
        .get("content")
        .and_then(Value::as_array)
        .ok_or_else(|| TranslateError::InvalidResponse("no `content` array".into()))?;

    let mut text = String::new();
    let mut tool_calls = Vec::new();
    let mut reasoning = String::new();
    let mut details = Vec::new();
    let mut json_answer = false;
    for block in blocks {
        match block.get("type").and_then(Value::as_str) {
            Some("text") => text.push_str(block.get("text").and_then(Value::as_str).unwrap_or("")),
            Some("tool_use") => {
                let name = block.get("name").and_then(Value::as_str).unwrap_or("");
                let input = block.get("input").cloned().unwrap_or_else(|| json!({}));
                if name == JSON_RESPONSE_TOOL {
                    json_answer = true;
                    text.push_str(&input.to_string());
                    continue;
                }
                tool_calls.push(json!({
                    "id": block.get("id").cloned().unwrap_or(Value::Null),
                    "type": "function",
                    "function": {"name": name, "arguments": input.to_string()},
                }));
            }
            Some("thinking") => {
                let t = block.get("thinking").and_then(Value::as_str).unwrap_or("");
                reasoning.push_str(t);
                details.push(json!({
                    "type": "reasoning.text", "text": t,
                    "signature": block.get("signature").cloned().unwrap_or(Value::Null),
                    "format": REASONING_FORMAT, "index": details.len(),
                }));
            }
            Some("redacted_thinking") => details.push(json!({
                "type": "reasoning.encrypted",
                "data": block.get("data").cloned().unwrap_or(Value::Null),
                "format": REASONING_FORMAT, "index": details.len(),
            })),
            // Server tool calls/results (web search) and unknown future blocks carry nothing the
            // OpenAI shape can hold; their cost shows up in usage.
            _ => {}
        }
    }

    let mut message = Map::new();
    message.insert("role".into(), json!("assistant"));
    message.insert(
        "content".into(),
        if text.is_empty() && !json_answer {
            Value::Null
        } else {
            Value::String(text)
        },
    );
    message.insert("refusal".into(), Value::Null);
    if !tool_calls.is_empty() {
        message.insert("tool_calls".into(), Value::Array(tool_calls));
    }
    if !reasoning.is_empty() {
        message.insert("reasoning_content".into(), Value::String(reasoning));
    }
    if !details.is_empty() {
        message.insert("reasoning_details".into(), Value::Array(details));
    }

    let stop = v
        .get("stop_reason")
        .and_then(Value::as_str)
        .unwrap_or("end_turn");
    // A forced JSON answer ends with stop_reason tool_use; to the caller it is a normal stop.
    let finish = if json_answer && stop == "tool_use" {
        "stop"
    } else {
        finish_reason(stop)
    };
    let usage = v.get("usage").map(usage_from_anthropic).unwrap_or_default();
    let out = json!({
        "id": v.get("id").cloned().unwrap_or(Value::Null),
        "object": "chat.completion",
        "created": now_secs(),
        "model": model,
        "choices": [{
            "index": 0,
            "message": Value::Object(message),
            "logprobs": Value::Null,
            "finish_reason": finish,
        }],
        "usage": openai_usage(&usage),
    });
    Ok((out, usage))
}

/// `{"type":"error","error":{"type","message"}}` → [`TranslateError::Upstream`].
pub(crate) fn upstream_error(v: &Value) -> TranslateError {
    let err = v.get("error").unwrap_or(&Value::Null);
    TranslateError::Upstream {
        error_type: err
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or("error")
            .to_owned(),
        message: err
            .get("message")
            .and_then(Value::as_str)
            .unwrap_or("unknown error")
            .to_owned(),
    }
}
