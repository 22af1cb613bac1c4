//! Counters of the rate limiter, the response cache, the bus and their Redis use. Register
//! them into the gateway's registry with [`GovernanceMetrics::register`].

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

/// `outcome` of a rate-limit decision or a cache operation.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeLabels {
    pub outcome: &'static str,
}

/// Which feature hit a Redis problem: `ratelimit`, `cache`, `bus`, `ready`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ComponentLabels {
    pub component: &'static str,
}

/// A bus message: `direction` (`published`, `received`) and its `kind`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct BusLabels {
    pub direction: &'static str,
    pub kind: &'static str,
}

/// Every governance metric. Cheap to update from any task (atomics).
#[derive(Clone, Debug, Default)]
pub struct GovernanceMetrics {
    /// Rate-limit checks: `allowed`, `limited`, `fail_open`.
    pub ratelimit_checks: Family<OutcomeLabels, Counter>,
    /// Cache lookups: `hit`, `miss`, `fail_open`, `corrupt`.
    pub cache_lookups: Family<OutcomeLabels, Counter>,
    /// Cache writes: `stored`, `too_large`, `fail_open`.
    pub cache_stores: Family<OutcomeLabels, Counter>,
    /// Requests served without Redis because it was down or slow, by component.
    pub fail_open: Family<ComponentLabels, Counter>,
    /// Redis commands that failed or timed out, by component.
    pub redis_errors: Family<ComponentLabels, Counter>,
    /// 1 while the last Redis command succeeded (always 0 without Redis).
    pub redis_up: Gauge,
    pub bus_messages: Family<BusLabels, Counter>,
    /// 1 while the bus is subscribed (always 1 in process).
    pub bus_connected: Gauge,
    /// Successful (re)subscriptions of the bus; each one emits a `Resync`.
    pub bus_subscriptions: Counter,
}

impl GovernanceMetrics {
    /// Adds every metric to `registry` (the gateway's, prefixed `switchyard_`).
    pub fn register(&self, registry: &mut Registry) {
        registry.register(
            "ratelimit_checks",
            "Rate-limit checks, by outcome",
            self.ratelimit_checks.clone(),
        );
        registry.register(
            "cache_lookups",
            "Response-cache lookups, by outcome",
            self.cache_lookups.clone(),
        );
        registry.register(
            "cache_stores",
            "Response-cache writes, by outcome",
            self.cache_stores.clone(),
        );
        registry.register(
            "governance_fail_open",
            "Requests served without Redis (rate limit allowed, cache missed), by component",
            self.fail_open.clone(),
        );
        registry.register(
            "redis_errors",
            "Redis commands that failed or timed out, by component",
            self.redis_errors.clone(),
        );
        registry.register("redis_up", "1 while Redis answers", self.redis_up.clone());
        registry.register(
            "bus_messages",
            "Invalidation messages, by direction and kind",
            self.bus_messages.clone(),
        );
        registry.register(
            "bus_connected",
            "1 while the invalidation bus is subscribed",
            self.bus_connected.clone(),
        );
        registry.register(
            "bus_subscriptions",
            "Invalidation bus (re)subscriptions, each followed by a resync",
            self.bus_subscriptions.clone(),
        );
    }

    pub(crate) fn outcome(family: &Family<OutcomeLabels, Counter>, outcome: &'static str) {
        family.get_or_create(&OutcomeLabels { outcome }).inc();
    }

    pub(crate) fn component(family: &Family<ComponentLabels, Counter>, component: &'static str) {
        family.get_or_create(&ComponentLabels { component }).inc();
    }
}
