//! Anthropic stream events → OpenAI `chat.completion.chunk` objects.

use std::collections::HashMap;

use serde_json::{json, Value};
use switchyard_cost::Usage;

use super::response::{finish_reason, now_secs, openai_usage, upstream_error, REASONING_FORMAT};
use super::types::{usage_from_anthropic, TranslateError, JSON_RESPONSE_TOOL};

#[derive(Debug)]
enum Block {
    Text,
    /// `detail` is the block's index among `reasoning_details` entries.
    Thinking {
        detail: usize,
    },
    /// A client tool call; `tool` is its OpenAI `tool_calls[].index`.
    Tool {
        tool: usize,
        args_seen: bool,
    },
    /// The forced [`JSON_RESPONSE_TOOL`] call, streamed as content.
    JsonAnswer {
        args_seen: bool,
    },
    /// Server tool use / results and unknown blocks: nothing to forward.
    Other,
}

/// Turns one Anthropic stream event at a time into OpenAI chunks.
///
/// The caller does the framing (SSE for the native API and Vertex, AWS event-stream for Bedrock)
/// and writes `data: [DONE]` after [`is_done`](Self::is_done). Tool calls get OpenAI indices
/// 0, 1, … in the order their blocks start, whatever Anthropic's block index is.
#[derive(Debug)]
pub struct StreamTranslator {
    id: String,
    model: String,
    created: u64,
    usage: Usage,
    /// The 5m/1h cache-write split was reported; a later bare total must not overwrite it.
    cache_breakdown: bool,
    blocks: HashMap<u64, Block>,
    next_tool: usize,
    next_detail: usize,
    json_answer: bool,
    include_usage: bool,
    done: bool,
}

impl StreamTranslator {
    /// `model` is the name reported back; `request_id` is the chunk id until `message_start`
    /// brings Anthropic's message id.
    pub fn new(model: &str, request_id: &str) -> StreamTranslator {
        StreamTranslator {
            id: request_id.to_owned(),
            model: model.to_owned(),
            created: now_secs(),
            usage: Usage::default(),
            cache_breakdown: false,
            blocks: HashMap::new(),
            next_tool: 0,
            next_detail: 0,
            json_answer: false,
            include_usage: true,
            done: false,
        }
    }

    /// Whether `message_stop` yields the final usage chunk (`choices: []`); on by default, since
    /// the gateway always wants usage and strips the chunk itself when the caller did not ask.
    pub fn with_usage_chunk(mut self, include: bool) -> StreamTranslator {
        self.include_usage = include;
        self
    }

    /// Fixes `created` (seconds since the epoch), for reproducible output.
    pub fn with_created(mut self, created: u64) -> StreamTranslator {
        self.created = created;
        self
    }

    /// Usage so far: input and cache counts from `message_start`, output from `message_delta`.
    pub fn usage(&self) -> &Usage {
        &self.usage
    }

    /// True once `message_stop` has arrived.
    pub fn is_done(&self) -> bool {
        self.done
    }

    fn chunk(&self, delta: Value, finish: Option<&str>) -> Value {
        json!({
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "choices": [{"index": 0, "delta": delta, "logprobs": Value::Null, "finish_reason": finish}],
        })
    }

    fn merge_usage(&mut self, raw: &Value) {
        let mut later = usage_from_anthropic(raw);
        if raw.get("cache_creation").is_some_and(Value::is_object) {
            self.cache_breakdown = true;
        } else if self.cache_breakdown {
            later.cache_write_5m = None;
            later.cache_write_1h = None;
        }
        self.usage.merge(&later);
    }

    /// One event's JSON (the SSE `data:` payload, or Bedrock's decoded `bytes`) → zero or more
    /// OpenAI chunks. An `error` event is returned as [`TranslateError::Upstream`].
    pub fn on_event(&mut self, event_json: &[u8]) -> Result<Vec<Value>, TranslateError> {
        let ev: Value = serde_json::from_slice(event_json).map_err(|e| {
            TranslateError::InvalidResponse(format!("stream event is not JSON: {e}"))
        })?;
        let index = ev.get("index").and_then(Value::as_u64).unwrap_or(0);
        let mut out = Vec::new();
        match ev.get("type").and_then(Value::as_str).unwrap_or("") {
            "message_start" => {
                let msg = ev.get("message").unwrap_or(&Value::Null);
                if let Some(id) = msg.get("id").and_then(Value::as_str) {
                    self.id = id.to_owned();
                }
                if let Some(u) = msg.get("usage") {
                    self.merge_usage(u);
                }
                out.push(self.chunk(json!({"role": "assistant", "content": ""}), None));
            }
            "content_block_start" => {
                let cb = ev.get("content_block").unwrap_or(&Value::Null);
                let block = match cb.get("type").and_then(Value::as_str) {
                    Some("text") => {
                        if let Some(t) = cb
                            .get("text")
                            .and_then(Value::as_str)
                            .filter(|t| !t.is_empty())
                        {
                            out.push(self.chunk(json!({"content": t}), None));
                        }
                        Block::Text
                    }
                    Some("thinking") => {
                        let detail = self.next_detail;
                        self.next_detail += 1;
                        if let Some(t) = cb
                            .get("thinking")
                            .and_then(Value::as_str)
                            .filter(|t| !t.is_empty())
                        {
                            out.push(self.chunk(thinking_delta(t, detail), None));
                        }
                        Block::Thinking { detail }
                    }
                    Some("redacted_thinking") => {
                        let detail = self.next_detail;
                        self.next_detail += 1;
                        let d = json!([{
                            "type": "reasoning.encrypted", "data": cb.get("data"),
                            "format": REASONING_FORMAT, "index": detail,
                        }]);
                        out.push(self.chunk(json!({"reasoning_details": d}), None));
                        Block::Other
                    }
                    Some("tool_use")
                        if cb.get("name").and_then(Value::as_str) == Some(JSON_RESPONSE_TOOL) =>
                    {
                        self.json_answer = true;
                        Block::JsonAnswer { args_seen: false }
                    }
                    Some("tool_use") => {
                        let tool = self.next_tool;
                        self.next_tool += 1;
                        out.push(self.chunk(
                            json!({"tool_calls": [{
                                "index": tool, "id": cb.get("id"), "type": "function",
                                "function": {"name": cb.get("name"), "arguments": ""},
                            }]}),
                            None,
                        ));
                        Block::Tool {
                            tool,
                            args_seen: false,
                        }
                    }
                    _ => Block::Other,
                };
                self.blocks.insert(index, block);
            }
            "content_block_delta" => {
                let delta = ev.get("delta").unwrap_or(&Value::Null);
                let s = |k: &str| {
                    delta
                        .get(k)
                        .and_then(Value::as_str)
                        .filter(|s| !s.is_empty())
                };
                let chunk_delta = match (
                    delta.get("type").and_then(Value::as_str),
                    self.blocks.get_mut(&index),
                ) {
                    (Some("text_delta"), _) => s("text").map(|t| json!({"content": t})),
                    (Some("thinking_delta"), Some(Block::Thinking { detail })) => {
                        s("thinking").map(|t| thinking_delta(t, *detail))
                    }
                    (Some("signature_delta"), Some(Block::Thinking { detail })) => s("signature")
                        .map(|sig| {
                            json!({"reasoning_details": [{
                                "type": "reasoning.text", "signature": sig,
                                "format": REASONING_FORMAT, "index": *detail,
                            }]})
                        }),
                    (Some("input_json_delta"), Some(Block::Tool { tool, args_seen })) => {
                        s("partial_json").map(|p| {
                            *args_seen = true;
                            json!({"tool_calls": [{"index": *tool, "function": {"arguments": p}}]})
                        })
                    }
                    (Some("input_json_delta"), Some(Block::JsonAnswer { args_seen })) => {
                        s("partial_json").map(|p| {
                            *args_seen = true;
                            json!({"content": p})
                        })
                    }
                    // citations_delta, deltas of server tool blocks, unknown deltas.
                    _ => None,
                };
                out.extend(chunk_delta.map(|d| self.chunk(d, None)));
            }
            "content_block_stop" => match self.blocks.remove(&index) {
                // OpenAI clients expect parseable arguments: a call with no input is `{}`.
                Some(Block::Tool {
                    tool,
                    args_seen: false,
                }) => out.push(self.chunk(
                    json!({"tool_calls": [{"index": tool, "function": {"arguments": "{}"}}]}),
                    None,
                )),
                Some(Block::JsonAnswer { args_seen: false }) => {
                    out.push(self.chunk(json!({"content": "{}"}), None))
                }
                _ => {}
            },
            "message_delta" => {
                if let Some(u) = ev.get("usage") {
                    self.merge_usage(u);
                }
                if let Some(stop) = ev
                    .get("delta")
                    .and_then(|d| d.get("stop_reason"))
                    .and_then(Value::as_str)
                {
                    let finish = if self.json_answer && stop == "tool_use" {
                        "stop"
                    } else {
                        finish_reason(stop)
                    };
                    out.push(self.chunk(json!({}), Some(finish)));
                }
            }
            "message_stop" => {
                // Bedrock appends its own counts here; use them only for what Anthropic's events
                // left unreported.
                if let Some(m) = ev.get("amazon-bedrock-invocationMetrics") {
                    let n = |k: &str| m.get(k).and_then(Value::as_u64);
                    self.usage.input = self.usage.input.or(n("inputTokenCount"));
                    self.usage.output = self.usage.output.or(n("outputTokenCount"));
                }
                self.done = true;
                if self.include_usage {
                    out.push(json!({
                        "id": self.id,
                        "object": "chat.completion.chunk",
                        "created": self.created,
                        "model": self.model,
                        "choices": [],
                        "usage": openai_usage(&self.usage),
                    }));
                }
            }
            "error" => return Err(upstream_error(&ev)),
            // ping, and event types added after this was written.
            _ => {}
        }
        Ok(out)
    }
}

/// Thinking text goes out twice: as `reasoning_content` for clients that display it, and in
/// `reasoning_details` (with the signature that follows) for clients that replay it.
fn thinking_delta(text: &str, detail: usize) -> Value {
    json!({
        "reasoning_content": text,
        "reasoning_details": [{
            "type": "reasoning.text", "text": text, "format": REASONING_FORMAT, "index": detail,
        }],
    })
}
