//! The in-process rate limiter on a simulated clock: exact token-bucket counts (checked against
//! an exact integer model), several policies, tokens and cents debt, scopes, eviction,
//! concurrency and the response headers.

use std::sync::Arc;

use http::HeaderMap;
use switchyard_server::governance::bucket::ManualClock;
use switchyard_server::governance::{GovernanceMetrics, Policy, RateLimiter, Scope, Spent};

const T0: i64 = 1_700_000_000_000_000;

fn limiter() -> (RateLimiter, Arc<ManualClock>) {
    let clock = Arc::new(ManualClock::new(T0));
    let l = RateLimiter::in_process_with_clock(
        clock.clone(),
        100_000,
        Arc::new(GovernanceMetrics::default()),
    );
    (l, clock)
}

fn policies(text: &str) -> Vec<Policy> {
    Policy::parse_list(text).unwrap()
}

fn scope<'a>(org: &'a str, user: Option<&'a str>) -> Scope<'a> {
    Scope {
        org,
        key: "key-1",
        user,
        properties: &[],
    }
}

/// The same bucket in exact integer arithmetic: the level is kept in 1/(w·1000) units, so with
/// millisecond time steps a refill of `quota` per millisecond is exact.
struct ExactBucket {
    level: i128,
    cap: i128,
    unit: i128,
    quota: i128,
}

impl ExactBucket {
    fn new(quota: i128, w: i128) -> ExactBucket {
        ExactBucket {
            level: quota * w * 1000,
            cap: quota * w * 1000,
            unit: w * 1000,
            quota,
        }
    }
    fn take(&mut self, elapsed_ms: i128) -> bool {
        self.level = (self.level + self.quota * elapsed_ms).min(self.cap);
        if self.level >= self.unit {
            self.level -= self.unit;
            true
        } else {
            false
        }
    }
}

#[tokio::test]
async fn counts_match_an_exact_token_bucket_over_simulated_time() {
    for (quota, w) in [(20, 60), (7, 60), (1000, 3600), (3, 86_400), (60, 60)] {
        let (l, clock) = limiter();
        let ps = policies(&format!("{quota};w={w}"));
        let mut exact = ExactBucket::new(quota, w);
        let mut seed: u64 = 0x9E37_79B9_7F4A_7C15 ^ quota as u64;
        let (mut allowed, mut exact_allowed) = (0, 0);
        for step in 0..6000 {
            // Gaps of 0..4 s, a third of them 0 (bursts).
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let gap = if seed >> 62 == 0 {
                0
            } else {
                ((seed >> 33) % 4000) as i64
            };
            clock.advance_ms(gap);
            let d = l.check(&ps, &scope("org", None)).await.unwrap();
            let e = exact.take(gap as i128);
            assert_eq!(d.allowed, e, "{quota};w={w}: step {step} (gap {gap} ms)");
            allowed += d.allowed as u32;
            exact_allowed += e as u32;
        }
        assert_eq!(allowed, exact_allowed);
        assert!(allowed > 0);
    }
}

#[tokio::test]
async fn burst_then_one_per_refill_interval() {
    let (l, clock) = limiter();
    let ps = policies("20;w=60");
    let s = scope("org", None);
    for i in 0..20 {
        let d = l.check(&ps, &s).await.unwrap();
        assert!(d.allowed, "request {i}");
        assert_eq!(d.remaining, 19 - i);
    }
    let d = l.check(&ps, &s).await.unwrap();
    assert!(!d.allowed);
    assert_eq!(
        (d.remaining, d.retry_after_secs, d.reset_secs),
        (0, Some(3), 60)
    );
    assert_eq!(d.policy, "20;w=60");
    clock.advance_ms(2_999);
    assert!(
        !l.check(&ps, &s).await.unwrap().allowed,
        "a refused check takes nothing"
    );
    clock.advance_ms(1);
    assert!(l.check(&ps, &s).await.unwrap().allowed, "one unit per 3 s");
    assert!(!l.check(&ps, &s).await.unwrap().allowed);
    // A full window refills the whole bucket, never more.
    clock.advance_ms(3_600_000);
    let passed = futures::future::join_all((0..30).map(|_| l.check(&ps, &s)))
        .await
        .into_iter()
        .filter(|d| d.as_ref().unwrap().allowed)
        .count();
    assert_eq!(passed, 20);
}

#[tokio::test]
async fn the_strictest_policy_applies_and_refusals_take_nothing() {
    let (l, clock) = limiter();
    let ps = policies("3;w=60, 10;w=3600");
    let s = scope("org", None);
    let d = l.check(&ps, &s).await.unwrap();
    assert!(d.allowed);
    assert_eq!(
        (d.policy.as_str(), d.remaining),
        ("3;w=60", 2),
        "smallest share left"
    );
    assert!(l.check(&ps, &s).await.unwrap().allowed);
    assert!(l.check(&ps, &s).await.unwrap().allowed);
    for _ in 0..2 {
        let d = l.check(&ps, &s).await.unwrap();
        assert!(!d.allowed);
        assert_eq!(
            (d.policy.as_str(), d.retry_after_secs),
            ("3;w=60", Some(20))
        );
    }
    // Hourly: 10 - 3 taken (the two refusals took nothing) + 1/6 per minute.
    clock.advance_ms(60_000);
    for _ in 0..3 {
        assert!(l.check(&ps, &s).await.unwrap().allowed);
    }
    clock.advance_ms(60_000);
    for _ in 0..3 {
        assert!(l.check(&ps, &s).await.unwrap().allowed);
    }
    // Hourly is at 10 - 9 + 3/6 = 1.5: one more, then the hourly policy refuses.
    clock.advance_ms(60_000);
    let d = l.check(&ps, &s).await.unwrap();
    assert!(d.allowed);
    assert_eq!((d.policy.as_str(), d.remaining), ("10;w=3600", 0));
    let d = l.check(&ps, &s).await.unwrap();
    assert!(!d.allowed);
    assert_eq!(d.policy, "10;w=3600");
    // 0.5 left, 1 needed, 1/360 per second: 180 s.
    assert_eq!(d.retry_after_secs, Some(180));
}

#[tokio::test]
async fn tokens_and_cents_are_checked_before_and_deducted_after() {
    let (l, clock) = limiter();
    let ps = policies("1000;w=60;u=tokens, 5;w=3600;u=cents, 100;w=60");
    let s = scope("org", None);
    let d = l.check(&ps, &s).await.unwrap();
    assert!(d.allowed);
    l.deduct(
        &ps,
        &s,
        Spent {
            tokens: 1500,
            cost_nanos: 30_000_000,
        },
    )
    .await;
    let d = l.check(&ps, &s).await.unwrap();
    assert!(!d.allowed, "500 tokens of debt");
    assert_eq!(d.policy, "1000;w=60;u=tokens");
    assert_eq!((d.remaining, d.retry_after_secs), (0, Some(31)));
    clock.advance_ms(30_000);
    assert!(
        !l.check(&ps, &s).await.unwrap().allowed,
        "debt just repaid: 0 left"
    );
    clock.advance_ms(1_000);
    let d = l.check(&ps, &s).await.unwrap();
    assert!(d.allowed);
    // The request bucket refilled during the 31 s, then lost one unit to the allowed check and
    // one to this one: a deduction never touches it.
    assert_eq!(
        l.check(&policies("100;w=60"), &s).await.unwrap().remaining,
        98
    );

    // Cents: 2 + 31 s of refill (5 an hour) left; spending 3.0001 more leaves a debt of
    // 1.0001 - 31/720 cents, repaid in 720.072 - 31 s.
    let cents = policies("5;w=3600;u=cents");
    l.deduct(
        &cents,
        &s,
        Spent {
            tokens: 0,
            cost_nanos: 30_001_000,
        },
    )
    .await;
    let d = l.check(&cents, &s).await.unwrap();
    assert!(!d.allowed);
    assert_eq!(
        d.retry_after_secs,
        Some(690),
        "the first whole second after 689.072 s"
    );
    // Nothing used, nothing deducted.
    l.deduct(&ps, &s, Spent::default()).await;
    assert_eq!(
        l.check(&policies("100;w=60"), &s).await.unwrap().remaining,
        97
    );
}

#[tokio::test]
async fn scopes_keep_buckets_apart() {
    let (l, _clock) = limiter();
    let user = policies("2;w=60;s=user");
    for u in ["alice", "bob"] {
        for _ in 0..2 {
            assert!(
                l.check(&user, &scope("org", Some(u)))
                    .await
                    .unwrap()
                    .allowed,
                "{u}"
            );
        }
        assert!(
            !l.check(&user, &scope("org", Some(u)))
                .await
                .unwrap()
                .allowed,
            "{u}"
        );
    }
    // No user id: one shared bucket, so leaving the header out escapes nothing.
    assert!(l.check(&user, &scope("org", None)).await.unwrap().allowed);
    assert!(l.check(&user, &scope("org", None)).await.unwrap().allowed);
    assert!(!l.check(&user, &scope("org", None)).await.unwrap().allowed);
    // Another org's alice has her own bucket; so does a long or odd user id.
    assert!(
        l.check(&user, &scope("org2", Some("alice")))
            .await
            .unwrap()
            .allowed
    );
    let odd = "a user id with spaces: and {braces}";
    assert!(
        l.check(&user, &scope("org", Some(odd)))
            .await
            .unwrap()
            .allowed
    );

    let key = policies("1;w=60;s=key");
    let k = |key| Scope {
        org: "org",
        key,
        user: None,
        properties: &[],
    };
    assert!(l.check(&key, &k("k1")).await.unwrap().allowed);
    assert!(!l.check(&key, &k("k1")).await.unwrap().allowed);
    assert!(l.check(&key, &k("k2")).await.unwrap().allowed);

    let team = policies("1;w=60;s=Team");
    let props_a = [("TEAM".to_string(), "a".to_string())];
    let props_b = [("team".to_string(), "b".to_string())];
    let p = |props| Scope {
        org: "org",
        key: "k",
        user: None,
        properties: props,
    };
    assert!(l.check(&team, &p(&props_a)).await.unwrap().allowed);
    assert!(!l.check(&team, &p(&props_a)).await.unwrap().allowed);
    assert!(l.check(&team, &p(&props_b)).await.unwrap().allowed);

    let org = policies("1;w=60");
    assert!(
        l.check(&org, &scope("o1", Some("x")))
            .await
            .unwrap()
            .allowed
    );
    assert!(
        !l.check(&org, &scope("o1", Some("y")))
            .await
            .unwrap()
            .allowed,
        "org-wide"
    );
    assert!(
        l.check(&org, &scope("o2", Some("x")))
            .await
            .unwrap()
            .allowed
    );
}

#[tokio::test]
async fn full_buckets_are_forgotten() {
    let (l, clock) = limiter();
    let ps = policies("10;w=60;s=user");
    let names: Vec<String> = (0..1000).map(|i| format!("u{i}")).collect();
    for n in &names {
        assert!(l.check(&ps, &scope("org", Some(n))).await.unwrap().allowed);
    }
    assert_eq!(l.local_bucket_count(), 1000);
    // A peek of an untouched bucket stores nothing.
    let tokens = policies("10;w=60;u=tokens;s=user");
    assert!(
        l.check(&tokens, &scope("org", Some("new")))
            .await
            .unwrap()
            .allowed
    );
    assert_eq!(l.local_bucket_count(), 1000);
    // After a window every old bucket is full again; the next step in each shard sweeps it.
    clock.advance_ms(61_000);
    let fresh: Vec<String> = (0..3200).map(|i| format!("v{i}")).collect();
    for n in &fresh {
        assert!(l.check(&ps, &scope("org", Some(n))).await.unwrap().allowed);
    }
    assert_eq!(
        l.local_bucket_count(),
        3200,
        "only the fresh buckets remain"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_checks_never_exceed_the_bucket() {
    let (l, _clock) = limiter();
    let l = Arc::new(l);
    let ps = Arc::new(policies("50;w=60, 70;w=60;s=user"));
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let (l, ps) = (l.clone(), ps.clone());
            tokio::spawn(async move {
                let mut n = 0;
                for _ in 0..100 {
                    n += l
                        .check(&ps, &scope("org", Some("u")))
                        .await
                        .unwrap()
                        .allowed as u32;
                }
                n
            })
        })
        .collect();
    let mut allowed = 0;
    for t in tasks {
        allowed += t.await.unwrap();
    }
    assert_eq!(allowed, 50, "the clock is frozen: exactly the capacity");
    // The user bucket was charged only for allowed checks: 70 - 50.
    let d = l
        .check(&policies("70;w=60;s=user"), &scope("org", Some("u")))
        .await
        .unwrap();
    assert_eq!(d.remaining, 19);
}

#[tokio::test]
async fn headers_of_every_answer() {
    let (l, _clock) = limiter();
    let ps = policies("2;w=60;s=user");
    assert!(
        l.check(&[], &scope("org", None)).await.is_none(),
        "no policy, no headers"
    );
    let mut h = HeaderMap::new();
    l.check(&ps, &scope("org", Some("u")))
        .await
        .unwrap()
        .apply_headers(&mut h);
    assert_eq!(h["x-switchyard-ratelimit-limit"], "2");
    assert_eq!(h["x-switchyard-ratelimit-remaining"], "1");
    assert_eq!(h["x-switchyard-ratelimit-reset"], "30");
    assert_eq!(h["x-switchyard-ratelimit-policy"], "2;w=60;s=user");
    assert!(h.get("retry-after").is_none());
    l.check(&ps, &scope("org", Some("u"))).await.unwrap();
    let d = l.check(&ps, &scope("org", Some("u"))).await.unwrap();
    assert!(!d.allowed && !d.fail_open);
    let mut h = HeaderMap::new();
    d.apply_headers(&mut h);
    assert_eq!(h["x-switchyard-ratelimit-remaining"], "0");
    assert_eq!(h["x-switchyard-ratelimit-reset"], "60");
    assert_eq!(h["retry-after"], "30");
    let cents = policies("0.5;w=60;u=cents");
    let mut h = HeaderMap::new();
    l.check(&cents, &scope("org", None))
        .await
        .unwrap()
        .apply_headers(&mut h);
    assert_eq!(h["x-switchyard-ratelimit-limit"], "0.5");
}

#[test]
fn spent_from_usage_counts_prompt_and_completion() {
    let mut u = switchyard_cost::Usage::tokens(100, 20);
    u.cache_read = Some(30);
    let s = Spent::from_usage(&u, Some(1_234));
    assert_eq!(
        s,
        Spent {
            tokens: 150,
            cost_nanos: 1_234
        }
    );
    assert_eq!(
        Spent::from_usage(&switchyard_cost::Usage::default(), None),
        Spent::default()
    );
}
