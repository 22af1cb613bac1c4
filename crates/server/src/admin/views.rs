//! What the admin service answers with: serialisable views shared by the JSON admin API, the
//! CLI (`--json` and its tables) and the dashboard's pages, so each is shaped once.

use serde::Serialize;
use switchyard_store::{KeyId, LedgerEntry, LogRow, OrgId, ProviderKeyInfo, SpendRow};
use time::OffsetDateTime;

/// A new gateway key with its plaintext: the only time it is ever shown. No `Debug`, so it
/// cannot end up in a log line by accident.
#[derive(Serialize)]
pub struct CreatedKey {
    pub id: KeyId,
    pub org_id: OrgId,
    pub name: String,
    pub prefix: String,
    /// The plaintext gateway key (`sy-...`). Not stored anywhere; shown once.
    pub key: String,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

#[derive(Debug, Serialize)]
pub struct RevokedKey {
    pub id: KeyId,
    pub revoked: bool,
}

/// An org's credit position, as exact USD decimal strings and as nano-dollars.
#[derive(Debug, Serialize)]
pub struct BalanceView {
    pub org_id: OrgId,
    pub balance_usd: String,
    /// Leased out to running gateway instances (they hold requests' worst cases from it).
    pub leased_usd: String,
    /// Held by requests in flight, as the instances last reported.
    pub held_usd: String,
    pub available_usd: String,
    pub balance_nanos: i64,
    pub leased_nanos: i64,
    pub held_nanos: i64,
    pub available_nanos: i64,
}

/// A page of ledger rows and the cursor of the next one (`None` on the last page).
#[derive(Debug, Serialize)]
pub struct LedgerPageView {
    pub data: Vec<LedgerView>,
    pub next_before: Option<String>,
}

/// One org's audit: the books recomputed from the rows, open leases with their age.
#[derive(Debug, Serialize)]
pub struct AuditView {
    #[serde(flatten)]
    pub audit: switchyard_store::OrgAudit,
    pub consistent: bool,
    pub problems: Vec<String>,
    /// Age in seconds of each lease's oldest hold (same order as `leases`).
    pub oldest_hold_age_secs: Vec<Option<i64>>,
}

#[derive(Debug, Serialize)]
pub struct LedgerView {
    #[serde(flatten)]
    pub entry: LedgerEntry,
    pub amount_usd: String,
    pub balance_after_usd: String,
}

/// A provider key's metadata and the last 4 characters of its secret (when it was stored with
/// a recent enough gateway to record them). Never the secret.
#[derive(Debug, Serialize)]
pub struct ProviderKeyView {
    #[serde(flatten)]
    pub info: ProviderKeyInfo,
    pub secret_last4: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct RemovedProviderKey {
    pub org_id: OrgId,
    pub provider: String,
    pub key_name: Option<String>,
    pub removed: bool,
}

/// One request-log row; `cost_usd` is absent when the request is unpriced.
#[derive(Debug, Serialize)]
pub struct LogView {
    #[serde(flatten)]
    pub row: LogRow,
    pub cost_usd: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct SpendView {
    #[serde(flatten)]
    pub row: SpendRow,
    pub cost_usd: String,
}

#[derive(Debug, Serialize)]
pub struct SpendReport {
    pub org_id: OrgId,
    pub days: u32,
    #[serde(with = "time::serde::rfc3339")]
    pub since: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub until: OffsetDateTime,
    pub rows: Vec<SpendView>,
    pub total_requests: i64,
    pub total_cost_usd: String,
    pub total_cost_nanos: i64,
    pub total_unpriced_requests: i64,
}

/// Nano-dollars as an exact USD decimal string.
pub fn usd(nanos: i64) -> String {
    switchyard_cost::nanos_to_usd(nanos).to_string()
}
