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

/// What the caller said about the request in headers, for the log row: ours
/// (`x-switchyard-*`) or, so that a Helicone user switches with no code change, Helicone's.
#[derive(Clone, Debug, Default)]
pub struct Observability {
    pub user_id: Option<String>,
    pub properties: BTreeMap<String, String>,
    pub session_id: Option<String>,
    pub session_path: Option<String>,
    pub session_name: Option<String>,
    pub omit_request: bool,
    pub omit_response: bool,
    pub client_request_id: Option<String>,
}

/// The longest user id, session field or caller request id kept.
const MAX_FIELD_LEN: usize = 256;

impl Observability {
    pub fn from_headers(headers: &HeaderMap) -> Observability {
        let field = |ours: &str, helicone: &str| {
            header_str(headers, ours)
                .or_else(|| header_str(headers, helicone))
                .map(str::trim)
                .filter(|v| !v.is_empty())
                .map(|v| v.chars().take(MAX_FIELD_LEN).collect::<String>())
        };
        let flag = |ours: &str, helicone: &str| {
            field(ours, helicone).is_some_and(|v| v.eq_ignore_ascii_case("true") || v == "1")
        };
        let mut properties = BTreeMap::new();
        for (name, value) in headers {
            let name = name.as_str();
            let prop = name
                .strip_prefix("x-switchyard-property-")
                .or_else(|| name.strip_prefix("helicone-property-"));
            if let (Some(prop), Ok(v)) = (prop, value.to_str()) {
                if properties.len() < MAX_PROPERTIES && !prop.is_empty() {
                    properties.insert(prop.to_owned(), v.chars().take(MAX_PROPERTY_LEN).collect());
                }
            }
        }
        Observability {
            user_id: field("x-switchyard-user-id", "helicone-user-id"),
            properties,
            session_id: field("x-switchyard-session-id", "helicone-session-id"),
            session_path: field("x-switchyard-session-path", "helicone-session-path"),
            session_name: field("x-switchyard-session-name", "helicone-session-name"),
            omit_request: flag("x-switchyard-omit-request", "helicone-omit-request"),
            omit_response: flag("x-switchyard-omit-response", "helicone-omit-response"),
            client_request_id: field("x-switchyard-request-id", "helicone-request-id"),
        }
    }
}

pub struct RequestCtx {
    pub id: Uuid,
    pub started: Instant,
    pub created_at: OffsetDateTime,
    pub key: Arc<AuthedKey>,
    pub model: String,
    pub stream: bool,
    pub obs: Observability,
    /// `chat` or `proxy`.
    pub route: &'static str,
    /// Passthrough: the upstream URL without secret-looking query parameters.
    pub target_url: Option<String>,
    /// Time to the first byte of the answering upstream's response.
    pub ttfb: Option<Duration>,
    pub request_body: Option<String>,
    pub attempts: Vec<AttemptReport>,
    /// Time spent waiting on upstreams (not the gateway's own overhead).
    pub upstream_time: Duration,
    /// When the answering attempt was sent.
    pub sent: Option<Instant>,
    pub ttft: Option<Duration>,
    pub served: Option<Served>,
    /// Rate limits and cache for this request; `None` when neither applies.
    pub govern: Option<Box<super::govern::Govern>>,
}

impl RequestCtx {
    pub fn new(
        started: Instant,
        key: Arc<AuthedKey>,
        headers: &HeaderMap,
        route: &'static str,
    ) -> RequestCtx {
        RequestCtx {
            id: Uuid::now_v7(),
            started,
            created_at: OffsetDateTime::now_utc(),
            key,
            model: String::new(),
            stream: false,
            obs: Observability::from_headers(headers),
            route,
            target_url: None,
            ttfb: None,
            request_body: None,
            attempts: Vec::new(),
            upstream_time: Duration::ZERO,
            sent: None,
            ttft: None,
            served: None,
            govern: None,
        }
    }

    pub fn store_body(&mut self, bytes: &[u8]) {
        if self.key.org.store_bodies && !self.obs.omit_request {
            self.request_body = Some(truncated(bytes));
        }
    }

    /// Whether the answer's body goes into the log.
    pub fn store_response(&self) -> bool {
        self.key.org.store_bodies && !self.obs.omit_response
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
            user_id: self.obs.user_id.clone(),
            properties: self.obs.properties.clone(),
            request_body: self.request_body.clone(),
            response_body: None,
            created_at: self.created_at,
            route: Some(self.route.to_owned()),
            target_url: self.target_url.clone(),
            ttfb_ms: self.ttfb.map(|t| t.as_millis() as i64),
            session_id: self.obs.session_id.clone(),
            session_path: self.obs.session_path.clone(),
            session_name: self.obs.session_name.clone(),
            cache_status: self
                .govern
                .as_ref()
                .and_then(|g| g.cache_status)
                .map(str::to_owned),
            cache_saved_nanos: None,
            client_request_id: self.obs.client_request_id.clone(),
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
