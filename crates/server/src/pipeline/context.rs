//! The per-request context: what is known about a request as it goes through the phases. It
//! becomes the request's one log row.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::http::HeaderMap;
use serde_json::Value;
use switchyard_cost::{CostBreakdown, Usage};
use switchyard_store::{AuthedKey, BillingMode, LogRow};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::error::AttemptReport;

/// Bodies stored in the log are cut at this size.
const MAX_STORED_BODY: usize = 256 * 1024;
/// Custom properties kept per request, and the length of each value.
const MAX_PROPERTIES: usize = 32;
const MAX_PROPERTY_LEN: usize = 1024;

/// The attempt that answered: what the log row says about where the request went.
#[derive(Clone, Debug)]
pub struct Served {
    pub endpoint_id: String,
    pub provider: String,
    pub billing: BillingMode,
}

pub struct RequestCtx {
    pub id: Uuid,
    pub started: Instant,
    pub created_at: OffsetDateTime,
    pub key: Arc<AuthedKey>,
    pub model: String,
    pub stream: bool,
    pub user_id: Option<String>,
    pub properties: BTreeMap<String, String>,
    pub request_body: Option<String>,
    pub attempts: Vec<AttemptReport>,
    /// Time spent waiting on upstreams (not the gateway's own overhead).
    pub upstream_time: Duration,
    /// When the answering attempt was sent.
    pub sent: Option<Instant>,
    pub ttft: Option<Duration>,
    pub served: Option<Served>,
}

impl RequestCtx {
    pub fn new(started: Instant, key: Arc<AuthedKey>, headers: &HeaderMap) -> RequestCtx {
        let (user_id, properties) = custom_properties(headers);
        RequestCtx {
            id: Uuid::now_v7(),
            started,
            created_at: OffsetDateTime::now_utc(),
            key,
            model: String::new(),
            stream: false,
            user_id,
            properties,
            request_body: None,
            attempts: Vec::new(),
            upstream_time: Duration::ZERO,
            sent: None,
            ttft: None,
            served: None,
        }
    }

    pub fn store_body(&mut self, bytes: &[u8]) {
        if self.key.org.store_bodies {
            self.request_body = Some(truncated(bytes));
        }
    }

    /// The gateway's own time: everything but the waits on upstreams. For a stream, the time
    /// until the answering attempt was sent.
    pub fn overhead(&self) -> Duration {
        match (self.stream, self.sent) {
            (true, Some(sent)) => sent
                .duration_since(self.started)
                .saturating_sub(self.upstream_time),
            _ => self.started.elapsed().saturating_sub(self.upstream_time),
        }
    }

    /// The log row as the request stands.
    pub fn log_row(&self, status: u16) -> LogRow {
        let served = self.served.as_ref();
        LogRow {
            id: self.id,
            org_id: self.key.org.id,
            key_id: Some(self.key.key.id),
            model: self.model.clone(),
            endpoint: served.map(|s| s.endpoint_id.clone()),
            provider: served.map(|s| s.provider.clone()),
            billing: served.map(|s| s.billing),
            status,
            error_type: None,
            attempts: serde_json::to_value(&self.attempts).unwrap_or(Value::Null),
            prompt_tokens: None,
            completion_tokens: None,
            cached_tokens: None,
            cache_write_tokens: None,
            reasoning_tokens: None,
            cost_nanos: None,
            latency_ms: self.started.elapsed().as_millis() as i64,
            ttft_ms: self.ttft.map(|t| t.as_millis() as i64),
            overhead_us: Some(self.overhead().as_micros() as i64),
            stream: self.stream,
            user_id: self.user_id.clone(),
            properties: self.properties.clone(),
            request_body: self.request_body.clone(),
            response_body: None,
            created_at: self.created_at,
        }
    }
}

/// Fills the usage and cost columns.
pub fn fill_usage(row: &mut LogRow, usage: &Usage, cost: Option<&CostBreakdown>) {
    let n = |v: Option<u64>| v.map(|v| v as i64);
    if !usage.is_unreported() {
        row.prompt_tokens = Some(usage.prompt_tokens() as i64);
    }
    row.completion_tokens = n(usage.output);
    row.cached_tokens = n(usage.cache_read);
    let writes = usage.cache_write_5m.is_some() || usage.cache_write_1h.is_some();
    row.cache_write_tokens = writes.then(|| usage.cache_write() as i64);
    row.reasoning_tokens = n(usage.reasoning);
    row.cost_nanos = cost.map(CostBreakdown::total_nanos);
}

pub fn truncated(bytes: &[u8]) -> String {
    let cut = &bytes[..bytes.len().min(MAX_STORED_BODY)];
    String::from_utf8_lossy(cut).into_owned()
}

pub fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// `x-switchyard-user-id` and `x-switchyard-property-<name>` headers.
fn custom_properties(headers: &HeaderMap) -> (Option<String>, BTreeMap<String, String>) {
    let user = header_str(headers, "x-switchyard-user-id").map(|s| s.chars().take(256).collect());
    let mut props = BTreeMap::new();
    for (name, value) in headers {
        if let Some(prop) = name.as_str().strip_prefix("x-switchyard-property-") {
            if let Ok(v) = value.to_str() {
                if props.len() < MAX_PROPERTIES {
                    props.insert(prop.to_owned(), v.chars().take(MAX_PROPERTY_LEN).collect());
                }
            }
        }
    }
    (user, props)
}
