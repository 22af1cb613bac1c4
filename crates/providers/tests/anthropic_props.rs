//! Property tests: whatever OpenAI conversation comes in, the Messages request that goes out is
//! one Anthropic accepts (alternating turns starting with the user, at least one message, tool
//! results right after their tool calls and first in their turn, no empty text, thinking budget
//! below max_tokens), or the translation fails with a typed error for the caller.

use proptest::prelude::*;
use serde_json::{json, Value};
use switchyard_providers::anthropic::{to_messages_request, AnthropicOptions, TranslateError};

#[derive(Clone, Debug)]
enum Step {
    System(String),
    User(Value),
    Assistant(String),
    /// An assistant turn with `calls` tool calls; `answered[i]` says whether the caller sends the
    /// result of call i; `user_between` puts a user message between the call and the results.
    ToolRound {
        text: String,
        calls: usize,
        answered: Vec<bool>,
        user_between: Option<String>,
    },
}

fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        Just("  \n".to_owned()),
        "[a-z]{1,8}( [a-z]{1,8}){0,3}",
        "[a-z]{1,8} ",
    ]
}

fn user_content() -> impl Strategy<Value = Value> {
    prop_oneof![
        text().prop_map(Value::String),
        prop::collection::vec(
            prop_oneof![
                text().prop_map(|t| json!({"type": "text", "text": t})),
                Just(json!({"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}})),
                Just(json!({"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}})),
            ],
            0..4
        )
        .prop_map(Value::Array),
    ]
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        1 => text().prop_map(Step::System),
        3 => user_content().prop_map(Step::User),
        2 => text().prop_map(Step::Assistant),
        2 => (text(), 1usize..4, prop::collection::vec(prop::bool::weighted(0.8), 3), prop::option::of(text()))
            .prop_map(|(text, calls, answered, user_between)| Step::ToolRound { text, calls, answered, user_between }),
    ]
}

/// The OpenAI messages, whether any of them carries content, and the tool-call ids the caller
/// answered.
fn expand(steps: &[Step]) -> (Vec<Value>, bool, Vec<String>) {
    let mut msgs = Vec::new();
    let mut has_content = false;
    let mut answered_ids = Vec::new();
    let mut next_id = 0;
    let blank = |s: &str| s.trim().is_empty();
    for (i, s) in steps.iter().enumerate() {
        match s {
            Step::System(t) => {
                let role = if i % 2 == 0 { "system" } else { "developer" };
                msgs.push(json!({"role": role, "content": t}));
            }
            Step::User(c) => {
                has_content |= match c {
                    Value::String(s) => !blank(s),
                    Value::Array(parts) => parts
                        .iter()
                        .any(|p| p["type"] != "text" || !blank(p["text"].as_str().unwrap())),
                    _ => false,
                };
                msgs.push(json!({"role": "user", "content": c}));
            }
            Step::Assistant(t) => {
                has_content |= !blank(t);
                msgs.push(json!({"role": "assistant", "content": t}));
            }
            Step::ToolRound {
                text,
                calls,
                answered,
                user_between,
            } => {
                has_content = true;
                let ids: Vec<String> = (0..*calls)
                    .map(|_| {
                        next_id += 1;
                        format!("toolu_{next_id:04}")
                    })
                    .collect();
                let tool_calls: Vec<Value> = ids
                    .iter()
                    .enumerate()
                    .map(|(k, id)| {
                        let args = if k % 2 == 0 { json!("{\"q\": 1}") } else { json!("") };
                        json!({"id": id, "type": "function", "function": {"name": "lookup", "arguments": args}})
                    })
                    .collect();
                msgs.push(json!({"role": "assistant", "content": text, "tool_calls": tool_calls}));
                if let Some(u) = user_between {
                    msgs.push(json!({"role": "user", "content": u}));
                }
                for (k, id) in ids.iter().enumerate() {
                    if answered[k] {
                        let out = if k % 2 == 0 { "ok" } else { "" };
                        msgs.push(json!({"role": "tool", "tool_call_id": id, "content": out}));
                        answered_ids.push(id.clone());
                    }
                }
            }
        }
    }
    (msgs, has_content, answered_ids)
}

fn blocks(content: &Value) -> Vec<Value> {
    match content {
        Value::String(s) => vec![json!({"type": "text", "text": s})],
        Value::Array(a) => a.clone(),
        other => panic!("content {other}"),
    }
}

fn check_valid(out: &Value, answered: &[String]) -> Result<(), TestCaseError> {
    let msgs = out["messages"].as_array().expect("messages array");
    prop_assert!(!msgs.is_empty(), "at least one message");
    prop_assert_eq!(&msgs[0]["role"], "user", "first turn is the user's");
    for pair in msgs.windows(2) {
        prop_assert_ne!(&pair[0]["role"], &pair[1]["role"], "turns alternate");
    }
    for (i, m) in msgs.iter().enumerate() {
        let role = m["role"].as_str().unwrap();
        prop_assert!(role == "user" || role == "assistant");
        let bs = blocks(&m["content"]);
        prop_assert!(!bs.is_empty(), "turn {} is empty", i);
        for b in &bs {
            if b["type"] == "text" {
                prop_assert!(
                    !b["text"].as_str().unwrap().trim().is_empty(),
                    "empty text block in turn {}",
                    i
                );
            }
            if b["type"] == "tool_result" {
                if let Some(c) = b.get("content") {
                    prop_assert!(
                        c.as_str().is_none_or(|s| !s.is_empty()),
                        "empty tool_result content"
                    );
                }
            }
        }
        // Tool results lead their user turn.
        let first_other = bs
            .iter()
            .position(|b| b["type"] != "tool_result")
            .unwrap_or(bs.len());
        prop_assert!(
            bs[first_other..].iter().all(|b| b["type"] != "tool_result"),
            "tool_result after other content in turn {}",
            i
        );
        // Every tool_result answers a tool_use of the turn right before.
        for b in bs.iter().filter(|b| b["type"] == "tool_result") {
            let prev = blocks(&msgs[i - 1]["content"]);
            prop_assert!(
                prev.iter()
                    .any(|p| p["type"] == "tool_use" && p["id"] == b["tool_use_id"]),
                "orphan tool_result"
            );
        }
        // Every answered tool_use has its result in the next turn.
        for b in bs.iter().filter(|b| b["type"] == "tool_use") {
            prop_assert!(b["input"].is_object());
            let id = b["id"].as_str().unwrap();
            if answered.iter().any(|a| a == id) {
                let next = msgs
                    .get(i + 1)
                    .map(|n| blocks(&n["content"]))
                    .unwrap_or_default();
                prop_assert!(
                    next.iter()
                        .any(|n| n["type"] == "tool_result" && n["tool_use_id"] == id),
                    "result of {} not in the next turn",
                    id
                );
            }
        }
    }
    let last = msgs.last().unwrap();
    if last["role"] == "assistant" {
        if let Some(t) = blocks(&last["content"])
            .last()
            .and_then(|b| b["text"].as_str())
        {
            prop_assert_eq!(t, t.trim_end(), "prefill ends in whitespace");
        }
    }
    if let Some(sys) = out.get("system") {
        for b in blocks(sys) {
            prop_assert!(
                !b["text"].as_str().unwrap().trim().is_empty(),
                "empty system block"
            );
        }
    }
    prop_assert!(
        out.to_string().matches("cache_control").count() <= 4,
        "too many breakpoints"
    );
    let max = out["max_tokens"].as_u64().unwrap();
    prop_assert!(max > 0);
    if let Some(budget) = out
        .get("thinking")
        .map(|t| t["budget_tokens"].as_u64().unwrap())
    {
        prop_assert!(
            (1024..max).contains(&budget),
            "budget {} max {}",
            budget,
            max
        );
        prop_assert!(out.get("temperature").is_none());
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn translated_requests_are_valid_for_anthropic(
        steps in prop::collection::vec(step(), 0..10),
        native in any::<bool>(),
        effort in prop::option::of(prop::sample::select(vec!["minimal", "low", "medium", "high", "none"])),
        max_tokens in prop::option::of(1u64..40_000),
        temperature in prop::option::of(0.0f64..2.0),
    ) {
        let (messages, has_content, answered) = expand(&steps);
        let mut req = json!({"model": "claude", "messages": messages});
        if let Some(e) = effort { req["reasoning_effort"] = json!(e); }
        if let Some(m) = max_tokens { req["max_tokens"] = json!(m); }
        if let Some(t) = temperature { req["temperature"] = json!(t); }
        let opts = if native { AnthropicOptions::native() } else { AnthropicOptions::bedrock() };
        match to_messages_request(&req, "claude-sonnet-4-20250514", &opts) {
            Ok(out) => {
                prop_assert!(has_content, "content-free conversation was accepted");
                check_valid(&out, &answered)?;
                if let Some(t) = out.get("temperature") {
                    prop_assert!((0.0..=1.0).contains(&t.as_f64().unwrap()));
                }
            }
            Err(TranslateError::NoNonSystemMessage) => prop_assert!(!has_content),
            // Reasoning with a cap too small to hold Anthropic's minimum budget.
            Err(TranslateError::InvalidParameter { field: "max_tokens", .. }) => {
                prop_assert!(effort.is_some_and(|e| e != "none") && max_tokens.is_some_and(|m| m <= 1024));
            }
            Err(e) => prop_assert!(false, "unexpected error {}", e),
        }
    }

    #[test]
    fn invalid_tool_arguments_never_pass(garbage in "[a-z{}\\[\\]:,\" ]{1,12}") {
        prop_assume!(serde_json::from_str::<Value>(&garbage).map_or(true, |v| !v.is_object()));
        prop_assume!(!garbage.trim().is_empty());
        let req = json!({"messages": [
            {"role": "user", "content": "go"},
            {"role": "assistant", "tool_calls": [{"id": "t1", "type": "function", "function": {"name": "f", "arguments": garbage}}]},
            {"role": "tool", "tool_call_id": "t1", "content": "x"},
        ]});
        let is_args_error = matches!(
            to_messages_request(&req, "m", &AnthropicOptions::native()),
            Err(TranslateError::InvalidToolArguments { index: 1, call: 0, .. })
        );
        prop_assert!(is_args_error);
    }
}
