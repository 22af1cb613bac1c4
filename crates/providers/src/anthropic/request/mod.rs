//! OpenAI chat request → Anthropic Messages request: this file assembles the body; the
//! conversation, the thinking budget and the tools are translated in the files beside it.

mod messages;
mod thinking;
mod tools;

pub use super::types::JSON_RESPONSE_TOOL;
pub use thinking::DEFAULT_MAX_TOKENS;
pub use tools::WEB_SEARCH_MAX_USES;

use serde_json::{json, Map, Value};

use super::types::{AnthropicOptions, TranslateError};
use messages::{
    convert_messages, text_block, trim_final_assistant, unsigned_tool_loop, Role, Turn,
};
use thinking::{resolve_max_tokens, thinking_budget};
use tools::{apply_response_format, convert_tool_choice, convert_tools, web_search_tool};

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
