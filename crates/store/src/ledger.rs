//! The credit ledger and the leases instances take on it (notes/CREDITS.md).
//!
//! Invariants, checked by [`LedgerStore::audit`]:
//! - `orgs.balance_nanos` = Σ `ledger_entries.amount_nanos` of the org (every change to the
//!   balance is a ledger row written in the same transaction);
//! - `orgs.leased_nanos` = Σ `credit_leases.amount_nanos` of the org, and never exceeds the
//!   balance: a lease is granted by one conditional UPDATE, and a debit shrinks the balance
//!   and the lease it was held on by the same amount;
//! - so the sum of what every instance can hold, across instances, never exceeds the balance.

use std::time::Duration;

use time::OffsetDateTime;

use crate::{
    Balance, BoxFut, Lease, LeaseGrant, LeaseRequest, LeaseSnapshot, LedgerEntry, LedgerPage,
    OrgAudit, OrgId,
};

/// The largest balance an org can hold: 1,000,000,000 USD. Far below `i64::MAX` nano-USD
/// (9.2e9 USD), so no sum of balances and grants can overflow the column.
pub const MAX_BALANCE_NANOS: i64 = 1_000_000_000 * 1_000_000_000;

pub trait LedgerStore {
    /// Grants credits. Refused (`InvalidAmount`) when not positive or when the balance would
    /// pass [`MAX_BALANCE_NANOS`].
    fn add_credits<'a>(
        &'a self,
        org: OrgId,
        amount_nanos: i64,
        note: Option<&'a str>,
    ) -> BoxFut<'a, Balance>;
    fn balance(&self, org: OrgId) -> BoxFut<'_, Balance>;
    /// A page of the org's ledger rows, newest first.
    fn ledger(&self, org: OrgId, page: LedgerPage) -> BoxFut<'_, Vec<LedgerEntry>>;
    /// The books of one org (or of every org): cached totals next to the sums of the rows.
    fn audit(&self, org: Option<OrgId>) -> BoxFut<'_, Vec<OrgAudit>>;

    /// Adds to an instance's lease on an org: at least `min_nanos` (else `InsufficientCredits`
    /// with what the org has left to lease), up to `want_nanos`.
    fn acquire_lease(&self, request: LeaseRequest) -> BoxFut<'_, LeaseGrant>;
    /// Gives `amount_nanos` of an instance's lease back to the org (the lease row goes when it
    /// reaches zero). Returns what is left of the lease.
    fn return_lease<'a>(
        &'a self,
        org: OrgId,
        instance: &'a str,
        amount_nanos: i64,
    ) -> BoxFut<'a, i64>;
    /// Extends every lease of the instance by `ttl` and records what it holds on each.
    /// Returns the orgs of `snapshots` whose lease no longer exists (expired and swept).
    fn renew_leases<'a>(
        &'a self,
        instance: &'a str,
        snapshots: &'a [LeaseSnapshot],
        ttl: Duration,
    ) -> BoxFut<'a, Vec<OrgId>>;
    /// Returns every lease of an instance to its org (graceful shutdown, or a restart that
    /// finds a dead instance's journal). Returns how many leases ended.
    fn release_instance<'a>(&'a self, instance: &'a str) -> BoxFut<'a, u64>;
    /// Returns leases whose instance stopped renewing them (crashed) to their orgs.
    fn expire_leases(&self, now: OffsetDateTime) -> BoxFut<'_, u64>;
    fn leases(&self, org: Option<OrgId>) -> BoxFut<'_, Vec<Lease>>;
}

macro_rules! impl_ledger {
    ($ty:ty, $db:ty) => {
        impl $ty {
            /// Balance, leased and held of an org, from `exec`.
            async fn read_balance<'e, E>(exec: E, org: &str) -> $crate::Result<Option<$crate::Balance>>
            where
                E: sqlx::Executor<'e, Database = $db>,
            {
                let row: Option<(i64, i64, i64)> = sqlx::query_as(
                    "SELECT o.balance_nanos, o.leased_nanos, \
                     CAST(COALESCE((SELECT SUM(held_nanos) FROM credit_leases l WHERE l.org_id = o.id), 0) AS BIGINT) \
                     FROM orgs o WHERE o.id = $1",
                )
                .bind(org)
                .fetch_optional(exec)
                .await?;
                Ok(row.map(|(b, l, h)| $crate::Balance::new(b, l, h)))
            }

            /// Appends one ledger row inside the caller's transaction.
            #[allow(clippy::too_many_arguments)]
            pub(crate) async fn insert_ledger(
                tx: &mut sqlx::Transaction<'static, $db>,
                org: &str,
                kind: $crate::LedgerKind,
                amount: i64,
                balance_after: i64,
                request_id: Option<&str>,
                note: Option<&str>,
                now_us: i64,
            ) -> $crate::Result<()> {
                sqlx::query(
                    "INSERT INTO ledger_entries (id, org_id, kind, amount_nanos, held_delta_nanos, \
                     balance_after, held_after, request_id, note, created_at) \
                     VALUES ($1, $2, $3, $4, 0, $5, 0, $6, $7, $8)",
                )
                .bind(uuid::Uuid::now_v7().to_string())
                .bind(org)
                .bind(kind.as_str())
                .bind(amount)
                .bind(balance_after)
                .bind(request_id)
                .bind(note)
                .bind(now_us)
                .execute(&mut **tx)
                .await?;
                Ok(())
            }
        }

        impl $crate::LedgerStore for $ty {
            fn add_credits<'a>(
                &'a self,
                org: $crate::OrgId,
                amount_nanos: i64,
                note: Option<&'a str>,
            ) -> $crate::BoxFut<'a, $crate::Balance> {
                let this = self.clone();
                let note = note.map(str::to_owned);
                $crate::detach(async move {
                    if amount_nanos <= 0 {
                        return Err($crate::StoreError::InvalidAmount {
                            amount: amount_nanos,
                            reason: "a credit grant must be positive",
                        });
                    }
                    if amount_nanos > $crate::MAX_BALANCE_NANOS {
                        return Err($crate::StoreError::InvalidAmount {
                            amount: amount_nanos,
                            reason: "a credit grant cannot exceed 1,000,000,000 USD",
                        });
                    }
                    let org_s = org.to_string();
                    let now = $crate::types::to_us(time::OffsetDateTime::now_utc());
                    let mut tx = this.begin_write().await?;
                    // Conditional, so the check and the add are one atomic step.
                    let after: Option<i64> = sqlx::query_scalar(
                        "UPDATE orgs SET balance_nanos = balance_nanos + $2 \
                         WHERE id = $1 AND balance_nanos <= $3 - $2 RETURNING balance_nanos",
                    )
                    .bind(&org_s)
                    .bind(amount_nanos)
                    .bind($crate::MAX_BALANCE_NANOS)
                    .fetch_optional(&mut *tx)
                    .await?;
                    let Some(after) = after else {
                        let exists: Option<i64> =
                            sqlx::query_scalar("SELECT balance_nanos FROM orgs WHERE id = $1")
                                .bind(&org_s)
                                .fetch_optional(&mut *tx)
                                .await?;
                        return Err(match exists {
                            None => $crate::StoreError::OrgNotFound(org),
                            Some(_) => $crate::StoreError::InvalidAmount {
                                amount: amount_nanos,
                                reason: "the balance would exceed 1,000,000,000 USD",
                            },
                        });
                    };
                    Self::insert_ledger(
                        &mut tx,
                        &org_s,
                        $crate::LedgerKind::Credit,
                        amount_nanos,
                        after,
                        None,
                        note.as_deref(),
                        now,
                    )
                    .await?;
                    let balance = Self::read_balance(&mut *tx, &org_s)
                        .await?
                        .ok_or($crate::StoreError::OrgNotFound(org))?;
                    tx.commit().await?;
                    Ok(balance)
                })
            }

            fn balance(&self, org: $crate::OrgId) -> $crate::BoxFut<'_, $crate::Balance> {
                Box::pin(async move {
                    Self::read_balance(self.reader(), &org.to_string())
                        .await?
                        .ok_or($crate::StoreError::OrgNotFound(org))
                })
            }

            fn ledger(
                &self,
                org: $crate::OrgId,
                page: $crate::LedgerPage,
            ) -> $crate::BoxFut<'_, Vec<$crate::LedgerEntry>> {
                Box::pin(async move {
                    let mut qb = sqlx::QueryBuilder::<$db>::new(format!(
                        "SELECT {} FROM ledger_entries WHERE org_id = ",
                        $crate::rows::LEDGER_COLUMNS
                    ));
                    qb.push_bind(org.to_string());
                    if let Some(c) = page.before {
                        let at = $crate::types::to_us(c.created_at);
                        qb.push(" AND (created_at < ")
                            .push_bind(at)
                            .push(" OR (created_at = ")
                            .push_bind(at)
                            .push(" AND id < ")
                            .push_bind(c.id.to_string())
                            .push("))");
                    }
                    qb.push(" ORDER BY created_at DESC, id DESC LIMIT ")
                        .push_bind(i64::from(page.limit));
                    let rows = qb.build().fetch_all(self.reader()).await?;
                    rows.iter().map(Self::ledger_from_row).collect()
                })
            }

            fn audit(
                &self,
                org: Option<$crate::OrgId>,
            ) -> $crate::BoxFut<'_, Vec<$crate::OrgAudit>> {
                Box::pin(async move {
                    let mut qb = sqlx::QueryBuilder::<$db>::new(
                        "SELECT o.id, o.name, o.balance_nanos, o.leased_nanos, \
                         CAST(COALESCE((SELECT SUM(amount_nanos) FROM ledger_entries e WHERE e.org_id = o.id), 0) AS BIGINT), \
                         (SELECT COUNT(*) FROM ledger_entries e WHERE e.org_id = o.id), \
                         CAST(COALESCE((SELECT SUM(amount_nanos) FROM credit_leases l WHERE l.org_id = o.id), 0) AS BIGINT) \
                         FROM orgs o",
                    );
                    if let Some(org) = org {
                        qb.push(" WHERE o.id = ").push_bind(org.to_string());
                    }
                    qb.push(" ORDER BY o.created_at, o.id");
                    let rows: Vec<(String, String, i64, i64, i64, i64, i64)> =
                        qb.build_query_as().fetch_all(self.reader()).await?;
                    if let (Some(org), true) = (org, rows.is_empty()) {
                        return Err($crate::StoreError::OrgNotFound(org));
                    }
                    let mut leases = $crate::LedgerStore::leases(self, org).await?;
                    let mut out = Vec::with_capacity(rows.len());
                    for (id, name, balance, leased, sum, count, leases_sum) in rows {
                        let org_id: $crate::OrgId = $crate::types::parse_id(&id, "orgs")?;
                        let (mine, rest): (Vec<_>, Vec<_>) =
                            leases.into_iter().partition(|l| l.org_id == org_id);
                        leases = rest;
                        out.push($crate::OrgAudit {
                            org_id,
                            org_name: name,
                            balance_nanos: balance,
                            ledger_sum_nanos: sum,
                            ledger_rows: count,
                            leased_nanos: leased,
                            leases_sum_nanos: leases_sum,
                            leases: mine,
                        });
                    }
                    Ok(out)
                })
            }

            fn acquire_lease(
                &self,
                req: $crate::LeaseRequest,
            ) -> $crate::BoxFut<'_, $crate::LeaseGrant> {
                let this = self.clone();
                $crate::detach(async move {
                    if req.min_nanos < 0 || req.want_nanos < req.min_nanos {
                        return Err($crate::StoreError::InvalidAmount {
                            amount: req.min_nanos,
                            reason: "a lease needs 0 <= min <= want",
                        });
                    }
                    let org_s = req.org.to_string();
                    let now = $crate::types::to_us(time::OffsetDateTime::now_utc());
                    let expires = now.saturating_add($crate::rows::ttl_micros(req.ttl));
                    let mut tx = this.begin_write().await?;
                    // Read, decide, then a conditional UPDATE: under SQLite's write lock it
                    // cannot race; on PostgreSQL a concurrent grant makes the UPDATE miss and
                    // the loop decides again on fresh figures.
                    let mut tries = 0;
                    let (granted, balance, leased) = loop {
                        tries += 1;
                        let current: Option<(i64, i64)> = sqlx::query_as(
                            "SELECT balance_nanos, leased_nanos FROM orgs WHERE id = $1",
                        )
                        .bind(&org_s)
                        .fetch_optional(&mut *tx)
                        .await?;
                        let (balance, leased) =
                            current.ok_or($crate::StoreError::OrgNotFound(req.org))?;
                        let unleased = balance.saturating_sub(leased).max(0);
                        if unleased < req.min_nanos || unleased == 0 {
                            return Err($crate::StoreError::InsufficientCredits {
                                balance,
                                available: unleased,
                                needed: req.min_nanos,
                            });
                        }
                        let grant = req.want_nanos.min(unleased);
                        let done = sqlx::query(
                            "UPDATE orgs SET leased_nanos = leased_nanos + $2 \
                             WHERE id = $1 AND balance_nanos - leased_nanos >= $2",
                        )
                        .bind(&org_s)
                        .bind(grant)
                        .execute(&mut *tx)
                        .await?;
                        if done.rows_affected() == 1 {
                            break (grant, balance, leased + grant);
                        }
                        if tries >= 8 {
                            return Err($crate::StoreError::Invalid(
                                "credit lease contended too long; try again".into(),
                            ));
                        }
                    };
                    let lease: i64 = sqlx::query_scalar(
                        "INSERT INTO credit_leases (org_id, instance_id, amount_nanos, created_at, \
                         renewed_at, expires_at) VALUES ($1, $2, $3, $4, $4, $5) \
                         ON CONFLICT (org_id, instance_id) DO UPDATE SET \
                         amount_nanos = credit_leases.amount_nanos + excluded.amount_nanos, \
                         renewed_at = excluded.renewed_at, expires_at = excluded.expires_at \
                         RETURNING amount_nanos",
                    )
                    .bind(&org_s)
                    .bind(&req.instance)
                    .bind(granted)
                    .bind(now)
                    .bind(expires)
                    .fetch_one(&mut *tx)
                    .await?;
                    tx.commit().await?;
                    Ok($crate::LeaseGrant {
                        granted_nanos: granted,
                        lease_nanos: lease,
                        balance_nanos: balance,
                        unleased_nanos: balance - leased,
                    })
                })
            }

            fn return_lease<'a>(
                &'a self,
                org: $crate::OrgId,
                instance: &'a str,
                amount_nanos: i64,
            ) -> $crate::BoxFut<'a, i64> {
                let this = self.clone();
                let instance = instance.to_owned();
                $crate::detach(async move {
                    if amount_nanos < 0 {
                        return Err($crate::StoreError::InvalidAmount {
                            amount: amount_nanos,
                            reason: "a returned amount cannot be negative",
                        });
                    }
                    let org_s = org.to_string();
                    let mut tx = this.begin_write().await?;
                    // Org row first, then the lease row: the order of `acquire_lease` (the
                    // other order deadlocks on PostgreSQL).
                    sqlx::query("UPDATE orgs SET leased_nanos = leased_nanos WHERE id = $1")
                        .bind(&org_s)
                        .execute(&mut *tx)
                        .await?;
                    let left: Option<i64> = sqlx::query_scalar(
                        "UPDATE credit_leases SET amount_nanos = amount_nanos - $3 \
                         WHERE org_id = $1 AND instance_id = $2 AND amount_nanos >= $3 \
                         RETURNING amount_nanos",
                    )
                    .bind(&org_s)
                    .bind(&instance)
                    .bind(amount_nanos)
                    .fetch_optional(&mut *tx)
                    .await?;
                    let Some(left) = left else {
                        return Err($crate::StoreError::Invalid(format!(
                            "instance {instance} holds no lease of {amount_nanos} nano-USD on org {org}"
                        )));
                    };
                    sqlx::query("UPDATE orgs SET leased_nanos = leased_nanos - $2 WHERE id = $1")
                        .bind(&org_s)
                        .bind(amount_nanos)
                        .execute(&mut *tx)
                        .await?;
                    if left == 0 {
                        sqlx::query(
                            "DELETE FROM credit_leases WHERE org_id = $1 AND instance_id = $2 \
                             AND amount_nanos = 0",
                        )
                        .bind(&org_s)
                        .bind(&instance)
                        .execute(&mut *tx)
                        .await?;
                    }
                    tx.commit().await?;
                    Ok(left)
                })
            }

            fn renew_leases<'a>(
                &'a self,
                instance: &'a str,
                snapshots: &'a [$crate::LeaseSnapshot],
                ttl: std::time::Duration,
            ) -> $crate::BoxFut<'a, Vec<$crate::OrgId>> {
                let this = self.clone();
                let instance = instance.to_owned();
                let snapshots = snapshots.to_vec();
                $crate::detach(async move {
                    let now = $crate::types::to_us(time::OffsetDateTime::now_utc());
                    let expires = now.saturating_add($crate::rows::ttl_micros(ttl));
                    let mut tx = this.begin_write().await?;
                    sqlx::query(
                        "UPDATE credit_leases SET renewed_at = $2, expires_at = $3 \
                         WHERE instance_id = $1",
                    )
                    .bind(&instance)
                    .bind(now)
                    .bind(expires)
                    .execute(&mut *tx)
                    .await?;
                    let mut missing = Vec::new();
                    for s in &snapshots {
                        let done = sqlx::query(
                            "UPDATE credit_leases SET held_nanos = $3, holds = $4, oldest_hold_at = $5 \
                             WHERE org_id = $1 AND instance_id = $2",
                        )
                        .bind(s.org.to_string())
                        .bind(&instance)
                        .bind(s.held_nanos)
                        .bind(s.holds)
                        .bind(s.oldest_hold_at.map($crate::types::to_us))
                        .execute(&mut *tx)
                        .await?;
                        if done.rows_affected() == 0 {
                            missing.push(s.org);
                        }
                    }
                    tx.commit().await?;
                    Ok(missing)
                })
            }

            fn release_instance<'a>(&'a self, instance: &'a str) -> $crate::BoxFut<'a, u64> {
                let this = self.clone();
                let instance = instance.to_owned();
                $crate::detach(async move {
                    let mut tx = this.begin_write().await?;
                    let gone: Vec<(String, i64)> = sqlx::query_as(
                        "DELETE FROM credit_leases WHERE instance_id = $1 \
                         RETURNING org_id, amount_nanos",
                    )
                    .bind(&instance)
                    .fetch_all(&mut *tx)
                    .await?;
                    Self::unlease(&mut tx, &gone).await?;
                    tx.commit().await?;
                    Ok(gone.len() as u64)
                })
            }

            fn expire_leases(&self, now: time::OffsetDateTime) -> $crate::BoxFut<'_, u64> {
                let this = self.clone();
                $crate::detach(async move {
                    let mut tx = this.begin_write().await?;
                    let gone: Vec<(String, i64)> = sqlx::query_as(
                        "DELETE FROM credit_leases WHERE expires_at <= $1 \
                         RETURNING org_id, amount_nanos",
                    )
                    .bind($crate::types::to_us(now))
                    .fetch_all(&mut *tx)
                    .await?;
                    Self::unlease(&mut tx, &gone).await?;
                    tx.commit().await?;
                    if !gone.is_empty() {
                        tracing::info!(count = gone.len(), "expired credit leases returned to their orgs");
                    }
                    Ok(gone.len() as u64)
                })
            }

            fn leases(
                &self,
                org: Option<$crate::OrgId>,
            ) -> $crate::BoxFut<'_, Vec<$crate::Lease>> {
                Box::pin(async move {
                    let mut qb = sqlx::QueryBuilder::<$db>::new(format!(
                        "SELECT {} FROM credit_leases",
                        $crate::rows::LEASE_COLUMNS
                    ));
                    if let Some(org) = org {
                        qb.push(" WHERE org_id = ").push_bind(org.to_string());
                    }
                    qb.push(" ORDER BY org_id, instance_id");
                    let rows = qb.build().fetch_all(self.reader()).await?;
                    rows.iter().map(Self::lease_from_row).collect()
                })
            }
        }

        impl $ty {
            /// Gives ended leases' amounts back to their orgs.
            async fn unlease(
                tx: &mut sqlx::Transaction<'static, $db>,
                gone: &[(String, i64)],
            ) -> $crate::Result<()> {
                for (org, amount) in gone {
                    sqlx::query("UPDATE orgs SET leased_nanos = leased_nanos - $2 WHERE id = $1")
                        .bind(org)
                        .bind(amount)
                        .execute(&mut **tx)
                        .await?;
                }
                Ok(())
            }
        }
    };
}

pub(crate) use impl_ledger;
