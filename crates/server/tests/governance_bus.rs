//! The invalidation bus: the wire format, in-process delivery and lag, delivery across two
//! Redis connections and from another process (`redis-cli`), no echo of one's own messages,
//! a `Resync` after Redis restarts, and local delivery while Redis is down.

mod governance_util;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use governance_util::*;
use switchyard_server::governance::{
    Bus, Governance, GovernanceMetrics, Invalidation, Subscription,
};
use switchyard_store::{KeyId, OrgId};

fn bus(url: &str, prefix: &str) -> Bus {
    bus_with_metrics(url, prefix).0
}

fn bus_with_metrics(url: &str, prefix: &str) -> (Bus, Arc<GovernanceMetrics>) {
    let c = config(prefix);
    let metrics = Arc::new(GovernanceMetrics::default());
    let h = switchyard_server::governance::RedisHandle::new(url, &c, metrics.clone()).unwrap();
    let b = Bus::redis(
        h,
        &c.bus_channel,
        Duration::from_millis(c.bus_ping_interval_ms),
        Duration::from_millis(c.bus_max_backoff_ms),
    );
    (b, metrics)
}

async fn connected(b: &Bus) -> bool {
    eventually(Duration::from_secs(10), async || b.is_connected()).await
}

async fn next(sub: &mut Subscription) -> Invalidation {
    tokio::time::timeout(Duration::from_secs(10), sub.recv())
        .await
        .expect("a message within 10 s")
        .expect("the bus is alive")
}

/// Messages until (and with) `last`, skipping resyncs.
async fn until(sub: &mut Subscription, last: &Invalidation) -> Vec<Invalidation> {
    let mut got = Vec::new();
    loop {
        let m = next(sub).await;
        if m == Invalidation::Resync {
            continue;
        }
        let done = &m == last;
        got.push(m);
        if done {
            return got;
        }
    }
}

fn org(n: u128) -> OrgId {
    OrgId(uuid::Uuid::from_u128(n))
}

#[test]
fn wire_format() {
    let key = KeyId(uuid::Uuid::from_u128(1));
    let cases = [
        (
            Invalidation::GatewayKeyRevoked { key_id: key },
            r#"{"type":"gateway_key_revoked","key_id":"00000000-0000-0000-0000-000000000001"}"#,
        ),
        (
            Invalidation::ProviderKeysChanged { org_id: org(2) },
            r#"{"type":"provider_keys_changed","org_id":"00000000-0000-0000-0000-000000000002"}"#,
        ),
        (
            Invalidation::PolicyChanged {
                org_id: org(2),
                key_id: None,
            },
            r#"{"type":"policy_changed","org_id":"00000000-0000-0000-0000-000000000002"}"#,
        ),
        (
            Invalidation::PolicyChanged {
                org_id: org(2),
                key_id: Some(key),
            },
            r#"{"type":"policy_changed","org_id":"00000000-0000-0000-0000-000000000002","key_id":"00000000-0000-0000-0000-000000000001"}"#,
        ),
        (Invalidation::Resync, r#"{"type":"resync"}"#),
    ];
    for (msg, text) in cases {
        assert_eq!(serde_json::to_string(&msg).unwrap(), text);
        assert_eq!(serde_json::from_str::<Invalidation>(text).unwrap(), msg);
    }
}

#[tokio::test]
async fn in_process_delivery_and_lag() {
    let g = Governance::new(&config("unused:"), None).unwrap();
    assert_eq!(g.mode(), "in-process");
    assert!(g.ready().await.is_ok());
    assert!(g.bus.is_connected());
    let mut a = g.bus.subscribe();
    let mut b = g.bus.subscribe();
    let m = Invalidation::OrgChanged { org_id: org(5) };
    assert!(g.bus.publish(m.clone()).await);
    assert_eq!(next(&mut a).await, m);
    assert_eq!(next(&mut b).await, m);
    assert_eq!(a.try_recv(), None);

    // A listener that falls more than the buffer behind is told to resync.
    for i in 0..1100 {
        g.bus
            .publish(Invalidation::OrgChanged { org_id: org(i) })
            .await;
    }
    assert_eq!(next(&mut a).await, Invalidation::Resync);
    assert!(matches!(
        next(&mut a).await,
        Invalidation::OrgChanged { .. }
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn across_two_connections_without_echo() {
    let p = prefix("bus");
    let ((a, metrics_a), b) = (bus_with_metrics(REDIS_URL, &p), bus(REDIS_URL, &p));
    assert!(connected(&a).await && connected(&b).await);
    assert_eq!(a.channel(), Some(format!("{p}invalidate").as_str()));
    let (mut sa, mut sb) = (a.subscribe(), b.subscribe());

    // Latency of one message from one connection to the other.
    let mut lat = Vec::new();
    for i in 0..50 {
        let m = Invalidation::ProviderKeysChanged {
            org_id: org(1000 + i),
        };
        let t = Instant::now();
        assert!(a.publish(m.clone()).await);
        until(&mut sb, &m).await;
        lat.push(t.elapsed());
        until(&mut sa, &m).await;
    }
    lat.sort();
    eprintln!(
        "bus latency over Redis, 50 messages: p50 {:?}, p90 {:?}, max {:?}",
        lat[25], lat[45], lat[49]
    );

    let m1 = Invalidation::GatewayKeyRevoked {
        key_id: KeyId(uuid::Uuid::from_u128(7)),
    };
    let m2 = Invalidation::PolicyChanged {
        org_id: org(8),
        key_id: None,
    };
    let marker = Invalidation::OrgChanged { org_id: org(9) };
    assert!(a.publish(m1.clone()).await);
    assert!(b.publish(m2.clone()).await);
    assert!(a.publish(marker.clone()).await);
    let got_b = until(&mut sb, &marker).await;
    // Redis delivers in order on each connection: once `sync` from B reaches A, any echo of
    // A's own messages would have arrived before it.
    let sync = Invalidation::OrgChanged { org_id: org(10) };
    assert!(b.publish(sync.clone()).await);
    let got_a = until(&mut sa, &sync).await;
    let count = |v: &[Invalidation]| {
        let mut m: HashMap<String, u32> = HashMap::new();
        for x in v {
            *m.entry(serde_json::to_string(x).unwrap()).or_default() += 1;
        }
        m
    };
    let (ca, cb) = (count(&got_a), count(&got_b));
    assert_eq!(got_b.len(), 3, "{got_b:?}");
    for m in [&m1, &m2, &marker] {
        assert_eq!(
            cb[&serde_json::to_string(m).unwrap()],
            1,
            "B gets {m:?} once"
        );
        assert_eq!(
            ca[&serde_json::to_string(m).unwrap()],
            1,
            "A gets {m:?} once (no echo)"
        );
    }
    assert_eq!(got_a.len(), 4, "{got_a:?}");

    // Pings (every 200 ms here) keep a healthy subscription: no reconnects, no resyncs.
    tokio::time::sleep(Duration::from_millis(1000)).await;
    assert_eq!(metrics_a.bus_subscriptions.get(), 1);
    assert_eq!(sa.try_recv(), None, "no resync while connected");
    assert!(a.is_connected());
}

#[tokio::test]
async fn from_another_process() {
    let p = prefix("cli");
    let b = bus(REDIS_URL, &p);
    assert!(connected(&b).await);
    let mut sb = b.subscribe();
    let envelope = format!(
        r#"{{"from":"{}","msg":{{"type":"provider_keys_changed","org_id":"{}"}}}}"#,
        uuid::Uuid::new_v4(),
        org(42)
    );
    let t = Instant::now();
    let out = std::process::Command::new("redis-cli")
        .args(["-h", "127.0.0.1", "-p", "6379", "PUBLISH"])
        .arg(format!("{p}invalidate"))
        .arg(&envelope)
        .output()
        .expect("redis-cli (the Redis package) must be installed for this test");
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "1",
        "one subscriber: ours"
    );
    let m = Invalidation::ProviderKeysChanged { org_id: org(42) };
    until(&mut sb, &m).await;
    eprintln!(
        "bus: redis-cli process start + PUBLISH + delivery: {:?}",
        t.elapsed()
    );
    // Junk on the channel is skipped, not fatal.
    let _: i64 = redis_cmd(
        REDIS_URL,
        &["PUBLISH", &format!("{p}invalidate"), "not json"],
    );
    let _: i64 = redis_cmd(
        REDIS_URL,
        &["PUBLISH", &format!("{p}invalidate"), &envelope],
    );
    assert_eq!(next(&mut sb).await, m);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_of_redis_is_followed_by_a_resync() {
    let mut server = PrivateRedis::start();
    let p = prefix("resync");
    let b = bus(&server.url(), &p);
    assert!(connected(&b).await);
    let mut sub = b.subscribe();

    server.stop();
    assert!(eventually(Duration::from_secs(10), async || !b.is_connected()).await);
    // While Redis is down, this instance still hears its own changes.
    let local = Invalidation::OrgChanged { org_id: org(1) };
    assert!(!b.publish(local.clone()).await, "Redis did not take it");
    loop {
        let m = sub.try_recv().expect("delivered locally at once");
        if m == local {
            break;
        }
        assert_eq!(
            m,
            Invalidation::Resync,
            "only the first subscription's resync before"
        );
    }

    server.restart();
    assert_eq!(
        next(&mut sub).await,
        Invalidation::Resync,
        "flush: messages may be lost"
    );
    assert!(b.is_connected());
    let other = bus(&server.url(), &p);
    assert!(connected(&other).await);
    let m = Invalidation::GatewayKeyRevoked {
        key_id: KeyId(uuid::Uuid::from_u128(3)),
    };
    assert!(other.publish(m.clone()).await);
    assert_eq!(until(&mut sub, &m).await, vec![m]);

    // A killed subscription (not a restart) resyncs too.
    let killed: i64 = redis_cmd(&server.url(), &["CLIENT", "KILL", "TYPE", "pubsub"]);
    assert!(killed >= 1);
    assert_eq!(next(&mut sub).await, Invalidation::Resync);
}

#[tokio::test]
async fn redis_down_at_start_still_delivers_locally() {
    let metrics = Arc::new(GovernanceMetrics::default());
    let url = format!("redis://127.0.0.1:{}", closed_port());
    let p = prefix("nobus");
    let h = switchyard_server::governance::RedisHandle::new(&url, &config(&p), metrics.clone())
        .unwrap();
    let b = Bus::redis(
        h,
        "invalidate",
        Duration::from_millis(100),
        Duration::from_millis(100),
    );
    let mut sub = b.subscribe();
    let m = Invalidation::ProviderKeysChanged { org_id: org(1) };
    assert!(!b.publish(m.clone()).await);
    assert_eq!(next(&mut sub).await, m);
    assert!(!b.is_connected());
    assert!(
        eventually(Duration::from_secs(5), async || {
            metrics
                .redis_errors
                .get_or_create(&switchyard_server::governance::metrics::ComponentLabels {
                    component: "bus",
                })
                .get()
                >= 2
        })
        .await,
        "the subscriber keeps retrying"
    );
}
