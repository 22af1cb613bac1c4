//! A cached `chat.completion` replayed as an OpenAI stream: the bytes parse as SSE, every event
//! is a `chat.completion.chunk` (then `[DONE]`), and accumulating the deltas the way the OpenAI
//! SDKs do gives back the original message, finish reason and usage.

use serde_json::{json, Value};
use switchyard_providers::sse::SseParser;
use switchyard_server::governance::replay::{ReplayError, PIECE_BYTES};
use switchyard_server::governance::replay_sse;

/// The chunks of a replay, checking the framing on the way.
fn chunks(bytes: &[u8]) -> Vec<Value> {
    let text = std::str::from_utf8(bytes).unwrap();
    assert!(text.ends_with("data: [DONE]\n\n"), "{text}");
    for frame in text.split_terminator("\n\n") {
        assert!(
            frame.starts_with("data: ") && !frame.contains('\n'),
            "{frame:?}"
        );
    }
    let mut parser = SseParser::new();
    let events = parser.feed(bytes).unwrap();
    assert!(parser.finish().is_none(), "nothing left over");
    let (last, rest) = events.split_last().unwrap();
    assert!(last.is_done());
    rest.iter()
        .map(|e| {
            assert!(e.event.is_none());
            serde_json::from_slice(&e.data).unwrap()
        })
        .collect()
}

/// Merges deltas as the OpenAI SDKs' stream accumulators do: strings concatenate, tool calls
/// merge by index, `finish_reason` is set once.
fn accumulate(chunks: &[Value]) -> (Vec<Value>, Option<Value>) {
    let mut choices: Vec<Value> = Vec::new();
    let mut usage = None;
    for c in chunks {
        if let Some(u) = c.get("usage").filter(|u| !u.is_null()) {
            usage = Some(u.clone());
        }
        for ch in c["choices"].as_array().unwrap() {
            let i = ch["index"].as_u64().unwrap() as usize;
            while choices.len() <= i {
                choices.push(json!({"message": {}, "finish_reason": null}));
            }
            let acc = &mut choices[i];
            merge(&mut acc["message"], &ch["delta"]);
            if !ch["finish_reason"].is_null() {
                assert!(acc["finish_reason"].is_null(), "finish_reason given twice");
                acc["finish_reason"] = ch["finish_reason"].clone();
            }
            if let Some(lp) = ch.get("logprobs").filter(|l| !l.is_null()) {
                acc["logprobs"] = lp.clone();
            }
        }
    }
    (choices, usage)
}

fn merge(acc: &mut Value, delta: &Value) {
    let acc = acc.as_object_mut().unwrap();
    for (k, v) in delta.as_object().unwrap() {
        match (k.as_str(), v) {
            ("tool_calls", Value::Array(calls)) => {
                let list = acc.entry("tool_calls").or_insert(json!([]));
                for call in calls {
                    let j = call["index"].as_u64().unwrap() as usize;
                    let list = list.as_array_mut().unwrap();
                    while list.len() <= j {
                        list.push(json!({}));
                    }
                    let mut call = call.clone();
                    call.as_object_mut().unwrap().remove("index");
                    merge_strings(&mut list[j], &call);
                }
            }
            (_, Value::String(s)) if k != "role" => {
                let e = acc.entry(k).or_insert(json!(""));
                if e.is_null() {
                    *e = json!("");
                }
                *e = json!(format!("{}{s}", e.as_str().unwrap()));
            }
            (_, v) => {
                if !(v.is_null() && acc.contains_key(k)) {
                    acc.insert(k.clone(), v.clone());
                }
            }
        }
    }
}

fn merge_strings(acc: &mut Value, delta: &Value) {
    let acc = acc.as_object_mut().unwrap();
    for (k, v) in delta.as_object().unwrap() {
        match v {
            Value::Object(_) => merge_strings(acc.entry(k).or_insert(json!({})), v),
            Value::String(s) if k != "type" && k != "id" => {
                let e = acc.entry(k).or_insert(json!(""));
                *e = json!(format!("{}{s}", e.as_str().unwrap()));
            }
            _ => {
                acc.insert(k.clone(), v.clone());
            }
        }
    }
}

fn completion(message: Value, finish: &str) -> Value {
    json!({
        "id": "chatcmpl-abc", "object": "chat.completion", "created": 1735689600,
        "model": "gpt-4o-mini-2024-07-18", "system_fingerprint": "fp_1",
        "choices": [{"index": 0, "message": message, "logprobs": null, "finish_reason": finish}],
        "usage": {"prompt_tokens": 12, "completion_tokens": 40, "total_tokens": 52,
                  "prompt_tokens_details": {"cached_tokens": 0}},
    })
}

fn replay(v: &Value, usage: bool) -> Vec<Value> {
    chunks(&replay_sse(&serde_json::to_vec(v).unwrap(), usage).unwrap())
}

#[test]
fn text_answer_with_usage_chunk() {
    let content = "Streaming replays cut the answer into pieces: ünïcödé, emoji 🚀, and more text \
                   than one piece holds, so several content chunks follow the role chunk.";
    let c = completion(
        json!({"role": "assistant", "content": content, "refusal": null}),
        "stop",
    );
    let chunks = replay(&c, true);
    for ch in &chunks {
        assert_eq!(ch["object"], "chat.completion.chunk");
        for f in ["id", "created", "model", "system_fingerprint"] {
            assert_eq!(ch[f], c[f], "{f}");
        }
        assert!(
            ch.as_object().unwrap().contains_key("usage"),
            "include_usage: usage on every chunk"
        );
    }
    let (first, rest) = chunks.split_first().unwrap();
    assert_eq!(
        first["choices"][0]["delta"],
        json!({"role": "assistant", "content": ""})
    );
    assert!(first["usage"].is_null());
    let (last, middle) = rest.split_last().unwrap();
    assert_eq!(last["choices"], json!([]));
    assert_eq!(last["usage"], c["usage"]);
    let finish = middle.last().unwrap();
    assert_eq!(finish["choices"][0]["finish_reason"], "stop");
    assert_eq!(finish["choices"][0]["delta"], json!({}));
    let pieces: Vec<&str> = middle[..middle.len() - 1]
        .iter()
        .map(|ch| ch["choices"][0]["delta"]["content"].as_str().unwrap())
        .collect();
    assert!(pieces.len() >= content.len() / PIECE_BYTES);
    assert!(pieces
        .iter()
        .all(|p| !p.is_empty() && p.len() <= PIECE_BYTES));
    assert!(middle[..middle.len() - 1]
        .iter()
        .all(|ch| ch["usage"].is_null() && ch["choices"][0]["finish_reason"].is_null()));

    let (choices, usage) = accumulate(&chunks);
    assert_eq!(choices.len(), 1);
    assert_eq!(choices[0]["message"]["content"], content);
    assert_eq!(choices[0]["message"]["role"], "assistant");
    assert_eq!(choices[0]["finish_reason"], "stop");
    assert_eq!(usage.unwrap(), c["usage"]);
}

#[test]
fn without_include_usage_there_is_no_usage_at_all() {
    let c = completion(json!({"role": "assistant", "content": "Hi"}), "length");
    let chunks = replay(&c, false);
    assert_eq!(chunks.len(), 3, "role, content, finish");
    assert!(chunks.iter().all(|ch| ch.get("usage").is_none()));
    let (choices, usage) = accumulate(&chunks);
    assert_eq!(choices[0]["message"]["content"], "Hi");
    assert_eq!(choices[0]["finish_reason"], "length");
    assert!(usage.is_none());
}

#[test]
fn tool_calls_reassemble() {
    let args = r#"{"location":"Paris, France","unit":"celsius","days":[1,2,3],"note":"a long argument string"}"#;
    let calls = json!([
        {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": args}},
        {"id": "call_2", "type": "function", "function": {"name": "get_time", "arguments": "{}"}},
    ]);
    let c = completion(
        json!({"role": "assistant", "content": null, "tool_calls": calls}),
        "tool_calls",
    );
    let chunks = replay(&c, true);
    assert!(chunks[0]["choices"][0]["delta"]["content"].is_null());
    let (choices, _) = accumulate(&chunks);
    assert_eq!(choices[0]["message"]["tool_calls"], calls);
    assert_eq!(choices[0]["finish_reason"], "tool_calls");
    assert!(choices[0]["message"]["content"].is_null());
}

#[test]
fn several_choices_refusal_reasoning_and_logprobs() {
    let logprobs = json!({"content": [{"token": "No", "logprob": -0.1, "bytes": [78, 111], "top_logprobs": []}]});
    let c = json!({
        "id": "x", "object": "chat.completion", "created": 2, "model": "m",
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": "No", "reasoning_content": "think"},
             "logprobs": logprobs, "finish_reason": "stop"},
            {"index": 1, "message": {"role": "assistant", "content": null, "refusal": "I can't help with that."},
             "logprobs": null, "finish_reason": "stop"},
        ],
        "usage": {"prompt_tokens": 1, "completion_tokens": 2, "total_tokens": 3},
    });
    let (choices, usage) = accumulate(&replay(&c, true));
    assert_eq!(choices.len(), 2);
    assert_eq!(choices[0]["message"]["content"], "No");
    assert_eq!(choices[0]["message"]["reasoning_content"], "think");
    assert_eq!(choices[0]["logprobs"], logprobs);
    assert_eq!(choices[1]["message"]["refusal"], "I can't help with that.");
    assert!(choices[1]["message"]["content"].is_null());
    assert_eq!(usage.unwrap()["total_tokens"], 3);
}

#[test]
fn empty_content_and_bad_input() {
    let c = completion(json!({"role": "assistant", "content": ""}), "stop");
    let chunks = replay(&c, false);
    assert_eq!(chunks.len(), 2, "role chunk, finish chunk");
    assert_eq!(accumulate(&chunks).0[0]["message"]["content"], "");
    assert!(matches!(
        replay_sse(b"{not json", false),
        Err(ReplayError::NotJson(_))
    ));
    assert_eq!(
        replay_sse(b"{\"object\":\"x\"}", false),
        Err(ReplayError::NotCompletion)
    );
}
