//! Plain data types shared by both backends and by the server.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use time::{Date, OffsetDateTime};
use uuid::Uuid;

use crate::crypto::{ProviderSecret, Secret};
use crate::error::StoreError;

macro_rules! id_type {
    ($(#[$m:meta])* $name:ident) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub Uuid);

        impl $name {
            /// A fresh, time-ordered id (UUID v7), so new rows append to indexes.
            pub fn generate() -> Self {
                Self(Uuid::now_v7())
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(&self.0.hyphenated(), f)
            }
        }

        impl FromStr for $name {
            type Err = uuid::Error;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Uuid::parse_str(s).map(Self)
            }
        }
    };
}

id_type!(
    /// An organisation: owns gateway keys, provider keys, credits and logs.
    OrgId
);
id_type!(
    /// A gateway (client-facing) API key.
    KeyId
);
id_type!(
    /// A stored BYOK provider key.
    ProviderKeyId
);

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Org {
    pub id: OrgId,
    pub name: String,
    /// Whether request/response bodies go into the request log.
    pub store_bodies: bool,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// Stored rate-limit policy list (checked against the grammar before it is written).
    #[serde(default)]
    pub rate_limit_policy: Option<String>,
}

/// A gateway key as listed: never carries the hash or the plaintext.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GatewayKey {
    pub id: KeyId,
    pub org_id: OrgId,
    pub name: String,
    /// The first characters of the key (`sy-` + 8), safe to display.
    pub prefix: String,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    pub revoked_at: Option<OffsetDateTime>,
    /// Stored rate-limit policy list of this key.
    #[serde(default)]
    pub rate_limit_policy: Option<String>,
    /// Whether every request with this key uses the response cache.
    #[serde(default)]
    pub cache_enabled: bool,
}

/// Returned once by `create_gateway_key`; the plaintext is not stored anywhere.
#[derive(Debug, Clone)]
pub struct NewGatewayKey {
    pub key: GatewayKey,
    pub plaintext: Secret,
}

/// Result of authenticating a presented gateway key: the key and its org.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthedKey {
    pub key: GatewayKey,
    pub org: Org,
}

/// Non-secret per-key provider settings (stored as JSON in clear): the registry's deployment
/// config, so a key's settings merge over an endpoint's field by field.
pub use switchyard_registry::DeploymentConfig;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SecretKind {
    ApiKey,
    Aws,
    ServiceAccount,
}

impl SecretKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ApiKey => "api_key",
            Self::Aws => "aws",
            Self::ServiceAccount => "service_account",
        }
    }

    pub(crate) fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "api_key" => Self::ApiKey,
            "aws" => Self::Aws,
            "service_account" => Self::ServiceAccount,
            _ => return None,
        })
    }
}

/// Input of `set_provider_key` (an upsert on org + provider + key name).
#[derive(Debug, Clone)]
pub struct NewProviderKey {
    pub org_id: OrgId,
    pub provider: String,
    /// Optional name, so one org can hold several keys for a provider
    /// (addressed as `model/provider/<key name>`).
    pub key_name: Option<String>,
    pub config: DeploymentConfig,
    pub secret: ProviderSecret,
}

/// A provider key as listed: no secret material.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProviderKeyInfo {
    pub id: ProviderKeyId,
    pub org_id: OrgId,
    pub provider: String,
    pub key_name: Option<String>,
    pub config: DeploymentConfig,
    pub secret_kind: SecretKind,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

/// A decrypted provider key, for the server's upstream calls only.
#[derive(Debug, Clone)]
pub struct ProviderKey {
    pub info: ProviderKeyInfo,
    pub secret: ProviderSecret,
}

/// Credit position of an org, in nano-dollars.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Balance {
    /// Sum of all ledger amounts (credits minus debits).
    pub balance_nanos: i64,
    /// Leased out to running gateway instances (each serves holds from its lease in memory).
    pub leased_nanos: i64,
    /// Held by requests in flight, as the instances last reported it.
    pub held_nanos: i64,
    /// `balance_nanos - held_nanos`: what new requests can still spend.
    pub available_nanos: i64,
}

impl Balance {
    pub(crate) fn new(balance_nanos: i64, leased_nanos: i64, held_nanos: i64) -> Self {
        Self {
            balance_nanos,
            leased_nanos,
            held_nanos,
            available_nanos: balance_nanos.saturating_sub(held_nanos),
        }
    }
}

/// What a ledger row records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LedgerKind {
    /// Credits granted (amount > 0).
    Credit,
    /// One request's charge (amount = −cost), written with the request's log row.
    Debit,
    /// Rows of the former per-request reservation scheme (amount 0 or a debit); kept readable.
    Hold,
    Release,
    Expire,
}

impl LedgerKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Credit => "credit",
            Self::Debit => "debit",
            Self::Hold => "hold",
            Self::Release => "release",
            Self::Expire => "expire",
        }
    }

    pub(crate) fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "credit" => Self::Credit,
            "debit" => Self::Debit,
            "hold" => Self::Hold,
            "release" => Self::Release,
            "expire" => Self::Expire,
            _ => return None,
        })
    }
}

/// One ledger movement. Balance = Σ `amount_nanos`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LedgerEntry {
    pub id: Uuid,
    pub org_id: OrgId,
    pub kind: LedgerKind,
    pub amount_nanos: i64,
    pub balance_after_nanos: i64,
    /// The request a debit charges.
    pub request_id: Option<Uuid>,
    pub note: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

/// Where a page of ledger rows starts: strictly older than this row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct LedgerCursor {
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    pub id: Uuid,
}

impl LedgerCursor {
    /// The cursor that continues after `entry`.
    pub fn after(entry: &LedgerEntry) -> Self {
        Self {
            created_at: entry.created_at,
            id: entry.id,
        }
    }
}

/// A page of ledger rows, newest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LedgerPage {
    pub limit: u32,
    pub before: Option<LedgerCursor>,
}

/// An instance's ask for more of an org's credit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaseRequest {
    pub org: OrgId,
    pub instance: String,
    /// Refused (insufficient credits) when the org has less than this available.
    pub min_nanos: i64,
    /// Granted up to this much, as far as the org's available credit goes.
    pub want_nanos: i64,
    pub ttl: std::time::Duration,
}

/// What a lease request got.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LeaseGrant {
    pub granted_nanos: i64,
    /// The instance's whole lease on the org after the grant.
    pub lease_nanos: i64,
    pub balance_nanos: i64,
    /// Balance minus everything leased, after the grant.
    pub unleased_nanos: i64,
}

/// What an instance reports of one lease when it renews it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaseSnapshot {
    pub org: OrgId,
    pub held_nanos: i64,
    pub holds: i64,
    pub oldest_hold_at: Option<OffsetDateTime>,
}

/// One instance's lease on an org's credit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lease {
    pub org_id: OrgId,
    pub instance_id: String,
    pub amount_nanos: i64,
    pub held_nanos: i64,
    pub holds: i64,
    #[serde(with = "time::serde::rfc3339::option")]
    pub oldest_hold_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub renewed_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
}

/// One org's books: cached totals next to what the rows add up to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrgAudit {
    pub org_id: OrgId,
    pub org_name: String,
    pub balance_nanos: i64,
    /// Σ ledger amounts.
    pub ledger_sum_nanos: i64,
    pub ledger_rows: i64,
    pub leased_nanos: i64,
    /// Σ lease amounts.
    pub leases_sum_nanos: i64,
    pub leases: Vec<Lease>,
}

impl OrgAudit {
    /// Every way the books can be wrong, in words (empty when they are right).
    pub fn problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        if self.balance_nanos != self.ledger_sum_nanos {
            out.push(format!(
                "balance {} != sum of {} ledger rows {}",
                self.balance_nanos, self.ledger_rows, self.ledger_sum_nanos
            ));
        }
        if self.leased_nanos != self.leases_sum_nanos {
            out.push(format!(
                "leased {} != sum of leases {}",
                self.leased_nanos, self.leases_sum_nanos
            ));
        }
        if self.balance_nanos < 0 {
            out.push(format!("balance {} is negative", self.balance_nanos));
        }
        if self.leased_nanos > self.balance_nanos.max(0) {
            out.push(format!(
                "leased {} exceeds the balance {}",
                self.leased_nanos, self.balance_nanos
            ));
        }
        out
    }

    pub fn is_consistent(&self) -> bool {
        self.problems().is_empty()
    }
}

/// A request's charge, committed in the same transaction as its log row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Debit {
    pub request_id: Uuid,
    pub org: OrgId,
    /// The instance whose lease the hold came from.
    pub instance: String,
    pub nanos: i64,
}

/// What a batch commit did with its debits.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BatchOutcome {
    /// (org, nanos) charged per org.
    pub charged: Vec<(OrgId, i64)>,
    /// Requests whose lease was gone (expired while the instance could not renew it): logged
    /// but not charged, so spend can never exceed the balance.
    pub uncharged: Vec<Uuid>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BillingMode {
    Byok,
    Ptb,
}

impl BillingMode {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Byok => "byok",
            Self::Ptb => "ptb",
        }
    }

    pub(crate) fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "byok" => Self::Byok,
            "ptb" => Self::Ptb,
            _ => return None,
        })
    }
}

/// One request-log row (issue 4 item 8). Token counts are `None` when the
/// provider did not report them, which is distinct from `Some(0)`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogRow {
    /// The request id (`x-switchyard-request-id`).
    pub id: Uuid,
    pub org_id: OrgId,
    pub key_id: Option<KeyId>,
    /// The model string exactly as the caller sent it.
    pub model: String,
    /// Resolved endpoint id (`model:provider:deployment`), if routing got that far.
    pub endpoint: Option<String>,
    pub provider: Option<String>,
    pub billing: Option<BillingMode>,
    /// HTTP status returned to the caller.
    pub status: u16,
    pub error_type: Option<String>,
    /// One entry per attempt (provider, billing mode, upstream status, message).
    pub attempts: serde_json::Value,
    pub prompt_tokens: Option<i64>,
    pub completion_tokens: Option<i64>,
    pub cached_tokens: Option<i64>,
    pub cache_write_tokens: Option<i64>,
    pub reasoning_tokens: Option<i64>,
    /// Cost in nano-dollars; `None` means unpriced (never 0 for unknown).
    pub cost_nanos: Option<i64>,
    pub latency_ms: i64,
    pub ttft_ms: Option<i64>,
    pub overhead_us: Option<i64>,
    pub stream: bool,
    pub user_id: Option<String>,
    pub properties: BTreeMap<String, String>,
    pub request_body: Option<String>,
    pub response_body: Option<String>,
    /// Stored with microsecond precision.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// The front door: `chat` (unified API) or `proxy` (passthrough).
    #[serde(default)]
    pub route: Option<String>,
    /// Passthrough only: the upstream URL, query parameters that may carry secrets removed.
    #[serde(default)]
    pub target_url: Option<String>,
    /// Time to the first byte of the upstream's answer.
    #[serde(default)]
    pub ttfb_ms: Option<i64>,
    #[serde(default)]
    pub session_id: Option<String>,
    #[serde(default)]
    pub session_path: Option<String>,
    #[serde(default)]
    pub session_name: Option<String>,
    /// `hit` or `miss` when the response cache was asked; `None` when it was not.
    #[serde(default)]
    pub cache_status: Option<String>,
    /// What a cache hit saved: the cost of the answer it replayed.
    #[serde(default)]
    pub cache_saved_nanos: Option<i64>,
    /// The caller's own id for the request, when it sent one.
    #[serde(default)]
    pub client_request_id: Option<String>,
}

/// Filters for `recent_logs`. Newest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogQuery {
    pub org_id: OrgId,
    pub limit: u32,
    pub status: Option<u16>,
    pub provider: Option<String>,
    /// Only rows strictly older than this (keyset pagination).
    pub before: Option<OffsetDateTime>,
    pub user_id: Option<String>,
    pub session_id: Option<String>,
    /// A custom property's name and value.
    pub property: Option<(String, String)>,
    pub client_request_id: Option<String>,
}

impl LogQuery {
    pub fn new(org_id: OrgId, limit: u32) -> Self {
        Self {
            org_id,
            limit,
            status: None,
            provider: None,
            before: None,
            user_id: None,
            session_id: None,
            property: None,
            client_request_id: None,
        }
    }
}

time::serde::format_description!(day_format, Date, "[year]-[month]-[day]");

/// Spend of one org on one UTC day through one provider and billing mode.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SpendRow {
    #[serde(with = "day_format")]
    pub day: Date,
    /// Empty when the request never reached a provider.
    pub provider: String,
    pub billing: Option<BillingMode>,
    pub requests: i64,
    /// Sum over priced requests only.
    pub cost_nanos: i64,
    /// Requests with no price (cost unknown, not zero).
    pub unpriced_requests: i64,
    pub prompt_tokens: i64,
    pub completion_tokens: i64,
}

/// Timestamps are stored as integer microseconds since the Unix epoch in both
/// backends, so the SQL (ordering, day buckets) is identical on SQLite and Postgres.
pub(crate) fn to_us(t: OffsetDateTime) -> i64 {
    (t.unix_timestamp_nanos() / 1_000) as i64
}

pub(crate) fn from_us(us: i64, table: &'static str) -> Result<OffsetDateTime, StoreError> {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(us) * 1_000).map_err(|e| {
        StoreError::Corrupt {
            table,
            detail: format!("timestamp {us}: {e}"),
        }
    })
}

pub(crate) const US_PER_DAY: i64 = 86_400_000_000;

pub(crate) fn parse_id<T: FromStr>(s: &str, table: &'static str) -> Result<T, StoreError> {
    s.parse().map_err(|_| StoreError::Corrupt {
        table,
        detail: format!("bad id {s:?}"),
    })
}

/// Now, truncated to the stored precision, so a returned value equals what a
/// later read gives back.
pub(crate) fn now_micros() -> OffsetDateTime {
    let now = OffsetDateTime::now_utc();
    now.replace_nanosecond(now.nanosecond() / 1_000 * 1_000)
        .unwrap_or(now)
}
