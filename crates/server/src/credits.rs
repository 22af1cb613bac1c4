//! Pass-through billing's credit holds, served in memory from per-instance leases
//! (notes/CREDITS.md).
//!
//! Each instance leases a slice of an org's credit from the store (one conditional UPDATE),
//! holds each PTB request's worst case out of that lease in memory, and settles it in memory;
//! the exact debit is committed later together with the request's log row (the log writer's
//! group commit), which shrinks the balance and the lease by the same amount. So the sum of
//! all holds on all instances never exceeds the org's balance, and the hot path needs no
//! database round trip unless a lease runs out.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use switchyard_store::{
    BatchOutcome, Debit, LeaseRequest, LeaseSnapshot, OrgId, Store, StoreError,
};
use time::OffsetDateTime;

/// Tuning of the leases.
#[derive(Clone, Debug)]
pub struct CreditsConfig {
    /// A lease not renewed for this long is returned to its org by any instance's sweep.
    pub lease_ttl: Duration,
    /// How often leases are renewed, idle ones returned and expired ones swept.
    pub maintain_every: Duration,
    /// A lease top-up asks for this many times the hold that needed it, so that the next
    /// requests are served from memory …
    pub lease_multiple: i64,
    /// … and at least this much (nano-USD), as far as the org's credit goes.
    pub min_lease_nanos: i64,
    /// An account with no holds for this long gives its lease back.
    pub idle_return: Duration,
}

impl Default for CreditsConfig {
    fn default() -> Self {
        CreditsConfig {
            lease_ttl: Duration::from_secs(60),
            maintain_every: Duration::from_secs(10),
            lease_multiple: 8,
            min_lease_nanos: 100_000_000, // 0.10 USD
            idle_return: Duration::from_secs(30),
        }
    }
}

/// Why a hold was refused.
#[derive(Debug, thiserror::Error)]
pub enum CreditError {
    #[error("insufficient credits: balance {balance} nano-USD, needed {needed}")]
    Insufficient { balance: i64, needed: i64 },
    #[error("credit store: {0}")]
    Store(#[from] StoreError),
}

#[derive(Debug, Default)]
struct AccountState {
    /// Our lease on the org, as the store has it.
    leased: i64,
    /// Holds of requests in flight.
    held: i64,
    /// Settled debits not yet committed (they still count against the lease).
    pending: i64,
    /// Start time of each open hold, for the audit's "oldest hold".
    open: BTreeMap<u64, OffsetDateTime>,
    last_used: Option<Instant>,
}

impl AccountState {
    fn available(&self) -> i64 {
        self.leased - self.held - self.pending
    }
}

#[derive(Debug, Default)]
struct Account {
    state: Mutex<AccountState>,
    /// One lease request at a time per org on this instance.
    topup: tokio::sync::Mutex<()>,
}

impl Account {
    fn lock(&self) -> std::sync::MutexGuard<'_, AccountState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The credit accounts of one gateway instance.
pub struct Credits {
    store: Arc<dyn Store>,
    instance: String,
    config: CreditsConfig,
    accounts: Mutex<HashMap<OrgId, Arc<Account>>>,
    seq: AtomicU64,
}

/// A request's hold on its org's credit. Settle it with the exact cost, or drop it to
/// release it (every early return and panic releases).
#[must_use]
pub struct Hold {
    account: Arc<Account>,
    org: OrgId,
    instance: String,
    amount: i64,
    seq: u64,
    done: bool,
}

impl Hold {
    pub fn amount(&self) -> i64 {
        self.amount
    }

    /// Ends the hold with a charge of `cost` nano-USD; the returned debit goes to the log
    /// writer with the request's row. A cost above what the lease can still cover (a provider
    /// billing more than the bound — never expected) is charged only up to it, so the balance
    /// cannot go below zero; the shortfall is logged.
    pub fn settle(mut self, request_id: uuid::Uuid, cost: i64) -> Debit {
        self.done = true;
        let cost = cost.max(0);
        let mut s = self.account.lock();
        s.held -= self.amount;
        s.open.remove(&self.seq);
        let room = (s.leased - s.held - s.pending).max(0);
        let charged = cost.min(room);
        if charged < cost {
            tracing::error!(request_id = %request_id, cost, charged, hold = self.amount, "request cost more than its lease could cover; charged what it could");
        }
        s.pending += charged;
        s.last_used = Some(Instant::now());
        Debit {
            request_id,
            org: self.org,
            instance: self.instance.clone(),
            nanos: charged,
        }
    }
}

impl Drop for Hold {
    fn drop(&mut self) {
        if !self.done {
            let mut s = self.account.lock();
            s.held -= self.amount;
            s.open.remove(&self.seq);
        }
    }
}

impl Credits {
    pub fn new(store: Arc<dyn Store>, instance: String, config: CreditsConfig) -> Credits {
        Credits {
            store,
            instance,
            config,
            accounts: Mutex::new(HashMap::new()),
            seq: AtomicU64::new(0),
        }
    }

    pub fn instance(&self) -> &str {
        &self.instance
    }

    fn account(&self, org: OrgId) -> Arc<Account> {
        self.accounts
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(org)
            .or_default()
            .clone()
    }

    fn try_hold(&self, account: &Arc<Account>, org: OrgId, need: i64) -> Option<Hold> {
        let mut s = account.lock();
        if s.available() < need {
            return None;
        }
        let seq = self.seq.fetch_add(1, Ordering::Relaxed);
        s.held += need;
        s.open.insert(seq, OffsetDateTime::now_utc());
        s.last_used = Some(Instant::now());
        Some(Hold {
            account: account.clone(),
            org,
            instance: self.instance.clone(),
            amount: need,
            seq,
            done: false,
        })
    }

    /// Holds `need` nano-USD of the org's credit: from this instance's lease when it covers
    /// it (no I/O), else after topping the lease up from the store.
    pub async fn hold(&self, org: OrgId, need: i64) -> Result<Hold, CreditError> {
        let need = need.max(0);
        let account = self.account(org);
        if let Some(h) = self.try_hold(&account, org, need) {
            return Ok(h);
        }
        let _one = account.topup.lock().await;
        // Another request may have topped the lease up while this one waited.
        if let Some(h) = self.try_hold(&account, org, need) {
            return Ok(h);
        }
        let shortfall = need - account.lock().available();
        let want = shortfall
            .max(need.saturating_mul(self.config.lease_multiple))
            .max(self.config.min_lease_nanos);
        let grant = self
            .store
            .acquire_lease(LeaseRequest {
                org,
                instance: self.instance.clone(),
                min_nanos: shortfall,
                want_nanos: want,
                ttl: self.config.lease_ttl,
            })
            .await;
        match grant {
            Ok(g) => {
                account.lock().leased += g.granted_nanos;
                self.try_hold(&account, org, need)
                    .ok_or(CreditError::Insufficient {
                        balance: g.balance_nanos,
                        needed: need,
                    })
            }
            Err(StoreError::InsufficientCredits { balance, .. }) => {
                Err(CreditError::Insufficient {
                    balance,
                    needed: need,
                })
            }
            Err(e) => Err(e.into()),
        }
    }

    /// After a batch commit: committed debits leave both the pending sum and the lease (the
    /// store shrank the lease by them); uncharged ones mean the lease was lost.
    pub fn committed(&self, debits: &[Debit], outcome: &BatchOutcome) {
        for d in debits.iter().filter(|d| d.instance == self.instance) {
            let account = self.account(d.org);
            let mut s = account.lock();
            s.pending -= d.nanos;
            if outcome.uncharged.contains(&d.request_id) {
                s.leased = 0;
            } else {
                s.leased -= d.nanos;
            }
        }
    }

    /// Debits the database refused: the lease was not shrunk, the room comes back.
    pub fn failed(&self, debits: &[Debit]) {
        for d in debits.iter().filter(|d| d.instance == self.instance) {
            self.account(d.org).lock().pending -= d.nanos;
        }
    }

    /// Renews this instance's leases, gives idle ones back and sweeps leases that crashed
    /// instances left behind. Runs every `maintain_every`.
    pub async fn maintain(&self) {
        let accounts: Vec<(OrgId, Arc<Account>)> = self
            .accounts
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .map(|(o, a)| (*o, a.clone()))
            .collect();
        let mut snapshots = Vec::new();
        let mut idle = Vec::new();
        for (org, account) in &accounts {
            let s = account.lock();
            if s.leased <= 0 {
                continue;
            }
            snapshots.push(LeaseSnapshot {
                org: *org,
                held_nanos: s.held,
                holds: s.open.len() as i64,
                oldest_hold_at: s.open.values().next().copied(),
            });
            let quiet = s
                .last_used
                .is_none_or(|t| t.elapsed() >= self.config.idle_return);
            if quiet && s.held == 0 && s.pending == 0 {
                idle.push((*org, account.clone()));
            }
        }
        if !snapshots.is_empty() {
            match self
                .store
                .renew_leases(&self.instance, &snapshots, self.config.lease_ttl)
                .await
            {
                Ok(missing) => {
                    for org in missing {
                        tracing::warn!(org = %org, "credit lease was lost (not renewed in time); taking a new one");
                        if let Some((_, a)) = accounts.iter().find(|(o, _)| *o == org) {
                            a.lock().leased = 0;
                        }
                    }
                }
                Err(e) => tracing::warn!(error = %e, "renewing credit leases failed"),
            }
        }
        for (org, account) in idle {
            self.give_back(org, &account).await;
        }
        match self.store.expire_leases(OffsetDateTime::now_utc()).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(leases = n, "returned credit leases of stopped instances"),
            Err(e) => tracing::warn!(error = %e, "sweeping expired credit leases failed"),
        }
    }

    /// Returns the unused part of an account's lease to its org.
    async fn give_back(&self, org: OrgId, account: &Arc<Account>) {
        let _one = account.topup.lock().await;
        let amount = {
            let s = account.lock();
            if s.held != 0 || s.pending != 0 {
                return;
            }
            s.available()
        };
        if amount <= 0 {
            return;
        }
        match self.store.return_lease(org, &self.instance, amount).await {
            Ok(_) => account.lock().leased -= amount,
            Err(e) => tracing::warn!(org = %org, error = %e, "returning a credit lease failed"),
        }
    }

    /// Graceful shutdown, after the log writer has committed every debit: every lease goes
    /// back to its org.
    pub async fn shutdown(&self) {
        match self.store.release_instance(&self.instance).await {
            Ok(n) => tracing::info!(leases = n, "credit leases returned"),
            Err(e) => tracing::warn!(error = %e, "returning credit leases failed; they expire"),
        }
    }

    /// What this instance holds on an org right now: (leased, held, pending, open holds).
    pub fn position(&self, org: OrgId) -> (i64, i64, i64, usize) {
        let account = self.account(org);
        let s = account.lock();
        (s.leased, s.held, s.pending, s.open.len())
    }
}
