//! Detection throughput: `provider_by_url` over a mix of provider, look-alike and hostile URLs,
//! and rule lookups by name.

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use switchyard_detect::{Detector, PromptUsage};

const URLS: &[&str] = &[
    "https://api.openai.com/v1/chat/completions",
    "https://api.anthropic.com/v1/messages",
    "https://myres.openai.azure.com/openai/deployments/gpt-4o/chat/completions?api-version=2025-01-01-preview",
    "https://us-central1-aiplatform.googleapis.com/v1/projects/p/locations/us-central1/publishers/anthropic/models/claude:rawPredict",
    "https://generativelanguage.googleapis.com/v1beta/openai/chat/completions",
    "https://bedrock-runtime.us-east-1.amazonaws.com/model/anthropic.claude-3-5-sonnet-20241022-v2:0/invoke",
    "https://inference.canopywave.io/v1/chat/completions",
    "http://127.0.0.1:8787/v1",
    "https://api.openai.com.evil.com/v1",
    "https://api.openai.com@evil.com/v1",
];

fn bench(c: &mut Criterion) {
    let registry = switchyard_registry::Registry::embedded().expect("embedded registry");
    let d = Detector::from_registry(&registry).expect("detector");

    let mut g = c.benchmark_group("detect");
    g.throughput(Throughput::Elements(URLS.len() as u64));
    g.bench_function("provider_by_url x10", |b| {
        b.iter(|| {
            for url in URLS {
                let _ = black_box(d.provider_by_url(black_box(url)));
            }
        })
    });
    g.finish();

    let mut g = c.benchmark_group("rule");
    let usage = PromptUsage::tokens(1000, 500);
    g.bench_function("cost_of_prompt by name (equals row)", |b| {
        b.iter(|| {
            d.cost_of_prompt(
                black_box("ANTHROPIC"),
                black_box("claude-3-5-sonnet-20241022"),
                &usage,
            )
        })
    });
    g.bench_function("cost_of_prompt by name (startsWith row)", |b| {
        b.iter(|| {
            d.cost_of_prompt(
                black_box("OPENAI"),
                black_box("ft:gpt-4o-mini-2024-07-18:acme::x"),
                &usage,
            )
        })
    });
    g.bench_function("cost_of_prompt by URL", |b| {
        b.iter(|| {
            d.cost_of_prompt(
                black_box("https://api.anthropic.com/v1/messages"),
                black_box("claude-3-5-sonnet-20241022"),
                &usage,
            )
        })
    });
    g.finish();

    c.bench_function("Detector::from_registry", |b| {
        b.iter(|| Detector::from_registry(black_box(&registry)).expect("detector"))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
