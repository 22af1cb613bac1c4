//! OpenAI messages → Anthropic system blocks and strictly alternating turns.

use serde_json::{json, Value};

use crate::anthropic::types::TranslateError;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Role {
    User,
    Assistant,
}

pub(super) struct Turn {
    pub(super) role: Role,
    pub(super) blocks: Vec<Value>,
}

impl Turn {
    pub(super) fn into_value(self) -> Value {
        let role = match self.role {
            Role::User => "user",
            Role::Assistant => "assistant",
        };
        // A lone plain text block goes out as a string, the shape the reference sends.
        let content = match self.blocks.as_slice() {
            [b] if b.as_object().is_some_and(|o| o.len() == 2) && b["type"] == "text" => {
                b["text"].clone()
            }
            _ => Value::Array(self.blocks),
        };
        json!({"role": role, "content": content})
    }
}

pub(super) fn text_block(text: &str) -> Value {
    json!({"type": "text", "text": text})
}

/// Splits the OpenAI messages into the system blocks and strictly alternating turns.
pub(super) fn convert_messages(
    messages: &[Value],
) -> Result<(Vec<Value>, Vec<Turn>), TranslateError> {
    let mut system = Vec::new();
    let mut turns: Vec<Turn> = Vec::new();
    for (index, msg) in messages.iter().enumerate() {
        let bad = |reason: &str| TranslateError::InvalidMessage {
            index,
            reason: reason.to_owned(),
        };
        let role = msg
            .get("role")
            .and_then(Value::as_str)
            .ok_or_else(|| bad("missing `role`"))?;
        let content = msg.get("content").unwrap_or(&Value::Null);
        let (role, mut blocks) = match role {
            "system" | "developer" => {
                let mut blocks = content_blocks(content, index, Ctx::System)?;
                mark_last(&mut blocks, msg.get("cache_control"));
                system.extend(blocks);
                continue;
            }
            "user" => (Role::User, content_blocks(content, index, Ctx::User)?),
            "assistant" => (Role::Assistant, assistant_blocks(msg, content, index)?),
            "tool" => (Role::User, vec![tool_result(msg, content, index)?]),
            "function" => {
                return Err(TranslateError::Unsupported {
                    field: "messages",
                    reason: format!("messages[{index}]: legacy `function` role; use `tool`"),
                })
            }
            other => return Err(bad(&format!("unknown role `{other}`"))),
        };
        if blocks.is_empty() {
            // Nothing Anthropic would accept (empty text); dropping keeps the turn valid.
            continue;
        }
        mark_last(&mut blocks, msg.get("cache_control"));
        match turns.last_mut() {
            Some(last) if last.role == role => last.blocks.append(&mut blocks),
            _ => turns.push(Turn { role, blocks }),
        }
    }
    for turn in turns.iter_mut().filter(|t| t.role == Role::User) {
        // Anthropic wants the tool results first in a user turn, before any other content.
        let (mut results, rest): (Vec<_>, Vec<_>) = std::mem::take(&mut turn.blocks)
            .into_iter()
            .partition(|b| b["type"] == "tool_result");
        results.extend(rest);
        turn.blocks = results;
    }
    Ok((system, turns))
}

pub(super) fn mark_last(blocks: &mut [Value], cache_control: Option<&Value>) {
    if let (Some(cc), Some(last)) = (cache_control.filter(|c| !c.is_null()), blocks.last_mut()) {
        last["cache_control"] = cc.clone();
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Ctx {
    System,
    User,
    Assistant,
    ToolResult,
}

/// OpenAI `content` (string, null or parts) → Anthropic content blocks. Blank text is dropped:
/// Anthropic rejects empty text blocks.
pub(super) fn content_blocks(
    content: &Value,
    index: usize,
    ctx: Ctx,
) -> Result<Vec<Value>, TranslateError> {
    let bad = |reason: String| TranslateError::InvalidMessage { index, reason };
    let parts = match content {
        Value::Null => return Ok(Vec::new()),
        Value::String(s) if s.trim().is_empty() => return Ok(Vec::new()),
        Value::String(s) => return Ok(vec![text_block(s)]),
        Value::Array(parts) => parts,
        _ => return Err(bad("`content` must be a string, an array or null".into())),
    };
    let mut blocks = Vec::with_capacity(parts.len());
    for part in parts {
        let kind = part.get("type").and_then(Value::as_str).unwrap_or("");
        let mut block = match (kind, ctx) {
            ("text", _) => {
                let text = part
                    .get("text")
                    .and_then(Value::as_str)
                    .ok_or_else(|| bad("text part without `text`".into()))?;
                if text.trim().is_empty() {
                    continue;
                }
                text_block(text)
            }
            ("refusal", Ctx::Assistant) => match part.get("refusal").and_then(Value::as_str) {
                Some(t) if !t.trim().is_empty() => text_block(t),
                _ => continue,
            },
            ("image_url", Ctx::User | Ctx::ToolResult) => {
                let url = part
                    .get("image_url")
                    .and_then(|i| i.get("url").or(Some(i)))
                    .and_then(Value::as_str)
                    .ok_or_else(|| bad("image_url part without `image_url.url`".into()))?;
                image_block(url).map_err(bad)?
            }
            ("file", Ctx::User) => file_block(part).map_err(bad)?,
            // Already in Anthropic's shape (citations); passed through as the reference does.
            ("document", Ctx::User) => part.clone(),
            ("input_audio", _) => {
                return Err(TranslateError::Unsupported {
                    field: "messages",
                    reason: format!("messages[{index}]: Anthropic does not accept audio input"),
                })
            }
            (kind, _) => {
                return Err(TranslateError::Unsupported {
                    field: "messages",
                    reason: format!("messages[{index}]: content part `{kind}` in this role"),
                })
            }
        };
        if let Some(cc) = part.get("cache_control").filter(|c| !c.is_null()) {
            block["cache_control"] = cc.clone();
        }
        blocks.push(block);
    }
    Ok(blocks)
}

/// `data:<media type>;base64,<data>` → (media type, data).
pub(super) fn parse_data_url(url: &str) -> Result<(&str, &str), String> {
    let rest = url.strip_prefix("data:").ok_or("not a data URL")?;
    let (meta, data) = rest
        .split_once(',')
        .ok_or_else(|| "data URL without a comma".to_owned())?;
    let media_type = meta
        .strip_suffix(";base64")
        .ok_or_else(|| "data URL must be base64-encoded".to_owned())?;
    if media_type.is_empty() || data.is_empty() {
        return Err("data URL without a media type or data".into());
    }
    Ok((media_type, data))
}

pub(super) fn image_block(url: &str) -> Result<Value, String> {
    if url.starts_with("data:") {
        let (media_type, data) = parse_data_url(url)?;
        Ok(
            json!({"type": "image", "source": {"type": "base64", "media_type": media_type, "data": data}}),
        )
    } else if url.starts_with("https://") || url.starts_with("http://") {
        Ok(json!({"type": "image", "source": {"type": "url", "url": url}}))
    } else {
        Err("image URL must be http(s) or a base64 data URL".into())
    }
}

/// OpenAI `file` part with inline `file_data` → a PDF `document` (or an image block).
pub(super) fn file_block(part: &Value) -> Result<Value, String> {
    let file = part.get("file").ok_or("file part without `file`")?;
    let Some(data_url) = file.get("file_data").and_then(Value::as_str) else {
        return Err("only inline `file_data` is supported, not `file_id`".into());
    };
    let (media_type, data) = parse_data_url(data_url)?;
    let source = json!({"type": "base64", "media_type": media_type, "data": data});
    match media_type {
        "application/pdf" => Ok(json!({"type": "document", "source": source})),
        m if m.starts_with("image/") => Ok(json!({"type": "image", "source": source})),
        m => Err(format!("file media type `{m}`")),
    }
}

/// Assistant turn: signed thinking first (Anthropic requires it to lead), then text, then
/// `tool_use` blocks.
pub(super) fn assistant_blocks(
    msg: &Value,
    content: &Value,
    index: usize,
) -> Result<Vec<Value>, TranslateError> {
    let mut blocks = Vec::new();
    // `reasoning_details` is how our responses hand thinking back (with its signature); unsigned
    // reasoning text cannot be replayed, Anthropic would reject it, so it is dropped.
    for d in msg
        .get("reasoning_details")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        match d.get("type").and_then(Value::as_str) {
            Some("reasoning.text") => {
                if let (Some(text), Some(sig)) = (
                    d.get("text").and_then(Value::as_str),
                    d.get("signature")
                        .and_then(Value::as_str)
                        .filter(|s| !s.is_empty()),
                ) {
                    blocks.push(json!({"type": "thinking", "thinking": text, "signature": sig}));
                }
            }
            Some("reasoning.encrypted") => {
                if let Some(data) = d.get("data").and_then(Value::as_str) {
                    blocks.push(json!({"type": "redacted_thinking", "data": data}));
                }
            }
            _ => {}
        }
    }
    blocks.extend(content_blocks(content, index, Ctx::Assistant)?);
    for (call, tc) in msg
        .get("tool_calls")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
    {
        let bad_args = |reason: String| TranslateError::InvalidToolArguments {
            index,
            call,
            reason,
        };
        let bad = |reason: &str| TranslateError::InvalidMessage {
            index,
            reason: format!("tool_calls[{call}]: {reason}"),
        };
        let id = tc
            .get("id")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .ok_or_else(|| bad("missing `id`"))?;
        let function = tc
            .get("function")
            .ok_or_else(|| bad("missing `function`"))?;
        let name = function
            .get("name")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .ok_or_else(|| bad("missing `function.name`"))?;
        let input = match function.get("arguments") {
            None | Some(Value::Null) => json!({}),
            Some(Value::String(s)) if s.trim().is_empty() => json!({}),
            Some(Value::String(s)) => {
                serde_json::from_str::<Value>(s).map_err(|e| bad_args(e.to_string()))?
            }
            // Some clients send the object itself.
            Some(v) => v.clone(),
        };
        if !input.is_object() {
            return Err(bad_args("tool input must be a JSON object".into()));
        }
        blocks.push(json!({"type": "tool_use", "id": id, "name": name, "input": input}));
    }
    Ok(blocks)
}

pub(super) fn tool_result(
    msg: &Value,
    content: &Value,
    index: usize,
) -> Result<Value, TranslateError> {
    let id = msg
        .get("tool_call_id")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| TranslateError::InvalidMessage {
            index,
            reason: "tool message without `tool_call_id`".into(),
        })?;
    let mut block = json!({"type": "tool_result", "tool_use_id": id});
    let inner = content_blocks(content, index, Ctx::ToolResult)?;
    let all_plain_text = inner
        .iter()
        .all(|b| b["type"] == "text" && b.get("cache_control").is_none());
    if inner.is_empty() {
        // Empty output: leave `content` out rather than send an empty text block.
    } else if all_plain_text {
        let text: Vec<&str> = inner.iter().filter_map(|b| b["text"].as_str()).collect();
        block["content"] = Value::String(text.join("\n"));
    } else {
        block["content"] = Value::Array(inner);
    }
    Ok(block)
}

/// True when the conversation ends in tool results answering an assistant turn that has no
/// leading thinking block.
pub(super) fn unsigned_tool_loop(turns: &[Turn]) -> bool {
    let [.., assistant, user] = turns else {
        return false;
    };
    let is = |b: &Value, t: &str| b["type"] == t;
    user.role == Role::User
        && user.blocks.iter().any(|b| is(b, "tool_result"))
        && assistant.blocks.iter().any(|b| is(b, "tool_use"))
        && !assistant
            .blocks
            .first()
            .is_some_and(|b| is(b, "thinking") || is(b, "redacted_thinking"))
}

/// Anthropic rejects a final assistant turn (a prefill) that ends in whitespace.
pub(super) fn trim_final_assistant(turns: &mut Vec<Turn>) {
    let Some(last) = turns.last_mut().filter(|t| t.role == Role::Assistant) else {
        return;
    };
    if let Some(b) = last.blocks.last_mut().filter(|b| b["type"] == "text") {
        let trimmed = b["text"].as_str().unwrap_or("").trim_end().to_owned();
        if trimmed.is_empty() {
            last.blocks.pop();
        } else {
            b["text"] = Value::String(trimmed);
        }
    }
    if last.blocks.is_empty() {
        turns.pop();
    }
}
