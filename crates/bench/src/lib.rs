//! Pieces shared by the benchmark binaries: the fake upstream's fixed answers, the request body
//! the load generator sends, and the histogram summary they print.
//!
//! Run the whole benchmark with `scripts/bench-gateway`; see `notes/BENCH.md`.

use hdrhistogram::Histogram;

/// The model string the load generator asks for (pinned to the `openai` provider so BYOK and PTB
/// runs take the same endpoint).
pub const BENCH_MODEL: &str = "gpt-4o-mini/openai";

/// A whole OpenAI `chat.completion`, shaped like the API reference's example (usage details
/// included, since the gateway prices from them).
pub const CHAT_COMPLETION: &str = concat!(
    r#"{"id":"chatcmpl-B9MBs8CjcvOU2jLn4n570S5qMJKcT","object":"chat.completion","created":1741569952,"#,
    r#""model":"gpt-4o-mini-2024-07-18","choices":[{"index":0,"message":{"role":"assistant","#,
    r#""content":"Hello! A load balancer spreads incoming requests across several servers so that no single one is overwhelmed, and it stops sending traffic to a server that fails its health checks.","#,
    r#""refusal":null,"annotations":[]},"logprobs":null,"finish_reason":"stop"}],"#,
    r#""usage":{"prompt_tokens":27,"completion_tokens":36,"total_tokens":63,"#,
    r#""prompt_tokens_details":{"cached_tokens":0,"audio_tokens":0},"#,
    r#""completion_tokens_details":{"reasoning_tokens":0,"audio_tokens":0,"accepted_prediction_tokens":0,"rejected_prediction_tokens":0}},"#,
    r#""service_tier":"default","system_fingerprint":"fp_06737a9306"}"#,
);

/// The same answer as OpenAI streams it with `stream_options.include_usage`: a role chunk,
/// content chunks, the finish chunk, the usage chunk (empty `choices`), then `[DONE]`.
pub fn chat_completion_sse() -> String {
    const HEAD: &str = r#"{"id":"chatcmpl-B9MBs8CjcvOU2jLn4n570S5qMJKcT","object":"chat.completion.chunk","created":1741569952,"model":"gpt-4o-mini-2024-07-18","service_tier":"default","system_fingerprint":"fp_06737a9306","#;
    let mut out = String::with_capacity(4096);
    let mut frame = |rest: &str| {
        out.push_str("data: ");
        out.push_str(HEAD);
        out.push_str(rest);
        out.push_str("\n\n");
    };
    frame(
        r#""choices":[{"index":0,"delta":{"role":"assistant","content":"","refusal":null},"logprobs":null,"finish_reason":null}],"usage":null}"#,
    );
    for piece in [
        "Hello!",
        " A load balancer",
        " spreads incoming requests",
        " across several servers",
        " so that no single one",
        " is overwhelmed.",
    ] {
        let delta = serde_json::json!({"content": piece});
        frame(&format!(
            r#""choices":[{{"index":0,"delta":{delta},"logprobs":null,"finish_reason":null}}],"usage":null}}"#
        ));
    }
    frame(
        r#""choices":[{"index":0,"delta":{},"logprobs":null,"finish_reason":"stop"}],"usage":null}"#,
    );
    frame(
        r#""choices":[],"usage":{"prompt_tokens":27,"completion_tokens":14,"total_tokens":41,"prompt_tokens_details":{"cached_tokens":0,"audio_tokens":0},"completion_tokens_details":{"reasoning_tokens":0,"audio_tokens":0,"accepted_prediction_tokens":0,"rejected_prediction_tokens":0}}}"#,
    );
    out.push_str("data: [DONE]\n\n");
    out
}

/// The request body the load generator posts: a short, typical chat request.
pub fn request_body(model: &str, stream: bool) -> String {
    let mut body = serde_json::json!({
        "model": model,
        "messages": [
            {"role": "system", "content": "You are a concise assistant."},
            {"role": "user", "content": "In one sentence, what does a load balancer do?"}
        ],
        "max_tokens": 64,
        "temperature": 0.2
    });
    if stream {
        body["stream"] = serde_json::Value::Bool(true);
        body["stream_options"] = serde_json::json!({"include_usage": true});
    }
    body.to_string()
}

/// Whether a JSON request body asks for a stream (`"stream": true` at any nesting; the fake
/// upstream only needs to tell its two answers apart, without parsing the whole body).
pub fn wants_stream(body: &[u8]) -> bool {
    let key = b"\"stream\"";
    let mut rest = body;
    while let Some(at) = memchr::memmem::find(rest, key) {
        rest = &rest[at + key.len()..];
        let trimmed = trim_start(rest);
        if let Some(after_colon) = trimmed.strip_prefix(b":") {
            if trim_start(after_colon).starts_with(b"true") {
                return true;
            }
        }
    }
    false
}

fn trim_start(mut s: &[u8]) -> &[u8] {
    while let [b' ' | b'\t' | b'\n' | b'\r', rest @ ..] = s {
        s = rest;
    }
    s
}

/// Latency figures of one run, in microseconds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LatencySummary {
    pub count: u64,
    pub p50_us: f64,
    pub p90_us: f64,
    pub p99_us: f64,
    pub p999_us: f64,
    pub max_us: f64,
    pub mean_us: f64,
}

impl LatencySummary {
    /// Summarises a histogram recorded in nanoseconds.
    pub fn of_nanos(h: &Histogram<u64>) -> LatencySummary {
        let us = |v: u64| v as f64 / 1000.0;
        LatencySummary {
            count: h.len(),
            p50_us: us(h.value_at_quantile(0.50)),
            p90_us: us(h.value_at_quantile(0.90)),
            p99_us: us(h.value_at_quantile(0.99)),
            p999_us: us(h.value_at_quantile(0.999)),
            max_us: us(h.max()),
            mean_us: h.mean() / 1000.0,
        }
    }
}

/// A histogram for request latencies in nanoseconds: 1 µs to 60 s, 3 significant digits.
pub fn latency_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1_000, 60_000_000_000, 3).expect("static histogram bounds are valid")
}

/// Runs `main_fn` on a tokio runtime (current-thread when `threads` is 0) and turns its result
/// into the process exit code, printing the error.
pub fn run_main<E, F>(
    threads: usize,
    main_fn: F,
    runtime_error: fn(std::io::Error) -> E,
) -> std::process::ExitCode
where
    E: std::fmt::Display,
    F: std::future::Future<Output = Result<(), E>>,
{
    let runtime = if threads == 0 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads)
            .enable_all()
            .build()
    };
    let result = match runtime {
        Ok(rt) => rt.block_on(main_fn),
        Err(e) => Err(runtime_error(e)),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// Accepts connections until `max_secs` have passed or Ctrl-C, handing each (with
/// `TCP_NODELAY` set) to `serve`. A failed accept (out of descriptors and the like) backs off
/// for 10 ms instead of spinning.
pub async fn accept_until(
    listener: tokio::net::TcpListener,
    max_secs: u64,
    mut serve: impl FnMut(tokio::net::TcpStream),
) {
    let deadline = tokio::time::sleep(std::time::Duration::from_secs(max_secs));
    tokio::pin!(deadline);
    loop {
        tokio::select! {
            _ = &mut deadline => break,
            _ = tokio::signal::ctrl_c() => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    let _ = stream.set_nodelay(true);
                    serve(stream);
                }
                Err(e) => {
                    eprintln!("accept: {e}");
                    tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                }
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whole_answer_is_a_chat_completion_with_usage() {
        let v: serde_json::Value = serde_json::from_str(CHAT_COMPLETION).unwrap();
        assert_eq!(v["object"], "chat.completion");
        assert_eq!(v["usage"]["prompt_tokens"], 27);
        assert_eq!(v["usage"]["completion_tokens"], 36);
        assert_eq!(v["choices"][0]["finish_reason"], "stop");
    }

    #[test]
    fn sse_answer_is_valid_frames_ending_in_usage_and_done() {
        let sse = chat_completion_sse();
        let frames: Vec<&str> = sse.split("\n\n").filter(|f| !f.is_empty()).collect();
        assert_eq!(frames.last(), Some(&"data: [DONE]"));
        let mut text = String::new();
        let mut usage = None;
        for f in &frames[..frames.len() - 1] {
            let v: serde_json::Value =
                serde_json::from_str(f.strip_prefix("data: ").unwrap()).unwrap();
            assert_eq!(v["object"], "chat.completion.chunk");
            if let Some(c) = v["choices"]
                .get(0)
                .and_then(|c| c["delta"]["content"].as_str())
            {
                text.push_str(c);
            }
            if !v["usage"].is_null() {
                usage = Some(v["usage"].clone());
            }
        }
        assert_eq!(text, "Hello! A load balancer spreads incoming requests across several servers so that no single one is overwhelmed.");
        assert_eq!(usage.unwrap()["total_tokens"], 41);
    }

    #[test]
    fn stream_flag_is_detected_only_when_true() {
        assert!(wants_stream(request_body(BENCH_MODEL, true).as_bytes()));
        assert!(!wants_stream(request_body(BENCH_MODEL, false).as_bytes()));
        assert!(wants_stream(br#"{"stream" :  true}"#));
        assert!(!wants_stream(
            br#"{"stream": false, "stream_options": {"include_usage": true}}"#
        ));
        assert!(!wants_stream(br#"{"content": "stream"}"#));
    }

    #[test]
    fn summary_reads_quantiles_in_microseconds() {
        let mut h = latency_histogram();
        for us in 1..=1000u64 {
            h.record(us * 1000).unwrap();
        }
        let s = LatencySummary::of_nanos(&h);
        assert_eq!(s.count, 1000);
        assert!((s.p50_us - 500.0).abs() < 1.0, "{s:?}");
        assert!((s.p99_us - 990.0).abs() < 1.5, "{s:?}");
        assert!((s.max_us - 1000.0).abs() < 1.5, "{s:?}");
    }
}
