//! Reassembles an OpenAI chat-completions stream (the bytes a client got) into the whole
//! `chat.completion` the response cache stores (pure). Bounded: past `limit` bytes it gives up,
//! as the cache would refuse the entry anyway. Tool calls are rebuilt from their deltas (id,
//! type and name from the first, `arguments` concatenated, by the call's `index`). Streams it
//! cannot rebuild faithfully (the legacy `function_call`, an error frame, a choice without
//! `finish_reason`) are not cached.

use serde_json::{json, Map, Value};

/// Collects the SSE bytes of one stream.
pub struct SseCollector {
    buf: Vec<u8>,
    limit: usize,
    overflow: bool,
}

#[derive(Default)]
struct Choice {
    role: Option<Value>,
    content: String,
    reasoning: String,
    tool_calls: Vec<ToolCall>,
    finish: Option<Value>,
}

#[derive(Default)]
struct ToolCall {
    id: Option<Value>,
    kind: Option<Value>,
    name: String,
    arguments: String,
}

/// The most tool calls one choice may rebuild (a larger index is not a stream we trust).
const MAX_TOOL_CALLS: usize = 128;

impl ToolCall {
    /// One `delta.tool_calls[]` entry into the calls so far; `None` when it is malformed.
    fn merge(calls: &mut Vec<ToolCall>, delta: &Value) -> Option<()> {
        let index = delta.get("index").and_then(Value::as_u64)? as usize;
        if index >= MAX_TOOL_CALLS {
            return None;
        }
        if calls.len() <= index {
            calls.resize_with(index + 1, ToolCall::default);
        }
        let call = &mut calls[index];
        if let Some(id) = delta.get("id").filter(|v| !v.is_null()) {
            call.id.get_or_insert_with(|| id.clone());
        }
        if let Some(t) = delta.get("type").filter(|v| !v.is_null()) {
            call.kind.get_or_insert_with(|| t.clone());
        }
        if let Some(f) = delta.get("function") {
            if let Some(n) = f.get("name").and_then(Value::as_str) {
                call.name.push_str(n);
            }
            if let Some(a) = f.get("arguments").and_then(Value::as_str) {
                call.arguments.push_str(a);
            }
        }
        Some(())
    }

    fn into_json(self) -> Option<Value> {
        Some(json!({
            "id": self.id?,
            "type": self.kind.unwrap_or(json!("function")),
            "function": {"name": self.name, "arguments": self.arguments},
        }))
    }
}

impl SseCollector {
    pub fn new(limit: usize) -> SseCollector {
        SseCollector {
            buf: Vec::new(),
            limit,
            overflow: false,
        }
    }

    pub fn feed(&mut self, bytes: &[u8]) {
        if self.overflow {
            return;
        }
        if self.buf.len() + bytes.len() > self.limit {
            self.overflow = true;
            self.buf = Vec::new();
            return;
        }
        self.buf.extend_from_slice(bytes);
    }

    /// The whole `chat.completion` JSON, or `None` when it cannot be rebuilt.
    pub fn finish(self) -> Option<Vec<u8>> {
        if self.overflow {
            return None;
        }
        let text = std::str::from_utf8(&self.buf).ok()?;
        let mut envelope = Map::new();
        let mut choices: Vec<Choice> = Vec::new();
        let mut usage = None;
        for line in text.lines() {
            let Some(data) = line.strip_prefix("data:").map(str::trim) else {
                continue;
            };
            if data == "[DONE]" || data.is_empty() {
                continue;
            }
            let chunk: Value = serde_json::from_str(data).ok()?;
            if chunk.get("error").is_some() {
                return None;
            }
            for field in [
                "id",
                "created",
                "model",
                "system_fingerprint",
                "service_tier",
            ] {
                if let Some(v) = chunk.get(field).filter(|v| !v.is_null()) {
                    envelope.entry(field).or_insert_with(|| v.clone());
                }
            }
            if let Some(u) = chunk.get("usage").filter(|u| !u.is_null()) {
                usage = Some(u.clone());
            }
            for c in chunk.get("choices").and_then(Value::as_array)? {
                let index = c.get("index").and_then(Value::as_u64).unwrap_or(0) as usize;
                if index > 127 {
                    return None;
                }
                if choices.len() <= index {
                    choices.resize_with(index + 1, Choice::default);
                }
                let slot = &mut choices[index];
                let delta = c.get("delta").cloned().unwrap_or(json!({}));
                if delta.get("function_call").is_some_and(|t| !t.is_null()) {
                    return None;
                }
                if let Some(calls) = delta.get("tool_calls").filter(|t| !t.is_null()) {
                    for call in calls.as_array()? {
                        ToolCall::merge(&mut slot.tool_calls, call)?;
                    }
                }
                if let Some(r) = delta.get("role").filter(|r| !r.is_null()) {
                    slot.role = Some(r.clone());
                }
                if let Some(s) = delta.get("content").and_then(Value::as_str) {
                    slot.content.push_str(s);
                }
                if let Some(s) = delta.get("reasoning_content").and_then(Value::as_str) {
                    slot.reasoning.push_str(s);
                }
                if let Some(f) = c.get("finish_reason").filter(|f| !f.is_null()) {
                    slot.finish = Some(f.clone());
                }
            }
        }
        if choices.is_empty() || choices.iter().any(|c| c.finish.is_none()) {
            return None;
        }
        let mut rebuilt = Vec::with_capacity(choices.len());
        for (i, c) in choices.into_iter().enumerate() {
            // A message with tool calls and no text has `content: null`, as OpenAI answers it.
            let content = if c.content.is_empty() && !c.tool_calls.is_empty() {
                Value::Null
            } else {
                json!(c.content)
            };
            let mut message = json!({
                "role": c.role.unwrap_or(json!("assistant")),
                "content": content,
            });
            if !c.reasoning.is_empty() {
                message["reasoning_content"] = json!(c.reasoning);
            }
            if !c.tool_calls.is_empty() {
                let calls: Option<Vec<Value>> =
                    c.tool_calls.into_iter().map(ToolCall::into_json).collect();
                // A call that never said its id cannot be replayed faithfully.
                message["tool_calls"] = Value::Array(calls?);
            }
            rebuilt.push(
                json!({"index": i, "message": message, "logprobs": null, "finish_reason": c.finish}),
            );
        }
        let choices = rebuilt;
        envelope.insert("object".into(), json!("chat.completion"));
        envelope.insert("choices".into(), Value::Array(choices));
        if let Some(u) = usage {
            envelope.insert("usage".into(), u);
        }
        serde_json::to_vec(&Value::Object(envelope)).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stream_becomes_the_whole_answer_and_replays_to_the_same_text() {
        let whole = json!({"id": "c1", "object": "chat.completion", "created": 7, "model": "m",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hello there, this is a longer answer that spans several chunks."}, "logprobs": null, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 3, "completion_tokens": 9, "total_tokens": 12}});
        let sse = super::super::replay_sse(&serde_json::to_vec(&whole).unwrap(), true).unwrap();
        let mut c = SseCollector::new(1 << 20);
        for piece in sse.chunks(17) {
            c.feed(piece);
        }
        let back: Value = serde_json::from_slice(&c.finish().unwrap()).unwrap();
        assert_eq!(
            back["choices"][0]["message"],
            whole["choices"][0]["message"]
        );
        assert_eq!(back["usage"], whole["usage"]);
        assert_eq!(back["id"], "c1");
    }

    #[test]
    fn a_tool_call_stream_becomes_the_whole_answer_and_replays_the_same_calls() {
        let whole = json!({"id": "c2", "object": "chat.completion", "created": 8, "model": "m",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": null,
                "tool_calls": [
                    {"id": "call_a", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\",\"unit\":\"celsius\",\"days\":3}"}},
                    {"id": "call_b", "type": "function", "function": {"name": "get_time", "arguments": "{\"tz\":\"Europe/Paris\"}"}}
                ]}, "logprobs": null, "finish_reason": "tool_calls"}],
            "usage": {"prompt_tokens": 30, "completion_tokens": 20, "total_tokens": 50}});
        let sse = super::super::replay_sse(&serde_json::to_vec(&whole).unwrap(), true).unwrap();
        let mut c = SseCollector::new(1 << 20);
        for piece in sse.chunks(13) {
            c.feed(piece);
        }
        let back: Value = serde_json::from_slice(&c.finish().unwrap()).unwrap();
        assert_eq!(
            back["choices"][0]["message"],
            whole["choices"][0]["message"]
        );
        assert_eq!(back["choices"][0]["finish_reason"], "tool_calls");
        assert_eq!(back["usage"], whole["usage"]);
    }

    #[test]
    fn tool_call_deltas_as_openai_streams_them() {
        // The first delta of a call carries id, type and name; the rest only argument pieces.
        let frames = [
            r#"{"id":"c3","model":"m","choices":[{"index":0,"delta":{"role":"assistant","content":null,"tool_calls":[{"index":0,"id":"call_x","type":"function","function":{"name":"lookup","arguments":""}}]},"finish_reason":null}]}"#,
            r#"{"id":"c3","model":"m","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{\"q\":"}}]},"finish_reason":null}]}"#,
            r#"{"id":"c3","model":"m","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"\"rust\"}"}}]},"finish_reason":null}]}"#,
            r#"{"id":"c3","model":"m","choices":[{"index":0,"delta":{},"finish_reason":"tool_calls"}]}"#,
        ];
        let mut c = SseCollector::new(1 << 20);
        for f in frames {
            c.feed(format!("data: {f}\n\n").as_bytes());
        }
        c.feed(b"data: [DONE]\n\n");
        let back: Value = serde_json::from_slice(&c.finish().unwrap()).unwrap();
        assert_eq!(
            back["choices"][0]["message"],
            json!({"role": "assistant", "content": null, "tool_calls": [
                {"id": "call_x", "type": "function", "function": {"name": "lookup", "arguments": "{\"q\":\"rust\"}"}}
            ]})
        );
        // A call whose id never came, or the legacy function_call: not rebuilt.
        let mut c = SseCollector::new(1 << 20);
        c.feed(b"data: {\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":\"{}\"}}]},\"finish_reason\":\"tool_calls\"}]}\n\n");
        assert!(c.finish().is_none());
        let mut c = SseCollector::new(1 << 20);
        c.feed(b"data: {\"choices\":[{\"index\":0,\"delta\":{\"function_call\":{\"name\":\"f\"}},\"finish_reason\":\"stop\"}]}\n\n");
        assert!(c.finish().is_none());
    }

    #[test]
    fn unfinished_errored_or_oversized_streams_are_not_rebuilt() {
        let mut c = SseCollector::new(1 << 20);
        c.feed(b"data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"hi\"}}]}\n\n");
        assert!(c.finish().is_none());
        let mut c = SseCollector::new(1 << 20);
        c.feed(b"data: {\"error\":{\"message\":\"x\"}}\n\n");
        assert!(c.finish().is_none());
        let mut c = SseCollector::new(4);
        c.feed(b"data: {}\n\n");
        assert!(c.finish().is_none());
    }
}
