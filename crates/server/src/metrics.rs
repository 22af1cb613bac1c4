//! Prometheus metrics, exposed as text on `GET /metrics`.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    pub status: u16,
    pub billing: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct AttemptLabels {
    pub provider: String,
    pub outcome: &'static str,
}

/// Every metric the gateway exports. Cheap to update from any task (atomics).
pub struct Metrics {
    registry: Registry,
    pub requests: Family<RequestLabels, Counter>,
    pub attempts: Family<AttemptLabels, Counter>,
    pub latency_seconds: Histogram,
    pub overhead_seconds: Histogram,
    pub cost_nanos: Counter,
    pub in_flight: Gauge,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("switchyard");
        let requests = Family::<RequestLabels, Counter>::default();
        let attempts = Family::<AttemptLabels, Counter>::default();
        let latency_seconds = Histogram::new(exponential_buckets(0.001, 2.0, 16));
        let overhead_seconds = Histogram::new(exponential_buckets(0.00002, 2.0, 14));
        let cost_nanos = Counter::default();
        let in_flight = Gauge::default();
        registry.register(
            "requests",
            "Chat requests answered, by status and billing mode",
            requests.clone(),
        );
        registry.register(
            "upstream_attempts",
            "Upstream attempts, by provider and outcome",
            attempts.clone(),
        );
        registry.register(
            "request_latency_seconds",
            "Whole request latency",
            latency_seconds.clone(),
        );
        registry.register(
            "gateway_overhead_seconds",
            "Time spent in the gateway outside upstream calls",
            overhead_seconds.clone(),
        );
        registry.register(
            "cost_nanos",
            "Priced cost of answered requests, nano-USD",
            cost_nanos.clone(),
        );
        registry.register(
            "in_flight_requests",
            "Chat requests being served",
            in_flight.clone(),
        );
        Metrics {
            registry,
            requests,
            attempts,
            latency_seconds,
            overhead_seconds,
            cost_nanos,
            in_flight,
        }
    }
}

impl Metrics {
    /// For components that register their own metrics (governance).
    pub fn registry_mut(&mut self) -> &mut Registry {
        &mut self.registry
    }

    /// The Prometheus text exposition, plus the log writer's own counters.
    pub fn encode(&self, extra: &[(&str, &str, u64)]) -> String {
        let mut out = String::new();
        prometheus_client::encoding::text::encode_registry(&mut out, &self.registry)
            .expect("metrics encode");
        for (name, help, value) in extra {
            out.push_str(&format!("# HELP switchyard_{name} {help}\n# TYPE switchyard_{name} counter\nswitchyard_{name}_total {value}\n"));
        }
        prometheus_client::encoding::text::encode_eof(&mut out).expect("metrics encode");
        out
    }
}
