//! Tools, tool choice, `response_format` and web search → Anthropic tools.

use serde_json::{json, Map, Value};

use super::messages::text_block;
use crate::anthropic::types::{TranslateError, JSON_RESPONSE_TOOL};

pub(super) fn convert_tools(req: &Map<String, Value>) -> Result<Vec<Value>, TranslateError> {
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
pub(super) fn convert_tool_choice(
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
pub(super) fn apply_response_format(
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

/// Searches one request may make. Anthropic's tool runs until the model stops searching unless
/// `max_uses` caps it, and OpenAI's `web_search_options` has no such field; without a cap neither
/// the search fees nor the tokens of the results have a bound, so the adapter always sets one.
pub const WEB_SEARCH_MAX_USES: u64 = 5;

/// OpenAI's `web_search_options` → Anthropic's web search server tool.
pub(super) fn web_search_tool(req: &Map<String, Value>) -> Option<Value> {
    let opts = req.get("web_search_options").filter(|o| o.is_object())?;
    let mut tool = json!({
        "type": "web_search_20250305", "name": "web_search", "max_uses": WEB_SEARCH_MAX_USES,
    });
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
