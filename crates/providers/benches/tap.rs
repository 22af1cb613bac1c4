//! What the usage tap costs per MB of answer, for each body shape: SSE streams of small chunks
//! (OpenAI, Anthropic, Responses), a large JSON body (embeddings), AWS event-stream frames.
//! Fed in 16 KiB reads, as a socket would deliver them.

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use serde_json::json;
use switchyard_providers::bedrock;
use switchyard_providers::tap::{TapFormat, UsageTap};

const MB: usize = 1 << 20;

/// About 1 MiB of `event` repeated, then `tail`.
fn repeated(event: &[u8], tail: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(MB + tail.len());
    while out.len() < MB {
        out.extend_from_slice(event);
    }
    out.extend_from_slice(tail);
    out
}

fn bodies() -> Vec<(&'static str, TapFormat, bool, Vec<u8>)> {
    let chat = repeated(
        br#"data: {"id":"chatcmpl-fx1","object":"chat.completion.chunk","created":1735689600,"model":"gpt-4o-2024-08-06","choices":[{"index":0,"delta":{"content":"Hello, how are"},"logprobs":null,"finish_reason":null}],"usage":null}

"#,
        br#"data: {"id":"chatcmpl-fx1","object":"chat.completion.chunk","created":1735689600,"model":"gpt-4o-2024-08-06","choices":[],"usage":{"prompt_tokens":1117,"completion_tokens":46,"total_tokens":1163}}

data: [DONE]

"#,
    );
    let anthropic = repeated(
        br#"event: content_block_delta
data: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hello, how are"}}

"#,
        br#"event: message_delta
data: {"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"output_tokens":393}}

"#,
    );
    let responses = repeated(
        br#"event: response.output_text.delta
data: {"type":"response.output_text.delta","sequence_number":12,"item_id":"msg_68af","output_index":2,"content_index":0,"delta":"Good news","logprobs":[]}

"#,
        br#"event: response.completed
data: {"type":"response.completed","sequence_number":99,"response":{"model":"o4-mini","output":[],"usage":{"input_tokens":2048,"output_tokens":611}}}

"#,
    );
    let vector: Vec<f64> = (0..1536).map(|k| f64::from(k % 97) / -9973.0).collect();
    let item = serde_json::to_vec(&json!({"object": "embedding", "index": 0, "embedding": vector}))
        .unwrap();
    let mut embeddings = br#"{"object":"list","data":["#.to_vec();
    while embeddings.len() < MB {
        embeddings.extend_from_slice(&item);
        embeddings.push(b',');
    }
    embeddings.extend_from_slice(&item);
    embeddings.extend_from_slice(
        br#"],"model":"text-embedding-3-small","usage":{"prompt_tokens":9,"total_tokens":9}}"#,
    );
    let frame = bedrock::chunk_frame(&json!({"type": "content_block_delta", "index": 0,
        "delta": {"type": "text_delta", "text": "Hello, how are"}}));
    let last = bedrock::chunk_frame(
        &json!({"type": "message_delta", "delta": {"stop_reason": "end_turn"},
        "usage": {"output_tokens": 41}}),
    );
    let eventstream = repeated(&frame, &last);
    vec![
        ("openai chat sse", TapFormat::OpenAiChat, true, chat),
        (
            "anthropic sse",
            TapFormat::AnthropicMessages,
            true,
            anthropic,
        ),
        ("responses sse", TapFormat::OpenAiResponses, true, responses),
        (
            "embeddings json",
            TapFormat::OpenAiEmbeddings,
            false,
            embeddings,
        ),
        (
            "bedrock event-stream",
            TapFormat::BedrockInvoke,
            true,
            eventstream,
        ),
    ]
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("usage tap");
    for (name, format, stream, body) in bodies() {
        g.throughput(Throughput::Bytes(body.len() as u64));
        g.bench_function(name, |b| {
            b.iter(|| {
                let mut tap = UsageTap::new(format, stream);
                for chunk in body.chunks(16 * 1024) {
                    tap.feed(black_box(chunk));
                }
                let r = tap.finish();
                assert!(r.usage.is_some());
                r
            })
        });
    }
    g.finish();

    // Baselines on the same machine, as the ratio is steadier than absolute times on a shared
    // one: copying the bytes (what forwarding them costs at least) and parsing every SSE event
    // into a JSON value (what a naive tap would do).
    let (_, _, _, chat) = bodies().swap_remove(0);
    let mut g = c.benchmark_group("baseline");
    g.throughput(Throughput::Bytes(chat.len() as u64));
    g.bench_function("copy", |b| {
        b.iter(|| {
            let mut out = Vec::with_capacity(16 * 1024);
            for chunk in chat.chunks(16 * 1024) {
                out.clear();
                out.extend_from_slice(black_box(chunk));
            }
            out.len()
        })
    });
    g.bench_function("sse parse + serde_json per event", |b| {
        b.iter(|| {
            let mut p = switchyard_providers::sse::SseParser::new();
            let mut n = 0usize;
            for chunk in chat.chunks(16 * 1024) {
                for ev in p.feed(black_box(chunk)).unwrap() {
                    if let Ok(v) = serde_json::from_slice::<serde_json::Value>(&ev.data) {
                        n += usize::from(v.get("usage").is_some_and(|u| u.is_object()));
                    }
                }
            }
            n
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
