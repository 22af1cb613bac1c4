//! The invalidation bus: tells every instance that cached state is stale.
//!
//! Who publishes: the admin API (or CLI) after it revokes a gateway key, changes an org's
//! provider keys or a rate-limit policy. Who listens: every cache of such state (the auth cache,
//! the BYOK key cache, stored policies), each with its own [`Subscription`], dropping the
//! entries a message names, and everything on [`Invalidation::Resync`].
//!
//! In process it is a `tokio::sync::broadcast` channel. With Redis, [`Bus::publish`] delivers
//! locally at once (so the publishing instance never depends on Redis for its own change) and
//! `PUBLISH`es a small JSON envelope on `<prefix><bus_channel>`; a task subscribed to that
//! channel delivers other instances' messages (its own are recognised by the instance id and
//! skipped). The task pings the subscription, and after any failure reconnects with backoff
//! (50 ms doubling to `bus_max_backoff_ms`). Every successful (re)subscription is followed by a
//! `Resync`: messages published while it was away are lost in Redis pub/sub, so listeners
//! flush whatever they cache and a revoked key cannot stay usable. A listener that falls behind
//! the channel's buffer also receives a `Resync` instead of the messages it missed.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use serde::{Deserialize, Serialize};
use switchyard_store::{KeyId, OrgId};
use tokio::sync::broadcast;
use tokio::task::JoinHandle;
use uuid::Uuid;

use super::metrics::{BusLabels, GovernanceMetrics};
use super::redis::{RateLimitedLog, RedisHandle};

/// Messages a listener may lag behind before it gets a `Resync` instead.
const BUFFER: usize = 1024;
const MIN_BACKOFF: Duration = Duration::from_millis(50);

/// What became stale. Serialised as `{"type": "gateway_key_revoked", "key_id": "…"}` etc.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Invalidation {
    /// A gateway key was revoked (or deleted): refuse it from now on.
    GatewayKeyRevoked { key_id: KeyId },
    /// An org's BYOK provider keys were added, changed or removed.
    ProviderKeysChanged { org_id: OrgId },
    /// The stored rate-limit policies of an org, or of one of its keys, changed.
    PolicyChanged {
        org_id: OrgId,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        key_id: Option<KeyId>,
    },
    /// Anything else about an org (settings, deletion).
    OrgChanged { org_id: OrgId },
    /// Messages may have been missed: drop everything cached.
    Resync,
}

impl Invalidation {
    pub fn kind(&self) -> &'static str {
        match self {
            Invalidation::GatewayKeyRevoked { .. } => "gateway_key_revoked",
            Invalidation::ProviderKeysChanged { .. } => "provider_keys_changed",
            Invalidation::PolicyChanged { .. } => "policy_changed",
            Invalidation::OrgChanged { .. } => "org_changed",
            Invalidation::Resync => "resync",
        }
    }
}

/// What travels through Redis.
#[derive(Serialize, Deserialize)]
struct Envelope {
    from: Uuid,
    msg: Invalidation,
}

/// One listener's stream of invalidations.
pub struct Subscription {
    rx: broadcast::Receiver<Invalidation>,
}

impl Subscription {
    /// The next invalidation; `None` once the bus is gone.
    pub async fn recv(&mut self) -> Option<Invalidation> {
        match self.rx.recv().await {
            Ok(m) => Some(m),
            Err(broadcast::error::RecvError::Lagged(_)) => Some(Invalidation::Resync),
            Err(broadcast::error::RecvError::Closed) => None,
        }
    }

    /// The next invalidation if one is waiting (for listeners that poll between requests).
    pub fn try_recv(&mut self) -> Option<Invalidation> {
        match self.rx.try_recv() {
            Ok(m) => Some(m),
            Err(broadcast::error::TryRecvError::Lagged(_)) => Some(Invalidation::Resync),
            Err(_) => None,
        }
    }

    /// As a `Stream`.
    pub fn into_stream(self) -> impl futures::Stream<Item = Invalidation> + Send {
        futures::stream::unfold(self, |mut s| async move { s.recv().await.map(|m| (m, s)) })
    }
}

struct RedisSide {
    handle: RedisHandle,
    channel: String,
    task: JoinHandle<()>,
}

/// The bus.
pub struct Bus {
    local: broadcast::Sender<Invalidation>,
    instance: Uuid,
    connected: Arc<AtomicBool>,
    metrics: Arc<GovernanceMetrics>,
    redis: Option<RedisSide>,
}

impl Drop for Bus {
    fn drop(&mut self) {
        if let Some(r) = &self.redis {
            r.task.abort();
        }
    }
}

impl Bus {
    /// One process: messages go to this process's listeners only.
    pub fn in_process(metrics: Arc<GovernanceMetrics>) -> Bus {
        metrics.bus_connected.set(1);
        Bus {
            local: broadcast::channel(BUFFER).0,
            instance: Uuid::new_v4(),
            connected: Arc::new(AtomicBool::new(true)),
            metrics,
            redis: None,
        }
    }

    /// Shared through Redis pub/sub on `<prefix><channel>`. Spawns the subscriber task (must
    /// run inside a Tokio runtime); it keeps reconnecting until the bus is dropped.
    pub fn redis(handle: RedisHandle, channel: &str, ping: Duration, max_backoff: Duration) -> Bus {
        let local = broadcast::channel(BUFFER).0;
        let instance = Uuid::new_v4();
        let connected = Arc::new(AtomicBool::new(false));
        let channel = handle.key(channel);
        let metrics = handle.metrics().clone();
        let task = tokio::spawn(subscriber(SubscriberCtx {
            handle: handle.clone(),
            channel: channel.clone(),
            instance,
            tx: local.clone(),
            connected: connected.clone(),
            ping,
            max_backoff: max_backoff.max(MIN_BACKOFF),
        }));
        Bus {
            local,
            instance,
            connected,
            metrics,
            redis: Some(RedisSide {
                handle,
                channel,
                task,
            }),
        }
    }

    /// A new listener; it sees messages published from now on.
    pub fn subscribe(&self) -> Subscription {
        Subscription {
            rx: self.local.subscribe(),
        }
    }

    /// Whether messages from other instances are arriving (always true in process). While
    /// false, listeners should rely on their own short TTLs.
    pub fn is_connected(&self) -> bool {
        self.connected.load(Ordering::Relaxed)
    }

    /// The channel name in Redis, if shared.
    pub fn channel(&self) -> Option<&str> {
        self.redis.as_ref().map(|r| r.channel.as_str())
    }

    /// Delivers to this instance's listeners now and, with Redis, to every other instance.
    /// Returns false if Redis did not take the message (counted and logged; the others then
    /// catch up on their next resync or cache expiry).
    pub async fn publish(&self, msg: Invalidation) -> bool {
        let kind = msg.kind();
        self.metrics
            .bus_messages
            .get_or_create(&BusLabels {
                direction: "published",
                kind,
            })
            .inc();
        let Some(r) = &self.redis else {
            let _ = self.local.send(msg);
            return true;
        };
        let payload = serde_json::to_string(&Envelope {
            from: self.instance,
            msg: msg.clone(),
        })
        .expect("an invalidation serialises");
        let _ = self.local.send(msg);
        let channel = r.channel.clone();
        r.handle
            .run("bus", |mut conn| async move {
                redis::cmd("PUBLISH")
                    .arg(&channel)
                    .arg(payload)
                    .query_async::<i64>(&mut conn)
                    .await
            })
            .await
            .is_some()
    }
}

struct SubscriberCtx {
    handle: RedisHandle,
    channel: String,
    instance: Uuid,
    tx: broadcast::Sender<Invalidation>,
    connected: Arc<AtomicBool>,
    ping: Duration,
    max_backoff: Duration,
}

async fn subscriber(ctx: SubscriberCtx) {
    let metrics = ctx.handle.metrics().clone();
    let log = RateLimitedLog::new(Duration::from_secs(60));
    let mut backoff = MIN_BACKOFF;
    loop {
        match subscribe_once(&ctx).await {
            Ok(pubsub) => {
                backoff = MIN_BACKOFF;
                ctx.connected.store(true, Ordering::Relaxed);
                metrics.bus_connected.set(1);
                metrics.bus_subscriptions.inc();
                // Anything published while we were not subscribed is lost: listeners flush.
                let _ = ctx.tx.send(Invalidation::Resync);
                let why = listen(&ctx, &metrics, pubsub).await;
                ctx.connected.store(false, Ordering::Relaxed);
                metrics.bus_connected.set(0);
                GovernanceMetrics::component(&metrics.redis_errors, "bus");
                if let Some(suppressed) = log.should_log() {
                    tracing::warn!(reason = %why, suppressed, "invalidation bus lost its subscription; reconnecting");
                }
            }
            Err(why) => {
                GovernanceMetrics::component(&metrics.redis_errors, "bus");
                if let Some(suppressed) = log.should_log() {
                    tracing::warn!(reason = %why, suppressed, "invalidation bus cannot subscribe; retrying");
                }
            }
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(ctx.max_backoff);
    }
}

async fn subscribe_once(ctx: &SubscriberCtx) -> Result<redis::aio::PubSub, String> {
    let connect = async {
        let mut ps = ctx.handle.client().get_async_pubsub().await?;
        ps.subscribe(&ctx.channel).await?;
        Ok::<_, redis::RedisError>(ps)
    };
    match tokio::time::timeout(ctx.handle.timeout() * 4, connect).await {
        Ok(Ok(ps)) => Ok(ps),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err("subscribing timed out".into()),
    }
}

/// Delivers messages until the subscription fails; returns why.
async fn listen(
    ctx: &SubscriberCtx,
    metrics: &GovernanceMetrics,
    pubsub: redis::aio::PubSub,
) -> String {
    let (mut sink, mut stream) = pubsub.split();
    let mut ping = tokio::time::interval(ctx.ping);
    ping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ping.tick().await;
    loop {
        tokio::select! {
            msg = stream.next() => {
                let Some(msg) = msg else { return "connection closed".into() };
                let Ok(env) = serde_json::from_slice::<Envelope>(msg.get_payload_bytes()) else {
                    tracing::warn!(channel = %ctx.channel, "ignoring a malformed invalidation message");
                    continue;
                };
                if env.from == ctx.instance {
                    continue;
                }
                metrics
                    .bus_messages
                    .get_or_create(&BusLabels { direction: "received", kind: env.msg.kind() })
                    .inc();
                let _ = ctx.tx.send(env.msg);
            }
            _ = ping.tick() => {
                let alive = tokio::time::timeout(ctx.handle.timeout() * 4, sink.ping::<redis::Value>()).await;
                match alive {
                    Ok(Ok(_)) => {}
                    Ok(Err(e)) => return format!("ping failed: {e}"),
                    Err(_) => return "ping timed out".into(),
                }
            }
        }
    }
}
