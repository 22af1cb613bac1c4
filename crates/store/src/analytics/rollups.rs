//! The rollups of request_logs (migrations 0003 and 0006): what a batch of rows adds to them,
//! computed in memory, and the upserts that apply it inside the log writer's transaction.

use std::collections::BTreeMap;

use super::{is_error, latency_bucket, US_PER_6H, US_PER_HOUR};
use crate::{BoxFut, LogRow};

/// (org, bucket start, provider, model, billing mode).
pub(crate) type UsageKey = (String, i64, String, String, String);

/// The usage, latency-histogram and error cells of one bucket width.
#[derive(Default)]
pub(crate) struct Tier {
    /// → [requests, errors, cost, unpriced, pt, ct, latency sum, ttft sum, ttft count]
    pub usage: BTreeMap<UsageKey, [i64; 9]>,
    /// (org, bucket start, kind, histogram bucket) → requests
    pub latency: BTreeMap<(String, i64, i64, i64), i64>,
    /// (org, bucket start, status, error type) → requests
    pub errors: BTreeMap<(String, i64, i64, String), i64>,
}

impl Tier {
    fn add(&mut self, org: &str, start: i64, row: &LogRow) {
        let u = self
            .usage
            .entry((
                org.to_owned(),
                start,
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
        *self
            .latency
            .entry((org.to_owned(), start, 0, latency_bucket(row.latency_ms)))
            .or_default() += 1;
        if let Some(t) = row.ttft_ms {
            *self
                .latency
                .entry((org.to_owned(), start, 1, latency_bucket(t)))
                .or_default() += 1;
        }
        if is_error(row) {
            *self
                .errors
                .entry((
                    org.to_owned(),
                    start,
                    i64::from(row.status),
                    row.error_type.clone().unwrap_or_default(),
                ))
                .or_default() += 1;
        }
    }
}

/// Rollup cells a batch of rows adds to, aggregated in memory first so that a batch of 256
/// rows touches a handful of rows per table, written with one multi-row upsert per table.
/// `BTreeMap`s give every transaction the same lock order on the rollup rows, so concurrent
/// batches (several instances on PostgreSQL) cannot deadlock on them.
#[derive(Default)]
pub(crate) struct RollupDelta {
    pub hourly: Tier,
    /// The same cells in 6-hour buckets (migration 0006), for long ranges.
    pub six_hourly: Tier,
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
    pub(crate) fn of(rows: &[LogRow]) -> RollupDelta {
        let mut d = RollupDelta::default();
        for row in rows {
            let org = row.org_id.to_string();
            let at = crate::types::to_us(row.created_at);
            d.hourly
                .add(&org, at.div_euclid(US_PER_HOUR) * US_PER_HOUR, row);
            d.six_hourly
                .add(&org, at.div_euclid(US_PER_6H) * US_PER_6H, row);
            let day = at.div_euclid(crate::types::US_PER_DAY) * crate::types::US_PER_DAY;
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

/// Cells per upsert statement: 14 binds each at most, well inside SQLite's 32,766 and
/// PostgreSQL's 65,535 bind parameters.
pub(crate) const CELLS_PER_STATEMENT: usize = 500;

/// `col = t.col + excluded.col, ...` for the counters of an upsert.
pub(crate) fn add_set(cols: &[&str]) -> String {
    cols.iter()
        .map(|c| format!("{c} = t.{c} + excluded.{c}"))
        .collect::<Vec<_>>()
        .join(", ")
}
/// Adds a batch of log rows to the rollup tables inside the caller's transaction. Call it in
/// the transaction that inserts the rows, **before** the `INSERT ... ON CONFLICT (id) DO
/// NOTHING`: it leaves out rows whose id is already stored (a replayed batch), so each row
/// counts once and the rollups never disagree with the rows.
pub async fn update_rollups<DB>(
    tx: &mut sqlx::Transaction<'static, DB>,
    rows: &[LogRow],
) -> crate::Result<()>
where
    DB: RollupBackend,
{
    let stored = DB::stored_ids(tx, rows).await?;
    if stored.is_empty() {
        return DB::update_rollups(tx, rows).await;
    }
    let fresh: Vec<LogRow> = rows
        .iter()
        .filter(|r| !stored.contains(&r.id.hyphenated().to_string()))
        .cloned()
        .collect();
    DB::update_rollups(tx, &fresh).await
}

/// The backends [`update_rollups`] runs on (SQLite and PostgreSQL).
pub trait RollupBackend: sqlx::Database {
    /// Adds every row of `rows` (the caller knows they are new).
    fn update_rollups<'a>(
        tx: &'a mut sqlx::Transaction<'static, Self>,
        rows: &'a [LogRow],
    ) -> BoxFut<'a, ()>;
    /// The ids among `rows` that `request_logs` already holds.
    fn stored_ids<'a>(
        tx: &'a mut sqlx::Transaction<'static, Self>,
        rows: &'a [LogRow],
    ) -> BoxFut<'a, std::collections::HashSet<String>>;
}

macro_rules! impl_rollups {
    ($db:ty) => {
        impl $crate::analytics::RollupBackend for $db {
            fn stored_ids<'a>(
                tx: &'a mut sqlx::Transaction<'static, $db>,
                rows: &'a [$crate::LogRow],
            ) -> $crate::BoxFut<'a, std::collections::HashSet<String>> {
                Box::pin(async move {
                    let mut out = std::collections::HashSet::new();
                    for chunk in rows.chunks($crate::rows::IDS_PER_STATEMENT) {
                        let mut qb =
                            sqlx::QueryBuilder::<$db>::new("SELECT id FROM request_logs WHERE id IN (");
                        let mut ids = qb.separated(", ");
                        for r in chunk {
                            ids.push_bind(r.id.hyphenated().to_string());
                        }
                        qb.push(")");
                        let found: Vec<String> = qb
                            .build_query_scalar()
                            .persistent(false)
                            .fetch_all(&mut **tx)
                            .await?;
                        out.extend(found);
                    }
                    Ok(out)
                })
            }

            fn update_rollups<'a>(
                tx: &'a mut sqlx::Transaction<'static, $db>,
                rows: &'a [$crate::LogRow],
            ) -> $crate::BoxFut<'a, ()> {
                use $crate::analytics::rollups::{add_set, CELLS_PER_STATEMENT};
                Box::pin(async move {
                    let d = $crate::analytics::rollups::RollupDelta::of(rows);
                    // One statement per table and 500 cells (not one per cell): a batch costs
                    // a few round trips on PostgreSQL whatever its spread. Not kept in the
                    // statement cache: the text varies with the number of cells.
                    for (tier, suffix) in [(&d.hourly, ""), (&d.six_hourly, "_6h")] {
                        let usage: Vec<_> = tier.usage.iter().collect();
                        for chunk in usage.chunks(CELLS_PER_STATEMENT) {
                            let mut qb = sqlx::QueryBuilder::<$db>::new(format!(
                                "INSERT INTO rollup_usage{suffix} AS t (org_id, hour, provider, model, \
                                 billing_mode, requests, errors, cost_nanos, unpriced, prompt_tokens, \
                                 completion_tokens, latency_ms_sum, ttft_ms_sum, ttft_count) "
                            ));
                            qb.push_values(chunk, |mut b, ((org, hour, provider, model, billing), v)| {
                                b.push_bind(org.as_str())
                                    .push_bind(*hour)
                                    .push_bind(provider.as_str())
                                    .push_bind(model.as_str())
                                    .push_bind(billing.as_str());
                                for x in v.iter() {
                                    b.push_bind(*x);
                                }
                            });
                            qb.push(format!(
                                " ON CONFLICT (org_id, hour, provider, model, billing_mode) DO UPDATE SET {}",
                                add_set(&[
                                    "requests", "errors", "cost_nanos", "unpriced", "prompt_tokens",
                                    "completion_tokens", "latency_ms_sum", "ttft_ms_sum", "ttft_count",
                                ])
                            ));
                            qb.build().persistent(false).execute(&mut **tx).await?;
                        }
                        let latency: Vec<_> = tier.latency.iter().collect();
                        for chunk in latency.chunks(CELLS_PER_STATEMENT) {
                            let mut qb = sqlx::QueryBuilder::<$db>::new(format!(
                                "INSERT INTO rollup_latency{suffix} AS t (org_id, hour, kind, bucket, n) "
                            ));
                            qb.push_values(chunk, |mut b, ((org, hour, kind, bucket), n)| {
                                b.push_bind(org.as_str())
                                    .push_bind(*hour)
                                    .push_bind(*kind)
                                    .push_bind(*bucket)
                                    .push_bind(**n);
                            });
                            qb.push(
                                " ON CONFLICT (org_id, hour, kind, bucket) DO UPDATE SET n = t.n + excluded.n",
                            );
                            qb.build().persistent(false).execute(&mut **tx).await?;
                        }
                        let errors: Vec<_> = tier.errors.iter().collect();
                        for chunk in errors.chunks(CELLS_PER_STATEMENT) {
                            let mut qb = sqlx::QueryBuilder::<$db>::new(format!(
                                "INSERT INTO rollup_errors{suffix} AS t (org_id, hour, status, error_type, n) "
                            ));
                            qb.push_values(chunk, |mut b, ((org, hour, status, error_type), n)| {
                                b.push_bind(org.as_str())
                                    .push_bind(*hour)
                                    .push_bind(*status)
                                    .push_bind(error_type.as_str())
                                    .push_bind(**n);
                            });
                            qb.push(
                                " ON CONFLICT (org_id, hour, status, error_type) DO UPDATE SET n = t.n + excluded.n",
                            );
                            qb.build().persistent(false).execute(&mut **tx).await?;
                        }
                    }
                    let group_set = format!(
                        "{}, first_seen = CASE WHEN excluded.first_seen < t.first_seen \
                         THEN excluded.first_seen ELSE t.first_seen END, \
                         last_seen = CASE WHEN excluded.last_seen > t.last_seen \
                         THEN excluded.last_seen ELSE t.last_seen END",
                        add_set(&[
                            "requests", "errors", "cost_nanos", "unpriced", "prompt_tokens",
                            "completion_tokens", "latency_ms_sum",
                        ])
                    );
                    let users: Vec<_> = d.users.iter().collect();
                    for chunk in users.chunks(CELLS_PER_STATEMENT) {
                        let mut qb = sqlx::QueryBuilder::<$db>::new(
                            "INSERT INTO rollup_users AS t (org_id, day, user_id, requests, errors, \
                             cost_nanos, unpriced, prompt_tokens, completion_tokens, latency_ms_sum, \
                             first_seen, last_seen) ",
                        );
                        qb.push_values(chunk, |mut b, ((org, day, user), v)| {
                            b.push_bind(org.as_str()).push_bind(*day).push_bind(user.as_str());
                            for x in v.iter() {
                                b.push_bind(*x);
                            }
                        });
                        qb.push(format!(
                            " ON CONFLICT (org_id, day, user_id) DO UPDATE SET {group_set}"
                        ));
                        qb.build().persistent(false).execute(&mut **tx).await?;
                    }
                    let props: Vec<_> = d.properties.iter().collect();
                    for chunk in props.chunks(CELLS_PER_STATEMENT) {
                        let mut qb = sqlx::QueryBuilder::<$db>::new(
                            "INSERT INTO rollup_properties AS t (org_id, day, name, value, requests, \
                             errors, cost_nanos, unpriced, prompt_tokens, completion_tokens, \
                             latency_ms_sum, first_seen, last_seen) ",
                        );
                        qb.push_values(chunk, |mut b, ((org, day, name, value), v)| {
                            b.push_bind(org.as_str())
                                .push_bind(*day)
                                .push_bind(name.as_str())
                                .push_bind(value.as_str());
                            for x in v.iter() {
                                b.push_bind(*x);
                            }
                        });
                        qb.push(format!(
                            " ON CONFLICT (org_id, day, name, value) DO UPDATE SET {group_set}"
                        ));
                        qb.build().persistent(false).execute(&mut **tx).await?;
                    }
                    Ok(())
                })
            }
        }

    };
}

impl_rollups!(sqlx::Sqlite);
impl_rollups!(sqlx::Postgres);

#[cfg(test)]
mod tests {
    use crate::analytics::{AnalyticsStore, SeriesQuery};
    use crate::{LogStore, OrgStore, SqliteStore};

    #[tokio::test]
    async fn a_replayed_batch_counts_once() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open_dir(dir.path(), None).await.unwrap();
        let org = store.create_org("r").await.unwrap().id;
        let now = time::OffsetDateTime::now_utc();
        let row = |i: i64| crate::LogRow {
            id: uuid::Uuid::now_v7(),
            org_id: org,
            model: "m".into(),
            status: 200,
            attempts: serde_json::json!([]),
            latency_ms: 10 + i,
            cost_nanos: Some(5),
            created_at: now - time::Duration::minutes(i),
            ..serde_json::from_value(serde_json::json!({
                "id": uuid::Uuid::nil(), "org_id": uuid::Uuid::nil(), "model": "", "status": 200,
                "attempts": [], "latency_ms": 0, "stream": false, "properties": {},
                "created_at": "2026-01-01T00:00:00Z"
            }))
            .unwrap()
        };
        // The batch commit (which `insert_logs` is) keeps the rollups with the rows.
        let first: Vec<_> = (0..3).map(row).collect();
        store.insert_logs(&first).await.unwrap();
        // The same rows again plus one new: only the new one is added.
        let mut replay = first.clone();
        replay.push(row(4));
        store.insert_logs(&replay).await.unwrap();
        let q = SeriesQuery {
            org_id: org,
            since: now - time::Duration::days(4),
            until: now + time::Duration::hours(1),
            step_secs: 3_600,
        };
        assert!(q.uses_rollups());
        let points = store.usage_series(&q).await.unwrap();
        assert_eq!(points.iter().map(|p| p.requests).sum::<i64>(), 4);
        assert_eq!(points.iter().map(|p| p.cost_nanos).sum::<i64>(), 20);
    }
}
