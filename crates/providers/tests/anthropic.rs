//! Anthropic translation: snapshots of every fixture in both directions, plus the behaviour the
//! snapshots alone would not pin down.

use std::path::PathBuf;

use serde_json::{json, Value};
use switchyard_providers::anthropic::{
    error_message, error_type, response_to_openai, to_messages_request, to_messages_request_with,
    usage_from_anthropic, AnthropicOptions, StreamTranslator, TranslateError,
};

fn fixture_dir(sub: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/anthropic")
        .join(sub)
}

fn fixture(sub: &str, name: &str) -> Vec<u8> {
    std::fs::read(fixture_dir(sub).join(name)).unwrap_or_else(|e| panic!("{sub}/{name}: {e}"))
}

fn fixture_names(sub: &str) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(fixture_dir(sub))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert!(!names.is_empty(), "no fixtures in {sub}");
    names
}

fn stem(name: &str) -> &str {
    name.rsplit_once('.').map_or(name, |(s, _)| s)
}

fn request(name: &str) -> Value {
    serde_json::from_slice(&fixture("requests", name)).unwrap()
}

/// The `data:` payloads of a raw SSE text, one per event (framing is P1's parser's job in the
/// gateway; this is the minimum needed to replay a fixture).
fn sse_events(raw: &str) -> Vec<String> {
    raw.split("\n\n")
        .filter_map(|frame| {
            let data: Vec<&str> = frame
                .lines()
                .filter_map(|l| l.strip_prefix("data:"))
                .map(str::trim_start)
                .collect();
            (!data.is_empty()).then(|| data.join("\n"))
        })
        .collect()
}

/// Replays a stream fixture: the chunks emitted until the end or the first error.
fn replay(name: &str) -> (Vec<Value>, StreamTranslator, Option<TranslateError>) {
    let raw = String::from_utf8(fixture("streams", name)).unwrap();
    let mut t = StreamTranslator::new("claude-sonnet-4", "req_test").with_created(1_700_000_000);
    let mut chunks = Vec::new();
    for ev in sse_events(&raw) {
        match t.on_event(ev.as_bytes()) {
            Ok(c) => chunks.extend(c),
            Err(e) => return (chunks, t, Some(e)),
        }
    }
    (chunks, t, None)
}

// ---------- OpenAI → Anthropic ----------

#[test]
fn snapshot_every_request_fixture() {
    for name in fixture_names("requests") {
        let out = to_messages_request(
            &request(&name),
            "claude-sonnet-4-20250514",
            &AnthropicOptions::native(),
        )
        .unwrap_or_else(|e| panic!("{name}: {e}"));
        insta::assert_json_snapshot!(format!("request_{}", stem(&name)), out);
    }
}

#[test]
fn snapshot_bedrock_and_vertex_bodies() {
    let req = request("tools_roundtrip.json");
    let bedrock =
        to_messages_request(&req, "anthropic.claude", &AnthropicOptions::bedrock()).unwrap();
    insta::assert_json_snapshot!("request_tools_roundtrip_bedrock", bedrock);
    let req = request("simple.json");
    let vertex = to_messages_request(
        &req,
        "claude-sonnet-4@20250514",
        &AnthropicOptions::vertex(),
    )
    .unwrap();
    insta::assert_json_snapshot!("request_simple_vertex", vertex);
}

#[test]
fn bedrock_and_vertex_shape() {
    let req = request("simple.json");
    let b = to_messages_request(&req, "m", &AnthropicOptions::bedrock()).unwrap();
    assert_eq!(b["anthropic_version"], "bedrock-2023-05-31");
    assert!(b.get("model").is_none() && b.get("stream").is_none());
    let v = to_messages_request(&req, "m", &AnthropicOptions::vertex()).unwrap();
    assert_eq!(v["anthropic_version"], "vertex-2023-10-16");
    assert!(v.get("model").is_none());
    assert_eq!(v["stream"], true);
    let n = to_messages_request(&req, "claude-x", &AnthropicOptions::native()).unwrap();
    assert!(n.get("anthropic_version").is_none());
    assert_eq!(
        (n["model"].as_str(), &n["stream"]),
        (Some("claude-x"), &json!(true))
    );
    // No breakpoint on Bedrock/Vertex, one on the native API.
    assert!(!b.to_string().contains("cache_control"));
    assert!(!v.to_string().contains("cache_control"));
    assert_eq!(n.to_string().matches("cache_control").count(), 1);
}

#[test]
fn tool_choice_mapping_never_widens() {
    let base = request("tool_choice_named.json");
    for (choice, expected) in [
        (json!("none"), json!({"type": "none"})),
        (json!("auto"), json!({"type": "auto"})),
        (json!("required"), json!({"type": "any"})),
        (
            json!({"type": "function", "function": {"name": "get_weather"}}),
            json!({"type": "tool", "name": "get_weather"}),
        ),
    ] {
        let mut req = base.clone();
        req["tool_choice"] = choice.clone();
        let out = to_messages_request(&req, "m", &AnthropicOptions::native()).unwrap();
        assert_eq!(out["tool_choice"], expected, "{choice}");
    }
    let mut req = base.clone();
    req["tool_choice"] = json!("sometimes");
    assert!(matches!(
        to_messages_request(&req, "m", &AnthropicOptions::native()),
        Err(TranslateError::Unsupported {
            field: "tool_choice",
            ..
        })
    ));
    // Forcing a tool without tools is the caller's error; "none" without tools just drops.
    let mut req = base.clone();
    req.as_object_mut().unwrap().remove("tools");
    req["tool_choice"] = json!("required");
    assert!(to_messages_request(&req, "m", &AnthropicOptions::native()).is_err());
    req["tool_choice"] = json!("none");
    let out = to_messages_request(&req, "m", &AnthropicOptions::native()).unwrap();
    assert!(out.get("tool_choice").is_none() && out.get("tools").is_none());
}

#[test]
fn parallel_tool_calls_false_disables_parallel_use() {
    let mut req = request("tool_choice_named.json");
    req.as_object_mut().unwrap().remove("tool_choice");
    req["parallel_tool_calls"] = json!(false);
    let out = to_messages_request(&req, "m", &AnthropicOptions::native()).unwrap();
    assert_eq!(
        out["tool_choice"],
        json!({"type": "auto", "disable_parallel_tool_use": true})
    );
}

#[test]
fn invalid_tool_arguments_are_an_error() {
    let mut req = request("tools_roundtrip.json");
    req["messages"][1]["tool_calls"][0]["function"]["arguments"] = json!("{\"location\": ");
    let err = to_messages_request(&req, "m", &AnthropicOptions::native()).unwrap_err();
    assert!(
        matches!(
            err,
            TranslateError::InvalidToolArguments {
                index: 1,
                call: 0,
                ..
            }
        ),
        "{err}"
    );
    req["messages"][1]["tool_calls"][0]["function"]["arguments"] = json!("[1,2]");
    assert!(matches!(
        to_messages_request(&req, "m", &AnthropicOptions::native()),
        Err(TranslateError::InvalidToolArguments { .. })
    ));
}

#[test]
fn system_only_request_is_rejected() {
    let req = json!({"model": "m", "messages": [{"role": "system", "content": "hi"}]});
    assert!(matches!(
        to_messages_request(&req, "m", &AnthropicOptions::native()),
        Err(TranslateError::NoNonSystemMessage)
    ));
    let req = json!({"model": "m", "messages": [{"role": "user", "content": "  "}]});
    assert!(matches!(
        to_messages_request(&req, "m", &AnthropicOptions::native()),
        Err(TranslateError::NoNonSystemMessage)
    ));
    assert!(matches!(
        to_messages_request(&json!({"model": "m"}), "m", &AnthropicOptions::native()),
        Err(TranslateError::NotAChatRequest)
    ));
}

#[test]
fn unsupported_inputs_are_errors_not_dropped() {
    let user = |content: Value| json!({"messages": [{"role": "user", "content": content}]});
    for (req, field) in [
        (
            user(json!([{"type": "input_audio", "input_audio": {"data": "AAA", "format": "wav"}}])),
            "messages",
        ),
        (
            json!({"messages": [{"role": "user", "content": "x"}], "functions": [{"name": "f"}]}),
            "functions",
        ),
        (
            json!({"messages": [{"role": "user", "content": "x"}], "logit_bias": {"1": 2}}),
            "logit_bias",
        ),
        (
            json!({"messages": [{"role": "user", "content": "x"}], "n": 3}),
            "n",
        ),
    ] {
        match to_messages_request(&req, "m", &AnthropicOptions::native()) {
            Err(TranslateError::Unsupported { field: f, .. }) => assert_eq!(f, field),
            other => panic!("{req}: {other:?}"),
        }
    }
    let bad_image = user(json!([{"type": "image_url", "image_url": {"url": "ftp://x/y.png"}}]));
    assert!(matches!(
        to_messages_request(&bad_image, "m", &AnthropicOptions::native()),
        Err(TranslateError::InvalidMessage { index: 0, .. })
    ));
}

#[test]
fn max_tokens_defaults_and_thinking_budget() {
    let native = AnthropicOptions::native();
    let plain = json!({"messages": [{"role": "user", "content": "x"}]});
    assert_eq!(
        to_messages_request(&plain, "m", &native).unwrap()["max_tokens"],
        4096
    );
    assert_eq!(
        to_messages_request_with(&plain, "m", &native, Some(64000)).unwrap()["max_tokens"],
        64000
    );
    // max_completion_tokens wins over max_tokens.
    let both = json!({"messages": [{"role": "user", "content": "x"}], "max_tokens": 10, "max_completion_tokens": 20});
    assert_eq!(
        to_messages_request(&both, "m", &native).unwrap()["max_tokens"],
        20
    );

    let effort = |e: &str, max: Option<u64>| {
        let mut r = json!({"messages": [{"role": "user", "content": "x"}], "reasoning_effort": e});
        if let Some(m) = max {
            r["max_tokens"] = json!(m);
        }
        to_messages_request(&r, "m", &native)
    };
    for (e, budget) in [
        ("minimal", 1024),
        ("low", 2048),
        ("medium", 8192),
        ("high", 16384),
    ] {
        let out = effort(e, None).unwrap();
        assert_eq!(
            out["thinking"],
            json!({"type": "enabled", "budget_tokens": budget})
        );
        assert!(out["max_tokens"].as_u64().unwrap() > budget);
    }
    // The caller's cap stays; an effort budget shrinks below it.
    let out = effort("high", Some(5000)).unwrap();
    assert_eq!(
        (
            out["max_tokens"].as_u64(),
            out["thinking"]["budget_tokens"].as_u64()
        ),
        (Some(5000), Some(4999))
    );
    assert!(effort("high", Some(1000)).is_err());
    assert!(effort("none", None).unwrap().get("thinking").is_none());
    assert!(effort("extreme", None).is_err());
    // An explicit budget is never changed silently.
    let r = json!({"messages": [{"role": "user", "content": "x"}], "reasoning": {"max_tokens": 9000}, "max_tokens": 8000});
    assert!(to_messages_request(&r, "m", &native).is_err());
    // The model limit caps the default when thinking.
    let r = json!({"messages": [{"role": "user", "content": "x"}], "reasoning_effort": "xhigh"});
    let out = to_messages_request_with(&r, "m", &native, Some(20000)).unwrap();
    assert_eq!(
        (
            out["max_tokens"].as_u64(),
            out["thinking"]["budget_tokens"].as_u64()
        ),
        (Some(20000), Some(19999))
    );
    // Thinking cannot be combined with a forced tool.
    let mut r = request("tool_choice_named.json");
    r["reasoning_effort"] = json!("low");
    assert!(to_messages_request(&r, "m", &native).is_err());
}

#[test]
fn sampling_parameters() {
    let out = to_messages_request(
        &json!({"messages": [{"role": "user", "content": "x"}], "temperature": 1.7, "top_p": 0.5, "top_k": 5}),
        "m",
        &AnthropicOptions::native(),
    )
    .unwrap();
    assert_eq!(
        (
            out["temperature"].as_f64(),
            out["top_p"].as_f64(),
            out["top_k"].as_u64()
        ),
        (Some(1.0), Some(0.5), Some(5))
    );
    let out = to_messages_request(
        &request("reasoning_effort.json"),
        "m",
        &AnthropicOptions::native(),
    )
    .unwrap();
    assert!(out.get("temperature").is_none() && out.get("top_k").is_none());
}

#[test]
fn caller_cache_control_suppresses_the_automatic_breakpoint() {
    let out = to_messages_request(
        &request("multi_system_cache.json"),
        "m",
        &AnthropicOptions::native(),
    )
    .unwrap();
    assert_eq!(out.to_string().matches("cache_control").count(), 1);
    assert_eq!(
        out["system"][0]["cache_control"],
        json!({"type": "ephemeral", "ttl": "1h"})
    );
    let out =
        to_messages_request(&request("simple.json"), "m", &AnthropicOptions::native()).unwrap();
    let last = out["messages"].as_array().unwrap().last().unwrap();
    assert_eq!(
        last["content"][0]["cache_control"],
        json!({"type": "ephemeral", "ttl": "5m"})
    );
}

#[test]
fn json_schema_falls_back_to_instruction_with_tools() {
    let mut req = request("tool_choice_named.json");
    req.as_object_mut().unwrap().remove("tool_choice");
    req["response_format"] = request("response_format_schema.json")["response_format"].clone();
    let out = to_messages_request(&req, "m", &AnthropicOptions::native()).unwrap();
    assert_eq!(out["tools"].as_array().unwrap().len(), 1);
    assert!(out["system"].as_str().unwrap().contains("\"born\""));
    let forced = to_messages_request(
        &request("response_format_schema.json"),
        "m",
        &AnthropicOptions::native(),
    )
    .unwrap();
    assert_eq!(
        forced["tool_choice"],
        json!({"type": "tool", "name": "json_response"})
    );
}

// ---------- Anthropic → OpenAI ----------

#[test]
fn snapshot_every_response_fixture() {
    for name in fixture_names("responses") {
        let (out, usage) = response_to_openai(&fixture("responses", &name), "claude-sonnet-4")
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        insta::assert_json_snapshot!(format!("response_{}", stem(&name)), json!({"openai": out, "usage": usage}), {
            ".openai.created" => "[created]"
        });
    }
}

#[test]
fn response_fields() {
    let (out, _) =
        response_to_openai(&fixture("responses", "tool_use.json"), "claude-sonnet-4").unwrap();
    let msg = &out["choices"][0]["message"];
    assert_eq!(out["choices"][0]["finish_reason"], "tool_calls");
    assert_eq!(msg["tool_calls"][0]["id"], "toolu_01A09q90qw90lq917835lq9");
    let args: Value = serde_json::from_str(
        msg["tool_calls"][0]["function"]["arguments"]
            .as_str()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(
        args,
        json!({"location": "San Francisco, CA", "unit": "celsius"})
    );
    assert_eq!(msg["tool_calls"][1]["function"]["arguments"], "{}");
    assert_eq!(out["model"], "claude-sonnet-4");

    let (out, _) = response_to_openai(&fixture("responses", "text.json"), "m").unwrap();
    assert_eq!(
        out["choices"][0]["message"]["content"],
        "Hello! How can I help you today?"
    );
    for (file, finish) in [
        ("cache_usage.json", "length"),
        ("refusal.json", "content_filter"),
        ("stop_sequence.json", "stop"),
        ("json_response.json", "stop"),
    ] {
        let (out, _) = response_to_openai(&fixture("responses", file), "m").unwrap();
        assert_eq!(out["choices"][0]["finish_reason"], finish, "{file}");
    }
    let (out, _) = response_to_openai(&fixture("responses", "json_response.json"), "m").unwrap();
    let answer: Value =
        serde_json::from_str(out["choices"][0]["message"]["content"].as_str().unwrap()).unwrap();
    assert_eq!(answer, json!({"name": "Ada Lovelace", "born": 1815}));
}

#[test]
fn cache_usage_is_split_by_lifetime() {
    let (out, usage) = response_to_openai(&fixture("responses", "cache_usage.json"), "m").unwrap();
    assert_eq!(usage.input, Some(21));
    assert_eq!(usage.cache_read, Some(188086));
    assert_eq!(
        (usage.cache_write_5m, usage.cache_write_1h),
        (Some(456), Some(1595))
    );
    assert_eq!(usage.output, Some(393));
    assert_eq!(out["usage"]["prompt_tokens"], 21 + 188086 + 2051);
    assert_eq!(
        out["usage"]["prompt_tokens_details"]["cached_tokens"],
        188086
    );
    assert_eq!(out["usage"]["total_tokens"], 21 + 188086 + 2051 + 393);
    let (_, usage) = response_to_openai(&fixture("responses", "web_search.json"), "m").unwrap();
    assert_eq!(usage.web_search, Some(1));
    // Not reported stays None, unlike a reported 0.
    let u = usage_from_anthropic(&json!({"input_tokens": 5, "output_tokens": 0}));
    assert_eq!((u.output, u.cache_read), (Some(0), None));
}

#[test]
fn error_bodies() {
    for (file, kind, msg) in [
        (
            "invalid_request_error_400.json",
            "invalid_request_error",
            "roles must alternate",
        ),
        (
            "rate_limit_error_429.json",
            "rate_limit_error",
            "rate limit",
        ),
        (
            "overloaded_error_529.json",
            "overloaded_error",
            "Overloaded",
        ),
        (
            "authentication_error_401.json",
            "authentication_error",
            "x-api-key",
        ),
    ] {
        let body = fixture("errors", file);
        assert_eq!(error_type(&body).as_deref(), Some(kind));
        assert!(error_message(&body).unwrap().contains(msg), "{file}");
        match response_to_openai(&body, "m") {
            Err(e @ TranslateError::Upstream { .. }) => {
                assert!(e.is_upstream());
                assert!(e.to_string().contains(kind));
            }
            other => panic!("{file}: {other:?}"),
        }
    }
    assert!(matches!(
        response_to_openai(b"<html>Bad gateway</html>", "m"),
        Err(TranslateError::InvalidResponse(_))
    ));
    assert_eq!(error_message(b""), None);
}

// ---------- SSE → OpenAI chunks ----------

#[test]
fn snapshot_every_stream_fixture() {
    for name in fixture_names("streams") {
        let (chunks, t, err) = replay(&name);
        insta::assert_json_snapshot!(
            format!("stream_{}", stem(&name)),
            json!({"chunks": chunks, "usage": t.usage(), "done": t.is_done(), "error": err.map(|e| e.to_string())})
        );
    }
}

#[test]
fn stream_text() {
    let (chunks, t, err) = replay("text.sse");
    assert!(err.is_none() && t.is_done());
    assert_eq!(
        chunks[0]["choices"][0]["delta"],
        json!({"role": "assistant", "content": ""})
    );
    let text: String = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["content"].as_str())
        .collect();
    assert_eq!(text, "Hello!");
    assert!(chunks
        .iter()
        .all(|c| c["id"] == "msg_1nZdL29xx5MUA1yADyHTEsnR8uuvGzszyY"));
    let finish: Vec<&Value> = chunks
        .iter()
        .map(|c| &c["choices"][0]["finish_reason"])
        .filter(|f| !f.is_null())
        .collect();
    assert_eq!(finish, [&json!("stop")]);
    let last = chunks.last().unwrap();
    assert_eq!(last["choices"], json!([]));
    assert_eq!(last["usage"]["prompt_tokens"], 25);
    assert_eq!(last["usage"]["completion_tokens"], 15);
    assert_eq!((t.usage().input, t.usage().output), (Some(25), Some(15)));
}

#[test]
fn stream_tool_calls_have_stable_indices_and_whole_arguments() {
    let (chunks, _, err) = replay("tool_use.sse");
    assert!(err.is_none());
    let mut calls: Vec<(String, String, String)> = Vec::new();
    for c in &chunks {
        for tc in c["choices"][0]["delta"]["tool_calls"]
            .as_array()
            .into_iter()
            .flatten()
        {
            let i = tc["index"].as_u64().unwrap() as usize;
            if let Some(id) = tc["id"].as_str() {
                assert_eq!(i, calls.len(), "indices count up from 0 in block order");
                calls.push((
                    id.into(),
                    tc["function"]["name"].as_str().unwrap().into(),
                    String::new(),
                ));
            } else {
                assert!(tc.get("id").is_none());
            }
            calls[i]
                .2
                .push_str(tc["function"]["arguments"].as_str().unwrap_or(""));
        }
    }
    assert_eq!(calls.len(), 2);
    assert_eq!(
        (calls[0].0.as_str(), calls[0].1.as_str()),
        ("toolu_01T1x1fJ34qAmk2tNTrN7Up6", "get_weather")
    );
    let args: Value = serde_json::from_str(&calls[0].2).unwrap();
    assert_eq!(
        args,
        json!({"location": "San Francisco, CA", "unit": "fahrenheit"})
    );
    assert_eq!(calls[1].2, "{}");
    let finish = chunks
        .iter()
        .find_map(|c| c["choices"][0]["finish_reason"].as_str());
    assert_eq!(finish, Some("tool_calls"));
}

#[test]
fn stream_thinking_and_cache_usage() {
    let (chunks, _, _) = replay("thinking.sse");
    let reasoning: String = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["reasoning_content"].as_str())
        .collect();
    assert!(reasoning.starts_with("Let me solve this") && reasoning.ends_with("400 + 50 + 3"));
    assert!(chunks
        .iter()
        .any(|c| c["choices"][0]["delta"]["reasoning_details"][0]["signature"].is_string()));

    let (_, t, _) = replay("cache_usage.sse");
    let u = t.usage();
    // message_delta repeats the bare total; the 5m/1h split from message_start must survive.
    assert_eq!(
        (u.cache_write_5m, u.cache_write_1h, u.cache_read, u.output),
        (Some(456), Some(1595), Some(188086), Some(393))
    );

    let (chunks, _, _) = replay("json_response.sse");
    let content: String = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["content"].as_str())
        .collect();
    assert_eq!(
        serde_json::from_str::<Value>(&content).unwrap(),
        json!({"name": "Ada Lovelace", "born": 1815})
    );
    assert!(chunks
        .iter()
        .all(|c| c["choices"][0]["delta"].get("tool_calls").is_none()));
    assert_eq!(
        chunks
            .iter()
            .find_map(|c| c["choices"][0]["finish_reason"].as_str()),
        Some("stop")
    );
}

#[test]
fn stream_error_event_is_an_upstream_error() {
    let (chunks, t, err) = replay("error_mid_stream.sse");
    assert!(!t.is_done());
    assert_eq!(
        chunks.len(),
        2,
        "role chunk and one text delta before the error"
    );
    match err {
        Some(TranslateError::Upstream {
            error_type,
            message,
        }) => {
            assert_eq!(
                (error_type.as_str(), message.as_str()),
                ("overloaded_error", "Overloaded")
            )
        }
        other => panic!("{other:?}"),
    }
    let mut t = StreamTranslator::new("m", "r");
    assert!(matches!(
        t.on_event(b"not json"),
        Err(TranslateError::InvalidResponse(_))
    ));
    assert!(t.on_event(br#"{"type":"ping"}"#).unwrap().is_empty());
}

#[test]
fn stream_usage_chunk_can_be_left_out_and_bedrock_metrics_fill_gaps() {
    let mut t = StreamTranslator::new("m", "req_1").with_usage_chunk(false);
    t.on_event(br#"{"type":"message_start","message":{"id":"msg_b","usage":{"input_tokens":9}}}"#)
        .unwrap();
    let out = t
        .on_event(br#"{"type":"message_stop","amazon-bedrock-invocationMetrics":{"inputTokenCount":9,"outputTokenCount":4,"invocationLatency":100,"firstByteLatency":50}}"#)
        .unwrap();
    assert!(out.is_empty() && t.is_done());
    assert_eq!((t.usage().input, t.usage().output), (Some(9), Some(4)));
}

#[test]
fn thinking_is_kept_only_when_the_tool_loop_can_be_signed() {
    let signed = to_messages_request(
        &request("thinking_replay.json"),
        "m",
        &AnthropicOptions::native(),
    )
    .unwrap();
    assert_eq!(signed["thinking"]["budget_tokens"], 8192);
    assert_eq!(signed["messages"][1]["content"][0]["type"], "thinking");
    // Without the signed block Anthropic would refuse the request: answer this step without thinking.
    let mut req = request("thinking_replay.json");
    req["messages"][1]
        .as_object_mut()
        .unwrap()
        .remove("reasoning_details");
    let out = to_messages_request(&req, "m", &AnthropicOptions::native()).unwrap();
    assert!(out.get("thinking").is_none());
    assert_eq!(out["messages"][1]["content"][0]["type"], "tool_use");
    // A new user question after the tool loop needs no replayed thinking.
    req["messages"]
        .as_array_mut()
        .unwrap()
        .push(json!({"role": "assistant", "content": "21°C in Paris."}));
    req["messages"]
        .as_array_mut()
        .unwrap()
        .push(json!({"role": "user", "content": "And Rome?"}));
    let out = to_messages_request(&req, "m", &AnthropicOptions::native()).unwrap();
    assert_eq!(out["thinking"]["budget_tokens"], 8192);
}

#[test]
fn thinking_is_dropped_for_an_assistant_prefill() {
    let mut req = request("assistant_first_and_merge.json");
    req["reasoning_effort"] = json!("low");
    let out = to_messages_request(&req, "m", &AnthropicOptions::native()).unwrap();
    assert!(out.get("thinking").is_none());
    req["messages"].as_array_mut().unwrap().pop();
    let out = to_messages_request(&req, "m", &AnthropicOptions::native()).unwrap();
    assert_eq!(out["thinking"]["budget_tokens"], 2048);
}
