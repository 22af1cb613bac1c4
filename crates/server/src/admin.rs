//! The admin surface, written once: [`Admin`] holds every operation (orgs, gateway keys,
//! credits, BYOK provider keys, request log, spend, ledger) and both the HTTP admin API below
//! (`/admin/...`, behind `Authorization: Bearer <admin_token>`) and the `switchyard admin` CLI
//! call it, so both validate and answer the same way.
//!
//! Secrets go in and never come out: a gateway key's plaintext is returned once by
//! [`Admin::create_key`]; provider secrets are only written (encrypted by the store) and every
//! view of a provider key is metadata.

use std::str::FromStr;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::extract::{FromRequestParts, Path, Query, State};
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use rust_decimal::Decimal;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use switchyard_registry::{AuthStyle, ConfigField, Registry};
use switchyard_store::{
    hash_gateway_key, GatewayKey, KeyId, LedgerEntry, LogQuery, LogRow, NewProviderKey, Org, OrgId,
    ProviderKeyConfig, ProviderKeyInfo, ProviderSecret, Secret, SpendRow, Store, StoreError,
};
use time::OffsetDateTime;

use crate::error::ApiError;
use crate::state::AppState;

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
const MAX_KEY_NAME_LEN: usize = 64;

// ---------------------------------------------------------------------------------------------
// Views: what the API and the CLI answer with.

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

/// A BYOK provider key to store: exactly one kind of secret plus the provider's settings.
/// Deliberately no `Debug`: it carries secrets.
#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProviderKeyInput {
    pub key_name: Option<String>,
    pub api_key: Option<String>,
    pub aws_access_key_id: Option<String>,
    pub aws_secret_access_key: Option<String>,
    pub aws_session_token: Option<String>,
    /// The service-account key file's JSON, as a string or as the object itself.
    pub service_account_json: Option<Value>,
    pub region: Option<String>,
    pub project_id: Option<String>,
    pub resource_name: Option<String>,
    pub deployment_name: Option<String>,
    pub api_version: Option<String>,
    pub base_uri: Option<String>,
}

impl ProviderKeyInput {
    /// Reads the input from a parsed JSON body. Type errors name the field but, unlike serde's
    /// own messages, never echo the value (it may be a secret).
    pub fn from_json(body: Value) -> Result<ProviderKeyInput, ApiError> {
        let Value::Object(fields) = &body else {
            return Err(ApiError::bad_request(
                "request body must be a JSON object",
                None,
            ));
        };
        for (name, value) in fields {
            if name != "service_account_json" && !matches!(value, Value::String(_) | Value::Null) {
                return Err(ApiError::bad_request(
                    format!("`{name}` must be a string"),
                    None,
                ));
            }
        }
        serde_json::from_value(body)
            .map_err(|e| ApiError::bad_request(format!("invalid JSON body: {e}"), None))
    }
}

fn usd(nanos: i64) -> String {
    switchyard_cost::nanos_to_usd(nanos).to_string()
}

fn bad(message: impl Into<String>, param: &'static str) -> ApiError {
    ApiError::bad_request(message, Some(param))
}

/// Store failures as API errors: what the caller can fix is 4xx, the rest 500.
fn store_err(e: StoreError) -> ApiError {
    match e {
        StoreError::OrgNotFound(id) => ApiError::NotFound {
            message: format!("org {id} not found"),
            code: "org_not_found",
        },
        StoreError::InvalidAmount { .. } | StoreError::Invalid(_) => {
            ApiError::bad_request(e.to_string(), None)
        }
        other => ApiError::Internal(other.to_string()),
    }
}

/// Parses a USD amount given as a decimal string into exact nano-dollars: positive, at most 9
/// decimal places (one nano-dollar), at most [`MAX_CREDIT_USD`]. `field` names the input.
pub fn parse_usd_amount(text: &str, field: &'static str) -> Result<i64, ApiError> {
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

fn clean(v: Option<String>) -> Option<String> {
    v.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty())
}

fn check_key_name(name: &str) -> Result<(), ApiError> {
    // Key names are addressed in model strings (`model/provider/<key name>`), so no separators.
    let ok = name.len() <= MAX_KEY_NAME_LEN
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if ok {
        Ok(())
    } else {
        Err(bad(format!("`key_name` must be 1-{MAX_KEY_NAME_LEN} characters of letters, digits, '-', '_' or '.'"), "key_name"))
    }
}

fn auth_style_label(auth: AuthStyle) -> &'static str {
    match auth {
        AuthStyle::AwsSigv4 => "AWS SigV4: send `aws_access_key_id` and `aws_secret_access_key` (and optionally `aws_session_token`)",
        AuthStyle::GoogleServiceAccount => "a Google service account: send `service_account_json` (the key file's JSON)",
        AuthStyle::Bearer | AuthStyle::XApiKey | AuthStyle::ApiKey => "an API key: send `api_key`",
    }
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
    pub async fn org(&self, reference: &str) -> Result<Org, ApiError> {
        let reference = reference.trim();
        if let Ok(id) = OrgId::from_str(reference) {
            return self
                .store
                .get_org(id)
                .await
                .map_err(store_err)?
                .ok_or_else(|| ApiError::NotFound {
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
            0 => Err(ApiError::NotFound {
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

    pub async fn create_org(&self, name: &str) -> Result<Org, ApiError> {
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
            return Err(ApiError::BadRequest {
                message: format!("an org named `{name}` already exists"),
                param: Some("name"),
                code: "org_exists",
            });
        }
        self.store.create_org(name).await.map_err(store_err)
    }

    pub async fn list_orgs(&self) -> Result<Vec<Org>, ApiError> {
        self.store.list_orgs().await.map_err(store_err)
    }

    /// Turns request/response body storage in the request log on or off.
    pub async fn set_store_bodies(&self, org: &str, store_bodies: bool) -> Result<Org, ApiError> {
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

    pub async fn create_key(&self, org: &str, name: &str) -> Result<CreatedKey, ApiError> {
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

    pub async fn list_keys(&self, org: &str) -> Result<Vec<GatewayKey>, ApiError> {
        let org = self.org(org).await?;
        self.store
            .list_gateway_keys(org.id)
            .await
            .map_err(store_err)
    }

    /// Revokes a gateway key. Other instances stop accepting it when their auth cache entry
    /// expires (30 s); the caller clears this instance's cache.
    pub async fn revoke_key(&self, key_id: &str) -> Result<RevokedKey, ApiError> {
        let id = KeyId::from_str(key_id.trim()).map_err(|_| {
            bad(
                format!("`{}` is not a key id (a UUID)", key_id.trim()),
                "key_id",
            )
        })?;
        if !self.store.revoke_gateway_key(id).await.map_err(store_err)? {
            return Err(ApiError::NotFound {
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
    ) -> Result<BalanceView, ApiError> {
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

    pub async fn balance(&self, org: &str) -> Result<BalanceView, ApiError> {
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
    ) -> Result<LedgerPageView, ApiError> {
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
    pub async fn audit(&self, org: Option<&str>) -> Result<Vec<AuditView>, ApiError> {
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
    ) -> Result<ProviderKeyInfo, ApiError> {
        let org = self.org(org).await?;
        let new = self.validate_provider_key(org.id, provider, input)?;
        self.store.set_provider_key(&new).await.map_err(store_err)
    }

    fn validate_provider_key(
        &self,
        org_id: OrgId,
        provider: &str,
        input: ProviderKeyInput,
    ) -> Result<NewProviderKey, ApiError> {
        let provider = provider.trim();
        let Some(p) = self.registry.provider(provider) else {
            let known: Vec<&str> = self.registry.providers().map(|p| p.id.as_str()).collect();
            return Err(bad(
                format!(
                    "unknown provider `{provider}`; valid providers: {}",
                    known.join(", ")
                ),
                "provider",
            ));
        };
        let ProviderKeyInput {
            key_name,
            api_key,
            aws_access_key_id,
            aws_secret_access_key,
            aws_session_token,
            service_account_json,
            region,
            project_id,
            resource_name,
            deployment_name,
            api_version,
            base_uri,
        } = input;
        let (api_key, aws_id, aws_secret, aws_token) = (
            clean(api_key),
            clean(aws_access_key_id),
            clean(aws_secret_access_key),
            clean(aws_session_token),
        );
        let sa_json =
            match service_account_json {
                None | Some(Value::Null) => None,
                Some(Value::String(s)) => clean(Some(s)),
                Some(v @ Value::Object(_)) => Some(v.to_string()),
                Some(_) => return Err(bad(
                    "`service_account_json` must be the key file's JSON, as an object or a string",
                    "service_account_json",
                )),
            };
        let has_aws = aws_id.is_some() || aws_secret.is_some() || aws_token.is_some();
        let kinds = [api_key.is_some(), has_aws, sa_json.is_some()]
            .into_iter()
            .filter(|k| *k)
            .count();
        let wants = auth_style_label(p.auth);
        if kinds == 0 {
            return Err(bad(
                format!(
                    "no secret given: provider `{}` authenticates with {wants}",
                    p.id
                ),
                "api_key",
            ));
        }
        if kinds > 1 {
            return Err(bad(
                format!("send exactly one kind of secret (`api_key`, the AWS pair, or `service_account_json`); provider `{}` authenticates with {wants}", p.id),
                "api_key",
            ));
        }
        let mut project_id = clean(project_id);
        let secret = match p.auth {
            AuthStyle::AwsSigv4 => {
                if !has_aws {
                    return Err(bad(
                        format!(
                            "wrong kind of secret: provider `{}` authenticates with {wants}",
                            p.id
                        ),
                        "aws_access_key_id",
                    ));
                }
                let id = aws_id.ok_or_else(|| {
                    bad(
                        "`aws_access_key_id` is missing (it goes with `aws_secret_access_key`)",
                        "aws_access_key_id",
                    )
                })?;
                let secret = aws_secret.ok_or_else(|| {
                    bad(
                        "`aws_secret_access_key` is missing (it goes with `aws_access_key_id`)",
                        "aws_secret_access_key",
                    )
                })?;
                ProviderSecret::Aws {
                    access_key_id: Secret::new(id),
                    secret_access_key: Secret::new(secret),
                    session_token: aws_token.map(Secret::new),
                }
            }
            AuthStyle::GoogleServiceAccount => {
                let Some(json) = sa_json else {
                    return Err(bad(
                        format!(
                            "wrong kind of secret: provider `{}` authenticates with {wants}",
                            p.id
                        ),
                        "service_account_json",
                    ));
                };
                switchyard_providers::google::auth::ServiceAccount::from_json(&json).map_err(
                    |e| {
                        bad(
                            format!("`service_account_json`: {e}"),
                            "service_account_json",
                        )
                    },
                )?;
                // The key file names its project; use it when none is given.
                if project_id.is_none() {
                    project_id = serde_json::from_str::<Value>(&json)
                        .ok()
                        .and_then(|v| v.get("project_id")?.as_str().map(str::to_owned))
                        .filter(|s| !s.is_empty());
                }
                ProviderSecret::ServiceAccount(Secret::new(json))
            }
            AuthStyle::Bearer | AuthStyle::XApiKey | AuthStyle::ApiKey => {
                let Some(key) = api_key else {
                    return Err(bad(
                        format!(
                            "wrong kind of secret: provider `{}` authenticates with {wants}",
                            p.id
                        ),
                        "api_key",
                    ));
                };
                ProviderSecret::ApiKey(Secret::new(key))
            }
        };
        let config = ProviderKeyConfig {
            region: clean(region),
            project_id,
            resource_name: clean(resource_name),
            deployment_name: clean(deployment_name),
            api_version: clean(api_version),
            base_uri: clean(base_uri),
        };
        for field in &p.required_config {
            let present = match field {
                ConfigField::Region => config.region.is_some(),
                ConfigField::ProjectId => config.project_id.is_some(),
                ConfigField::ResourceName => config.resource_name.is_some(),
                ConfigField::DeploymentName => config.deployment_name.is_some(),
                ConfigField::ApiVersion => config.api_version.is_some(),
                ConfigField::BaseUri => config.base_uri.is_some(),
            };
            if !present {
                let name = field.as_str();
                return Err(bad(format!("provider `{}` requires `{name}`", p.id), name));
            }
        }
        if let Some(uri) = &config.base_uri {
            if !(uri.starts_with("http://") || uri.starts_with("https://")) {
                return Err(bad(
                    format!("`base_uri` must be an http(s) URL, got `{uri}`"),
                    "base_uri",
                ));
            }
        }
        let key_name = clean(key_name);
        if let Some(n) = &key_name {
            check_key_name(n)?;
        }
        Ok(NewProviderKey {
            org_id,
            provider: p.id.clone(),
            key_name,
            config,
            secret,
        })
    }

    pub async fn remove_provider_key(
        &self,
        org: &str,
        provider: &str,
        key_name: Option<&str>,
    ) -> Result<RemovedProviderKey, ApiError> {
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
            return Err(ApiError::NotFound {
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

    pub async fn list_provider_keys(&self, org: &str) -> Result<Vec<ProviderKeyInfo>, ApiError> {
        let org = self.org(org).await?;
        self.store
            .list_provider_keys(org.id)
            .await
            .map_err(store_err)
    }

    // --- request log and spend

    /// Request-log rows, newest first. Bodies are present only when the org stores them.
    pub async fn logs(&self, org: &str, params: LogsParams) -> Result<Vec<LogView>, ApiError> {
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
    pub async fn spend(&self, org: &str, days: Option<u32>) -> Result<SpendReport, ApiError> {
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
fn cursor(e: &LedgerEntry) -> String {
    format!("{}_{}", e.created_at.unix_timestamp_nanos() / 1000, e.id)
}

fn parse_cursor(text: &str) -> Result<switchyard_store::LedgerCursor, ApiError> {
    let bad_cursor = || bad("`before` is not a cursor from `next_before`", "before");
    let (us, id) = text.split_once('_').ok_or_else(bad_cursor)?;
    let us: i64 = us.parse().map_err(|_| bad_cursor())?;
    let created_at = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(us) * 1000)
        .map_err(|_| bad_cursor())?;
    let id = id.parse().map_err(|_| bad_cursor())?;
    Ok(switchyard_store::LedgerCursor { created_at, id })
}

fn list_limit(limit: Option<u32>) -> Result<u32, ApiError> {
    match limit {
        None => Ok(DEFAULT_LIST_LIMIT),
        Some(n) if (1..=MAX_LIST_LIMIT).contains(&n) => Ok(n),
        Some(_) => Err(bad(format!("`limit` must be 1-{MAX_LIST_LIMIT}"), "limit")),
    }
}

// ---------------------------------------------------------------------------------------------
// HTTP admin API.

/// Proof that the request carried the admin token. Every admin handler takes it first, so
/// nothing else (body, query) is looked at before the caller is authenticated.
pub struct AdminAuth;

/// Compares two tokens in constant time: both are hashed first, so neither the position of the
/// first difference nor the length shows in the timing.
fn tokens_match(presented: &str, expected: &str) -> bool {
    let (a, b) = (hash_gateway_key(presented), hash_gateway_key(expected));
    let diff = a
        .iter()
        .zip(b.iter())
        .fold(0u8, |acc, (x, y)| std::hint::black_box(acc | (x ^ y)));
    diff == 0
}

impl FromRequestParts<Arc<AppState>> for AdminAuth {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<AppState>,
    ) -> Result<Self, ApiError> {
        let Some(expected) = state.config.admin_token.as_deref() else {
            return Err(ApiError::Forbidden(
                "admin API disabled: set admin_token (config) or SWITCHYARD_ADMIN_TOKEN",
            ));
        };
        let presented = parts
            .headers
            .get(http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|h| {
                h.strip_prefix("Bearer ")
                    .or_else(|| h.strip_prefix("bearer "))
            })
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or(ApiError::Unauthorized(
                "missing admin token: send `Authorization: Bearer <admin_token>`",
            ))?;
        if tokens_match(presented, expected) {
            Ok(AdminAuth)
        } else {
            Err(ApiError::Unauthorized("invalid admin token"))
        }
    }
}

pub fn router() -> Router<Arc<AppState>> {
    Router::new()
        .route("/admin/orgs", post(create_org).get(list_orgs))
        .route("/admin/orgs/{org}", get(get_org).patch(patch_org))
        .route("/admin/orgs/{org}/keys", post(create_key).get(list_keys))
        .route("/admin/keys/{key_id}", delete(revoke_key))
        .route("/admin/orgs/{org}/credits", post(add_credits))
        .route("/admin/orgs/{org}/balance", get(balance))
        .route("/admin/orgs/{org}/ledger", get(ledger))
        .route("/admin/audit", get(audit))
        .route("/admin/orgs/{org}/provider-keys", get(list_provider_keys))
        .route(
            "/admin/orgs/{org}/provider-keys/{provider}",
            axum::routing::put(set_provider_key).delete(remove_provider_key),
        )
        .route("/admin/orgs/{org}/logs", get(logs))
        .route("/admin/orgs/{org}/spend", get(spend))
}

fn admin(state: &AppState) -> Admin<'_> {
    Admin::new(state.store.as_ref(), &state.registry)
}

/// A JSON body, with serde's message (which names the field, never a value) on failure.
fn json_body<T: DeserializeOwned>(body: Result<Bytes, BytesRejection>) -> Result<T, ApiError> {
    let bytes = body.map_err(|e| {
        ApiError::bad_request(
            format!("could not read the request body: {}", e.body_text()),
            None,
        )
    })?;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::bad_request(
            "request body is empty; send a JSON object",
            None,
        ));
    }
    serde_json::from_slice(&bytes)
        .map_err(|e| ApiError::bad_request(format!("invalid JSON body: {e}"), None))
}

fn query<T>(q: Result<Query<T>, QueryRejection>) -> Result<T, ApiError> {
    q.map(|Query(t)| t).map_err(|e| {
        ApiError::bad_request(format!("invalid query string: {}", e.body_text()), None)
    })
}

fn ok<T: Serialize>(value: T) -> Response {
    Json(value).into_response()
}

fn list<T: Serialize>(data: Vec<T>) -> Response {
    Json(serde_json::json!({ "object": "list", "data": data })).into_response()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NameBody {
    name: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PatchOrgBody {
    store_bodies: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreditsBody {
    amount_usd: String,
    note: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LedgerParams {
    limit: Option<u32>,
    before: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AuditParams {
    org: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyNameParams {
    key_name: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DaysParams {
    days: Option<u32>,
}

type Answer = Result<Response, ApiError>;

async fn create_org(
    _: AdminAuth,
    State(state): State<Arc<AppState>>,
    body: Result<Bytes, BytesRejection>,
) -> Answer {
    let body: NameBody = json_body(body)?;
    let org = admin(&state).create_org(&body.name).await?;
    Ok((StatusCode::CREATED, Json(org)).into_response())
}

async fn list_orgs(_: AdminAuth, State(state): State<Arc<AppState>>) -> Answer {
    Ok(list(admin(&state).list_orgs().await?))
}

async fn get_org(
    _: AdminAuth,
    State(state): State<Arc<AppState>>,
    Path(org): Path<String>,
) -> Answer {
    Ok(ok(admin(&state).org(&org).await?))
}

async fn patch_org(
    _: AdminAuth,
    State(state): State<Arc<AppState>>,
    Path(org): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Answer {
    let body: PatchOrgBody = json_body(body)?;
    let org = admin(&state)
        .set_store_bodies(&org, body.store_bodies)
        .await?;
    // Requests read `store_bodies` from the cached key → org record: drop it here.
    state.auth.clear();
    Ok(ok(org))
}

async fn create_key(
    _: AdminAuth,
    State(state): State<Arc<AppState>>,
    Path(org): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Answer {
    let body: NameBody = json_body(body)?;
    let key = admin(&state).create_key(&org, &body.name).await?;
    Ok((StatusCode::CREATED, Json(key)).into_response())
}

async fn list_keys(
    _: AdminAuth,
    State(state): State<Arc<AppState>>,
    Path(org): Path<String>,
) -> Answer {
    Ok(list(admin(&state).list_keys(&org).await?))
}

async fn revoke_key(
    _: AdminAuth,
    State(state): State<Arc<AppState>>,
    Path(key_id): Path<String>,
) -> Answer {
    let revoked = admin(&state).revoke_key(&key_id).await?;
    state.auth.clear();
    Ok(ok(revoked))
}

async fn add_credits(
    _: AdminAuth,
    State(state): State<Arc<AppState>>,
    Path(org): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Answer {
    let body: CreditsBody = json_body(body)?;
    Ok(ok(admin(&state)
        .add_credits(&org, &body.amount_usd, body.note.as_deref())
        .await?))
}

async fn balance(
    _: AdminAuth,
    State(state): State<Arc<AppState>>,
    Path(org): Path<String>,
) -> Answer {
    Ok(ok(admin(&state).balance(&org).await?))
}

async fn ledger(
    _: AdminAuth,
    State(state): State<Arc<AppState>>,
    Path(org): Path<String>,
    q: Result<Query<LedgerParams>, QueryRejection>,
) -> Answer {
    let q = query(q)?;
    let page = admin(&state)
        .ledger(&org, q.limit, q.before.as_deref())
        .await?;
    Ok(Json(serde_json::json!({
        "object": "list",
        "data": page.data,
        "next_before": page.next_before,
    }))
    .into_response())
}

async fn audit(
    _: AdminAuth,
    State(state): State<Arc<AppState>>,
    q: Result<Query<AuditParams>, QueryRejection>,
) -> Answer {
    let q = query(q)?;
    Ok(list(admin(&state).audit(q.org.as_deref()).await?))
}

async fn set_provider_key(
    _: AdminAuth,
    State(state): State<Arc<AppState>>,
    Path((org, provider)): Path<(String, String)>,
    body: Result<Bytes, BytesRejection>,
) -> Answer {
    let input = ProviderKeyInput::from_json(json_body(body)?)?;
    let info = admin(&state)
        .set_provider_key(&org, &provider, input)
        .await?;
    state.forget_org_keys(info.org_id);
    Ok(ok(info))
}

async fn remove_provider_key(
    _: AdminAuth,
    State(state): State<Arc<AppState>>,
    Path((org, provider)): Path<(String, String)>,
    q: Result<Query<KeyNameParams>, QueryRejection>,
) -> Answer {
    let q = query(q)?;
    let removed = admin(&state)
        .remove_provider_key(&org, &provider, q.key_name.as_deref())
        .await?;
    state.forget_org_keys(removed.org_id);
    Ok(ok(removed))
}

async fn list_provider_keys(
    _: AdminAuth,
    State(state): State<Arc<AppState>>,
    Path(org): Path<String>,
) -> Answer {
    Ok(list(admin(&state).list_provider_keys(&org).await?))
}

async fn logs(
    _: AdminAuth,
    State(state): State<Arc<AppState>>,
    Path(org): Path<String>,
    q: Result<Query<LogsParams>, QueryRejection>,
) -> Answer {
    let q = query(q)?;
    Ok(list(admin(&state).logs(&org, q).await?))
}

async fn spend(
    _: AdminAuth,
    State(state): State<Arc<AppState>>,
    Path(org): Path<String>,
    q: Result<Query<DaysParams>, QueryRejection>,
) -> Answer {
    let q = query(q)?;
    Ok(ok(admin(&state).spend(&org, q.days).await?))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn param(e: &ApiError) -> Option<&'static str> {
        match e {
            ApiError::BadRequest { param, .. } => *param,
            _ => None,
        }
    }

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
            assert_eq!(param(&e), Some("amount_usd"), "{bad}");
            assert!(e.to_string().contains("amount_usd"), "{bad}: {e}");
        }
    }

    #[test]
    fn token_comparison() {
        assert!(tokens_match(
            "admin-token-0123456789",
            "admin-token-0123456789"
        ));
        assert!(!tokens_match(
            "admin-token-0123456789",
            "admin-token-012345678"
        ));
        assert!(!tokens_match("", "admin-token-0123456789"));
    }

    #[test]
    fn key_names_fit_model_strings() {
        assert!(check_key_name("prod-eu_1.a").is_ok());
        for bad in ["a/b", "a,b", "!a", "a b", &"x".repeat(65)] {
            assert!(check_key_name(bad).is_err(), "{bad}");
        }
    }
}
