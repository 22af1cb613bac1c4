use criterion::{black_box, criterion_group, criterion_main, Criterion};
use switchyard_cost::Usage;
use switchyard_registry::Registry;

fn bench(c: &mut Criterion) {
    c.bench_function("load embedded registry", |b| {
        b.iter(|| Registry::embedded().unwrap())
    });
    let r = Registry::embedded().unwrap();
    c.bench_function("endpoints_for_model claude-sonnet-4", |b| {
        b.iter(|| {
            r.endpoints_for_model(black_box("claude-sonnet-4"))
                .next()
                .map(|e| e.priority)
        })
    });
    c.bench_function("config model:provider", |b| {
        b.iter(|| r.config(black_box("gpt-4o"), black_box("openai")).is_some())
    });
    c.bench_function("endpoint_by_provider_model_id", |b| {
        b.iter(|| {
            r.endpoint_by_provider_model_id(
                black_box("anthropic"),
                black_box("claude-sonnet-4-20250514"),
            )
            .is_some()
        })
    });
    let usage = Usage {
        cache_read: Some(500),
        ..Usage::tokens(1500, 1000)
    };
    c.bench_function("lookup + price (provider model id)", |b| {
        b.iter(|| {
            r.price(
                black_box("anthropic"),
                black_box("claude-sonnet-4-20250514"),
                black_box(&usage),
            )
            .unwrap()
            .total_nanos()
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
