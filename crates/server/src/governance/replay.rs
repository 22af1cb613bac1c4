//! Replays a cached whole `chat.completion` as an OpenAI chat-completions stream (pure).
//!
//! Per choice, in order: a role chunk (`{"role": ..., "content": ""}`), reasoning chunks
//! (`reasoning_content`, when the answer had it), content chunks (pieces of at most
//! [`PIECE_BYTES`] bytes, cut on character boundaries), a refusal chunk, tool-call chunks (the
//! call's id, type and name, then its arguments), and a finish chunk with the choice's
//! `finish_reason`. Then, if the caller asked for `stream_options.include_usage`, a chunk with
//! `"choices": []` and the usage (every earlier chunk then carries `"usage": null`, as OpenAI's
//! do), and `data: [DONE]`. Each chunk keeps the answer's `id`, `created`, `model` and
//! `system_fingerprint`. A choice's `logprobs` ride on its first content chunk.

use serde_json::{json, Map, Value};

use switchyard_providers::sse::{write_data, write_done};

/// Largest content piece per chunk.
pub const PIECE_BYTES: usize = 48;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ReplayError {
    #[error("cached answer is not JSON: {0}")]
    NotJson(String),
    #[error("cached answer is not a chat.completion with choices")]
    NotCompletion,
}

/// The SSE bytes of `completion` replayed as a stream.
pub fn replay_sse(completion: &[u8], include_usage: bool) -> Result<Vec<u8>, ReplayError> {
    let v: Value =
        serde_json::from_slice(completion).map_err(|e| ReplayError::NotJson(e.to_string()))?;
    let choices = v
        .get("choices")
        .and_then(Value::as_array)
        .ok_or(ReplayError::NotCompletion)?;
    let mut envelope = Map::new();
    for field in [
        "id",
        "created",
        "model",
        "system_fingerprint",
        "service_tier",
    ] {
        if let Some(x) = v.get(field) {
            envelope.insert(field.into(), x.clone());
        }
    }
    envelope.insert("object".into(), json!("chat.completion.chunk"));
    if include_usage {
        envelope.insert("usage".into(), Value::Null);
    }
    let mut out = Vec::with_capacity(completion.len() * 2 + 256);
    let mut emit = |choices: Value, usage: Option<&Value>| {
        let mut chunk = envelope.clone();
        chunk.insert("choices".into(), choices);
        if let Some(u) = usage {
            chunk.insert("usage".into(), u.clone());
        }
        write_data(
            &mut out,
            &serde_json::to_vec(&Value::Object(chunk)).expect("a JSON value serialises"),
        );
    };
    for (i, choice) in choices.iter().enumerate() {
        let index = choice.get("index").cloned().unwrap_or(json!(i));
        let delta_chunk = |delta: Value, logprobs: Value, finish: Value| json!([{ "index": index, "delta": delta, "logprobs": logprobs, "finish_reason": finish }]);
        let msg = choice.get("message").cloned().unwrap_or(json!({}));
        let role = msg.get("role").cloned().unwrap_or(json!("assistant"));
        let content = msg.get("content").and_then(Value::as_str);
        let first_content = if content.is_some() {
            json!("")
        } else {
            Value::Null
        };
        emit(
            delta_chunk(
                json!({"role": role, "content": first_content}),
                Value::Null,
                Value::Null,
            ),
            None,
        );
        for field in ["reasoning_content", "reasoning"] {
            if let Some(text) = msg.get(field).and_then(Value::as_str) {
                for piece in pieces(text) {
                    emit(
                        delta_chunk(json!({ field: piece }), Value::Null, Value::Null),
                        None,
                    );
                }
            }
        }
        let mut logprobs = choice.get("logprobs").cloned().unwrap_or(Value::Null);
        if let Some(text) = content {
            for piece in pieces(text) {
                let lp = std::mem::replace(&mut logprobs, Value::Null);
                emit(
                    delta_chunk(json!({ "content": piece }), lp, Value::Null),
                    None,
                );
            }
        }
        if let Some(refusal) = msg.get("refusal").filter(|r| r.is_string()) {
            emit(
                delta_chunk(json!({ "refusal": refusal }), Value::Null, Value::Null),
                None,
            );
        }
        if let Some(calls) = msg.get("tool_calls").and_then(Value::as_array) {
            for (j, call) in calls.iter().enumerate() {
                let f = call.get("function").cloned().unwrap_or(json!({}));
                let head = json!([{
                    "index": j,
                    "id": call.get("id").cloned().unwrap_or(Value::Null),
                    "type": call.get("type").cloned().unwrap_or(json!("function")),
                    "function": {"name": f.get("name").cloned().unwrap_or(Value::Null), "arguments": ""},
                }]);
                emit(
                    delta_chunk(json!({ "tool_calls": head }), Value::Null, Value::Null),
                    None,
                );
                let args = f.get("arguments").and_then(Value::as_str).unwrap_or("");
                for piece in pieces(args) {
                    let part = json!([{ "index": j, "function": { "arguments": piece } }]);
                    emit(
                        delta_chunk(json!({ "tool_calls": part }), Value::Null, Value::Null),
                        None,
                    );
                }
            }
        }
        let finish = choice
            .get("finish_reason")
            .cloned()
            .unwrap_or(json!("stop"));
        emit(delta_chunk(json!({}), logprobs, finish), None);
    }
    if include_usage {
        if let Some(usage) = v.get("usage").filter(|u| u.is_object()) {
            emit(json!([]), Some(usage));
        }
    }
    write_done(&mut out);
    Ok(out)
}

/// `text` cut into pieces of at most [`PIECE_BYTES`] bytes on character boundaries.
fn pieces(text: &str) -> Vec<&str> {
    let mut out = Vec::with_capacity(text.len() / PIECE_BYTES + 1);
    let mut rest = text;
    while !rest.is_empty() {
        let mut end = rest.len().min(PIECE_BYTES);
        while !rest.is_char_boundary(end) {
            end -= 1;
        }
        // A single character longer than a piece (never in UTF-8, but be safe) still moves on.
        if end == 0 {
            end = rest.chars().next().map_or(rest.len(), char::len_utf8);
        }
        out.push(&rest[..end]);
        rest = &rest[end..];
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pieces_respect_char_boundaries() {
        let s = "é".repeat(40);
        let p = pieces(&s);
        assert!(p.iter().all(|x| x.len() <= PIECE_BYTES));
        assert_eq!(p.concat(), s);
        assert!(pieces("").is_empty());
    }
}
