//! What governance adds to a request: a rate-limit check and a cache lookup, in process (the
//! bar is 20 µs p50 each) and against the local Redis (127.0.0.1:6379), plus the SSE replay
//! of a cached answer and one bus message between two Redis connections.
//!
//! `cargo bench -p switchyard-server --bench governance`; criterion writes the median of each
//! to `target/criterion/<group>/<name>/new/estimates.json`.

use std::sync::Arc;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use serde_json::{json, Value};
use switchyard_server::governance::{
    cache_key, Bus, CachedAnswer, GovernanceConfig, GovernanceMetrics, Invalidation, Policy,
    RateLimiter, RedisHandle, ResponseCache, Scope,
};
use switchyard_store::OrgId;

const REDIS_URL: &str = "redis://127.0.0.1:6379";
const ORG: &str = "0190f5a2-7b1c-7d3e-9f00-1234567890ab";

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap()
}

fn redis_handle(rt: &tokio::runtime::Runtime) -> RedisHandle {
    let config = GovernanceConfig {
        key_prefix: format!("sybench:{}:", uuid::Uuid::new_v4().simple()),
        ..GovernanceConfig::default()
    };
    let _guard = rt.enter();
    RedisHandle::new(REDIS_URL, &config, Arc::new(GovernanceMetrics::default())).unwrap()
}

/// A typical small chat request (~1 KB).
fn request() -> Value {
    json!({
        "model": "gpt-4o-mini",
        "messages": [
            {"role": "system", "content": "You are a helpful assistant that answers briefly and precisely, citing sources when asked."},
            {"role": "user", "content": "Summarise the main differences between a token bucket and a leaky bucket rate limiter, and say when each is the better choice for an API gateway that fronts several model providers."},
            {"role": "assistant", "content": "A token bucket allows bursts up to its capacity and refills at a steady rate; a leaky bucket smooths output to a constant rate."},
            {"role": "user", "content": "And which one does Switchyard use?"}
        ],
        "temperature": 0.2,
        "max_tokens": 256,
        "stream": true,
        "stream_options": {"include_usage": true},
        "user": "user-1234",
    })
}

fn answer() -> CachedAnswer {
    let body = json!({
        "id": "chatcmpl-bench", "object": "chat.completion", "created": 1735689600,
        "model": "gpt-4o-mini-2024-07-18", "system_fingerprint": "fp_1",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "A token bucket: bursts up to the quota, refilled at quota per window. ".repeat(12)}, "logprobs": null, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 120, "completion_tokens": 200, "total_tokens": 320},
    });
    CachedAnswer::new(
        serde_json::to_vec(&body).unwrap().into(),
        switchyard_cost::Usage::tokens(120, 200),
        Some(150_000),
        "openai",
        "gpt-4o-mini",
    )
}

fn ratelimit(c: &mut Criterion) {
    // Quotas that never refuse: the check does its full work every time.
    let one = Policy::parse_list("1000000000;w=60;s=user").unwrap();
    let three = Policy::parse_list(
        "1000000000;w=60, 1000000000;w=3600;s=user, 1000000000;w=86400;u=tokens;s=key",
    )
    .unwrap();
    let scope = Scope {
        org: ORG,
        key: "0190f5a2-7b1c-7d3e-9f00-00000000000k",
        user: Some("user-1234"),
        properties: &[],
    };
    let local = RateLimiter::in_process(100_000, Arc::new(GovernanceMetrics::default()));
    let mut g = c.benchmark_group("ratelimit_check");
    g.bench_function("in_process_1_policy", |b| {
        b.iter(|| futures::executor::block_on(local.check(&one, &scope)))
    });
    g.bench_function("in_process_3_policies", |b| {
        b.iter(|| futures::executor::block_on(local.check(&three, &scope)))
    });
    let rt = runtime();
    let redis = RateLimiter::redis(redis_handle(&rt));
    assert!(
        !rt.block_on(redis.check(&one, &scope)).unwrap().fail_open,
        "Redis must be up"
    );
    g.bench_function("redis_1_policy", |b| {
        b.iter(|| rt.block_on(redis.check(&one, &scope)))
    });
    g.bench_function("redis_3_policies", |b| {
        b.iter(|| rt.block_on(redis.check(&three, &scope)))
    });
    g.finish();
}

fn cache(c: &mut Criterion) {
    let body = request();
    let mut g = c.benchmark_group("cache_lookup");
    g.bench_function("key_only", |b| {
        b.iter(|| cache_key(ORG, "gpt-4o-mini", &body, None, None))
    });
    let local =
        ResponseCache::in_process(64 << 20, 4 << 20, Arc::new(GovernanceMetrics::default()));
    let key = cache_key(ORG, "gpt-4o-mini", &body, None, None);
    futures::executor::block_on(local.put(&key, answer(), Duration::from_secs(3600)));
    g.bench_function("in_process_hit_with_key", |b| {
        b.iter(|| {
            let k = cache_key(ORG, "gpt-4o-mini", &body, None, None);
            futures::executor::block_on(local.get(&k)).expect("hit")
        })
    });
    g.bench_function("in_process_miss_with_key", |b| {
        b.iter(|| {
            let k = cache_key(ORG, "gpt-4o-mini", &body, None, Some("other"));
            futures::executor::block_on(local.get(&k))
        })
    });
    let rt = runtime();
    let redis = ResponseCache::redis(redis_handle(&rt), 4 << 20);
    assert!(rt.block_on(redis.put(&key, answer(), Duration::from_secs(300))));
    g.bench_function("redis_hit_with_key", |b| {
        b.iter(|| {
            let k = cache_key(ORG, "gpt-4o-mini", &body, None, None);
            rt.block_on(redis.get(&k)).expect("hit")
        })
    });
    g.finish();

    let bytes = answer().body;
    c.bench_function("replay_sse/1.1kb_answer", |b| {
        b.iter(|| switchyard_server::governance::replay_sse(&bytes, true).unwrap())
    });
}

fn bus(c: &mut Criterion) {
    let rt = runtime();
    let (a, b, mut sub) = rt.block_on(async {
        let prefix = format!("sybench:{}:", uuid::Uuid::new_v4().simple());
        let config = GovernanceConfig {
            key_prefix: prefix,
            ..GovernanceConfig::default()
        };
        let mk = || {
            let h = RedisHandle::new(REDIS_URL, &config, Arc::new(GovernanceMetrics::default()))
                .unwrap();
            Bus::redis(
                h,
                "invalidate",
                Duration::from_secs(1),
                Duration::from_secs(1),
            )
        };
        let (a, b) = (mk(), mk());
        while !(a.is_connected() && b.is_connected()) {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let sub = b.subscribe();
        (a, b, sub)
    });
    let msg = Invalidation::ProviderKeysChanged {
        org_id: OrgId(uuid::Uuid::from_u128(1)),
    };
    c.bench_function("bus/publish_to_other_connection", |bench| {
        bench.iter(|| {
            rt.block_on(async {
                a.publish(msg.clone()).await;
                loop {
                    if sub.recv().await == Some(msg.clone()) {
                        break;
                    }
                }
            })
        })
    });
    drop(b);
}

fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .sample_size(50)
}

criterion_group! {
    name = benches;
    config = config();
    targets = ratelimit, cache, bus
}
criterion_main!(benches);
