//! OpenAI chat request → Anthropic Messages request.

use serde_json::{json, Map, Value};

use super::{AnthropicOptions, TranslateError};

/// Name of the tool a `response_format: json_schema` request is forced to call. The response and
/// stream translators turn a call of this tool back into plain JSON `content`.
pub const JSON_RESPONSE_TOOL: &str = "json_response";

/// `max_tokens` when the caller gave none and the model's own output limit is unknown. Anthropic
/// requires the field; the reference uses 1024, which truncates ordinary answers, so we take a
/// value that fits every Claude model's output limit instead.
const DEFAULT_MAX_TOKENS: u64 = 4096;
/// Anthropic's smallest accepted `thinking.budget_tokens`.
const MIN_THINKING_BUDGET: u64 = 1024;
/// Text of the user turn put in front of a conversation that starts with an assistant turn:
/// Anthropic wants the first turn to be the user's, and it must not be empty.
const PLACEHOLDER_USER_TEXT: &str = "(conversation start)";

/// Translates an OpenAI chat request for an Anthropic host. When the caller sets no `max_tokens`,
/// the default is [`DEFAULT_MAX_TOKENS`] (4096); use [`to_messages_request_with`] to default to
/// the model's own output limit instead.
pub fn to_messages_request(
    openai: &Value,
    provider_model_id: &str,
    opts: &AnthropicOptions,
) -> Result<Value, TranslateError> {
    to_messages_request_with(openai, provider_model_id, opts, None)
}

/// [`to_messages_request`], with the model's maximum output tokens (the registry endpoint's
/// `max_completion_tokens`) used as the `max_tokens` default when known.
pub fn to_messages_request_with(
    openai: &Value,
    provider_model_id: &str,
    opts: &AnthropicOptions,
    model_max_output: Option<u64>,
) -> Result<Value, TranslateError> {
    let req = openai.as_object().ok_or(TranslateError::NotAChatRequest)?;
    let messages = req
        .get("messages")
        .and_then(Value::as_array)
        .ok_or(TranslateError::NotAChatRequest)?;
    reject_unsupported(req)?;

    let (mut system, mut turns) = convert_messages(messages)?;
    if turns.is_empty() {
        return Err(TranslateError::NoNonSystemMessage);
    }
    if turns[0].role == Role::Assistant {
        turns.insert(
            0,
            Turn {
                role: Role::User,
                blocks: vec![text_block(PLACEHOLDER_USER_TEXT)],
            },
        );
    }
    trim_final_assistant(&mut turns);

    let mut thinking = thinking_budget(req)?;
    let prefill = turns.last().is_some_and(|t| t.role == Role::Assistant);
    if thinking.is_some() && (prefill || unsigned_tool_loop(&turns)) {
        // Anthropic refuses thinking with an assistant prefill, and mid tool loop it requires the
        // assistant turn to start with its signed thinking block, which clients that did not send
        // `reasoning_details` back cannot supply. Answering this step without thinking is the
        // only request Anthropic accepts.
        thinking = None;
    }
    let (max_tokens, thinking) = resolve_max_tokens(req, thinking, model_max_output)?;

    let mut tools = convert_tools(req)?;
    if let Some(ws) = web_search_tool(req) {
        tools.push(ws);
    }
    let mut tool_choice = convert_tool_choice(req, !tools.is_empty())?;
    if thinking.is_some() {
        if let Some(t) = tool_choice.as_ref().and_then(|c| c.get("type")) {
            if t == "any" || t == "tool" {
                return Err(TranslateError::Unsupported {
                    field: "tool_choice",
                    reason: "Anthropic cannot force a tool call while reasoning is enabled".into(),
                });
            }
        }
    }
    apply_response_format(
        req,
        &mut system,
        &mut tools,
        &mut tool_choice,
        thinking.is_some(),
    )?;
    if req.get("parallel_tool_calls") == Some(&Value::Bool(false)) && !tools.is_empty() {
        let choice = tool_choice.get_or_insert_with(|| json!({"type": "auto"}));
        if choice["type"] != "none" {
            choice["disable_parallel_tool_use"] = Value::Bool(true);
        }
    }

    if opts.cache_breakpoints && !caller_has_cache_control(req) {
        add_cache_breakpoint(&mut turns, &mut system);
    }

    let mut body = Map::new();
    if opts.include_model {
        body.insert("model".into(), Value::String(provider_model_id.to_owned()));
    }
    if let Some(v) = opts.anthropic_version {
        body.insert("anthropic_version".into(), Value::String(v.to_owned()));
    }
    body.insert("max_tokens".into(), json!(max_tokens));
    if !system.is_empty() {
        body.insert("system".into(), system_value(system));
    }
    body.insert(
        "messages".into(),
        Value::Array(turns.into_iter().map(Turn::into_value).collect()),
    );
    if let Some(stop) = stop_sequences(req)? {
        body.insert("stop_sequences".into(), stop);
    }
    sampling(req, &mut body, thinking.is_some())?;
    if let Some(budget) = thinking {
        body.insert(
            "thinking".into(),
            json!({"type": "enabled", "budget_tokens": budget}),
        );
    }
    if let Some(user) = ["safety_identifier", "user"].iter().find_map(|k| {
        req.get(*k)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
    }) {
        body.insert("metadata".into(), json!({"user_id": user}));
    }
    if !tools.is_empty() {
        body.insert("tools".into(), Value::Array(tools));
    }
    if let Some(choice) = tool_choice {
        body.insert("tool_choice".into(), choice);
    }
    if opts.include_stream {
        if let Some(s) = req.get("stream").filter(|s| s.is_boolean()) {
            body.insert("stream".into(), s.clone());
        }
    }
    Ok(Value::Object(body))
}

fn reject_unsupported(req: &Map<String, Value>) -> Result<(), TranslateError> {
    let present = |k: &str| req.get(k).is_some_and(|v| !v.is_null());
    for (field, reason) in [
        ("functions", "legacy functions; use `tools`"),
        ("function_call", "legacy function_call; use `tool_choice`"),
        ("logit_bias", "Anthropic has no logit bias"),
        ("audio", "Anthropic has no audio output"),
    ] {
        if present(field) {
            return Err(TranslateError::Unsupported {
                field,
                reason: reason.into(),
            });
        }
    }
    if let Some(n) = req.get("n").and_then(Value::as_u64) {
        if n > 1 {
            return Err(TranslateError::Unsupported {
                field: "n",
                reason: "Anthropic returns one choice per request".into(),
            });
        }
    }
    Ok(())
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Role {
    User,
    Assistant,
}

struct Turn {
    role: Role,
    blocks: Vec<Value>,
}

impl Turn {
    fn into_value(self) -> Value {
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

fn text_block(text: &str) -> Value {
    json!({"type": "text", "text": text})
}

/// Splits the OpenAI messages into the system blocks and strictly alternating turns.
fn convert_messages(messages: &[Value]) -> Result<(Vec<Value>, Vec<Turn>), TranslateError> {
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

fn mark_last(blocks: &mut [Value], cache_control: Option<&Value>) {
    if let (Some(cc), Some(last)) = (cache_control.filter(|c| !c.is_null()), blocks.last_mut()) {
        last["cache_control"] = cc.clone();
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Ctx {
    System,
    User,
    Assistant,
    ToolResult,
}

/// OpenAI `content` (string, null or parts) → Anthropic content blocks. Blank text is dropped:
/// Anthropic rejects empty text blocks.
fn content_blocks(content: &Value, index: usize, ctx: Ctx) -> Result<Vec<Value>, TranslateError> {
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
fn parse_data_url(url: &str) -> Result<(&str, &str), String> {
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

fn image_block(url: &str) -> Result<Value, String> {
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
fn file_block(part: &Value) -> Result<Value, String> {
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
fn assistant_blocks(
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

fn tool_result(msg: &Value, content: &Value, index: usize) -> Result<Value, TranslateError> {
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
fn unsigned_tool_loop(turns: &[Turn]) -> bool {
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
fn trim_final_assistant(turns: &mut Vec<Turn>) {
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

fn system_value(system: Vec<Value>) -> Value {
    match system.as_slice() {
        [b] if b.as_object().is_some_and(|o| o.len() == 2) => b["text"].clone(),
        _ => Value::Array(system),
    }
}

fn caller_has_cache_control(req: &Map<String, Value>) -> bool {
    let has = |v: &Value| v.get("cache_control").is_some_and(|c| !c.is_null());
    let in_messages = req
        .get("messages")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .any(|m| {
            has(m)
                || m.get("content")
                    .and_then(Value::as_array)
                    .is_some_and(|parts| parts.iter().any(has))
        });
    let in_tools = req.get("tools").and_then(Value::as_array).is_some_and(|t| {
        t.iter()
            .any(|t| has(t) || t.get("function").is_some_and(has))
    });
    in_messages || in_tools
}

/// The reference's automatic breakpoint: `ephemeral` 5m on the last block of the last message
/// (so the whole prompt prefix is cached for the next turn), or on the last system block when no
/// message block can carry it. Thinking blocks cannot carry `cache_control`.
fn add_cache_breakpoint(turns: &mut [Turn], system: &mut [Value]) {
    let marker = json!({"type": "ephemeral", "ttl": "5m"});
    let target = turns.last_mut().and_then(|t| {
        t.blocks
            .iter_mut()
            .rev()
            .find(|b| b["type"] != "thinking" && b["type"] != "redacted_thinking")
    });
    if let Some(block) = target.or_else(|| system.last_mut()) {
        block["cache_control"] = marker;
    }
}

/// The thinking budget the caller asked for, if any: an explicit budget
/// (`reasoning.max_tokens`, or the reference's `reasoning_options.budget_tokens`) wins over an
/// effort (`reasoning_effort` or `reasoning.effort`). Returns (budget, explicit?).
fn thinking_budget(req: &Map<String, Value>) -> Result<Option<(u64, bool)>, TranslateError> {
    let reasoning = req.get("reasoning").filter(|r| r.is_object());
    if reasoning.and_then(|r| r.get("enabled")) == Some(&Value::Bool(false)) {
        return Ok(None);
    }
    let explicit = reasoning
        .and_then(|r| r.get("max_tokens"))
        .or_else(|| {
            req.get("reasoning_options")
                .and_then(|r| r.get("budget_tokens"))
        })
        .filter(|v| !v.is_null());
    if let Some(v) = explicit {
        let budget = v
            .as_u64()
            .filter(|b| *b >= MIN_THINKING_BUDGET)
            .ok_or_else(|| TranslateError::InvalidParameter {
                field: "reasoning.max_tokens",
                reason: format!("must be an integer >= {MIN_THINKING_BUDGET} for Anthropic"),
            })?;
        return Ok(Some((budget, true)));
    }
    let effort = req
        .get("reasoning_effort")
        .or_else(|| reasoning.and_then(|r| r.get("effort")))
        .filter(|v| !v.is_null());
    let effort = match effort {
        Some(Value::String(s)) => s.as_str(),
        Some(_) => {
            return Err(TranslateError::InvalidParameter {
                field: "reasoning_effort",
                reason: "must be a string".into(),
            })
        }
        None if reasoning.and_then(|r| r.get("enabled")) == Some(&Value::Bool(true)) => "medium",
        None => return Ok(None),
    };
    // Effort → budget. Anthropic has no effort knob, only a token budget (minimum 1024); these
    // double per level so "high" thinks markedly more than "low" while staying well inside every
    // thinking-capable Claude's output limit.
    let budget = match effort {
        "none" => return Ok(None),
        "minimal" => 1024,
        "low" => 2048,
        "medium" => 8192,
        "high" => 16384,
        "xhigh" => 32768,
        other => {
            return Err(TranslateError::InvalidParameter {
                field: "reasoning_effort",
                reason: format!("unknown effort `{other}`"),
            })
        }
    };
    Ok(Some((budget, false)))
}

/// `max_tokens` and the final thinking budget, kept `budget < max_tokens` as Anthropic requires
/// (`max_tokens` counts thinking, like OpenAI's `max_completion_tokens` counts reasoning).
fn resolve_max_tokens(
    req: &Map<String, Value>,
    thinking: Option<(u64, bool)>,
    model_max: Option<u64>,
) -> Result<(u64, Option<u64>), TranslateError> {
    let field = if req
        .get("max_completion_tokens")
        .is_some_and(|v| !v.is_null())
    {
        "max_completion_tokens"
    } else {
        "max_tokens"
    };
    let caller =
        match req.get(field).filter(|v| !v.is_null()) {
            None => None,
            Some(v) => Some(v.as_u64().filter(|n| *n > 0).ok_or_else(|| {
                TranslateError::InvalidParameter {
                    field,
                    reason: "must be a positive integer".into(),
                }
            })?),
        };
    let too_small = |max: u64| TranslateError::InvalidParameter {
        field,
        reason: format!(
            "{max} leaves no room for reasoning: Anthropic needs a thinking budget of at least \
             {MIN_THINKING_BUDGET} below max_tokens"
        ),
    };
    let default = model_max.unwrap_or(DEFAULT_MAX_TOKENS);
    let Some((budget, explicit)) = thinking else {
        return Ok((caller.unwrap_or(default), None));
    };
    let max = match caller {
        Some(m) => m,
        // Room for the answer on top of the thinking, within the model's limit when known.
        None => {
            let wanted = default.max(budget + DEFAULT_MAX_TOKENS);
            model_max.map_or(wanted, |m| wanted.min(m))
        }
    };
    if budget < max {
        return Ok((max, Some(budget)));
    }
    if explicit {
        return Err(TranslateError::InvalidParameter {
            field: "reasoning.max_tokens",
            reason: format!("thinking budget {budget} must be below max_tokens {max}"),
        });
    }
    // An effort-derived budget shrinks to fit the caller's cap.
    if max <= MIN_THINKING_BUDGET {
        return Err(too_small(max));
    }
    Ok((max, Some(max - 1)))
}

fn stop_sequences(req: &Map<String, Value>) -> Result<Option<Value>, TranslateError> {
    let bad = || TranslateError::InvalidParameter {
        field: "stop",
        reason: "must be a string or an array of strings".into(),
    };
    let list: Vec<Value> = match req.get("stop") {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::String(s)) => vec![Value::String(s.clone())],
        Some(Value::Array(a)) => {
            if a.iter().any(|s| !s.is_string()) {
                return Err(bad());
            }
            a.clone()
        }
        Some(_) => return Err(bad()),
    };
    // Anthropic rejects whitespace-only stop sequences; they could never match usefully anyway.
    let list: Vec<Value> = list
        .into_iter()
        .filter(|s| s.as_str().is_some_and(|s| !s.trim().is_empty()))
        .collect();
    Ok((!list.is_empty()).then_some(Value::Array(list)))
}

fn sampling(
    req: &Map<String, Value>,
    body: &mut Map<String, Value>,
    thinking: bool,
) -> Result<(), TranslateError> {
    let num = |field: &'static str| -> Result<Option<f64>, TranslateError> {
        match req.get(field) {
            None | Some(Value::Null) => Ok(None),
            Some(v) => v
                .as_f64()
                .map(Some)
                .ok_or(TranslateError::InvalidParameter {
                    field,
                    reason: "must be a number".into(),
                }),
        }
    };
    let temperature = num("temperature")?;
    let top_p = num("top_p")?;
    let top_k = match req.get("top_k") {
        None | Some(Value::Null) => None,
        Some(v) => Some(v.as_u64().ok_or(TranslateError::InvalidParameter {
            field: "top_k",
            reason: "must be a non-negative integer".into(),
        })?),
    };
    if thinking {
        // With thinking on Anthropic accepts only the default temperature, no top_k and a top_p of
        // at least 0.95; the reference forces temperature 1, we leave these out instead.
        if let Some(p) = top_p.filter(|p| *p >= 0.95) {
            body.insert("top_p".into(), json!(p));
        }
        return Ok(());
    }
    if let Some(t) = temperature {
        // OpenAI's range is 0..2, Anthropic's 0..1: clamp rather than fail a valid OpenAI call.
        body.insert("temperature".into(), json!(t.clamp(0.0, 1.0)));
    }
    if let Some(p) = top_p {
        body.insert("top_p".into(), json!(p));
    }
    if let Some(k) = top_k {
        body.insert("top_k".into(), json!(k));
    }
    Ok(())
}

fn convert_tools(req: &Map<String, Value>) -> Result<Vec<Value>, TranslateError> {
    let Some(tools) = req.get("tools").filter(|t| !t.is_null()) else {
        return Ok(Vec::new());
    };
    let tools = tools.as_array().ok_or(TranslateError::InvalidParameter {
        field: "tools",
        reason: "must be an array".into(),
    })?;
    tools
        .iter()
        .enumerate()
        .map(|(i, tool)| {
            let kind = tool
                .get("type")
                .and_then(Value::as_str)
                .unwrap_or("function");
            if kind != "function" {
                return Err(TranslateError::Unsupported {
                    field: "tools",
                    reason: format!("tools[{i}] has type `{kind}`; only `function` maps"),
                });
            }
            let function = tool.get("function").unwrap_or(&Value::Null);
            let name = function
                .get("name")
                .and_then(Value::as_str)
                .filter(|n| !n.is_empty())
                .ok_or_else(|| TranslateError::InvalidParameter {
                    field: "tools",
                    reason: format!("tools[{i}].function.name is missing"),
                })?;
            // The whole JSON schema is kept ($defs, additionalProperties, ...); Anthropic only
            // insists on an object at the root.
            let mut schema = match function.get("parameters") {
                Some(p @ Value::Object(_)) => p.clone(),
                _ => json!({"type": "object", "properties": {}}),
            };
            if schema.get("type").is_none() {
                schema["type"] = json!("object");
            }
            let mut out = json!({"name": name, "input_schema": schema});
            if let Some(d) = function.get("description").and_then(Value::as_str) {
                out["description"] = json!(d);
            }
            if let Some(cc) = tool.get("cache_control").filter(|c| !c.is_null()) {
                out["cache_control"] = cc.clone();
            }
            Ok(out)
        })
        .collect()
}

/// decisions.md: none → none, auto → auto, required → any, named → tool; no silent widening.
fn convert_tool_choice(
    req: &Map<String, Value>,
    has_tools: bool,
) -> Result<Option<Value>, TranslateError> {
    let unsupported = |reason: String| TranslateError::Unsupported {
        field: "tool_choice",
        reason,
    };
    let choice = match req.get("tool_choice") {
        None | Some(Value::Null) => return Ok(None),
        Some(c) => c,
    };
    let mapped = match choice {
        Value::String(s) => match s.as_str() {
            "none" => json!({"type": "none"}),
            "auto" => json!({"type": "auto"}),
            "required" => json!({"type": "any"}),
            other => return Err(unsupported(format!("unknown tool_choice `{other}`"))),
        },
        Value::Object(o) if o.get("type").and_then(Value::as_str) == Some("function") => {
            let name = o
                .get("function")
                .and_then(|f| f.get("name"))
                .and_then(Value::as_str)
                .filter(|n| !n.is_empty())
                .ok_or_else(|| unsupported("named tool_choice without a function name".into()))?;
            json!({"type": "tool", "name": name})
        }
        other => return Err(unsupported(format!("tool_choice {other}"))),
    };
    if !has_tools {
        // Anthropic refuses tool_choice without tools. "none"/"auto" then mean nothing and are
        // dropped; forcing a tool that does not exist is the caller's error.
        return match mapped["type"].as_str() {
            Some("none" | "auto") => Ok(None),
            _ => Err(TranslateError::InvalidParameter {
                field: "tool_choice",
                reason: "forces a tool call but `tools` is empty".into(),
            }),
        };
    }
    Ok(Some(mapped))
}

/// `response_format`: `json_schema` becomes a forced call of [`JSON_RESPONSE_TOOL`] whose input
/// schema is the caller's schema (Anthropic then validates the shape, which an instruction alone
/// cannot guarantee); the answer translators turn that call back into JSON text. When the caller
/// has tools of their own, or thinking is on (which cannot force a tool), or the schema's root is
/// not an object, the schema goes into a system instruction instead. `json_object` is always a
/// system instruction.
fn apply_response_format(
    req: &Map<String, Value>,
    system: &mut Vec<Value>,
    tools: &mut Vec<Value>,
    tool_choice: &mut Option<Value>,
    thinking: bool,
) -> Result<(), TranslateError> {
    let Some(rf) = req.get("response_format").filter(|r| !r.is_null()) else {
        return Ok(());
    };
    match rf.get("type").and_then(Value::as_str) {
        Some("text") => Ok(()),
        Some("json_object") => {
            system.push(text_block(
                "Respond with a single valid JSON object only, with no text before or after it.",
            ));
            Ok(())
        }
        Some("json_schema") => {
            let spec = rf.get("json_schema").unwrap_or(&Value::Null);
            let schema = spec
                .get("schema")
                .cloned()
                .unwrap_or_else(|| json!({"type": "object"}));
            let object_root = schema.get("type").and_then(Value::as_str) == Some("object");
            if tools.is_empty() && !thinking && object_root {
                let mut description =
                    "Give your final answer by calling this tool; its input is the answer."
                        .to_owned();
                if let Some(d) = spec.get("description").and_then(Value::as_str) {
                    description = format!("{d}\n{description}");
                }
                tools.push(json!({
                    "name": JSON_RESPONSE_TOOL, "description": description, "input_schema": schema,
                }));
                *tool_choice = Some(json!({"type": "tool", "name": JSON_RESPONSE_TOOL}));
            } else {
                system.push(text_block(&format!(
                    "Respond with a single valid JSON value only, with no text before or after it, \
                     matching this JSON schema:\n{schema}"
                )));
            }
            Ok(())
        }
        _ => Err(TranslateError::Unsupported {
            field: "response_format",
            reason: format!("type {}", rf.get("type").unwrap_or(&Value::Null)),
        }),
    }
}

/// OpenAI's `web_search_options` → Anthropic's web search server tool.
fn web_search_tool(req: &Map<String, Value>) -> Option<Value> {
    let opts = req.get("web_search_options").filter(|o| o.is_object())?;
    let mut tool = json!({"type": "web_search_20250305", "name": "web_search"});
    if let Some(approx) = opts
        .get("user_location")
        .and_then(|l| l.get("approximate"))
        .and_then(Value::as_object)
    {
        let mut loc = Map::new();
        loc.insert("type".into(), json!("approximate"));
        for k in ["city", "region", "country", "timezone"] {
            if let Some(v) = approx.get(k).filter(|v| v.is_string()) {
                loc.insert(k.into(), v.clone());
            }
        }
        tool["user_location"] = Value::Object(loc);
    }
    Some(tool)
}
