//! The request log: one row per request, written in batches together with the requests'
//! debits (group commit, see `log_writer.rs`).

use std::sync::Arc;

use uuid::Uuid;

use crate::{BatchOutcome, BoxFut, Debit, LogQuery, LogRow, OrgId, SpendRow};

/// Log rows and the debits of the same requests, committed in one transaction.
#[derive(Debug, Clone, Default)]
pub struct Batch {
    pub rows: Vec<LogRow>,
    pub debits: Vec<Debit>,
}

pub trait LogStore {
    /// Inserts the rows (a row whose id is already stored is skipped: a replayed row never
    /// doubles) and applies the debits, all in one transaction. A debit whose lease is gone is
    /// recorded at zero and reported in [`BatchOutcome::uncharged`].
    fn commit_batch(&self, batch: Arc<Batch>) -> BoxFut<'_, BatchOutcome>;
    /// [`LogStore::commit_batch`] without debits.
    fn insert_logs<'a>(&'a self, rows: &'a [LogRow]) -> BoxFut<'a, ()> {
        let batch = Arc::new(Batch {
            rows: rows.to_vec(),
            debits: Vec::new(),
        });
        let done = self.commit_batch(batch);
        Box::pin(async move { done.await.map(|_| ()) })
    }
    fn recent_logs<'a>(&'a self, query: &'a LogQuery) -> BoxFut<'a, Vec<LogRow>>;
    fn get_log(&self, org: OrgId, id: Uuid) -> BoxFut<'_, Option<LogRow>>;
    fn count_logs(&self, org: OrgId) -> BoxFut<'_, i64>;
    /// Spend per UTC day, provider and billing mode, for `since <= created_at < until`.
    fn spend(
        &self,
        org: OrgId,
        since: time::OffsetDateTime,
        until: time::OffsetDateTime,
    ) -> BoxFut<'_, Vec<SpendRow>>;
}

macro_rules! impl_logs {
    ($ty:ty, $db:ty) => {
        impl $ty {
            async fn insert_log_rows(
                tx: &mut sqlx::Transaction<'static, $db>,
                rows: &[$crate::LogRow],
            ) -> $crate::Result<()> {
                for chunk in $crate::rows::statement_chunks(rows) {
                    let mut qb = sqlx::QueryBuilder::<$db>::new(format!(
                        "INSERT INTO request_logs ({}) ",
                        $crate::rows::LOG_COLUMNS
                    ));
                    qb.push_values(chunk, |mut b, r| {
                        b.push_bind(r.id.to_string())
                            .push_bind(r.org_id.to_string())
                            .push_bind(r.key_id.map(|k| k.to_string()))
                            .push_bind(r.model.as_str())
                            .push_bind(r.endpoint.as_deref())
                            .push_bind(r.provider.as_deref())
                            .push_bind(r.billing.map($crate::BillingMode::as_str))
                            .push_bind(i64::from(r.status))
                            .push_bind(r.error_type.as_deref())
                            .push_bind(r.attempts.to_string())
                            .push_bind(r.prompt_tokens)
                            .push_bind(r.completion_tokens)
                            .push_bind(r.cached_tokens)
                            .push_bind(r.cache_write_tokens)
                            .push_bind(r.reasoning_tokens)
                            .push_bind(r.cost_nanos)
                            .push_bind(r.latency_ms)
                            .push_bind(r.ttft_ms)
                            .push_bind(r.overhead_us)
                            .push_bind(r.stream)
                            .push_bind(r.user_id.as_deref())
                            .push_bind(
                                serde_json::to_string(&r.properties)
                                    .unwrap_or_else(|_| "{}".to_owned()),
                            )
                            .push_bind(r.request_body.as_deref())
                            .push_bind(r.response_body.as_deref())
                            .push_bind($crate::types::to_us(r.created_at))
                            .push_bind(r.route.as_deref())
                            .push_bind(r.target_url.as_deref())
                            .push_bind(r.ttfb_ms)
                            .push_bind(r.session_id.as_deref())
                            .push_bind(r.session_path.as_deref())
                            .push_bind(r.session_name.as_deref())
                            .push_bind(r.cache_status.as_deref())
                            .push_bind(r.cache_saved_nanos)
                            .push_bind(r.client_request_id.as_deref());
                    });
                    qb.push(" ON CONFLICT (id) DO NOTHING");
                    // One of five texts (see `STATEMENT_ROWS`): cached.
                    qb.build().execute(&mut **tx).await?;
                }
                Ok(())
            }

            /// The requests among `debits` that already have a ledger row.
            async fn debited_requests(
                tx: &mut sqlx::Transaction<'static, $db>,
                debits: &[$crate::Debit],
            ) -> $crate::Result<std::collections::HashSet<uuid::Uuid>> {
                let mut out = std::collections::HashSet::new();
                for chunk in debits.chunks($crate::rows::IDS_PER_STATEMENT) {
                    let mut qb = sqlx::QueryBuilder::<$db>::new(
                        "SELECT request_id FROM ledger_entries WHERE request_id IN (",
                    );
                    let mut list = qb.separated(", ");
                    for d in chunk {
                        list.push_bind(d.request_id.to_string());
                    }
                    qb.push(")");
                    // The text varies with the count: not kept in the statement cache.
                    let ids: Vec<String> = qb
                        .build_query_scalar()
                        .persistent(false)
                        .fetch_all(&mut **tx)
                        .await?;
                    for id in ids {
                        out.insert($crate::types::parse_id(&id, "ledger_entries")?);
                    }
                }
                Ok(out)
            }

            /// Charges one (org, instance) group of debits against its lease.
            async fn apply_debits(
                tx: &mut sqlx::Transaction<'static, $db>,
                org: $crate::OrgId,
                instance: &str,
                debits: &[&$crate::Debit],
                now_us: i64,
                outcome: &mut $crate::BatchOutcome,
            ) -> $crate::Result<()> {
                let org_s = org.to_string();
                let total: i64 = debits.iter().map(|d| d.nanos).sum();
                // Lock the org row before the lease row, the order `acquire_lease` takes them
                // in: the other order deadlocks on PostgreSQL against a concurrent top-up.
                sqlx::query("UPDATE orgs SET leased_nanos = leased_nanos WHERE id = $1")
                    .bind(&org_s)
                    .execute(&mut **tx)
                    .await?;
                let shrunk = sqlx::query(
                    "UPDATE credit_leases SET amount_nanos = amount_nanos - $3                      WHERE org_id = $1 AND instance_id = $2 AND amount_nanos >= $3",
                )
                .bind(&org_s)
                .bind(instance)
                .bind(total)
                .execute(&mut **tx)
                .await?;
                if shrunk.rows_affected() == 0 {
                    // The lease expired while this instance could not renew it: another
                    // instance may have leased that credit since, so charging now could spend
                    // more than the balance. Record the request, charge nothing.
                    let balance: i64 =
                        sqlx::query_scalar("SELECT balance_nanos FROM orgs WHERE id = $1")
                            .bind(&org_s)
                            .fetch_one(&mut **tx)
                            .await?;
                    for d in debits {
                        let note = format!("not charged ({} nano-USD): lease expired", d.nanos);
                        Self::insert_ledger(
                            tx,
                            &org_s,
                            $crate::LedgerKind::Debit,
                            0,
                            balance,
                            Some(&d.request_id.to_string()),
                            Some(&note),
                            now_us,
                        )
                        .await?;
                        outcome.uncharged.push(d.request_id);
                    }
                    return Ok(());
                }
                let after: i64 = sqlx::query_scalar(
                    "UPDATE orgs SET balance_nanos = balance_nanos - $2,                      leased_nanos = leased_nanos - $2 WHERE id = $1 RETURNING balance_nanos",
                )
                .bind(&org_s)
                .bind(total)
                .fetch_one(&mut **tx)
                .await?;
                // One multi-row INSERT per chunk, not a statement per debit: each statement is
                // a round trip to the database (PostgreSQL) or to SQLite's worker thread.
                let mut running = after + total;
                for chunk in $crate::rows::statement_chunks(debits) {
                    let mut qb = sqlx::QueryBuilder::<$db>::new(
                        "INSERT INTO ledger_entries (id, org_id, kind, amount_nanos, \
                         held_delta_nanos, balance_after, held_after, request_id, note, created_at) ",
                    );
                    qb.push_values(chunk, |mut b, d| {
                        running -= d.nanos;
                        b.push_bind(uuid::Uuid::now_v7().to_string())
                            .push_bind(org_s.as_str())
                            .push_bind($crate::LedgerKind::Debit.as_str())
                            .push_bind(-d.nanos)
                            .push_bind(0i64)
                            .push_bind(running)
                            .push_bind(0i64)
                            .push_bind(d.request_id.to_string())
                            .push_bind(None::<&str>)
                            .push_bind(now_us);
                    });
                    qb.build().execute(&mut **tx).await?;
                }
                outcome.charged.push((org, total));
                Ok(())
            }
        }

        impl $crate::LogStore for $ty {
            fn commit_batch(
                &self,
                batch: std::sync::Arc<$crate::logs::Batch>,
            ) -> $crate::BoxFut<'_, $crate::BatchOutcome> {
                let this = self.clone();
                $crate::detach(async move {
                    let mut outcome = $crate::BatchOutcome::default();
                    if batch.rows.is_empty() && batch.debits.is_empty() {
                        return Ok(outcome);
                    }
                    let now = $crate::types::to_us(time::OffsetDateTime::now_utc());
                    let mut tx = this.begin_write().await?;
                    // Before the insert, which skips rows already stored: the rollups count
                    // each row once.
                    $crate::analytics::update_rollups(&mut tx, &batch.rows).await?;
                    Self::insert_log_rows(&mut tx, &batch.rows).await?;
                    // A batch whose commit succeeded but was reported failed (a connection lost
                    // after COMMIT) comes back: its debits are already in the ledger.
                    let charged = Self::debited_requests(&mut tx, &batch.debits).await?;
                    let mut groups: std::collections::BTreeMap<
                        ($crate::OrgId, &str),
                        Vec<&$crate::Debit>,
                    > = std::collections::BTreeMap::new();
                    for d in batch.debits.iter().filter(|d| !charged.contains(&d.request_id)) {
                        if d.nanos < 0 {
                            return Err($crate::StoreError::InvalidAmount {
                                amount: d.nanos,
                                reason: "a debit cannot be negative",
                            });
                        }
                        groups.entry((d.org, d.instance.as_str())).or_default().push(d);
                    }
                    for ((org, instance), debits) in &groups {
                        Self::apply_debits(&mut tx, *org, instance, debits, now, &mut outcome)
                            .await?;
                    }
                    tx.commit().await?;
                    Ok(outcome)
                })
            }

            fn recent_logs<'a>(
                &'a self,
                q: &'a $crate::LogQuery,
            ) -> $crate::BoxFut<'a, Vec<$crate::LogRow>> {
                Box::pin(async move {
                    let mut qb = sqlx::QueryBuilder::<$db>::new(format!(
                        "SELECT {} FROM request_logs WHERE org_id = ",
                        $crate::rows::LOG_COLUMNS
                    ));
                    qb.push_bind(q.org_id.to_string());
                    if let Some(status) = q.status {
                        qb.push(" AND status = ").push_bind(i64::from(status));
                    }
                    if let Some(provider) = &q.provider {
                        qb.push(" AND provider = ").push_bind(provider.as_str());
                    }
                    if let Some(user) = &q.user_id {
                        qb.push(" AND user_id = ").push_bind(user.as_str());
                    }
                    if let Some(id) = &q.client_request_id {
                        qb.push(" AND client_request_id = ").push_bind(id.as_str());
                    }
                    if let Some(session) = &q.session_id {
                        qb.push(" AND session_id = ").push_bind(session.as_str());
                    }
                    if let Some((name, value)) = &q.property {
                        qb.push(" AND ")
                            .push(Self::PROPERTY_SQL.0)
                            .push_bind(name.as_str())
                            .push(Self::PROPERTY_SQL.1)
                            .push_bind(value.as_str());
                    }
                    if let Some(before) = q.before {
                        qb.push(" AND created_at < ")
                            .push_bind($crate::types::to_us(before));
                    }
                    qb.push(" ORDER BY created_at DESC, id DESC LIMIT ")
                        .push_bind(i64::from(q.limit));
                    let rows = qb.build().fetch_all(self.reader()).await?;
                    rows.iter().map(Self::log_from_row).collect()
                })
            }

            fn get_log(
                &self,
                org: $crate::OrgId,
                id: uuid::Uuid,
            ) -> $crate::BoxFut<'_, Option<$crate::LogRow>> {
                Box::pin(async move {
                    let sql = format!(
                        "SELECT {} FROM request_logs WHERE org_id = $1 AND id = $2",
                        $crate::rows::LOG_COLUMNS
                    );
                    let row = sqlx::query(&sql)
                        .bind(org.to_string())
                        .bind(id.to_string())
                        .fetch_optional(self.reader())
                        .await?;
                    row.as_ref().map(Self::log_from_row).transpose()
                })
            }

            fn count_logs(&self, org: $crate::OrgId) -> $crate::BoxFut<'_, i64> {
                Box::pin(async move {
                    let n: i64 =
                        sqlx::query_scalar("SELECT COUNT(*) FROM request_logs WHERE org_id = $1")
                            .bind(org.to_string())
                            .fetch_one(self.reader())
                            .await?;
                    Ok(n)
                })
            }

            fn spend(
                &self,
                org: $crate::OrgId,
                since: time::OffsetDateTime,
                until: time::OffsetDateTime,
            ) -> $crate::BoxFut<'_, Vec<$crate::SpendRow>> {
                Box::pin(async move {
                    let sql = format!(
                        "SELECT created_at / {d} AS day, COALESCE(provider, '') AS prov, billing_mode, \
                         COUNT(*) AS requests, \
                         CAST(COALESCE(SUM(cost_nanos), 0) AS BIGINT) AS cost, \
                         CAST(COALESCE(SUM(CASE WHEN cost_nanos IS NULL THEN 1 ELSE 0 END), 0) AS BIGINT) AS unpriced, \
                         CAST(COALESCE(SUM(prompt_tokens), 0) AS BIGINT) AS pt, \
                         CAST(COALESCE(SUM(completion_tokens), 0) AS BIGINT) AS ct \
                         FROM request_logs WHERE org_id = $1 AND created_at >= $2 AND created_at < $3 \
                         GROUP BY created_at / {d}, COALESCE(provider, ''), billing_mode \
                         ORDER BY day, prov, billing_mode",
                        d = $crate::types::US_PER_DAY
                    );
                    let rows: Vec<(i64, String, Option<String>, i64, i64, i64, i64, i64)> =
                        sqlx::query_as(&sql)
                            .bind(org.to_string())
                            .bind($crate::types::to_us(since))
                            .bind($crate::types::to_us(until))
                            .fetch_all(self.reader())
                            .await?;
                    rows.into_iter()
                        .map(|(day, provider, billing, requests, cost, unpriced, pt, ct)| {
                            let corrupt = |detail: String| $crate::StoreError::Corrupt {
                                table: "request_logs",
                                detail,
                            };
                            Ok($crate::SpendRow {
                                day: time::OffsetDateTime::UNIX_EPOCH
                                    .date()
                                    .checked_add(time::Duration::days(day))
                                    .ok_or_else(|| corrupt(format!("day bucket {day}")))?,
                                provider,
                                billing: billing
                                    .map(|b| {
                                        $crate::BillingMode::parse(&b)
                                            .ok_or_else(|| corrupt(format!("billing_mode {b:?}")))
                                    })
                                    .transpose()?,
                                requests,
                                cost_nanos: cost,
                                unpriced_requests: unpriced,
                                prompt_tokens: pt,
                                completion_tokens: ct,
                            })
                        })
                        .collect()
                })
            }
        }
    };
}

pub(crate) use impl_logs;
