//! The response cache: the key normaliser, `Cache-Control`, the in-process cache (hits, TTL,
//! byte bound) and the Redis cache (shared across connections, `EX`, corrupt values).

mod governance_util;

use std::sync::Arc;
use std::time::Duration;

use governance_util::*;
use serde_json::{json, Value};
use switchyard_server::governance::cache::{decode, encode};
use switchyard_server::governance::cachekey::{canonical_body, IGNORED_FIELDS};
use switchyard_server::governance::{
    cache_control, cache_key, CacheControl, CachedAnswer, GovernanceMetrics, ResponseCache,
};

const DAY: Duration = Duration::from_secs(86_400);

fn body() -> Value {
    json!({
        "model": "gpt-4o-mini",
        "messages": [{"role": "user", "content": "Say hi"}],
        "temperature": 0.2,
        "max_tokens": 50,
    })
}

fn key(body: &Value) -> String {
    cache_key("org-1", "gpt-4o-mini", body, None, None).hex()
}

fn answer(text: &str) -> CachedAnswer {
    let body = json!({
        "id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "gpt-4o-mini",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 9, "completion_tokens": 3, "total_tokens": 12},
    });
    CachedAnswer::new(
        serde_json::to_vec(&body).unwrap().into(),
        switchyard_cost::Usage::tokens(9, 3),
        Some(4_500),
        "openai",
        "gpt-4o-mini",
    )
}

#[test]
fn the_key_ignores_what_does_not_change_the_answer() {
    let base = key(&body());
    // Key order, whitespace and 1 vs 1.0 do not matter.
    let reordered: Value = serde_json::from_str(
        r#"{ "max_tokens": 50.0, "temperature": 0.2,
             "messages": [{"content": "Say hi", "role": "user"}], "model": "gpt-4o-mini" }"#,
    )
    .unwrap();
    assert_eq!(key(&reordered), base);
    // Delivery and bookkeeping fields are ignored.
    let mut b = body();
    for field in IGNORED_FIELDS {
        b[*field] = json!({"x": 1});
    }
    b["stream"] = json!(true);
    b["stream_options"] = json!({"include_usage": true});
    b["user"] = json!("someone");
    assert_eq!(key(&b), base);
    // Everything else counts.
    for (field, value) in [
        ("n", json!(2)),
        ("seed", json!(7)),
        ("temperature", json!(0.3)),
        ("max_tokens", json!(51)),
        ("tools", json!([])),
        ("response_format", json!({"type": "json_object"})),
        ("logprobs", json!(true)),
    ] {
        let mut b = body();
        b[field] = value;
        assert_ne!(key(&b), base, "{field} changes the answer");
    }
    let mut b = body();
    b["messages"][0]["content"] = json!("Say hello");
    assert_ne!(key(&b), base);
    // Nested objects are sorted too; arrays keep their order.
    let mut b = body();
    b["messages"] = json!([{"role": "user", "content": "a"}, {"role": "user", "content": "b"}]);
    let mut c = body();
    c["messages"] = json!([{"role": "user", "content": "b"}, {"role": "user", "content": "a"}]);
    assert_ne!(key(&b), key(&c));
    assert_eq!(
        canonical_body(
            &json!({"b": [{"y": 1, "x": 2.50}], "a": null, "stream": false}),
            &[]
        ),
        r#"{"a":null,"b":[{"x":2.5,"y":1}]}"#
    );
}

#[test]
fn org_model_seed_and_ignore_keys() {
    let b = body();
    let k = |org, model, ignore, seed| cache_key(org, model, &b, ignore, seed);
    let base = k("org-1", "gpt-4o-mini", None, None);
    assert_ne!(
        k("org-2", "gpt-4o-mini", None, None),
        base,
        "orgs never share"
    );
    assert_ne!(
        k("org-1", "gpt-4o-mini/openai", None, None),
        base,
        "the model string counts"
    );
    assert_ne!(k("org-1", "gpt-4o-mini", None, Some("a")), base);
    assert_ne!(
        k("org-1", "gpt-4o-mini", None, Some("")),
        base,
        "empty seed is still a seed"
    );
    assert_ne!(
        k("org-1", "gpt-4o-mini", None, Some("a")),
        k("org-1", "gpt-4o-mini", None, Some("b"))
    );
    assert_eq!(
        k("org-1", "gpt-4o-mini", None, Some("a")),
        k("org-1", "gpt-4o-mini", None, Some("a"))
    );
    // No framing ambiguity between the parts.
    assert_ne!(
        cache_key("ab", "c", &b, None, None),
        cache_key("a", "bc", &b, None, None)
    );

    // Ignore-keys drops the named top-level fields (comma list, spaces allowed).
    let mut other = body();
    other["temperature"] = json!(0.9);
    other["max_tokens"] = json!(7);
    let ignore = Some(" temperature , max_tokens,");
    assert_eq!(
        cache_key("org-1", "gpt-4o-mini", &other, ignore, None),
        cache_key("org-1", "gpt-4o-mini", &b, ignore, None)
    );
    assert_ne!(
        cache_key("org-1", "gpt-4o-mini", &other, Some("temperature"), None),
        cache_key("org-1", "gpt-4o-mini", &b, Some("temperature"), None)
    );
    // Only top-level names: a nested `content` is not removed.
    assert_ne!(
        cache_key(
            "org-1",
            "gpt-4o-mini",
            &json!({"m": {"content": 1}}),
            Some("content"),
            None
        ),
        cache_key(
            "org-1",
            "gpt-4o-mini",
            &json!({"m": {}}),
            Some("content"),
            None
        )
    );
}

#[test]
fn cache_control_sets_the_ttl() {
    let cc = |h| cache_control(h, 7 * DAY, 30 * DAY);
    let store = |ttl| CacheControl {
        lookup: true,
        store_ttl: Some(ttl),
    };
    assert_eq!(cc(None), store(7 * DAY));
    assert_eq!(cc(Some("max-age=60")), store(Duration::from_secs(60)));
    assert_eq!(
        cc(Some("public, Max-Age=\"3600\"")),
        store(Duration::from_secs(3600))
    );
    assert_eq!(cc(Some("max-age=99999999")), store(30 * DAY), "bounded");
    assert_eq!(
        cc(Some("max-age=abc")),
        store(7 * DAY),
        "a malformed max-age is ignored"
    );
    assert_eq!(
        cc(Some("max-age=0")),
        CacheControl {
            lookup: true,
            store_ttl: None
        }
    );
    assert_eq!(
        cc(Some("no-store")),
        CacheControl {
            lookup: false,
            store_ttl: None
        }
    );
    assert_eq!(
        cc(Some("max-age=60, NO-STORE")),
        CacheControl {
            lookup: false,
            store_ttl: None
        }
    );
    assert_eq!(
        cc(Some("no-cache")),
        CacheControl {
            lookup: false,
            store_ttl: Some(7 * DAY)
        },
        "no-cache: fetch fresh, store it"
    );
}

#[test]
fn stored_values_round_trip() {
    let a = answer("hello");
    let bytes = encode(&a);
    assert_eq!(decode(&bytes), Some(a));
    assert_eq!(decode(b"not ours"), None);
    assert_eq!(decode(&bytes[..10]), None, "truncated");
}

#[tokio::test]
async fn in_process_hits_misses_and_ttl() {
    let metrics = Arc::new(GovernanceMetrics::default());
    let cache = ResponseCache::in_process(1 << 20, 1 << 16, metrics.clone());
    let k = cache_key("org", "m", &body(), None, None);
    assert!(cache.get(&k).await.is_none());
    assert!(cache.put(&k, answer("hi"), Duration::from_secs(60)).await);
    let hit = cache.get(&k).await.unwrap();
    assert_eq!(*hit, answer_with_time(hit.stored_at, "hi"));
    assert_eq!(hit.cost_nanos, Some(4_500));
    let other = cache_key("org", "m", &body(), None, Some("seed"));
    assert!(cache.get(&other).await.is_none());

    // A 1 s TTL expires (moka's own clock).
    let short = cache_key("org", "short", &body(), None, None);
    assert!(
        cache
            .put(&short, answer("x"), Duration::from_millis(1))
            .await
    );
    assert!(cache.get(&short).await.is_some(), "stored for at least 1 s");
    tokio::time::sleep(Duration::from_millis(1300)).await;
    assert!(cache.get(&short).await.is_none(), "expired");
    assert!(cache.get(&k).await.is_some(), "the 60 s entry lives on");

    // Too large for one entry.
    let mut big = answer("x");
    big.body = vec![b' '; 1 << 17].into();
    assert!(!cache.put(&k, big, Duration::from_secs(60)).await);
    assert_eq!(
        metrics.cache_lookups.get_or_create(&outcome("hit")).get(),
        3
    );
    assert_eq!(
        metrics
            .cache_stores
            .get_or_create(&outcome("too_large"))
            .get(),
        1
    );
}

fn outcome(o: &'static str) -> switchyard_server::governance::metrics::OutcomeLabels {
    switchyard_server::governance::metrics::OutcomeLabels { outcome: o }
}

fn answer_with_time(at: i64, text: &str) -> CachedAnswer {
    CachedAnswer {
        stored_at: at,
        ..answer(text)
    }
}

#[tokio::test]
async fn in_process_memory_is_bounded_by_bytes() {
    let cache = ResponseCache::in_process(200_000, 1 << 20, Arc::new(GovernanceMetrics::default()));
    for i in 0..100 {
        let mut a = answer("x");
        a.body = vec![b'x'; 10_000].into();
        let k = cache_key("org", &format!("m{i}"), &body(), None, None);
        cache.put(&k, a, Duration::from_secs(600)).await;
    }
    let size = cache.local_weighted_size();
    assert!(size <= 200_000, "{size}");
    assert!(size >= 100_000, "still holds entries: {size}");
}

#[tokio::test]
async fn an_entry_holds_its_own_bytes_not_the_buffer_it_was_cut_from() {
    // hyper hands body chunks out as slices of its 8 KiB+ read buffer: an entry that kept such
    // a slice would pin the whole buffer while the weigher counts only the slice.
    let cache = ResponseCache::in_process(1 << 20, 1 << 20, Arc::new(GovernanceMetrics::default()));
    let buffer = bytes::Bytes::from(vec![b'x'; 64 * 1024]);
    let mut a = answer("x");
    a.body = buffer.slice(100..1_100);
    let k = cache_key("org", "m", &body(), None, None);
    assert!(cache.put(&k, a.clone(), Duration::from_secs(60)).await);
    let hit = cache.get(&k).await.expect("stored");
    assert_eq!(hit.body, a.body, "the same bytes");
    let stored = hit.body.as_ptr_range();
    let whole = buffer.as_ptr_range();
    assert!(
        stored.end <= whole.start || stored.start >= whole.end,
        "the entry points into the 64 KiB buffer it was cut from"
    );
}

#[tokio::test]
async fn redis_cache_is_shared_and_expires() {
    let p = prefix("cache");
    let writer = ResponseCache::redis(handle(REDIS_URL, &p), 1 << 20);
    let reader = ResponseCache::redis(handle(REDIS_URL, &p), 1 << 20);
    let k = cache_key("org", "gpt-4o-mini", &body(), None, None);
    assert!(reader.get(&k).await.is_none());
    let a = answer("shared");
    assert!(writer.put(&k, a.clone(), Duration::from_secs(120)).await);
    let hit = reader
        .get(&k)
        .await
        .expect("written by one, a hit for the other");
    assert_eq!(*hit, a);

    let rk = format!("{p}cache:{}", k.hex());
    let ttl: i64 = redis_cmd(REDIS_URL, &["TTL", &rk]);
    assert!((118..=120).contains(&ttl), "EX from max-age: {ttl}");
    // Sub-second TTLs round up to the 1 s Redis minimum rather than "forever".
    let k2 = cache_key("org", "other", &body(), None, None);
    assert!(writer.put(&k2, a.clone(), Duration::from_millis(10)).await);
    let ttl: i64 = redis_cmd(REDIS_URL, &["TTL", &format!("{p}cache:{}", k2.hex())]);
    assert!((0..=1).contains(&ttl), "{ttl}");

    // A value that is not ours is a miss, not an error.
    let k3 = cache_key("org", "corrupt", &body(), None, None);
    let _: () = redis_cmd(
        REDIS_URL,
        &["SET", &format!("{p}cache:{}", k3.hex()), "junk", "EX", "60"],
    );
    assert!(reader.get(&k3).await.is_none());
}
