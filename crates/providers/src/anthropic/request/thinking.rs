//! The thinking budget and `max_tokens`, kept `budget < max_tokens` as Anthropic requires.

use serde_json::{Map, Value};

use crate::anthropic::types::TranslateError;

/// `max_tokens` when the caller gave none and the model's own output limit is unknown. Anthropic
/// requires the field; the reference uses 1024, which truncates ordinary answers, so we take a
/// value that fits every Claude model's output limit instead.
pub const DEFAULT_MAX_TOKENS: u64 = 4096;
/// Anthropic's smallest accepted `thinking.budget_tokens`.
const MIN_THINKING_BUDGET: u64 = 1024;

/// The thinking budget the caller asked for, if any: an explicit budget
/// (`reasoning.max_tokens`, or the reference's `reasoning_options.budget_tokens`) wins over an
/// effort (`reasoning_effort` or `reasoning.effort`). Returns (budget, explicit?).
pub(super) fn thinking_budget(
    req: &Map<String, Value>,
) -> Result<Option<(u64, bool)>, TranslateError> {
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
pub(super) fn resolve_max_tokens(
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
