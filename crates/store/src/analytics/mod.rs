//! The dashboard's read side: filtered, sorted, keyset-paginated request lists; usage series,
//! latency histograms and error counts for the Overview; per-user and per-property aggregates.
//!
//! Ranges of at most [`RAW_RANGE_LIMIT`] read `request_logs` directly. Longer ranges read the
//! rollup tables of migrations 0003 and 0006, which [`update_rollups`] maintains inside the log
//! writer's transaction (so they are as live as the rows): 6-hourly and hourly usage, latency
//! histograms and errors, daily users and properties. A long series is cut into [`segments`]:
//! the widest rollup its step allows for the whole buckets inside the range, narrower rollups
//! for the whole hours left at the edges, and the rows themselves for the partial hours at
//! either end, so the answer is exact for any range, not widened to whole buckets.
//! Users and properties read their daily rollups over the range widened to whole UTC days.
//!
//! Submodules: [`rollups`] (what a batch adds to the rollups, and `update_rollups`) and
//! `queries` (the SQL of [`AnalyticsStore`], stamped out per backend by `impl_analytics!`).
//!
//! Shapes of the answers ([`UsagePoint`], [`HistPoint`], ...) are the same on both paths, so the
//! dashboard never knows which one answered. SQL is written once for both backends; only the
//! JSON expansion of `properties` differs and is passed to the macro.

use std::collections::BTreeMap;

use serde::Serialize;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::{BillingMode, BoxFut, KeyId, LogRow, OrgId};

mod queries;
pub mod rollups;

pub(crate) use queries::impl_analytics;
pub use rollups::{update_rollups, RollupBackend};

/// The longest range answered from the raw rows; longer ones read the rollups.
pub const RAW_RANGE_LIMIT: time::Duration = time::Duration::hours(48);

/// Upper bounds (ms, inclusive) of the latency histogram buckets; a last bucket holds the rest.
pub const LATENCY_BUCKETS_MS: &[i64] = &[
    10, 25, 50, 75, 100, 150, 200, 300, 400, 500, 750, 1_000, 1_500, 2_000, 3_000, 4_000, 5_000,
    7_500, 10_000, 15_000, 20_000, 30_000, 60_000, 120_000,
];

pub(crate) const US_PER_HOUR: i64 = 3_600_000_000;
/// Width of the 6-hour rollups of migration 0006.
pub(crate) const US_PER_6H: i64 = 6 * US_PER_HOUR;

/// A piece of a range, `[since, until)` in µs, and where it is read from: a rollup of buckets
/// `grain` µs wide (the piece covers whole buckets), or the rows (`None`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Segment {
    pub grain: Option<i64>,
    pub since: i64,
    pub until: i64,
}

/// Cuts `[since, until)` into pieces: the whole buckets of the first grain in the middle, the
/// rest at either edge cut the same way with the next grains, and the rows for what no grain
/// covers. `grains` go widest first, each a multiple of the next. In time order.
pub fn segments(since: i64, until: i64, grains: &[i64]) -> Vec<Segment> {
    fn split(since: i64, until: i64, grains: &[i64], out: &mut Vec<Segment>) {
        if since >= until {
            return;
        }
        let Some((&g, rest)) = grains.split_first() else {
            out.push(Segment {
                grain: None,
                since,
                until,
            });
            return;
        };
        let (a, b) = (-(-since).div_euclid(g) * g, until.div_euclid(g) * g);
        if a < b {
            split(since, a, rest, out);
            out.push(Segment {
                grain: Some(g),
                since: a,
                until: b,
            });
            split(b, until, rest, out);
        } else {
            split(since, until, rest, out);
        }
    }
    let mut out = Vec::new();
    split(since, until, grains, &mut out);
    out
}

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
    /// Whether this range is answered from the rollups (with the rows at its edges).
    pub fn uses_rollups(&self) -> bool {
        self.until - self.since > RAW_RANGE_LIMIT
    }

    /// Where the series of this query come from. `by_step`: the buckets of the answer are
    /// `step_secs` wide, so only rollups whose width divides the step can serve them.
    pub fn segments(&self, by_step: bool) -> Vec<Segment> {
        let step = self.step_secs.max(1) * 1_000_000;
        let grains: Vec<i64> = if self.uses_rollups() {
            [US_PER_6H, US_PER_HOUR]
                .into_iter()
                .filter(|g| !by_step || step % g == 0)
                .collect()
        } else {
            Vec::new()
        };
        segments(
            crate::types::to_us(self.since),
            crate::types::to_us(self.until),
            &grains,
        )
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
    /// Whether this range reads the daily rollups (with the rows for the partial days).
    pub fn uses_rollups(&self) -> bool {
        self.until - self.since > RAW_RANGE_LIMIT
    }

    /// Where the totals come from: on the rollup path the daily rollups over the range widened
    /// to whole UTC days (reading the rows of the partial days at the edges would cost up to a
    /// day of rows, the whole budget of the Overview); otherwise the rows.
    pub fn segments(&self) -> Vec<Segment> {
        let (since, until) = (
            crate::types::to_us(self.since),
            crate::types::to_us(self.until),
        );
        if since >= until {
            return Vec::new();
        }
        if !self.uses_rollups() {
            return segments(since, until, &[]);
        }
        let day = crate::types::US_PER_DAY;
        vec![Segment {
            grain: Some(day),
            since: since.div_euclid(day) * day,
            until: -(-until).div_euclid(day) * day,
        }]
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

/// The rollup table of a grain: `rollup_<what>` (hourly) or `rollup_<what>_6h`.
fn rollup_table(what: &str, grain: i64) -> String {
    if grain == US_PER_6H {
        format!("rollup_{what}_6h")
    } else {
        format!("rollup_{what}")
    }
}

/// `org_id = ? AND <col> >= ? AND <col> < ?` for one segment.
fn push_segment_where<DB: sqlx::Database>(
    qb: &mut sqlx::QueryBuilder<'_, DB>,
    org: &str,
    col: &str,
    s: &Segment,
) where
    i64: for<'q> sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    String: for<'q> sqlx::Encode<'q, DB> + sqlx::Type<DB>,
{
    qb.push(" WHERE org_id = ")
        .push_bind(org.to_owned())
        .push(format!(" AND {col} >= "))
        .push_bind(s.since)
        .push(format!(" AND {col} < "))
        .push_bind(s.until);
}

/// `(<col> / step) * step`, the start of a series bucket.
fn push_bucket<DB: sqlx::Database>(qb: &mut sqlx::QueryBuilder<'_, DB>, col: &str, step_us: i64)
where
    i64: for<'q> sqlx::Encode<'q, DB> + sqlx::Type<DB>,
{
    qb.push(format!("({col} / "))
        .push_bind(step_us)
        .push(") * ")
        .push_bind(step_us);
}

/// The usage series over `segs`: one `UNION ALL` arm per segment, summed per bucket, provider,
/// model and billing mode. Columns: b, p, m, bm, then the nine counters of [`UsagePoint`].
pub(crate) fn push_usage_sql<DB: sqlx::Database>(
    qb: &mut sqlx::QueryBuilder<'_, DB>,
    org: &str,
    step_us: i64,
    segs: &[Segment],
) where
    i64: for<'q> sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    String: for<'q> sqlx::Encode<'q, DB> + sqlx::Type<DB>,
{
    qb.push(
        "SELECT b, p, m, bm, CAST(SUM(n) AS BIGINT), CAST(SUM(e) AS BIGINT), \
         CAST(SUM(c) AS BIGINT), CAST(SUM(u) AS BIGINT), CAST(SUM(pt) AS BIGINT), \
         CAST(SUM(ct) AS BIGINT), CAST(SUM(l) AS BIGINT), CAST(SUM(t) AS BIGINT), \
         CAST(SUM(tn) AS BIGINT) FROM (",
    );
    for (i, s) in segs.iter().enumerate() {
        if i > 0 {
            qb.push(" UNION ALL ");
        }
        qb.push("SELECT ");
        match s.grain {
            Some(g) => {
                push_bucket(qb, "hour", step_us);
                qb.push(format!(
                    " AS b, provider AS p, model AS m, billing_mode AS bm, requests AS n, \
                     errors AS e, cost_nanos AS c, unpriced AS u, prompt_tokens AS pt, \
                     completion_tokens AS ct, latency_ms_sum AS l, ttft_ms_sum AS t, \
                     ttft_count AS tn FROM {}",
                    rollup_table("usage", g)
                ));
                push_segment_where(qb, org, "hour", s);
            }
            None => {
                push_bucket(qb, "created_at", step_us);
                qb.push(
                    " AS b, COALESCE(provider, '') AS p, model AS m, \
                     COALESCE(billing_mode, '') AS bm, CAST(1 AS BIGINT) AS n, \
                     CAST(CASE WHEN status >= 400 OR error_type IS NOT NULL THEN 1 ELSE 0 END AS BIGINT) AS e, \
                     COALESCE(cost_nanos, 0) AS c, \
                     CAST(CASE WHEN cost_nanos IS NULL THEN 1 ELSE 0 END AS BIGINT) AS u, \
                     COALESCE(prompt_tokens, 0) AS pt, COALESCE(completion_tokens, 0) AS ct, \
                     latency_ms AS l, COALESCE(ttft_ms, 0) AS t, \
                     CAST(CASE WHEN ttft_ms IS NULL THEN 0 ELSE 1 END AS BIGINT) AS tn \
                     FROM request_logs",
                );
                push_segment_where(qb, org, "created_at", s);
            }
        }
    }
    qb.push(") AS x GROUP BY b, p, m, bm ORDER BY b");
}

/// Latency (kind 0) and TTFT (kind 1) histograms over `segs`. Columns: b, kind, hist, n.
pub(crate) fn push_histogram_sql<DB: sqlx::Database>(
    qb: &mut sqlx::QueryBuilder<'_, DB>,
    org: &str,
    step_us: i64,
    segs: &[Segment],
) where
    i64: for<'q> sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    String: for<'q> sqlx::Encode<'q, DB> + sqlx::Type<DB>,
{
    qb.push("SELECT b, k, h, CAST(SUM(n) AS BIGINT) FROM (");
    let mut first = true;
    let mut arm = |qb: &mut sqlx::QueryBuilder<'_, DB>| {
        if !first {
            qb.push(" UNION ALL ");
        }
        first = false;
        qb.push("SELECT ");
    };
    for s in segs {
        match s.grain {
            Some(g) => {
                arm(qb);
                push_bucket(qb, "hour", step_us);
                qb.push(format!(
                    " AS b, kind AS k, bucket AS h, n AS n FROM {}",
                    rollup_table("latency", g)
                ));
                push_segment_where(qb, org, "hour", s);
            }
            None => {
                for (kind, col) in [(0, "latency_ms"), (1, "ttft_ms")] {
                    arm(qb);
                    push_bucket(qb, "created_at", step_us);
                    qb.push(format!(
                        " AS b, CAST({kind} AS BIGINT) AS k, {} AS h, CAST(1 AS BIGINT) AS n \
                         FROM request_logs",
                        latency_bucket_sql(col)
                    ));
                    push_segment_where(qb, org, "created_at", s);
                    if kind == 1 {
                        qb.push(" AND ttft_ms IS NOT NULL");
                    }
                }
            }
        }
    }
    qb.push(") AS x GROUP BY b, k, h ORDER BY b");
}

/// Failures by status and error type over `segs`, most frequent first. Columns: status,
/// error type, requests.
pub(crate) fn push_errors_sql<DB: sqlx::Database>(
    qb: &mut sqlx::QueryBuilder<'_, DB>,
    org: &str,
    segs: &[Segment],
) where
    i64: for<'q> sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    String: for<'q> sqlx::Encode<'q, DB> + sqlx::Type<DB>,
{
    qb.push("SELECT s, et, CAST(SUM(n) AS BIGINT) AS c FROM (");
    for (i, seg) in segs.iter().enumerate() {
        if i > 0 {
            qb.push(" UNION ALL ");
        }
        match seg.grain {
            Some(g) => {
                qb.push(format!(
                    "SELECT status AS s, error_type AS et, n AS n FROM {}",
                    rollup_table("errors", g)
                ));
                push_segment_where(qb, org, "hour", seg);
            }
            None => {
                qb.push(
                    "SELECT status AS s, COALESCE(error_type, '') AS et, CAST(1 AS BIGINT) AS n \
                     FROM request_logs",
                );
                push_segment_where(qb, org, "created_at", seg);
                qb.push(" AND (status >= 400 OR error_type IS NOT NULL)");
            }
        }
    }
    qb.push(") AS x GROUP BY s, et ORDER BY c DESC, s, et LIMIT 50");
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
    fn segments_read_rollups_for_whole_buckets_and_rows_for_the_edges() {
        let h = US_PER_HOUR;
        let six = US_PER_6H;
        // 01:00:05 to 14:30: rows to 02:00, hourly to 06:00, 6-hourly to 12:00, hourly to
        // 14:00, rows to 14:30.
        let segs = segments(h + 5, 14 * h + h / 2, &[six, h]);
        let got: Vec<_> = segs.iter().map(|s| (s.grain, s.since, s.until)).collect();
        assert_eq!(
            got,
            vec![
                (None, h + 5, 2 * h),
                (Some(h), 2 * h, six),
                (Some(six), six, 2 * six),
                (Some(h), 2 * six, 14 * h),
                (None, 14 * h, 14 * h + h / 2),
            ]
        );
        // The pieces tile the range exactly.
        assert!(segs.windows(2).all(|w| w[0].until == w[1].since));
        // Shorter than a 6-hour bucket: hours and rows only; inside one hour: rows only.
        let got: Vec<_> = segments(h + 1, 3 * h, &[six, h])
            .iter()
            .map(|s| s.grain)
            .collect();
        assert_eq!(got, vec![None, Some(h)]);
        assert_eq!(
            segments(h + 1, h + 9, &[six, h]),
            vec![Segment {
                grain: None,
                since: h + 1,
                until: h + 9
            }]
        );
        // Aligned bounds need no rows; an empty range has no pieces.
        assert_eq!(
            segments(0, 2 * six, &[six, h]),
            vec![Segment {
                grain: Some(six),
                since: 0,
                until: 2 * six
            }]
        );
        assert!(segments(5, 5, &[six, h]).is_empty());
        // Before 1970 too (div_euclid, not truncation).
        let segs = segments(-h - 1, 0, &[h]);
        assert_eq!(
            segs[0],
            Segment {
                grain: None,
                since: -h - 1,
                until: -h
            }
        );
        assert_eq!(
            segs[1],
            Segment {
                grain: Some(h),
                since: -h,
                until: 0
            }
        );
    }
}
