//! The dashboard's read side: filtered, sorted, keyset-paginated request lists; usage series,
//! latency histograms and error counts for the Overview; per-user and per-property aggregates.
//!
//! Ranges of at most [`RAW_RANGE_LIMIT`] read `request_logs` directly (exact, and live to the
//! last batch). Longer ranges read the rollup tables of migration 0003, which
//! [`update_rollups`] maintains inside the log writer's transaction: hourly usage, latency
//! histograms and errors, daily users and properties. A long range is therefore aligned to
//! whole hours (days for users and properties).
//!
//! Shapes of the answers ([`UsagePoint`], [`HistPoint`], ...) are the same on both paths, so the
//! dashboard never knows which one answered. SQL is written once for both backends; only the
//! JSON expansion of `properties` differs and is passed to the macro.

use std::collections::BTreeMap;

use serde::Serialize;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::{BillingMode, BoxFut, KeyId, LogRow, OrgId};

/// The longest range answered from the raw rows; longer ones read the rollups.
pub const RAW_RANGE_LIMIT: time::Duration = time::Duration::hours(48);

/// Upper bounds (ms, inclusive) of the latency histogram buckets; a last bucket holds the rest.
pub const LATENCY_BUCKETS_MS: &[i64] = &[
    10, 25, 50, 75, 100, 150, 200, 300, 400, 500, 750, 1_000, 1_500, 2_000, 3_000, 4_000, 5_000,
    7_500, 10_000, 15_000, 20_000, 30_000, 60_000, 120_000,
];

pub(crate) const US_PER_HOUR: i64 = 3_600_000_000;

/// Which requests a list shows. Every field narrows; `None` is "any".
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RequestFilter {
    pub since: Option<OffsetDateTime>,
    pub until: Option<OffsetDateTime>,
    pub status: Option<StatusFilter>,
    pub model: Option<String>,
    pub endpoint: Option<String>,
    pub provider: Option<String>,
    pub billing: Option<BillingMode>,
    pub error_type: Option<String>,
    pub user_id: Option<String>,
    /// A property name and its exact value.
    pub property: Option<(String, String)>,
    /// Prompt + completion tokens at least this.
    pub min_tokens: Option<i64>,
    pub min_cost_nanos: Option<i64>,
    /// Only requests with no price (`true`) or only priced ones (`false`).
    pub unpriced: Option<bool>,
    pub min_latency_ms: Option<i64>,
    pub min_ttft_ms: Option<i64>,
    /// Text that the request or the response body contains.
    pub text: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusFilter {
    Exact(u16),
    /// 2 for 2xx, 4 for 4xx, 5 for 5xx.
    Class(u8),
    /// Any failure: status >= 400, or an error after a 200 (a broken stream).
    Errors,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum RequestSort {
    #[default]
    Time,
    Cost,
    Latency,
    Ttft,
    Tokens,
}

impl RequestSort {
    /// The SQL of the sort key: a non-null integer, so keyset comparisons are total.
    pub(crate) fn sql(self) -> &'static str {
        match self {
            RequestSort::Time => "created_at",
            RequestSort::Cost => "COALESCE(cost_nanos, -1)",
            RequestSort::Latency => "latency_ms",
            RequestSort::Ttft => "COALESCE(ttft_ms, -1)",
            RequestSort::Tokens => "(COALESCE(prompt_tokens, 0) + COALESCE(completion_tokens, 0))",
        }
    }
}

/// Where a page ends: the last row's sort key and id. The next page starts after it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor {
    pub key: i64,
    pub id: String,
}

impl Cursor {
    /// `key.id`, safe in a URL.
    pub fn encode(&self) -> String {
        format!("{}.{}", self.key, self.id)
    }

    pub fn decode(s: &str) -> Option<Cursor> {
        let (key, id) = s.split_once('.')?;
        let id = Uuid::parse_str(id).ok()?;
        Some(Cursor {
            key: key.parse().ok()?,
            id: id.hyphenated().to_string(),
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestQuery {
    pub org_id: OrgId,
    pub filter: RequestFilter,
    pub sort: RequestSort,
    pub descending: bool,
    pub after: Option<Cursor>,
    pub limit: u32,
}

/// One row of a request list: the log row without bodies and attempts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RequestSummary {
    pub id: Uuid,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    pub status: u16,
    pub model: String,
    pub endpoint: Option<String>,
    pub provider: Option<String>,
    pub billing: Option<BillingMode>,
    pub error_type: Option<String>,
    pub prompt_tokens: Option<i64>,
    pub completion_tokens: Option<i64>,
    pub cached_tokens: Option<i64>,
    pub reasoning_tokens: Option<i64>,
    pub cost_nanos: Option<i64>,
    pub latency_ms: i64,
    pub ttft_ms: Option<i64>,
    pub stream: bool,
    pub user_id: Option<String>,
    pub key_id: Option<KeyId>,
    pub properties: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestPage {
    pub rows: Vec<RequestSummary>,
    /// Present when more rows follow.
    pub next: Option<Cursor>,
}

/// A time range cut into equal buckets (`step`, seconds; whole hours on the rollup path).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SeriesQuery {
    pub org_id: OrgId,
    pub since: OffsetDateTime,
    pub until: OffsetDateTime,
    pub step_secs: i64,
}

impl SeriesQuery {
    /// Whether this range is answered from the rollups.
    pub fn uses_rollups(&self) -> bool {
        self.until - self.since > RAW_RANGE_LIMIT
    }
}

/// Usage of one bucket through one provider, model string and billing mode.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UsagePoint {
    /// Bucket start, seconds since the epoch.
    pub bucket: i64,
    /// Empty when the request never reached a provider.
    pub provider: String,
    pub model: String,
    /// `byok`, `ptb` or empty.
    pub billing: String,
    pub requests: i64,
    pub errors: i64,
    pub cost_nanos: i64,
    pub unpriced: i64,
    pub prompt_tokens: i64,
    pub completion_tokens: i64,
    pub latency_ms_sum: i64,
    pub ttft_ms_sum: i64,
    pub ttft_count: i64,
}

/// One histogram cell: `n` requests of a bucket fell into latency bucket `bucket`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct HistPoint {
    pub bucket: i64,
    /// 0 latency, 1 time to first token.
    pub kind: i64,
    /// Index into [`LATENCY_BUCKETS_MS`] (its length for the overflow bucket).
    pub hist: i64,
    pub n: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ErrorCount {
    pub status: u16,
    /// Empty when the answer had a status but no error type.
    pub error_type: String,
    pub requests: i64,
}

/// How a group list (users, property values) is ordered.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum GroupSort {
    #[default]
    Requests,
    Cost,
    Tokens,
    Latency,
    LastSeen,
    FirstSeen,
    Key,
}

impl GroupSort {
    pub(crate) fn sql(self) -> &'static str {
        match self {
            GroupSort::Requests => "requests",
            GroupSort::Cost => "cost",
            GroupSort::Tokens => "(pt + ct)",
            GroupSort::Latency => "(lat * 1.0 / requests)",
            GroupSort::LastSeen => "last_seen",
            GroupSort::FirstSeen => "first_seen",
            GroupSort::Key => "k1",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupQuery {
    pub org_id: OrgId,
    pub since: OffsetDateTime,
    pub until: OffsetDateTime,
    /// Keys containing this text (case-sensitive).
    pub search: Option<String>,
    /// Properties only: just this property name.
    pub name: Option<String>,
    pub sort: GroupSort,
    pub descending: bool,
    pub limit: u32,
    pub offset: u32,
}

impl GroupQuery {
    pub fn uses_rollups(&self) -> bool {
        self.until - self.since > RAW_RANGE_LIMIT
    }
}

/// Totals of one user id, or of one property name and value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GroupStats {
    /// The user id, or the property name.
    pub key: String,
    /// The property value (empty for users).
    pub value: String,
    pub requests: i64,
    pub errors: i64,
    pub cost_nanos: i64,
    pub unpriced: i64,
    pub prompt_tokens: i64,
    pub completion_tokens: i64,
    pub latency_ms_sum: i64,
    #[serde(with = "time::serde::rfc3339")]
    pub first_seen: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub last_seen: OffsetDateTime,
}

/// The dashboard's queries. Implemented for both backends by `impl_analytics!`.
pub trait AnalyticsStore: Send + Sync {
    /// One page of requests in the query's order, newest first by default.
    fn search_requests<'a>(&'a self, q: &'a RequestQuery) -> BoxFut<'a, RequestPage>;
    /// Usage per bucket, provider, model string and billing mode.
    fn usage_series<'a>(&'a self, q: &'a SeriesQuery) -> BoxFut<'a, Vec<UsagePoint>>;
    /// Latency and TTFT histograms per bucket.
    fn latency_histograms<'a>(&'a self, q: &'a SeriesQuery) -> BoxFut<'a, Vec<HistPoint>>;
    /// Failed requests by status and error type over the whole range, most frequent first.
    fn error_counts<'a>(&'a self, q: &'a SeriesQuery) -> BoxFut<'a, Vec<ErrorCount>>;
    /// Per user id (requests without one are left out).
    fn user_stats<'a>(&'a self, q: &'a GroupQuery) -> BoxFut<'a, Vec<GroupStats>>;
    /// Per property name and value.
    fn property_stats<'a>(&'a self, q: &'a GroupQuery) -> BoxFut<'a, Vec<GroupStats>>;
    /// Names of the properties seen in the range, for the Properties page's picker.
    fn property_names<'a>(&'a self, q: &'a GroupQuery) -> BoxFut<'a, Vec<String>>;
    /// When each of these keys last made a request (absent: never).
    fn keys_last_used<'a>(
        &'a self,
        org: OrgId,
        keys: &'a [KeyId],
    ) -> BoxFut<'a, Vec<(KeyId, OffsetDateTime)>>;
    /// Adds `rows` to the rollups in one transaction of its own (seeding, backfills). The log
    /// writer instead calls [`update_rollups`] inside the transaction that inserts the rows.
    fn apply_rollups<'a>(&'a self, rows: &'a [LogRow]) -> BoxFut<'a, ()>;
}

/// The histogram bucket of a latency in milliseconds.
pub fn latency_bucket(ms: i64) -> i64 {
    LATENCY_BUCKETS_MS.partition_point(|&b| b < ms) as i64
}

/// `CASE` ladder of [`latency_bucket`] over a column, for SQL.
pub(crate) fn latency_bucket_sql(column: &str) -> String {
    // Cast: PostgreSQL types bare integer literals as INT4, which does not decode as i64.
    let mut s = String::from("CAST(CASE");
    for (i, b) in LATENCY_BUCKETS_MS.iter().enumerate() {
        s.push_str(&format!(" WHEN {column} <= {b} THEN {i}"));
    }
    s.push_str(&format!(
        " ELSE {} END AS BIGINT)",
        LATENCY_BUCKETS_MS.len()
    ));
    s
}

/// `%text%` for `LIKE ... ESCAPE '\'`, with the caller's wildcards taken literally.
pub(crate) fn like_pattern(text: &str) -> String {
    let mut s = String::with_capacity(text.len() + 2);
    s.push('%');
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            s.push('\\');
        }
        s.push(c);
    }
    s.push('%');
    s
}

/// A log row's failure flag, the same rule as the SQL: status >= 400 or an error type.
pub(crate) fn is_error(row: &LogRow) -> bool {
    row.status >= 400 || row.error_type.is_some()
}

/// Rollup cells a batch of rows adds to, aggregated in memory first so that a batch of 256
/// rows touches a handful of rows per table. `BTreeMap`s give every transaction the same lock
/// order on the rollup rows, so concurrent batches (several instances on PostgreSQL) cannot
/// deadlock on them.
#[derive(Default)]
pub(crate) struct RollupDelta {
    pub usage: BTreeMap<(String, i64, String, String, String), [i64; 9]>,
    pub latency: BTreeMap<(String, i64, i64, i64), i64>,
    pub errors: BTreeMap<(String, i64, i64, String), i64>,
    /// (org, day, user) → totals [requests, errors, cost, unpriced, pt, ct, lat, first, last]
    pub users: BTreeMap<(String, i64, String), [i64; 9]>,
    pub properties: BTreeMap<(String, i64, String, String), [i64; 9]>,
}

fn add_group(cell: &mut [i64; 9], row: &LogRow, at: i64) {
    let fresh = cell[0] == 0;
    cell[0] += 1;
    cell[1] += i64::from(is_error(row));
    cell[2] += row.cost_nanos.unwrap_or(0);
    cell[3] += i64::from(row.cost_nanos.is_none());
    cell[4] += row.prompt_tokens.unwrap_or(0);
    cell[5] += row.completion_tokens.unwrap_or(0);
    cell[6] += row.latency_ms;
    cell[7] = if fresh { at } else { cell[7].min(at) };
    cell[8] = if fresh { at } else { cell[8].max(at) };
}

impl RollupDelta {
    pub fn of(rows: &[LogRow]) -> RollupDelta {
        let mut d = RollupDelta::default();
        for row in rows {
            let org = row.org_id.to_string();
            let at = crate::types::to_us(row.created_at);
            let hour = at.div_euclid(US_PER_HOUR) * US_PER_HOUR;
            let day = at.div_euclid(crate::types::US_PER_DAY) * crate::types::US_PER_DAY;
            let u = d
                .usage
                .entry((
                    org.clone(),
                    hour,
                    row.provider.clone().unwrap_or_default(),
                    row.model.clone(),
                    row.billing
                        .map(|b| b.as_str().to_owned())
                        .unwrap_or_default(),
                ))
                .or_default();
            u[0] += 1;
            u[1] += i64::from(is_error(row));
            u[2] += row.cost_nanos.unwrap_or(0);
            u[3] += i64::from(row.cost_nanos.is_none());
            u[4] += row.prompt_tokens.unwrap_or(0);
            u[5] += row.completion_tokens.unwrap_or(0);
            u[6] += row.latency_ms;
            u[7] += row.ttft_ms.unwrap_or(0);
            u[8] += i64::from(row.ttft_ms.is_some());
            *d.latency
                .entry((org.clone(), hour, 0, latency_bucket(row.latency_ms)))
                .or_default() += 1;
            if let Some(t) = row.ttft_ms {
                *d.latency
                    .entry((org.clone(), hour, 1, latency_bucket(t)))
                    .or_default() += 1;
            }
            if is_error(row) {
                *d.errors
                    .entry((
                        org.clone(),
                        hour,
                        i64::from(row.status),
                        row.error_type.clone().unwrap_or_default(),
                    ))
                    .or_default() += 1;
            }
            if let Some(user) = &row.user_id {
                add_group(
                    d.users.entry((org.clone(), day, user.clone())).or_default(),
                    row,
                    at,
                );
            }
            for (name, value) in &row.properties {
                add_group(
                    d.properties
                        .entry((org.clone(), day, name.clone(), value.clone()))
                        .or_default(),
                    row,
                    at,
                );
            }
        }
        d
    }
}

/// Adds a batch of log rows to the rollup tables inside the caller's transaction: call it in
/// the same transaction that inserts the rows, so the rollups never disagree with them.
pub async fn update_rollups<DB>(
    tx: &mut sqlx::Transaction<'static, DB>,
    rows: &[LogRow],
) -> crate::Result<()>
where
    DB: RollupBackend,
{
    DB::update_rollups(tx, rows).await
}

/// The backends [`update_rollups`] runs on (SQLite and PostgreSQL).
pub trait RollupBackend: sqlx::Database {
    fn update_rollups<'a>(
        tx: &'a mut sqlx::Transaction<'static, Self>,
        rows: &'a [LogRow],
    ) -> BoxFut<'a, ()>;
}

macro_rules! impl_analytics {
    ($ty:ty, $db:ty, $props_from:literal) => {
        impl $crate::analytics::RollupBackend for $db {
            fn update_rollups<'a>(
                tx: &'a mut sqlx::Transaction<'static, $db>,
                rows: &'a [$crate::LogRow],
            ) -> $crate::BoxFut<'a, ()> {
                Box::pin(async move {
                    let d = $crate::analytics::RollupDelta::of(rows);
                    for ((org, hour, provider, model, billing), v) in &d.usage {
                        sqlx::query(
                            "INSERT INTO rollup_usage (org_id, hour, provider, model, billing_mode, \
                             requests, errors, cost_nanos, unpriced, prompt_tokens, completion_tokens, \
                             latency_ms_sum, ttft_ms_sum, ttft_count) \
                             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) \
                             ON CONFLICT (org_id, hour, provider, model, billing_mode) DO UPDATE SET \
                             requests = rollup_usage.requests + excluded.requests, \
                             errors = rollup_usage.errors + excluded.errors, \
                             cost_nanos = rollup_usage.cost_nanos + excluded.cost_nanos, \
                             unpriced = rollup_usage.unpriced + excluded.unpriced, \
                             prompt_tokens = rollup_usage.prompt_tokens + excluded.prompt_tokens, \
                             completion_tokens = rollup_usage.completion_tokens + excluded.completion_tokens, \
                             latency_ms_sum = rollup_usage.latency_ms_sum + excluded.latency_ms_sum, \
                             ttft_ms_sum = rollup_usage.ttft_ms_sum + excluded.ttft_ms_sum, \
                             ttft_count = rollup_usage.ttft_count + excluded.ttft_count",
                        )
                        .bind(org)
                        .bind(hour)
                        .bind(provider)
                        .bind(model)
                        .bind(billing)
                        .bind(v[0])
                        .bind(v[1])
                        .bind(v[2])
                        .bind(v[3])
                        .bind(v[4])
                        .bind(v[5])
                        .bind(v[6])
                        .bind(v[7])
                        .bind(v[8])
                        .execute(&mut **tx)
                        .await?;
                    }
                    for ((org, hour, kind, bucket), n) in &d.latency {
                        sqlx::query(
                            "INSERT INTO rollup_latency (org_id, hour, kind, bucket, n) \
                             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (org_id, hour, kind, bucket) \
                             DO UPDATE SET n = rollup_latency.n + excluded.n",
                        )
                        .bind(org)
                        .bind(hour)
                        .bind(kind)
                        .bind(bucket)
                        .bind(n)
                        .execute(&mut **tx)
                        .await?;
                    }
                    for ((org, hour, status, error_type), n) in &d.errors {
                        sqlx::query(
                            "INSERT INTO rollup_errors (org_id, hour, status, error_type, n) \
                             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (org_id, hour, status, error_type) \
                             DO UPDATE SET n = rollup_errors.n + excluded.n",
                        )
                        .bind(org)
                        .bind(hour)
                        .bind(status)
                        .bind(error_type)
                        .bind(n)
                        .execute(&mut **tx)
                        .await?;
                    }
                    const GROUP_SET: &str = "requests = t.requests + excluded.requests, \
                         errors = t.errors + excluded.errors, \
                         cost_nanos = t.cost_nanos + excluded.cost_nanos, \
                         unpriced = t.unpriced + excluded.unpriced, \
                         prompt_tokens = t.prompt_tokens + excluded.prompt_tokens, \
                         completion_tokens = t.completion_tokens + excluded.completion_tokens, \
                         latency_ms_sum = t.latency_ms_sum + excluded.latency_ms_sum, \
                         first_seen = CASE WHEN excluded.first_seen < t.first_seen THEN excluded.first_seen ELSE t.first_seen END, \
                         last_seen = CASE WHEN excluded.last_seen > t.last_seen THEN excluded.last_seen ELSE t.last_seen END";
                    let users_sql = format!(
                        "INSERT INTO rollup_users AS t (org_id, day, user_id, requests, errors, cost_nanos, \
                         unpriced, prompt_tokens, completion_tokens, latency_ms_sum, first_seen, last_seen) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) \
                         ON CONFLICT (org_id, day, user_id) DO UPDATE SET {GROUP_SET}"
                    );
                    for ((org, day, user), v) in &d.users {
                        let mut q = sqlx::query(&users_sql).bind(org).bind(day).bind(user);
                        for x in v {
                            q = q.bind(*x);
                        }
                        q.execute(&mut **tx).await?;
                    }
                    let props_sql = format!(
                        "INSERT INTO rollup_properties AS t (org_id, day, name, value, requests, errors, \
                         cost_nanos, unpriced, prompt_tokens, completion_tokens, latency_ms_sum, first_seen, \
                         last_seen) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) \
                         ON CONFLICT (org_id, day, name, value) DO UPDATE SET {GROUP_SET}"
                    );
                    for ((org, day, name, value), v) in &d.properties {
                        let mut q = sqlx::query(&props_sql).bind(org).bind(day).bind(name).bind(value);
                        for x in v {
                            q = q.bind(*x);
                        }
                        q.execute(&mut **tx).await?;
                    }
                    Ok(())
                })
            }
        }

        impl $crate::analytics::AnalyticsStore for $ty {
            fn search_requests<'a>(
                &'a self,
                q: &'a $crate::analytics::RequestQuery,
            ) -> $crate::BoxFut<'a, $crate::analytics::RequestPage> {
                Box::pin(async move {
                    use $crate::analytics::StatusFilter;
                    let f = &q.filter;
                    let key = q.sort.sql();
                    let mut qb = sqlx::QueryBuilder::<$db>::new(format!(
                        "SELECT id, created_at, status, model, endpoint, provider, billing_mode, \
                         error_type, prompt_tokens, completion_tokens, cached_tokens, reasoning_tokens, \
                         cost_nanos, latency_ms, ttft_ms, stream, user_id, key_id, properties, \
                         {key} AS sort_key FROM request_logs WHERE org_id = "
                    ));
                    qb.push_bind(q.org_id.to_string());
                    if let Some(t) = f.since {
                        qb.push(" AND created_at >= ").push_bind($crate::types::to_us(t));
                    }
                    if let Some(t) = f.until {
                        qb.push(" AND created_at < ").push_bind($crate::types::to_us(t));
                    }
                    match f.status {
                        None => {}
                        Some(StatusFilter::Exact(s)) => {
                            qb.push(" AND status = ").push_bind(i64::from(s));
                        }
                        Some(StatusFilter::Class(c)) => {
                            let lo = i64::from(c) * 100;
                            qb.push(" AND status >= ").push_bind(lo);
                            qb.push(" AND status < ").push_bind(lo + 100);
                        }
                        Some(StatusFilter::Errors) => {
                            qb.push(" AND (status >= 400 OR error_type IS NOT NULL)");
                        }
                    }
                    let eq = |qb: &mut sqlx::QueryBuilder<'a, $db>, col: &str, v: &'a Option<String>| {
                        if let Some(v) = v {
                            qb.push(format!(" AND {col} = ")).push_bind(v.as_str());
                        }
                    };
                    eq(&mut qb, "model", &f.model);
                    eq(&mut qb, "endpoint", &f.endpoint);
                    eq(&mut qb, "provider", &f.provider);
                    eq(&mut qb, "error_type", &f.error_type);
                    eq(&mut qb, "user_id", &f.user_id);
                    if let Some(b) = f.billing {
                        qb.push(" AND billing_mode = ").push_bind(b.as_str());
                    }
                    if let Some((name, value)) = &f.property {
                        // Properties are stored as a JSON object of strings; match the pair as
                        // serde_json writes it.
                        let pair = format!(
                            "{}:{}",
                            serde_json::Value::String(name.clone()),
                            serde_json::Value::String(value.clone())
                        );
                        qb.push(" AND properties LIKE ")
                            .push_bind($crate::analytics::like_pattern(&pair))
                            .push(" ESCAPE '\\'");
                    }
                    if let Some(n) = f.min_tokens {
                        qb.push(" AND COALESCE(prompt_tokens, 0) + COALESCE(completion_tokens, 0) >= ")
                            .push_bind(n);
                    }
                    if let Some(n) = f.min_cost_nanos {
                        qb.push(" AND cost_nanos >= ").push_bind(n);
                    }
                    match f.unpriced {
                        Some(true) => {
                            qb.push(" AND cost_nanos IS NULL");
                        }
                        Some(false) => {
                            qb.push(" AND cost_nanos IS NOT NULL");
                        }
                        None => {}
                    }
                    if let Some(n) = f.min_latency_ms {
                        qb.push(" AND latency_ms >= ").push_bind(n);
                    }
                    if let Some(n) = f.min_ttft_ms {
                        qb.push(" AND ttft_ms >= ").push_bind(n);
                    }
                    if let Some(text) = &f.text {
                        let p = $crate::analytics::like_pattern(text);
                        qb.push(" AND (request_body LIKE ")
                            .push_bind(p.clone())
                            .push(" ESCAPE '\\' OR response_body LIKE ")
                            .push_bind(p)
                            .push(" ESCAPE '\\')");
                    }
                    let (cmp, dir) = if q.descending { ("<", "DESC") } else { (">", "ASC") };
                    if let Some(c) = &q.after {
                        qb.push(format!(" AND ({key}, id) {cmp} ("))
                            .push_bind(c.key)
                            .push(", ")
                            .push_bind(c.id.as_str())
                            .push(")");
                    }
                    qb.push(format!(" ORDER BY {key} {dir}, id {dir} LIMIT "))
                        .push_bind(i64::from(q.limit) + 1);
                    let rows = qb.build().fetch_all(self.reader()).await?;
                    let mut out = Vec::with_capacity(rows.len());
                    let mut keys = Vec::with_capacity(rows.len());
                    for r in &rows {
                        use sqlx::Row;
                        const T: &str = "request_logs";
                        let corrupt = |detail: String| $crate::StoreError::Corrupt { table: T, detail };
                        let status: i64 = r.try_get("status")?;
                        let billing: Option<String> = r.try_get("billing_mode")?;
                        let properties: String = r.try_get("properties")?;
                        keys.push(r.try_get::<i64, _>("sort_key")?);
                        out.push($crate::analytics::RequestSummary {
                            id: $crate::types::parse_id(&r.try_get::<String, _>("id")?, T)?,
                            created_at: $crate::types::from_us(r.try_get("created_at")?, T)?,
                            status: u16::try_from(status)
                                .map_err(|_| corrupt(format!("status {status}")))?,
                            model: r.try_get("model")?,
                            endpoint: r.try_get("endpoint")?,
                            provider: r.try_get("provider")?,
                            billing: billing
                                .map(|b| {
                                    $crate::BillingMode::parse(&b)
                                        .ok_or_else(|| corrupt(format!("billing_mode {b:?}")))
                                })
                                .transpose()?,
                            error_type: r.try_get("error_type")?,
                            prompt_tokens: r.try_get("prompt_tokens")?,
                            completion_tokens: r.try_get("completion_tokens")?,
                            cached_tokens: r.try_get("cached_tokens")?,
                            reasoning_tokens: r.try_get("reasoning_tokens")?,
                            cost_nanos: r.try_get("cost_nanos")?,
                            latency_ms: r.try_get("latency_ms")?,
                            ttft_ms: r.try_get("ttft_ms")?,
                            stream: r.try_get("stream")?,
                            user_id: r.try_get("user_id")?,
                            key_id: r
                                .try_get::<Option<String>, _>("key_id")?
                                .map(|s| $crate::types::parse_id(&s, T))
                                .transpose()?,
                            properties: serde_json::from_str(&properties)
                                .map_err(|e| corrupt(format!("properties: {e}")))?,
                        });
                    }
                    let next = if out.len() > q.limit as usize {
                        out.truncate(q.limit as usize);
                        out.last().map(|last| $crate::analytics::Cursor {
                            key: keys[q.limit as usize - 1],
                            id: last.id.hyphenated().to_string(),
                        })
                    } else {
                        None
                    };
                    Ok($crate::analytics::RequestPage { rows: out, next })
                })
            }

            fn usage_series<'a>(
                &'a self,
                q: &'a $crate::analytics::SeriesQuery,
            ) -> $crate::BoxFut<'a, Vec<$crate::analytics::UsagePoint>> {
                Box::pin(async move {
                    let step = q.step_secs.max(1) * 1_000_000;
                    let (since, until) = $crate::analytics::bounds(q.since, q.until, q.uses_rollups(), false);
                    let sql = if q.uses_rollups() {
                        "SELECT (hour / $1) * $1 AS b, provider AS p, model AS m, billing_mode AS bm, \
                         CAST(SUM(requests) AS BIGINT), CAST(SUM(errors) AS BIGINT), \
                         CAST(SUM(cost_nanos) AS BIGINT), CAST(SUM(unpriced) AS BIGINT), \
                         CAST(SUM(prompt_tokens) AS BIGINT), CAST(SUM(completion_tokens) AS BIGINT), \
                         CAST(SUM(latency_ms_sum) AS BIGINT), CAST(SUM(ttft_ms_sum) AS BIGINT), \
                         CAST(SUM(ttft_count) AS BIGINT) \
                         FROM rollup_usage WHERE org_id = $2 AND hour >= $3 AND hour < $4 \
                         GROUP BY 1, 2, 3, 4 ORDER BY 1"
                    } else {
                        "SELECT (created_at / $1) * $1 AS b, COALESCE(provider, '') AS p, model AS m, \
                         COALESCE(billing_mode, '') AS bm, COUNT(*), \
                         CAST(SUM(CASE WHEN status >= 400 OR error_type IS NOT NULL THEN 1 ELSE 0 END) AS BIGINT), \
                         CAST(COALESCE(SUM(cost_nanos), 0) AS BIGINT), \
                         CAST(SUM(CASE WHEN cost_nanos IS NULL THEN 1 ELSE 0 END) AS BIGINT), \
                         CAST(COALESCE(SUM(prompt_tokens), 0) AS BIGINT), \
                         CAST(COALESCE(SUM(completion_tokens), 0) AS BIGINT), \
                         CAST(SUM(latency_ms) AS BIGINT), CAST(COALESCE(SUM(ttft_ms), 0) AS BIGINT), \
                         COUNT(ttft_ms) \
                         FROM request_logs WHERE org_id = $2 AND created_at >= $3 AND created_at < $4 \
                         GROUP BY 1, 2, 3, 4 ORDER BY 1"
                    };
                    type R = (i64, String, String, String, i64, i64, i64, i64, i64, i64, i64, i64, i64);
                    let rows: Vec<R> = sqlx::query_as(sql)
                        .bind(step)
                        .bind(q.org_id.to_string())
                        .bind(since)
                        .bind(until)
                        .fetch_all(self.reader())
                        .await?;
                    Ok(rows
                        .into_iter()
                        .map(|(b, provider, model, billing, requests, errors, cost, unpriced, pt, ct, lat, ttft, ttft_n)| {
                            $crate::analytics::UsagePoint {
                                bucket: b / 1_000_000,
                                provider,
                                model,
                                billing,
                                requests,
                                errors,
                                cost_nanos: cost,
                                unpriced,
                                prompt_tokens: pt,
                                completion_tokens: ct,
                                latency_ms_sum: lat,
                                ttft_ms_sum: ttft,
                                ttft_count: ttft_n,
                            }
                        })
                        .collect())
                })
            }

            fn latency_histograms<'a>(
                &'a self,
                q: &'a $crate::analytics::SeriesQuery,
            ) -> $crate::BoxFut<'a, Vec<$crate::analytics::HistPoint>> {
                Box::pin(async move {
                    let step = q.step_secs.max(1) * 1_000_000;
                    let (since, until) = $crate::analytics::bounds(q.since, q.until, q.uses_rollups(), false);
                    let sql = if q.uses_rollups() {
                        "SELECT (hour / $1) * $1, kind, bucket, CAST(SUM(n) AS BIGINT) FROM rollup_latency \
                         WHERE org_id = $2 AND hour >= $3 AND hour < $4 GROUP BY 1, 2, 3 ORDER BY 1"
                            .to_owned()
                    } else {
                        format!(
                            "SELECT b, kind, h, COUNT(*) FROM (\
                             SELECT (created_at / $1) * $1 AS b, CAST(0 AS BIGINT) AS kind, {lat} AS h FROM request_logs \
                             WHERE org_id = $2 AND created_at >= $3 AND created_at < $4 \
                             UNION ALL \
                             SELECT (created_at / $1) * $1 AS b, CAST(1 AS BIGINT) AS kind, {ttft} AS h FROM request_logs \
                             WHERE org_id = $2 AND created_at >= $3 AND created_at < $4 AND ttft_ms IS NOT NULL\
                             ) AS x GROUP BY b, kind, h ORDER BY b",
                            lat = $crate::analytics::latency_bucket_sql("latency_ms"),
                            ttft = $crate::analytics::latency_bucket_sql("ttft_ms"),
                        )
                    };
                    let rows: Vec<(i64, i64, i64, i64)> = sqlx::query_as(&sql)
                        .bind(step)
                        .bind(q.org_id.to_string())
                        .bind(since)
                        .bind(until)
                        .fetch_all(self.reader())
                        .await?;
                    Ok(rows
                        .into_iter()
                        .map(|(b, kind, hist, n)| $crate::analytics::HistPoint {
                            bucket: b / 1_000_000,
                            kind,
                            hist,
                            n,
                        })
                        .collect())
                })
            }

            fn error_counts<'a>(
                &'a self,
                q: &'a $crate::analytics::SeriesQuery,
            ) -> $crate::BoxFut<'a, Vec<$crate::analytics::ErrorCount>> {
                Box::pin(async move {
                    let (since, until) = $crate::analytics::bounds(q.since, q.until, q.uses_rollups(), false);
                    let sql = if q.uses_rollups() {
                        "SELECT status, error_type, CAST(SUM(n) AS BIGINT) AS c FROM rollup_errors \
                         WHERE org_id = $1 AND hour >= $2 AND hour < $3 \
                         GROUP BY status, error_type ORDER BY c DESC, status LIMIT 50"
                    } else {
                        "SELECT status, COALESCE(error_type, '') AS et, COUNT(*) AS c FROM request_logs \
                         WHERE org_id = $1 AND created_at >= $2 AND created_at < $3 \
                         AND (status >= 400 OR error_type IS NOT NULL) \
                         GROUP BY status, COALESCE(error_type, '') ORDER BY c DESC, status LIMIT 50"
                    };
                    let rows: Vec<(i64, String, i64)> = sqlx::query_as(sql)
                        .bind(q.org_id.to_string())
                        .bind(since)
                        .bind(until)
                        .fetch_all(self.reader())
                        .await?;
                    Ok(rows
                        .into_iter()
                        .map(|(status, error_type, requests)| $crate::analytics::ErrorCount {
                            status: u16::try_from(status).unwrap_or(0),
                            error_type,
                            requests,
                        })
                        .collect())
                })
            }

            fn user_stats<'a>(
                &'a self,
                q: &'a $crate::analytics::GroupQuery,
            ) -> $crate::BoxFut<'a, Vec<$crate::analytics::GroupStats>> {
                Box::pin(async move {
                    let (since, until) = $crate::analytics::bounds(q.since, q.until, q.uses_rollups(), true);
                    let mut qb = sqlx::QueryBuilder::<$db>::new(if q.uses_rollups() {
                        "SELECT k1, '' AS k2, requests, errs, cost, unpriced, pt, ct, lat, first_seen, last_seen FROM (\
                         SELECT user_id AS k1, CAST(SUM(requests) AS BIGINT) AS requests, \
                         CAST(SUM(errors) AS BIGINT) AS errs, CAST(SUM(cost_nanos) AS BIGINT) AS cost, \
                         CAST(SUM(unpriced) AS BIGINT) AS unpriced, CAST(SUM(prompt_tokens) AS BIGINT) AS pt, \
                         CAST(SUM(completion_tokens) AS BIGINT) AS ct, CAST(SUM(latency_ms_sum) AS BIGINT) AS lat, \
                         MIN(first_seen) AS first_seen, MAX(last_seen) AS last_seen \
                         FROM rollup_users WHERE org_id = "
                    } else {
                        "SELECT k1, '' AS k2, requests, errs, cost, unpriced, pt, ct, lat, first_seen, last_seen FROM (\
                         SELECT user_id AS k1, COUNT(*) AS requests, \
                         CAST(SUM(CASE WHEN status >= 400 OR error_type IS NOT NULL THEN 1 ELSE 0 END) AS BIGINT) AS errs, \
                         CAST(COALESCE(SUM(cost_nanos), 0) AS BIGINT) AS cost, \
                         CAST(SUM(CASE WHEN cost_nanos IS NULL THEN 1 ELSE 0 END) AS BIGINT) AS unpriced, \
                         CAST(COALESCE(SUM(prompt_tokens), 0) AS BIGINT) AS pt, \
                         CAST(COALESCE(SUM(completion_tokens), 0) AS BIGINT) AS ct, \
                         CAST(SUM(latency_ms) AS BIGINT) AS lat, \
                         MIN(created_at) AS first_seen, MAX(created_at) AS last_seen \
                         FROM request_logs WHERE user_id IS NOT NULL AND org_id = "
                    });
                    let time_col = if q.uses_rollups() { "day" } else { "created_at" };
                    qb.push_bind(q.org_id.to_string());
                    qb.push(format!(" AND {time_col} >= ")).push_bind(since);
                    qb.push(format!(" AND {time_col} < ")).push_bind(until);
                    if let Some(s) = &q.search {
                        qb.push(" AND user_id LIKE ")
                            .push_bind($crate::analytics::like_pattern(s))
                            .push(" ESCAPE '\\'");
                    }
                    qb.push(" GROUP BY user_id) AS g");
                    $crate::analytics::push_group_order(&mut qb, q);
                    let rows = qb.build().fetch_all(self.reader()).await?;
                    rows.iter().map($crate::analytics::group_from_row::<$db>).collect()
                })
            }

            fn property_stats<'a>(
                &'a self,
                q: &'a $crate::analytics::GroupQuery,
            ) -> $crate::BoxFut<'a, Vec<$crate::analytics::GroupStats>> {
                Box::pin(async move {
                    let (since, until) = $crate::analytics::bounds(q.since, q.until, q.uses_rollups(), true);
                    let mut qb = sqlx::QueryBuilder::<$db>::new(if q.uses_rollups() {
                        "SELECT k1, k2, requests, errs, cost, unpriced, pt, ct, lat, first_seen, last_seen FROM (\
                         SELECT name AS k1, value AS k2, CAST(SUM(requests) AS BIGINT) AS requests, \
                         CAST(SUM(errors) AS BIGINT) AS errs, CAST(SUM(cost_nanos) AS BIGINT) AS cost, \
                         CAST(SUM(unpriced) AS BIGINT) AS unpriced, CAST(SUM(prompt_tokens) AS BIGINT) AS pt, \
                         CAST(SUM(completion_tokens) AS BIGINT) AS ct, CAST(SUM(latency_ms_sum) AS BIGINT) AS lat, \
                         MIN(first_seen) AS first_seen, MAX(last_seen) AS last_seen \
                         FROM rollup_properties WHERE org_id = ".to_owned()
                    } else {
                        format!(
                            "SELECT k1, k2, requests, errs, cost, unpriced, pt, ct, lat, first_seen, last_seen FROM (\
                             SELECT p.key AS k1, p.value AS k2, COUNT(*) AS requests, \
                             CAST(SUM(CASE WHEN r.status >= 400 OR r.error_type IS NOT NULL THEN 1 ELSE 0 END) AS BIGINT) AS errs, \
                             CAST(COALESCE(SUM(r.cost_nanos), 0) AS BIGINT) AS cost, \
                             CAST(SUM(CASE WHEN r.cost_nanos IS NULL THEN 1 ELSE 0 END) AS BIGINT) AS unpriced, \
                             CAST(COALESCE(SUM(r.prompt_tokens), 0) AS BIGINT) AS pt, \
                             CAST(COALESCE(SUM(r.completion_tokens), 0) AS BIGINT) AS ct, \
                             CAST(SUM(r.latency_ms) AS BIGINT) AS lat, \
                             MIN(r.created_at) AS first_seen, MAX(r.created_at) AS last_seen \
                             FROM request_logs r {} WHERE r.properties <> '{{}}' AND r.org_id = ",
                            $props_from
                        )
                    });
                    let rollups = q.uses_rollups();
                    let (time_col, name_col, value_col) = if rollups {
                        ("day", "name", "value")
                    } else {
                        ("r.created_at", "p.key", "p.value")
                    };
                    qb.push_bind(q.org_id.to_string());
                    qb.push(format!(" AND {time_col} >= ")).push_bind(since);
                    qb.push(format!(" AND {time_col} < ")).push_bind(until);
                    if let Some(n) = &q.name {
                        qb.push(format!(" AND {name_col} = ")).push_bind(n.as_str());
                    }
                    if let Some(s) = &q.search {
                        qb.push(format!(" AND {value_col} LIKE "))
                            .push_bind($crate::analytics::like_pattern(s))
                            .push(" ESCAPE '\\'");
                    }
                    qb.push(format!(" GROUP BY {name_col}, {value_col}) AS g"));
                    $crate::analytics::push_group_order(&mut qb, q);
                    let rows = qb.build().fetch_all(self.reader()).await?;
                    rows.iter().map($crate::analytics::group_from_row::<$db>).collect()
                })
            }

            fn property_names<'a>(
                &'a self,
                q: &'a $crate::analytics::GroupQuery,
            ) -> $crate::BoxFut<'a, Vec<String>> {
                Box::pin(async move {
                    let (since, until) = $crate::analytics::bounds(q.since, q.until, q.uses_rollups(), true);
                    let sql = if q.uses_rollups() {
                        "SELECT DISTINCT name FROM rollup_properties WHERE org_id = $1 AND day >= $2 \
                         AND day < $3 ORDER BY name LIMIT 200"
                            .to_owned()
                    } else {
                        format!(
                            "SELECT DISTINCT p.key FROM request_logs r {} WHERE r.properties <> '{{}}' \
                             AND r.org_id = $1 AND r.created_at >= $2 AND r.created_at < $3 \
                             ORDER BY p.key LIMIT 200",
                            $props_from
                        )
                    };
                    let names: Vec<String> = sqlx::query_scalar(&sql)
                        .bind(q.org_id.to_string())
                        .bind(since)
                        .bind(until)
                        .fetch_all(self.reader())
                        .await?;
                    Ok(names)
                })
            }

            fn keys_last_used<'a>(
                &'a self,
                org: $crate::OrgId,
                keys: &'a [$crate::KeyId],
            ) -> $crate::BoxFut<'a, Vec<($crate::KeyId, time::OffsetDateTime)>> {
                Box::pin(async move {
                    let mut out = Vec::new();
                    // One index probe per key (request_logs_org_key_time): an org has few keys.
                    for key in keys {
                        let last: Option<i64> = sqlx::query_scalar(
                            "SELECT MAX(created_at) FROM request_logs WHERE org_id = $1 AND key_id = $2",
                        )
                        .bind(org.to_string())
                        .bind(key.to_string())
                        .fetch_one(self.reader())
                        .await?;
                        if let Some(us) = last {
                            out.push((*key, $crate::types::from_us(us, "request_logs")?));
                        }
                    }
                    Ok(out)
                })
            }

            fn apply_rollups<'a>(&'a self, rows: &'a [$crate::LogRow]) -> $crate::BoxFut<'a, ()> {
                Box::pin(async move {
                    if rows.is_empty() {
                        return Ok(());
                    }
                    let mut tx = self.begin_write().await?;
                    $crate::analytics::update_rollups(&mut tx, rows).await?;
                    tx.commit().await?;
                    Ok(())
                })
            }
        }
    };
}

pub(crate) use impl_analytics;

/// A range in stored microseconds. Rollup ranges are widened to whole hours, or whole days for
/// users and properties, so that every bucket that overlaps the range counts.
pub(crate) fn bounds(
    since: OffsetDateTime,
    until: OffsetDateTime,
    rollups: bool,
    daily: bool,
) -> (i64, i64) {
    let (s, u) = (crate::types::to_us(since), crate::types::to_us(until));
    if !rollups {
        return (s, u);
    }
    let unit = if daily {
        crate::types::US_PER_DAY
    } else {
        US_PER_HOUR
    };
    (
        s.div_euclid(unit) * unit,
        (u + unit - 1).div_euclid(unit) * unit,
    )
}

pub(crate) fn push_group_order<DB: sqlx::Database>(
    qb: &mut sqlx::QueryBuilder<'_, DB>,
    q: &GroupQuery,
) where
    i64: for<'q> sqlx::Encode<'q, DB> + sqlx::Type<DB>,
{
    let dir = if q.descending { "DESC" } else { "ASC" };
    qb.push(format!(
        " ORDER BY {} {dir}, k1 {dir}, k2 {dir} LIMIT ",
        q.sort.sql()
    ))
    .push_bind(i64::from(q.limit))
    .push(" OFFSET ")
    .push_bind(i64::from(q.offset));
}

pub(crate) fn group_from_row<DB: sqlx::Database>(r: &DB::Row) -> crate::Result<GroupStats>
where
    for<'r> String: sqlx::Decode<'r, DB> + sqlx::Type<DB>,
    for<'r> i64: sqlx::Decode<'r, DB> + sqlx::Type<DB>,
    usize: sqlx::ColumnIndex<DB::Row>,
{
    use sqlx::Row;
    const T: &str = "request_logs";
    Ok(GroupStats {
        key: r.try_get(0usize)?,
        value: r.try_get(1usize)?,
        requests: r.try_get(2usize)?,
        errors: r.try_get(3usize)?,
        cost_nanos: r.try_get(4usize)?,
        unpriced: r.try_get(5usize)?,
        prompt_tokens: r.try_get(6usize)?,
        completion_tokens: r.try_get(7usize)?,
        latency_ms_sum: r.try_get(8usize)?,
        first_seen: crate::types::from_us(r.try_get(9usize)?, T)?,
        last_seen: crate::types::from_us(r.try_get(10usize)?, T)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latency_buckets_match_the_sql_ladder() {
        assert_eq!(latency_bucket(0), 0);
        assert_eq!(latency_bucket(10), 0);
        assert_eq!(latency_bucket(11), 1);
        assert_eq!(latency_bucket(120_000), LATENCY_BUCKETS_MS.len() as i64 - 1);
        assert_eq!(latency_bucket(120_001), LATENCY_BUCKETS_MS.len() as i64);
        let sql = latency_bucket_sql("x");
        assert!(sql.starts_with("CAST(CASE WHEN x <= 10 THEN 0 WHEN x <= 25 THEN 1"));
    }

    #[test]
    fn like_patterns_escape_wildcards() {
        assert_eq!(like_pattern("a%b_c\\"), "%a\\%b\\_c\\\\%");
    }

    #[test]
    fn cursors_round_trip_and_refuse_junk() {
        let c = Cursor {
            key: -5,
            id: Uuid::now_v7().hyphenated().to_string(),
        };
        assert_eq!(Cursor::decode(&c.encode()), Some(c));
        assert_eq!(Cursor::decode("12.not-a-uuid"), None);
        assert_eq!(Cursor::decode("x.y"), None);
    }

    #[test]
    fn rollup_bounds_cover_whole_buckets() {
        let t = |us: i64| OffsetDateTime::from_unix_timestamp_nanos(i128::from(us) * 1000).unwrap();
        let (s, u) = bounds(t(US_PER_HOUR + 5), t(3 * US_PER_HOUR + 1), true, false);
        assert_eq!((s, u), (US_PER_HOUR, 4 * US_PER_HOUR));
        assert_eq!(bounds(t(7), t(9), false, false), (7, 9));
    }
}
