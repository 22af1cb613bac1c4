//! The Redis rate limiter on the machine's Redis (127.0.0.1:6379, a unique key prefix per
//! test): shared limits across independent instances under concurrency, refill, tokens debt,
//! the key layout, agreement with the in-process backend, and failing open when Redis is
//! unreachable or restarts.

mod governance_util;

use std::sync::Arc;
use std::time::{Duration, Instant};

use governance_util::*;
use switchyard_server::governance::bucket::ManualClock;
use switchyard_server::governance::ratelimit::bucket_key;
use switchyard_server::governance::{
    CachedAnswer, Governance, GovernanceMetrics, Policy, RateLimiter, ResponseCache, Scope, Spent,
};

fn policies(text: &str) -> Vec<Policy> {
    Policy::parse_list(text).unwrap()
}

fn scope(org: &str) -> Scope<'_> {
    Scope {
        org,
        key: "key-1",
        user: Some("alice"),
        properties: &[],
    }
}

/// Upper bound of what a bucket can let through in `elapsed`: its capacity plus the refill.
fn bound(quota: f64, w: f64, elapsed: Duration) -> u32 {
    (quota + (elapsed.as_secs_f64() * quota / w).ceil()) as u32
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_instances_share_one_limit_under_concurrency() {
    let p = prefix("share");
    // Two limiters with their own connections: as two gateway processes would be.
    let a = Arc::new(RateLimiter::redis(handle(REDIS_URL, &p)));
    let b = Arc::new(RateLimiter::redis(handle(REDIS_URL, &p)));
    let ps = Arc::new(policies("50;w=3600, 80;w=3600;s=user"));
    let start = Instant::now();
    let tasks: Vec<_> = (0..16)
        .map(|i| {
            let l = if i % 2 == 0 { a.clone() } else { b.clone() };
            let ps = ps.clone();
            tokio::spawn(async move {
                let s = scope("org-share");
                let checks = (0..25).map(|_| l.check(&ps, &s));
                futures::future::join_all(checks)
                    .await
                    .into_iter()
                    .map(|d| {
                        let d = d.unwrap();
                        assert!(!d.fail_open, "Redis is up");
                        d.allowed as u32
                    })
                    .sum::<u32>()
            })
        })
        .collect();
    let mut allowed = 0;
    for t in tasks {
        allowed += t.await.unwrap();
    }
    let elapsed = start.elapsed();
    eprintln!(
        "two instances, 400 concurrent checks: {allowed} passed in {elapsed:?} (bucket allows {})",
        bound(50.0, 3600.0, elapsed)
    );
    // 400 checks on a bucket of 50 that refills 1 per 72 s.
    assert!(allowed >= 50, "the first 50 must pass: {allowed}");
    assert!(
        allowed <= bound(50.0, 3600.0, elapsed),
        "{allowed} passed in {elapsed:?}"
    );
    // The user bucket was charged only for the passed checks.
    let d = a
        .check(&policies("80;w=3600;s=user"), &scope("org-share"))
        .await
        .unwrap();
    let charged = 80 - u64::from(allowed) - 1;
    let refill = u64::from(bound(80.0, 3600.0, start.elapsed())) - 80;
    assert!(
        (charged..=charged + refill).contains(&d.remaining),
        "{} left after {allowed} passed",
        d.remaining
    );
}

#[tokio::test]
async fn refill_follows_redis_time() {
    let p = prefix("refill");
    let l = RateLimiter::redis(handle(REDIS_URL, &p));
    let ps = policies("600;w=60"); // 10 per second
    let start = Instant::now();
    let s = scope("org");
    let first: u32 = futures::future::join_all((0..650).map(|_| l.check(&ps, &s)))
        .await
        .into_iter()
        .map(|d| d.unwrap().allowed as u32)
        .sum();
    assert!(
        first >= 600 && first <= bound(600.0, 60.0, start.elapsed()),
        "{first}"
    );
    tokio::time::sleep(Duration::from_millis(400)).await;
    let mut second = 0;
    while l.check(&ps, &scope("org")).await.unwrap().allowed {
        second += 1;
        assert!(second < 1000, "the bucket must run dry");
    }
    // At least the refill of the sleep; in all, at most the capacity plus the refill since
    // the burst began.
    assert!(second >= 4, "400 ms at 10/s: {second}");
    assert!(
        first + second <= bound(600.0, 60.0, start.elapsed()),
        "{first} + {second} in {:?}",
        start.elapsed()
    );
}

#[tokio::test]
async fn tokens_debt_and_the_key_layout() {
    let p = prefix("layout");
    let h = handle(REDIS_URL, &p);
    let l = RateLimiter::redis(h.clone());
    let ps = policies("1000;w=3600;u=tokens;s=user");
    let s = scope("org-7");
    let key = bucket_key(&p, &ps[0], &s);
    assert_eq!(
        key,
        format!("{p}rl:{{org-7}}:1000;w=3600;u=tokens;s=user:valice")
    );

    let d = l.check(&ps, &s).await.unwrap();
    assert!(d.allowed && d.remaining == 1000);
    let exists: bool = redis_cmd(REDIS_URL, &["EXISTS", &key]);
    assert!(!exists, "a peek of a full bucket stores nothing");

    l.deduct(
        &ps,
        &s,
        Spent {
            tokens: 1500,
            cost_nanos: 0,
        },
    )
    .await;
    let d = l.check(&ps, &s).await.unwrap();
    assert!(!d.allowed);
    assert_eq!(d.remaining, 0);
    // 500 tokens of debt at 1000 per hour: 1800 s (Redis time moved a little since).
    let retry = d.retry_after_secs.unwrap();
    assert!((1799..=1801).contains(&retry), "{retry}");
    let level: f64 = redis_cmd::<String>(REDIS_URL, &["HGET", &key, "l"])
        .parse()
        .unwrap();
    assert!((-500.0..-499.0).contains(&level), "{level}");
    let t: i64 = redis_cmd::<String>(REDIS_URL, &["HGET", &key, "t"])
        .parse()
        .unwrap();
    assert!(t > 1_600_000_000_000_000, "microseconds of Redis TIME: {t}");
    // Expires when full again: 1500 tokens short at 1000/h, plus 1 s.
    let pttl: i64 = redis_cmd(REDIS_URL, &["PTTL", &key]);
    assert!(pttl > 5_300_000 && pttl <= 5_401_000, "{pttl}");

    // A request bucket expires within its window.
    let rq = policies("20;w=60");
    l.check(&rq, &s).await.unwrap();
    let pttl: i64 = redis_cmd(REDIS_URL, &["PTTL", &bucket_key(&p, &rq[0], &s)]);
    assert!(
        pttl > 0 && pttl <= 4_000,
        "1 of 20 at 20/min: 3 s + 1 s: {pttl}"
    );
}

#[tokio::test]
async fn redis_and_in_process_decide_alike() {
    let p = prefix("alike");
    let redis = RateLimiter::redis(handle(REDIS_URL, &p));
    let local = RateLimiter::in_process_with_clock(
        Arc::new(ManualClock::new(1_700_000_000_000_000)),
        1000,
        Arc::new(GovernanceMetrics::default()),
    );
    // Slow refill, so the milliseconds Redis time moves cannot change a verdict.
    let ps = policies("20;w=86400, 5;w=86400;u=tokens, 12;w=86400;s=user");
    let s = scope("org");
    for i in 0..30 {
        let (r, l) = (
            redis.check(&ps, &s).await.unwrap(),
            local.check(&ps, &s).await.unwrap(),
        );
        assert_eq!(
            (
                r.allowed,
                &r.policy,
                r.remaining,
                r.retry_after_secs.map(|x| x / 60)
            ),
            (
                l.allowed,
                &l.policy,
                l.remaining,
                l.retry_after_secs.map(|x| x / 60)
            ),
            "check {i}"
        );
        if i == 3 {
            for lim in [&redis, &local] {
                lim.deduct(
                    &ps,
                    &s,
                    Spent {
                        tokens: 4,
                        cost_nanos: 0,
                    },
                )
                .await;
            }
        }
    }
}

#[tokio::test]
async fn fails_open_when_redis_is_unreachable() {
    let url = format!("redis://127.0.0.1:{}", closed_port());
    let p = prefix("down");
    // A long breaker, so every call below sees Redis as down however slow the machine is.
    let mut c = config(&p);
    c.redis_retry_ms = 60_000;
    let g = Governance::new(&c, Some(&url)).unwrap();
    let ps = policies("1;w=60");
    for _ in 0..5 {
        let d = g.limiter.check(&ps, &scope("org")).await.unwrap();
        assert!(d.allowed && d.fail_open, "{d:?}");
        assert_eq!(d.policy, "1;w=60");
    }
    g.limiter
        .deduct(
            &policies("1;w=60;u=tokens"),
            &scope("org"),
            Spent {
                tokens: 5,
                cost_nanos: 0,
            },
        )
        .await;
    let key =
        switchyard_server::governance::cache_key("org", "m", &serde_json::json!({}), None, None);
    assert!(g.cache.get(&key).await.is_none());
    let answer = CachedAnswer::new("{}".into(), Default::default(), None, "p", "m");
    assert!(!g.cache.put(&key, answer, Duration::from_secs(60)).await);
    assert!(g.ready().await.is_err());
    assert!(g.failing_open());

    let mut registry = prometheus_client::registry::Registry::with_prefix("switchyard");
    g.metrics.register(&mut registry);
    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
    assert!(
        text.contains("switchyard_ratelimit_checks_total{outcome=\"fail_open\"} 5"),
        "{text}"
    );
    assert!(
        text.contains("switchyard_cache_lookups_total{outcome=\"fail_open\"} 1"),
        "{text}"
    );
    assert!(
        text.contains("switchyard_cache_stores_total{outcome=\"fail_open\"} 1"),
        "{text}"
    );
    assert!(
        text.contains("switchyard_governance_fail_open_total{component=\"ratelimit\"} 6"),
        "{text}"
    );
    assert!(text.contains("switchyard_redis_up 0"), "{text}");
    assert!(text.contains("switchyard_bus_connected 0"), "{text}");
    assert!(!text.contains(&url), "no URL in metrics");
}

#[tokio::test]
async fn recovers_when_redis_comes_back() {
    let mut server = PrivateRedis::start();
    let p = prefix("restart");
    let g = Governance::new(&config(&p), Some(&server.url())).unwrap();
    assert!(g.ready().await.is_ok());
    let ps = policies("2;w=3600");
    assert!(!g.limiter.check(&ps, &scope("org")).await.unwrap().fail_open);

    server.stop();
    let d = g.limiter.check(&ps, &scope("org")).await.unwrap();
    assert!(d.allowed && d.fail_open);
    assert!(g.ready().await.is_err());

    server.restart();
    // The breaker retries after redis_retry_ms; the connection manager reconnects.
    let back = eventually(Duration::from_secs(10), async || {
        !g.limiter.check(&ps, &scope("org")).await.unwrap().fail_open
    })
    .await;
    assert!(back, "rate limits are shared again after Redis restarts");
    assert!(g.ready().await.is_ok());
    assert!(!g.failing_open());
    // The restarted Redis lost its buckets (no persistence): a fresh bucket of 2, one taken.
    let d = g.limiter.check(&ps, &scope("org")).await.unwrap();
    assert!(d.allowed && !d.fail_open);
    assert!(!g.limiter.check(&ps, &scope("org")).await.unwrap().allowed);

    // The cache works again too.
    let cache = ResponseCache::redis(handle(&server.url(), &p), 1024);
    let key =
        switchyard_server::governance::cache_key("org", "m", &serde_json::json!({}), None, None);
    let answer = CachedAnswer::new("{}".into(), Default::default(), None, "p", "m");
    assert!(cache.put(&key, answer, Duration::from_secs(60)).await);
    assert!(cache.get(&key).await.is_some());
}
