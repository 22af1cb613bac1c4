//! The one admin service: every operation on orgs, gateway keys, credits, BYOK provider keys,
//! the request log, spend and the ledger, written once. The HTTP admin API ([`super::http`]),
//! the `switchyard admin` CLI and the dashboard all call [`Admin`], so they validate the same
//! input the same way and answer with the same [`super::views`].
//!
//! Secrets go in and never come out: a gateway key's plaintext is returned once by
//! [`Admin::create_key`]; provider secrets are only written (encrypted by the store) and every
//! view of a provider key is metadata.

use std::str::FromStr;

use axum::http::StatusCode;
use rust_decimal::Decimal;
use serde::Deserialize;
use switchyard_registry::Registry;
use switchyard_store::{GatewayKey, KeyId, LogQuery, Org, OrgId, Store, StoreError};
use time::OffsetDateTime;

pub use super::provider_keys::ProviderKeyInput;
use super::provider_keys::{clean, secret_hint, validate};
use super::views::{
    usd, AuditView, BalanceView, CreatedKey, LedgerPageView, LedgerView, LogView, ProviderKeyView,
    RemovedProviderKey, RevokedKey, SpendReport, SpendView,
};

/// Why an admin operation was refused or failed. Each variant knows its HTTP status; the HTTP
/// layer turns it into the OpenAI error shape in one place, the CLI into an exit code, and the
/// dashboard into a message on the page.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    /// Input the caller can fix; `param` names the field at fault.
    #[error("{message}")]
    Invalid {
        message: String,
        param: Option<&'static str>,
        code: &'static str,
    },
    #[error("{message}")]
    NotFound { message: String, code: &'static str },
    /// The caller is known but may not do this (e.g. an org member adding credits).
    #[error("{0}")]
    Forbidden(&'static str),
    /// A store failure the caller cannot fix.
    #[error("internal error: {0}")]
    Internal(String),
}

impl AdminError {
    pub fn invalid(message: impl Into<String>, param: Option<&'static str>) -> AdminError {
        AdminError::Invalid {
            message: message.into(),
            param,
            code: "invalid_request",
        }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            AdminError::Invalid { .. } => StatusCode::BAD_REQUEST,
            AdminError::NotFound { .. } => StatusCode::NOT_FOUND,
            AdminError::Forbidden(_) => StatusCode::FORBIDDEN,
            AdminError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The field at fault, when one is.
    pub fn param(&self) -> Option<&'static str> {
        match self {
            AdminError::Invalid { param, .. } => *param,
            _ => None,
        }
    }

    /// Whether the caller can fix it (4xx).
    pub fn is_client_error(&self) -> bool {
        self.status().is_client_error()
    }
}

/// The largest single credit grant, in USD: a typo guard, far below the ledger's i64 range.
pub const MAX_CREDIT_USD: i64 = 1_000_000;
/// The most rows a list (ledger, logs) returns at once.
pub const MAX_LIST_LIMIT: u32 = 1_000;
/// Rows a list returns when no `limit` is given.
pub const DEFAULT_LIST_LIMIT: u32 = 50;
/// The longest spend window, in days.
pub const MAX_SPEND_DAYS: u32 = 366;
pub const DEFAULT_SPEND_DAYS: u32 = 30;
const MAX_NAME_LEN: usize = 200;
const MAX_NOTE_LEN: usize = 1_000;

/// Filters of the request-log listing.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogsParams {
    pub limit: Option<u32>,
    /// Only rows answered with this HTTP status.
    pub status: Option<u16>,
    pub provider: Option<String>,
    /// Only rows older than this RFC 3339 time (page with the last row's `created_at`).
    pub before: Option<String>,
    pub user_id: Option<String>,
    pub session_id: Option<String>,
    /// `name:value` of a custom property.
    pub property: Option<String>,
    /// The request id the caller sent (`x-switchyard-request-id` / `Helicone-Request-Id`).
    pub client_request_id: Option<String>,
}

fn bad(message: impl Into<String>, param: &'static str) -> AdminError {
    AdminError::invalid(message, Some(param))
}

/// Store failures as API errors: what the caller can fix is 4xx, the rest 500.
pub(super) fn store_err(e: StoreError) -> AdminError {
    match e {
        StoreError::OrgNotFound(id) => AdminError::NotFound {
            message: format!("org {id} not found"),
            code: "org_not_found",
        },
        StoreError::InvalidAmount { .. } | StoreError::Invalid(_) => {
            AdminError::invalid(e.to_string(), None)
        }
        other => AdminError::Internal(other.to_string()),
    }
}

/// Parses a USD amount given as a decimal string into exact nano-dollars: positive, at most 9
/// decimal places (one nano-dollar), at most [`MAX_CREDIT_USD`]. `field` names the input.
pub fn parse_usd_amount(text: &str, field: &'static str) -> Result<i64, AdminError> {
    let t = text.trim();
    if t.is_empty() {
        return Err(bad(
            format!("`{field}` is empty; send a decimal string such as \"12.50\""),
            field,
        ));
    }
    // Plain decimals only: no exponents, signs other than '-', or separators.
    if !t
        .chars()
        .all(|c| c.is_ascii_digit() || c == '.' || c == '-')
    {
        return Err(bad(
            format!("`{field}` must be a plain decimal string such as \"12.50\", got `{t}`"),
            field,
        ));
    }
    let d = Decimal::from_str_exact(t)
        .map_err(|e| {
            bad(
                format!("`{field}` is not a decimal amount (`{t}`): {e}"),
                field,
            )
        })?
        .normalize();
    if d.scale() > 9 {
        return Err(bad(format!("`{field}` has more than 9 decimal places; the smallest unit is 0.000000001 USD (one nano-dollar)"), field));
    }
    if d <= Decimal::ZERO {
        return Err(bad(
            format!("`{field}` must be greater than 0, got {t}"),
            field,
        ));
    }
    if d > Decimal::from(MAX_CREDIT_USD) {
        return Err(bad(
            format!("`{field}` is more than the largest single grant of {MAX_CREDIT_USD} USD"),
            field,
        ));
    }
    // Exact: at most 9 decimal places and bounded above, so the product is an integer in range.
    Ok(switchyard_cost::usd_to_nanos(d))
}

/// The admin operations over a store and the registry (for provider validation).
pub struct Admin<'a> {
    pub store: &'a dyn Store,
    pub registry: &'a Registry,
}

impl<'a> Admin<'a> {
    pub fn new(store: &'a dyn Store, registry: &'a Registry) -> Admin<'a> {
        Admin { store, registry }
    }

    // --- orgs

    /// Finds an org by id, or by name when the name is unique.
    pub async fn org(&self, reference: &str) -> Result<Org, AdminError> {
        let reference = reference.trim();
        if let Ok(id) = OrgId::from_str(reference) {
            return self
                .store
                .get_org(id)
                .await
                .map_err(store_err)?
                .ok_or_else(|| AdminError::NotFound {
                    message: format!("org {id} not found"),
                    code: "org_not_found",
                });
        }
        let mut found: Vec<Org> = self
            .store
            .list_orgs()
            .await
            .map_err(store_err)?
            .into_iter()
            .filter(|o| o.name == reference)
            .collect();
        match found.len() {
            0 => Err(AdminError::NotFound {
                message: format!("no org with id or name `{reference}`"),
                code: "org_not_found",
            }),
            1 => Ok(found.remove(0)),
            n => Err(bad(
                format!("{n} orgs are named `{reference}`; use the org id"),
                "org",
            )),
        }
    }

    pub async fn create_org(&self, name: &str) -> Result<Org, AdminError> {
        let name = name.trim();
        if name.is_empty() || name.len() > MAX_NAME_LEN {
            return Err(bad(
                format!("`name` must be 1-{MAX_NAME_LEN} characters"),
                "name",
            ));
        }
        // Orgs are addressed by id or name, so a name must neither look like an id nor repeat.
        if OrgId::from_str(name).is_ok() {
            return Err(bad(
                "`name` must not be a UUID (orgs are addressed by id or name)",
                "name",
            ));
        }
        if self
            .store
            .list_orgs()
            .await
            .map_err(store_err)?
            .iter()
            .any(|o| o.name == name)
        {
            return Err(AdminError::Invalid {
                message: format!("an org named `{name}` already exists"),
                param: Some("name"),
                code: "org_exists",
            });
        }
        self.store.create_org(name).await.map_err(store_err)
    }

    pub async fn list_orgs(&self) -> Result<Vec<Org>, AdminError> {
        self.store.list_orgs().await.map_err(store_err)
    }

    /// Turns request/response body storage in the request log on or off.
    pub async fn set_store_bodies(&self, org: &str, store_bodies: bool) -> Result<Org, AdminError> {
        let org = self.org(org).await?;
        self.store
            .set_store_bodies(org.id, store_bodies)
            .await
            .map_err(store_err)?;
        Ok(Org {
            store_bodies,
            ..org
        })
    }

    // --- gateway keys

    pub async fn create_key(&self, org: &str, name: &str) -> Result<CreatedKey, AdminError> {
        let org = self.org(org).await?;
        let name = name.trim();
        if name.is_empty() || name.len() > MAX_NAME_LEN {
            return Err(bad(
                format!("`name` must be 1-{MAX_NAME_LEN} characters"),
                "name",
            ));
        }
        let created = self
            .store
            .create_gateway_key(org.id, name)
            .await
            .map_err(store_err)?;
        Ok(CreatedKey {
            id: created.key.id,
            org_id: created.key.org_id,
            name: created.key.name,
            prefix: created.key.prefix,
            key: created.plaintext.expose().to_owned(),
            created_at: created.key.created_at,
        })
    }

    pub async fn list_keys(&self, org: &str) -> Result<Vec<GatewayKey>, AdminError> {
        let org = self.org(org).await?;
        self.store
            .list_gateway_keys(org.id)
            .await
            .map_err(store_err)
    }

    /// Revokes a gateway key of this org only: a key id of another org is "not found", so a
    /// member cannot revoke what it cannot see.
    pub async fn revoke_org_key(&self, org: &str, key_id: &str) -> Result<RevokedKey, AdminError> {
        let keys = self.list_keys(org).await?;
        let key_id = key_id.trim();
        if !keys.iter().any(|k| k.id.to_string() == key_id) {
            return Err(AdminError::NotFound {
                message: format!("no gateway key {key_id} in this org"),
                code: "key_not_found",
            });
        }
        self.revoke_key(key_id).await
    }

    /// Revokes a gateway key. Other instances stop accepting it when their auth cache entry
    /// expires (30 s); the caller clears this instance's cache.
    pub async fn revoke_key(&self, key_id: &str) -> Result<RevokedKey, AdminError> {
        let id = KeyId::from_str(key_id.trim()).map_err(|_| {
            bad(
                format!("`{}` is not a key id (a UUID)", key_id.trim()),
                "key_id",
            )
        })?;
        if !self.store.revoke_gateway_key(id).await.map_err(store_err)? {
            return Err(AdminError::NotFound {
                message: format!("no active gateway key {id}"),
                code: "key_not_found",
            });
        }
        Ok(RevokedKey { id, revoked: true })
    }

    // --- credits

    pub async fn add_credits(
        &self,
        org: &str,
        amount_usd: &str,
        note: Option<&str>,
    ) -> Result<BalanceView, AdminError> {
        let org = self.org(org).await?;
        let nanos = parse_usd_amount(amount_usd, "amount_usd")?;
        let note = note.map(str::trim).filter(|n| !n.is_empty());
        if note.is_some_and(|n| n.len() > MAX_NOTE_LEN) {
            return Err(bad(
                format!("`note` is longer than {MAX_NOTE_LEN} bytes"),
                "note",
            ));
        }
        let b = self
            .store
            .add_credits(org.id, nanos, note)
            .await
            .map_err(store_err)?;
        Ok(balance_view(org.id, b))
    }

    pub async fn balance(&self, org: &str) -> Result<BalanceView, AdminError> {
        let org = self.org(org).await?;
        let b = self.store.balance(org.id).await.map_err(store_err)?;
        Ok(balance_view(org.id, b))
    }

    /// A page of ledger rows, newest first; `before` is the previous page's `next_before`.
    pub async fn ledger(
        &self,
        org: &str,
        limit: Option<u32>,
        before: Option<&str>,
    ) -> Result<LedgerPageView, AdminError> {
        let org = self.org(org).await?;
        let limit = list_limit(limit)?;
        let before = before.map(parse_cursor).transpose()?;
        let rows = self
            .store
            .ledger(org.id, switchyard_store::LedgerPage { limit, before })
            .await
            .map_err(store_err)?;
        let next_before = (rows.len() == limit as usize)
            .then(|| rows.last().map(cursor))
            .flatten();
        Ok(LedgerPageView {
            data: rows
                .into_iter()
                .map(|entry| LedgerView {
                    amount_usd: usd(entry.amount_nanos),
                    balance_after_usd: usd(entry.balance_after_nanos),
                    entry,
                })
                .collect(),
            next_before,
        })
    }

    /// Every org's books (or one org's), recomputed from the ledger rows.
    pub async fn audit(&self, org: Option<&str>) -> Result<Vec<AuditView>, AdminError> {
        let org = match org {
            Some(o) => Some(self.org(o).await?.id),
            None => None,
        };
        let now = time::OffsetDateTime::now_utc();
        let audits = self.store.audit(org).await.map_err(store_err)?;
        Ok(audits
            .into_iter()
            .map(|audit| AuditView {
                consistent: audit.is_consistent(),
                problems: audit.problems(),
                oldest_hold_age_secs: audit
                    .leases
                    .iter()
                    .map(|l| l.oldest_hold_at.map(|t| (now - t).whole_seconds()))
                    .collect(),
                audit,
            })
            .collect())
    }

    // --- BYOK provider keys

    /// Validates and stores (upserts) a provider key; answers with its metadata only.
    pub async fn set_provider_key(
        &self,
        org: &str,
        provider: &str,
        input: ProviderKeyInput,
    ) -> Result<ProviderKeyView, AdminError> {
        let org = self.org(org).await?;
        let new = validate(self.registry, org.id, provider, input)?;
        let info = self.store.set_provider_key(&new).await.map_err(store_err)?;
        let hint = secret_hint(&new.secret);
        if let Some(h) = &hint {
            self.store
                .set_key_hint(org.id, &info.provider, info.key_name.as_deref(), h)
                .await
                .map_err(store_err)?;
        }
        Ok(ProviderKeyView {
            info,
            secret_last4: hint,
        })
    }

    pub async fn remove_provider_key(
        &self,
        org: &str,
        provider: &str,
        key_name: Option<&str>,
    ) -> Result<RemovedProviderKey, AdminError> {
        let org = self.org(org).await?;
        let provider = provider.trim();
        let key_name = key_name.map(str::trim).filter(|n| !n.is_empty());
        if !self
            .store
            .remove_provider_key(org.id, provider, key_name)
            .await
            .map_err(store_err)?
        {
            let named = key_name
                .map(|n| format!(" named `{n}`"))
                .unwrap_or_default();
            return Err(AdminError::NotFound {
                message: format!("org {} has no `{provider}` key{named}", org.id),
                code: "provider_key_not_found",
            });
        }
        Ok(RemovedProviderKey {
            org_id: org.id,
            provider: provider.to_owned(),
            key_name: key_name.map(str::to_owned),
            removed: true,
        })
    }

    /// Metadata of an org's provider keys, with the last 4 characters recorded at write time.
    pub async fn list_provider_keys(&self, org: &str) -> Result<Vec<ProviderKeyView>, AdminError> {
        let org = self.org(org).await?;
        let keys = self
            .store
            .list_provider_keys(org.id)
            .await
            .map_err(store_err)?;
        let hints = self.store.key_hints(org.id).await.map_err(store_err)?;
        Ok(keys
            .into_iter()
            .map(|info| ProviderKeyView {
                secret_last4: hints
                    .iter()
                    .find(|h| h.provider == info.provider && h.key_name == info.key_name)
                    .map(|h| h.hint.clone()),
                info,
            })
            .collect())
    }

    // --- request log and spend

    /// Request-log rows, newest first. Bodies are present only when the org stores them.
    pub async fn logs(&self, org: &str, params: LogsParams) -> Result<Vec<LogView>, AdminError> {
        let org = self.org(org).await?;
        let mut query = LogQuery::new(org.id, list_limit(params.limit)?);
        query.status = params.status;
        query.provider = clean(params.provider);
        query.user_id = clean(params.user_id);
        query.session_id = clean(params.session_id);
        query.client_request_id = clean(params.client_request_id);
        if let Some(p) = clean(params.property) {
            let (name, value) = p
                .split_once(':')
                .ok_or_else(|| bad("`property` must be `name:value`", "property"))?;
            query.property = Some((name.trim().to_ascii_lowercase(), value.to_owned()));
        }
        if let Some(before) = clean(params.before) {
            let t = OffsetDateTime::parse(&before, &time::format_description::well_known::Rfc3339)
                .map_err(|e| bad(format!("`before` is not an RFC 3339 time: {e}"), "before"))?;
            query.before = Some(t);
        }
        let rows = self.store.recent_logs(&query).await.map_err(store_err)?;
        Ok(rows
            .into_iter()
            .map(|row| LogView {
                cost_usd: row.cost_nanos.map(usd),
                row,
            })
            .collect())
    }

    /// Spend per UTC day, provider and billing mode over the last `days` days (today included).
    pub async fn spend(&self, org: &str, days: Option<u32>) -> Result<SpendReport, AdminError> {
        let org = self.org(org).await?;
        let days = days.unwrap_or(DEFAULT_SPEND_DAYS);
        if days == 0 || days > MAX_SPEND_DAYS {
            return Err(bad(format!("`days` must be 1-{MAX_SPEND_DAYS}"), "days"));
        }
        let today = OffsetDateTime::now_utc().date();
        let since = (today - time::Duration::days(i64::from(days) - 1))
            .midnight()
            .assume_utc();
        let until = (today + time::Duration::days(1)).midnight().assume_utc();
        let rows = self
            .store
            .spend(org.id, since, until)
            .await
            .map_err(store_err)?;
        let total_cost_nanos = rows.iter().map(|r| r.cost_nanos).sum();
        Ok(SpendReport {
            org_id: org.id,
            days,
            since,
            until,
            total_requests: rows.iter().map(|r| r.requests).sum(),
            total_cost_usd: usd(total_cost_nanos),
            total_cost_nanos,
            total_unpriced_requests: rows.iter().map(|r| r.unpriced_requests).sum(),
            rows: rows
                .into_iter()
                .map(|row| SpendView {
                    cost_usd: usd(row.cost_nanos),
                    row,
                })
                .collect(),
        })
    }
}

fn balance_view(org_id: OrgId, b: switchyard_store::Balance) -> BalanceView {
    BalanceView {
        org_id,
        balance_usd: usd(b.balance_nanos),
        leased_usd: usd(b.leased_nanos),
        held_usd: usd(b.held_nanos),
        available_usd: usd(b.available_nanos),
        balance_nanos: b.balance_nanos,
        leased_nanos: b.leased_nanos,
        held_nanos: b.held_nanos,
        available_nanos: b.available_nanos,
    }
}

/// A ledger page cursor: `<created_at µs>_<row id>`.
fn cursor(e: &switchyard_store::LedgerEntry) -> String {
    format!("{}_{}", e.created_at.unix_timestamp_nanos() / 1000, e.id)
}

fn parse_cursor(text: &str) -> Result<switchyard_store::LedgerCursor, AdminError> {
    let bad_cursor = || bad("`before` is not a cursor from `next_before`", "before");
    let (us, id) = text.split_once('_').ok_or_else(bad_cursor)?;
    let us: i64 = us.parse().map_err(|_| bad_cursor())?;
    let created_at = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(us) * 1000)
        .map_err(|_| bad_cursor())?;
    let id = id.parse().map_err(|_| bad_cursor())?;
    Ok(switchyard_store::LedgerCursor { created_at, id })
}

fn list_limit(limit: Option<u32>) -> Result<u32, AdminError> {
    match limit {
        None => Ok(DEFAULT_LIST_LIMIT),
        Some(n) if (1..=MAX_LIST_LIMIT).contains(&n) => Ok(n),
        Some(_) => Err(bad(format!("`limit` must be 1-{MAX_LIST_LIMIT}"), "limit")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usd_amounts_are_exact_nanos() {
        assert_eq!(parse_usd_amount("0.000000001", "amount_usd").unwrap(), 1);
        assert_eq!(
            parse_usd_amount("12.50", "amount_usd").unwrap(),
            12_500_000_000
        );
        assert_eq!(
            parse_usd_amount(" 3 ", "amount_usd").unwrap(),
            3_000_000_000
        );
        // Trailing zeros beyond nine places lose nothing.
        assert_eq!(
            parse_usd_amount("1.0000000000", "amount_usd").unwrap(),
            1_000_000_000
        );
        assert_eq!(
            parse_usd_amount("1000000", "amount_usd").unwrap(),
            1_000_000 * 1_000_000_000
        );
    }

    #[test]
    fn bad_usd_amounts_name_the_field() {
        for bad in [
            "1.0000000001",
            "0",
            "-5",
            "0.0",
            "",
            "abc",
            "1e3",
            "+1",
            "1,5",
            "1000000.000000001",
            "99999999999999999999999999999999",
        ] {
            let e = parse_usd_amount(bad, "amount_usd").unwrap_err();
            assert_eq!(e.status(), StatusCode::BAD_REQUEST, "{bad}");
            assert_eq!(e.param(), Some("amount_usd"), "{bad}");
            assert!(e.to_string().contains("amount_usd"), "{bad}: {e}");
        }
    }
}
