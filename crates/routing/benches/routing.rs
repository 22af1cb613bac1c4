use criterion::{black_box, criterion_group, criterion_main, Criterion};
use switchyard_registry::Registry;
use switchyard_routing::{build_attempts, parse_model_string, Availability, ProviderKey};

/// Routing is benchmarked on a fixed day: the cost does not depend on it.
const TODAY: time::Date = time::macros::date!(2026 - 12 - 01);

fn bench(c: &mut Criterion) {
    let r = Registry::embedded().unwrap();
    let avail = Availability::new()
        .with_key(ProviderKey::new("k-aws", "bedrock").with_region("us-east-1"))
        .with_key(ProviderKey::new("k-openai", "openai"))
        .with_ptb([
            "openai",
            "anthropic",
            "bedrock",
            "vertex",
            "google-ai-studio",
            "openrouter",
        ]);
    let mut run = |name: &str, model: &'static str| {
        c.bench_function(name, |b| {
            b.iter(|| {
                let req = parse_model_string(&r, black_box(model)).unwrap();
                build_attempts(&r, &req, &avail, TODAY).unwrap().len()
            })
        });
    };
    run("parse+build claude-sonnet-4", "claude-sonnet-4");
    run("parse+build gpt-4o-mini/openai", "gpt-4o-mini/openai");
    run(
        "parse+build chain of 3 with exclusion",
        "gpt-4o-mini/azure, claude-3.5-sonnet, gpt-4o, !openrouter",
    );
}

criterion_group!(benches, bench);
criterion_main!(benches);
