//! The `Store` implementation shared by both backends.
//!
//! Every statement is written once, in SQL that SQLite and PostgreSQL both
//! accept (`$N` placeholders, `RETURNING`, `ON CONFLICT`, integer timestamps).
//! A macro stamps it out per backend because sqlx's row and argument types are
//! per-database; the backend modules supply only connection handling:
//! `reader()`, `writer()`, `begin_write()` and `master_key()`.

/// Columns of `request_logs`, in the order `push_log_values` binds them.
pub(crate) const LOG_COLUMNS: &str =
    "id, org_id, key_id, model, endpoint, provider, billing_mode, \
     status, error_type, attempts, prompt_tokens, completion_tokens, cached_tokens, \
     cache_write_tokens, reasoning_tokens, cost_nanos, latency_ms, ttft_ms, overhead_us, stream, \
     user_id, properties, request_body, response_body, created_at";

/// Rows per INSERT statement: 25 columns × 200 stays under every backend's
/// bound-parameter limit (SQLite 32766, Postgres 65535).
pub(crate) const LOG_ROWS_PER_STATEMENT: usize = 200;

pub(crate) const ORG_COLUMNS: &str = "id, name, store_bodies, created_at";
pub(crate) const GATEWAY_KEY_COLUMNS: &str = "id, org_id, name, prefix, created_at, revoked_at";
pub(crate) const PROVIDER_KEY_COLUMNS: &str =
    "id, org_id, provider, key_name, config, secret_kind, created_at, updated_at";
pub(crate) const RESERVATION_COLUMNS: &str =
    "id, org_id, amount_nanos, status, settled_nanos, created_at, expires_at, closed_at";
pub(crate) const LEDGER_COLUMNS: &str = "id, org_id, kind, amount_nanos, held_delta_nanos, \
     balance_after, held_after, reservation_id, note, created_at";

pub(crate) fn is_fk_violation(e: &sqlx::Error) -> bool {
    matches!(
        e.as_database_error().map(|d| d.kind()),
        Some(sqlx::error::ErrorKind::ForeignKeyViolation)
    )
}

pub(crate) fn ttl_micros(ttl: std::time::Duration) -> i64 {
    i64::try_from(ttl.as_micros()).unwrap_or(i64::MAX / 2)
}

macro_rules! impl_store {
    ($ty:ty, $db:ty, $backend:expr) => {
        impl $ty {
            fn org_from_row(r: &<$db as sqlx::Database>::Row) -> $crate::Result<$crate::Org> {
                use sqlx::Row;
                Ok($crate::Org {
                    id: $crate::types::parse_id(&r.try_get::<String, _>("id")?, "orgs")?,
                    name: r.try_get("name")?,
                    store_bodies: r.try_get("store_bodies")?,
                    created_at: $crate::types::from_us(r.try_get("created_at")?, "orgs")?,
                })
            }

            fn gateway_key_from_row(
                r: &<$db as sqlx::Database>::Row,
            ) -> $crate::Result<$crate::GatewayKey> {
                use sqlx::Row;
                const T: &str = "gateway_keys";
                Ok($crate::GatewayKey {
                    id: $crate::types::parse_id(&r.try_get::<String, _>("id")?, T)?,
                    org_id: $crate::types::parse_id(&r.try_get::<String, _>("org_id")?, T)?,
                    name: r.try_get("name")?,
                    prefix: r.try_get("prefix")?,
                    created_at: $crate::types::from_us(r.try_get("created_at")?, T)?,
                    revoked_at: r
                        .try_get::<Option<i64>, _>("revoked_at")?
                        .map(|us| $crate::types::from_us(us, T))
                        .transpose()?,
                })
            }

            fn provider_key_info_from_row(
                r: &<$db as sqlx::Database>::Row,
            ) -> $crate::Result<$crate::ProviderKeyInfo> {
                use sqlx::Row;
                const T: &str = "provider_keys";
                let key_name: String = r.try_get("key_name")?;
                let config: String = r.try_get("config")?;
                let kind: String = r.try_get("secret_kind")?;
                Ok($crate::ProviderKeyInfo {
                    id: $crate::types::parse_id(&r.try_get::<String, _>("id")?, T)?,
                    org_id: $crate::types::parse_id(&r.try_get::<String, _>("org_id")?, T)?,
                    provider: r.try_get("provider")?,
                    key_name: (!key_name.is_empty()).then_some(key_name),
                    config: serde_json::from_str(&config).map_err(|e| {
                        $crate::StoreError::Corrupt {
                            table: T,
                            detail: format!("config: {e}"),
                        }
                    })?,
                    secret_kind: $crate::types::SecretKind::parse(&kind).ok_or_else(|| {
                        $crate::StoreError::Corrupt {
                            table: T,
                            detail: format!("secret_kind {kind:?}"),
                        }
                    })?,
                    created_at: $crate::types::from_us(r.try_get("created_at")?, T)?,
                    updated_at: $crate::types::from_us(r.try_get("updated_at")?, T)?,
                })
            }

            fn decrypt_provider_key(
                &self,
                r: &<$db as sqlx::Database>::Row,
            ) -> $crate::Result<$crate::ProviderKey> {
                use sqlx::Row;
                let mk = self.master_key()?;
                let info = Self::provider_key_info_from_row(r)?;
                let fingerprint: Vec<u8> = r.try_get("key_fingerprint")?;
                if fingerprint.as_slice() != mk.fingerprint().as_slice() {
                    return Err($crate::StoreError::WrongMasterKey(info.id));
                }
                let nonce: Vec<u8> = r.try_get("nonce")?;
                let ciphertext: Vec<u8> = r.try_get("ciphertext")?;
                let aad = $crate::crypto::provider_key_aad(
                    &info.org_id.to_string(),
                    &info.provider,
                    info.key_name.as_deref().unwrap_or(""),
                );
                let secret = mk
                    .open(&aad, &nonce, &ciphertext)
                    .ok_or($crate::StoreError::DecryptFailed(info.id))?;
                if secret.kind() != info.secret_kind {
                    return Err($crate::StoreError::DecryptFailed(info.id));
                }
                Ok($crate::ProviderKey { info, secret })
            }

            fn reservation_from_row(
                r: &<$db as sqlx::Database>::Row,
            ) -> $crate::Result<$crate::Reservation> {
                use sqlx::Row;
                const T: &str = "reservations";
                let status: String = r.try_get("status")?;
                Ok($crate::Reservation {
                    id: $crate::types::parse_id(&r.try_get::<String, _>("id")?, T)?,
                    org_id: $crate::types::parse_id(&r.try_get::<String, _>("org_id")?, T)?,
                    amount_nanos: r.try_get("amount_nanos")?,
                    status: $crate::ReservationStatus::parse(&status).ok_or_else(|| {
                        $crate::StoreError::Corrupt {
                            table: T,
                            detail: format!("status {status:?}"),
                        }
                    })?,
                    settled_nanos: r.try_get("settled_nanos")?,
                    created_at: $crate::types::from_us(r.try_get("created_at")?, T)?,
                    expires_at: $crate::types::from_us(r.try_get("expires_at")?, T)?,
                    closed_at: r
                        .try_get::<Option<i64>, _>("closed_at")?
                        .map(|us| $crate::types::from_us(us, T))
                        .transpose()?,
                })
            }

            fn ledger_from_row(
                r: &<$db as sqlx::Database>::Row,
            ) -> $crate::Result<$crate::LedgerEntry> {
                use sqlx::Row;
                const T: &str = "ledger_entries";
                let kind: String = r.try_get("kind")?;
                Ok($crate::LedgerEntry {
                    id: $crate::types::parse_id(&r.try_get::<String, _>("id")?, T)?,
                    org_id: $crate::types::parse_id(&r.try_get::<String, _>("org_id")?, T)?,
                    kind: $crate::LedgerKind::parse(&kind).ok_or_else(|| {
                        $crate::StoreError::Corrupt {
                            table: T,
                            detail: format!("kind {kind:?}"),
                        }
                    })?,
                    amount_nanos: r.try_get("amount_nanos")?,
                    held_delta_nanos: r.try_get("held_delta_nanos")?,
                    balance_after_nanos: r.try_get("balance_after")?,
                    held_after_nanos: r.try_get("held_after")?,
                    reservation_id: r
                        .try_get::<Option<String>, _>("reservation_id")?
                        .map(|s| $crate::types::parse_id(&s, T))
                        .transpose()?,
                    note: r.try_get("note")?,
                    created_at: $crate::types::from_us(r.try_get("created_at")?, T)?,
                })
            }

            fn log_from_row(r: &<$db as sqlx::Database>::Row) -> $crate::Result<$crate::LogRow> {
                use sqlx::Row;
                const T: &str = "request_logs";
                let corrupt = |detail: String| $crate::StoreError::Corrupt { table: T, detail };
                let status: i64 = r.try_get("status")?;
                let billing: Option<String> = r.try_get("billing_mode")?;
                let attempts: String = r.try_get("attempts")?;
                let properties: String = r.try_get("properties")?;
                Ok($crate::LogRow {
                    id: $crate::types::parse_id(&r.try_get::<String, _>("id")?, T)?,
                    org_id: $crate::types::parse_id(&r.try_get::<String, _>("org_id")?, T)?,
                    key_id: r
                        .try_get::<Option<String>, _>("key_id")?
                        .map(|s| $crate::types::parse_id(&s, T))
                        .transpose()?,
                    model: r.try_get("model")?,
                    endpoint: r.try_get("endpoint")?,
                    provider: r.try_get("provider")?,
                    billing: billing
                        .map(|b| {
                            $crate::BillingMode::parse(&b)
                                .ok_or_else(|| corrupt(format!("billing_mode {b:?}")))
                        })
                        .transpose()?,
                    status: u16::try_from(status)
                        .map_err(|_| corrupt(format!("status {status}")))?,
                    error_type: r.try_get("error_type")?,
                    attempts: serde_json::from_str(&attempts)
                        .map_err(|e| corrupt(format!("attempts: {e}")))?,
                    prompt_tokens: r.try_get("prompt_tokens")?,
                    completion_tokens: r.try_get("completion_tokens")?,
                    cached_tokens: r.try_get("cached_tokens")?,
                    cache_write_tokens: r.try_get("cache_write_tokens")?,
                    reasoning_tokens: r.try_get("reasoning_tokens")?,
                    cost_nanos: r.try_get("cost_nanos")?,
                    latency_ms: r.try_get("latency_ms")?,
                    ttft_ms: r.try_get("ttft_ms")?,
                    overhead_us: r.try_get("overhead_us")?,
                    stream: r.try_get("stream")?,
                    user_id: r.try_get("user_id")?,
                    properties: serde_json::from_str(&properties)
                        .map_err(|e| corrupt(format!("properties: {e}")))?,
                    request_body: r.try_get("request_body")?,
                    response_body: r.try_get("response_body")?,
                    created_at: $crate::types::from_us(r.try_get("created_at")?, T)?,
                })
            }

            /// Appends one ledger row inside the caller's transaction.
            #[allow(clippy::too_many_arguments)]
            async fn insert_ledger(
                tx: &mut sqlx::Transaction<'static, $db>,
                org: $crate::OrgId,
                kind: $crate::LedgerKind,
                amount: i64,
                held_delta: i64,
                after: (i64, i64),
                reservation: Option<$crate::ReservationId>,
                note: Option<&str>,
                now_us: i64,
            ) -> $crate::Result<()> {
                sqlx::query(
                    "INSERT INTO ledger_entries (id, org_id, kind, amount_nanos, held_delta_nanos, \
                     balance_after, held_after, reservation_id, note, created_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
                )
                .bind(uuid::Uuid::now_v7().to_string())
                .bind(org.to_string())
                .bind(kind.as_str())
                .bind(amount)
                .bind(held_delta)
                .bind(after.0)
                .bind(after.1)
                .bind(reservation.map(|r| r.to_string()))
                .bind(note)
                .bind(now_us)
                .execute(&mut **tx)
                .await?;
                Ok(())
            }

            /// Applies a balance/held change to the org row; returns the new totals.
            async fn apply_to_org(
                tx: &mut sqlx::Transaction<'static, $db>,
                org: &str,
                amount: i64,
                held_delta: i64,
            ) -> $crate::Result<Option<(i64, i64)>> {
                let row: Option<(i64, i64)> = sqlx::query_as(
                    "UPDATE orgs SET balance_nanos = balance_nanos + $2, \
                     held_nanos = held_nanos + $3 WHERE id = $1 \
                     RETURNING balance_nanos, held_nanos",
                )
                .bind(org)
                .bind(amount)
                .bind(held_delta)
                .fetch_optional(&mut **tx)
                .await?;
                Ok(row)
            }
        }

        impl $crate::Store for $ty {
            fn backend(&self) -> $crate::Backend {
                $backend
            }

            fn create_org<'a>(&'a self, name: &'a str) -> $crate::BoxFut<'a, $crate::Org> {
                Box::pin(async move {
                    let name = name.trim();
                    if name.is_empty() {
                        return Err($crate::StoreError::Invalid("org name is empty".into()));
                    }
                    let org = $crate::Org {
                        id: $crate::OrgId::generate(),
                        name: name.to_owned(),
                        store_bodies: true,
                        created_at: $crate::types::now_micros(),
                    };
                    sqlx::query(
                        "INSERT INTO orgs (id, name, store_bodies, balance_nanos, held_nanos, created_at) \
                         VALUES ($1, $2, $3, 0, 0, $4)",
                    )
                    .bind(org.id.to_string())
                    .bind(&org.name)
                    .bind(org.store_bodies)
                    .bind($crate::types::to_us(org.created_at))
                    .execute(self.writer())
                    .await?;
                    Ok(org)
                })
            }

            fn get_org(&self, id: $crate::OrgId) -> $crate::BoxFut<'_, Option<$crate::Org>> {
                Box::pin(async move {
                    let sql = format!("SELECT {} FROM orgs WHERE id = $1", $crate::common::ORG_COLUMNS);
                    let row = sqlx::query(&sql)
                        .bind(id.to_string())
                        .fetch_optional(self.reader())
                        .await?;
                    row.as_ref().map(Self::org_from_row).transpose()
                })
            }

            fn list_orgs(&self) -> $crate::BoxFut<'_, Vec<$crate::Org>> {
                Box::pin(async move {
                    let sql = format!(
                        "SELECT {} FROM orgs ORDER BY created_at, id",
                        $crate::common::ORG_COLUMNS
                    );
                    let rows = sqlx::query(&sql).fetch_all(self.reader()).await?;
                    rows.iter().map(Self::org_from_row).collect()
                })
            }

            fn set_store_bodies(
                &self,
                id: $crate::OrgId,
                store_bodies: bool,
            ) -> $crate::BoxFut<'_, ()> {
                Box::pin(async move {
                    let done = sqlx::query("UPDATE orgs SET store_bodies = $2 WHERE id = $1")
                        .bind(id.to_string())
                        .bind(store_bodies)
                        .execute(self.writer())
                        .await?;
                    if done.rows_affected() == 0 {
                        return Err($crate::StoreError::OrgNotFound(id));
                    }
                    Ok(())
                })
            }

            fn create_gateway_key<'a>(
                &'a self,
                org: $crate::OrgId,
                name: &'a str,
            ) -> $crate::BoxFut<'a, $crate::NewGatewayKey> {
                Box::pin(async move {
                    let (plaintext, hash, prefix) = $crate::crypto::generate_gateway_key();
                    let key = $crate::GatewayKey {
                        id: $crate::KeyId::generate(),
                        org_id: org,
                        name: name.trim().to_owned(),
                        prefix,
                        created_at: $crate::types::now_micros(),
                        revoked_at: None,
                    };
                    sqlx::query(
                        "INSERT INTO gateway_keys (id, org_id, name, prefix, key_hash, created_at) \
                         VALUES ($1, $2, $3, $4, $5, $6)",
                    )
                    .bind(key.id.to_string())
                    .bind(org.to_string())
                    .bind(&key.name)
                    .bind(&key.prefix)
                    .bind(&hash[..])
                    .bind($crate::types::to_us(key.created_at))
                    .execute(self.writer())
                    .await
                    .map_err(|e| {
                        if $crate::common::is_fk_violation(&e) {
                            $crate::StoreError::OrgNotFound(org)
                        } else {
                            e.into()
                        }
                    })?;
                    Ok($crate::NewGatewayKey { key, plaintext })
                })
            }

            fn lookup_gateway_key_hash(
                &self,
                hash: [u8; 32],
            ) -> $crate::BoxFut<'_, Option<$crate::AuthedKey>> {
                Box::pin(async move {
                    let row = sqlx::query(
                        "SELECT k.id, k.org_id, k.name, k.prefix, k.created_at, k.revoked_at, \
                         o.name AS org_name, o.store_bodies, o.created_at AS org_created_at \
                         FROM gateway_keys k JOIN orgs o ON o.id = k.org_id \
                         WHERE k.key_hash = $1 AND k.revoked_at IS NULL",
                    )
                    .bind(&hash[..])
                    .fetch_optional(self.reader())
                    .await?;
                    let Some(r) = row else { return Ok(None) };
                    use sqlx::Row;
                    let key = Self::gateway_key_from_row(&r)?;
                    let org = $crate::Org {
                        id: key.org_id,
                        name: r.try_get("org_name")?,
                        store_bodies: r.try_get("store_bodies")?,
                        created_at: $crate::types::from_us(r.try_get("org_created_at")?, "orgs")?,
                    };
                    Ok(Some($crate::AuthedKey { key, org }))
                })
            }

            fn revoke_gateway_key(&self, id: $crate::KeyId) -> $crate::BoxFut<'_, bool> {
                Box::pin(async move {
                    let done = sqlx::query(
                        "UPDATE gateway_keys SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL",
                    )
                    .bind(id.to_string())
                    .bind($crate::types::to_us(time::OffsetDateTime::now_utc()))
                    .execute(self.writer())
                    .await?;
                    Ok(done.rows_affected() > 0)
                })
            }

            fn list_gateway_keys(
                &self,
                org: $crate::OrgId,
            ) -> $crate::BoxFut<'_, Vec<$crate::GatewayKey>> {
                Box::pin(async move {
                    let sql = format!(
                        "SELECT {} FROM gateway_keys WHERE org_id = $1 ORDER BY created_at, id",
                        $crate::common::GATEWAY_KEY_COLUMNS
                    );
                    let rows = sqlx::query(&sql)
                        .bind(org.to_string())
                        .fetch_all(self.reader())
                        .await?;
                    rows.iter().map(Self::gateway_key_from_row).collect()
                })
            }

            fn set_provider_key<'a>(
                &'a self,
                key: &'a $crate::NewProviderKey,
            ) -> $crate::BoxFut<'a, $crate::ProviderKeyInfo> {
                Box::pin(async move {
                    use sqlx::Row;
                    let mk = self.master_key()?;
                    let provider = key.provider.trim();
                    if provider.is_empty() {
                        return Err($crate::StoreError::Invalid("provider is empty".into()));
                    }
                    let key_name = key.key_name.as_deref().map(str::trim).unwrap_or("");
                    let org = key.org_id.to_string();
                    let aad = $crate::crypto::provider_key_aad(&org, provider, key_name);
                    let sealed = mk.seal(&aad, &key.secret);
                    let config = serde_json::to_string(&key.config).map_err(|e| {
                        $crate::StoreError::Invalid(format!("provider key config: {e}"))
                    })?;
                    let now = $crate::types::to_us(time::OffsetDateTime::now_utc());
                    let row = sqlx::query(
                        "INSERT INTO provider_keys (id, org_id, provider, key_name, config, secret_kind, \
                         key_fingerprint, nonce, ciphertext, created_at, updated_at) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10) \
                         ON CONFLICT (org_id, provider, key_name) DO UPDATE SET \
                         config = excluded.config, secret_kind = excluded.secret_kind, \
                         key_fingerprint = excluded.key_fingerprint, nonce = excluded.nonce, \
                         ciphertext = excluded.ciphertext, updated_at = excluded.updated_at \
                         RETURNING id, created_at, updated_at",
                    )
                    .bind($crate::ProviderKeyId::generate().to_string())
                    .bind(&org)
                    .bind(provider)
                    .bind(key_name)
                    .bind(&config)
                    .bind(key.secret.kind().as_str())
                    .bind(&sealed.fingerprint[..])
                    .bind(&sealed.nonce[..])
                    .bind(&sealed.ciphertext)
                    .bind(now)
                    .fetch_one(self.writer())
                    .await
                    .map_err(|e| {
                        if $crate::common::is_fk_violation(&e) {
                            $crate::StoreError::OrgNotFound(key.org_id)
                        } else {
                            e.into()
                        }
                    })?;
                    const T: &str = "provider_keys";
                    Ok($crate::ProviderKeyInfo {
                        id: $crate::types::parse_id(&row.try_get::<String, _>("id")?, T)?,
                        org_id: key.org_id,
                        provider: provider.to_owned(),
                        key_name: (!key_name.is_empty()).then(|| key_name.to_owned()),
                        config: key.config.clone(),
                        secret_kind: key.secret.kind(),
                        created_at: $crate::types::from_us(row.try_get("created_at")?, T)?,
                        updated_at: $crate::types::from_us(row.try_get("updated_at")?, T)?,
                    })
                })
            }

            fn remove_provider_key<'a>(
                &'a self,
                org: $crate::OrgId,
                provider: &'a str,
                key_name: Option<&'a str>,
            ) -> $crate::BoxFut<'a, bool> {
                Box::pin(async move {
                    let done = sqlx::query(
                        "DELETE FROM provider_keys WHERE org_id = $1 AND provider = $2 AND key_name = $3",
                    )
                    .bind(org.to_string())
                    .bind(provider.trim())
                    .bind(key_name.map(str::trim).unwrap_or(""))
                    .execute(self.writer())
                    .await?;
                    Ok(done.rows_affected() > 0)
                })
            }

            fn list_provider_keys(
                &self,
                org: $crate::OrgId,
            ) -> $crate::BoxFut<'_, Vec<$crate::ProviderKeyInfo>> {
                Box::pin(async move {
                    let sql = format!(
                        "SELECT {} FROM provider_keys WHERE org_id = $1 ORDER BY provider, key_name",
                        $crate::common::PROVIDER_KEY_COLUMNS
                    );
                    let rows = sqlx::query(&sql)
                        .bind(org.to_string())
                        .fetch_all(self.reader())
                        .await?;
                    rows.iter().map(Self::provider_key_info_from_row).collect()
                })
            }

            fn get_provider_key_decrypted<'a>(
                &'a self,
                org: $crate::OrgId,
                provider: &'a str,
                key_name: Option<&'a str>,
            ) -> $crate::BoxFut<'a, Option<$crate::ProviderKey>> {
                Box::pin(async move {
                    self.master_key()?;
                    let sql = format!(
                        "SELECT {}, key_fingerprint, nonce, ciphertext FROM provider_keys \
                         WHERE org_id = $1 AND provider = $2 AND key_name = $3",
                        $crate::common::PROVIDER_KEY_COLUMNS
                    );
                    let row = sqlx::query(&sql)
                        .bind(org.to_string())
                        .bind(provider.trim())
                        .bind(key_name.map(str::trim).unwrap_or(""))
                        .fetch_optional(self.reader())
                        .await?;
                    row.as_ref().map(|r| self.decrypt_provider_key(r)).transpose()
                })
            }

            fn provider_keys_decrypted(
                &self,
                org: $crate::OrgId,
            ) -> $crate::BoxFut<'_, Vec<$crate::ProviderKey>> {
                Box::pin(async move {
                    self.master_key()?;
                    let sql = format!(
                        "SELECT {}, key_fingerprint, nonce, ciphertext FROM provider_keys \
                         WHERE org_id = $1 ORDER BY provider, key_name",
                        $crate::common::PROVIDER_KEY_COLUMNS
                    );
                    let rows = sqlx::query(&sql)
                        .bind(org.to_string())
                        .fetch_all(self.reader())
                        .await?;
                    rows.iter().map(|r| self.decrypt_provider_key(r)).collect()
                })
            }

            fn add_credits<'a>(
                &'a self,
                org: $crate::OrgId,
                amount_nanos: i64,
                note: Option<&'a str>,
            ) -> $crate::BoxFut<'a, $crate::Balance> {
                Box::pin(async move {
                    if amount_nanos <= 0 {
                        return Err($crate::StoreError::InvalidAmount {
                            amount: amount_nanos,
                            reason: "a credit grant must be positive",
                        });
                    }
                    let now = $crate::types::to_us(time::OffsetDateTime::now_utc());
                    let mut tx = self.begin_write().await?;
                    let after = Self::apply_to_org(&mut tx, &org.to_string(), amount_nanos, 0)
                        .await?
                        .ok_or($crate::StoreError::OrgNotFound(org))?;
                    Self::insert_ledger(
                        &mut tx,
                        org,
                        $crate::LedgerKind::Credit,
                        amount_nanos,
                        0,
                        after,
                        None,
                        note,
                        now,
                    )
                    .await?;
                    tx.commit().await?;
                    Ok($crate::Balance::new(after.0, after.1))
                })
            }

            fn reserve(
                &self,
                org: $crate::OrgId,
                amount_nanos: i64,
                ttl: std::time::Duration,
            ) -> $crate::BoxFut<'_, $crate::ReservationId> {
                Box::pin(async move {
                    if amount_nanos < 0 {
                        return Err($crate::StoreError::InvalidAmount {
                            amount: amount_nanos,
                            reason: "a reservation cannot be negative",
                        });
                    }
                    let now = $crate::types::to_us(time::OffsetDateTime::now_utc());
                    let org_s = org.to_string();
                    let mut tx = self.begin_write().await?;
                    // The availability check and the hold are one conditional UPDATE:
                    // the row lock (Postgres) or the single write lock (SQLite) makes
                    // check-and-hold atomic, so concurrent reservations cannot overspend.
                    let held: Option<(i64, i64)> = sqlx::query_as(
                        "UPDATE orgs SET held_nanos = held_nanos + $2 \
                         WHERE id = $1 AND balance_nanos - held_nanos >= $2 \
                         RETURNING balance_nanos, held_nanos",
                    )
                    .bind(&org_s)
                    .bind(amount_nanos)
                    .fetch_optional(&mut *tx)
                    .await?;
                    let Some(after) = held else {
                        let current: Option<(i64, i64)> = sqlx::query_as(
                            "SELECT balance_nanos, held_nanos FROM orgs WHERE id = $1",
                        )
                        .bind(&org_s)
                        .fetch_optional(&mut *tx)
                        .await?;
                        return Err(match current {
                            None => $crate::StoreError::OrgNotFound(org),
                            Some((balance, held)) => $crate::StoreError::InsufficientCredits {
                                balance,
                                available: balance - held,
                                needed: amount_nanos,
                            },
                        });
                    };
                    let id = $crate::ReservationId::generate();
                    sqlx::query(
                        "INSERT INTO reservations (id, org_id, amount_nanos, status, created_at, expires_at) \
                         VALUES ($1, $2, $3, 'active', $4, $5)",
                    )
                    .bind(id.to_string())
                    .bind(&org_s)
                    .bind(amount_nanos)
                    .bind(now)
                    .bind(now.saturating_add($crate::common::ttl_micros(ttl)))
                    .execute(&mut *tx)
                    .await?;
                    Self::insert_ledger(
                        &mut tx,
                        org,
                        $crate::LedgerKind::Hold,
                        0,
                        amount_nanos,
                        after,
                        Some(id),
                        None,
                        now,
                    )
                    .await?;
                    tx.commit().await?;
                    Ok(id)
                })
            }

            fn settle(
                &self,
                id: $crate::ReservationId,
                actual_nanos: i64,
            ) -> $crate::BoxFut<'_, $crate::Balance> {
                Box::pin(async move {
                    if actual_nanos < 0 {
                        return Err($crate::StoreError::InvalidAmount {
                            amount: actual_nanos,
                            reason: "a settlement cannot be negative",
                        });
                    }
                    let now = $crate::types::to_us(time::OffsetDateTime::now_utc());
                    let id_s = id.to_string();
                    let mut tx = self.begin_write().await?;
                    let close = |from: &'static str| {
                        format!(
                            "UPDATE reservations SET status = 'settled', settled_nanos = $2, closed_at = $3 \
                             WHERE id = $1 AND status = '{from}' RETURNING org_id, amount_nanos"
                        )
                    };
                    let active: Option<(String, i64)> = sqlx::query_as(&close("active"))
                        .bind(&id_s)
                        .bind(actual_nanos)
                        .bind(now)
                        .fetch_optional(&mut *tx)
                        .await?;
                    let (org_s, held_delta, note) = match active {
                        Some((org, hold)) => (org, -hold, None),
                        None => {
                            // The hold already expired (e.g. a very long stream): the
                            // service was delivered, so the debit is still recorded.
                            let expired: Option<(String, i64)> = sqlx::query_as(&close("expired"))
                                .bind(&id_s)
                                .bind(actual_nanos)
                                .bind(now)
                                .fetch_optional(&mut *tx)
                                .await?;
                            match expired {
                                Some((org, _)) => (org, 0, Some("settled after the hold expired")),
                                None => {
                                    let status: Option<String> = sqlx::query_scalar(
                                        "SELECT status FROM reservations WHERE id = $1",
                                    )
                                    .bind(&id_s)
                                    .fetch_optional(&mut *tx)
                                    .await?;
                                    return Err(match status
                                        .as_deref()
                                        .and_then($crate::ReservationStatus::parse)
                                    {
                                        Some(status) => {
                                            $crate::StoreError::ReservationClosed { id, status }
                                        }
                                        None => $crate::StoreError::ReservationNotFound(id),
                                    });
                                }
                            }
                        }
                    };
                    let org: $crate::OrgId = $crate::types::parse_id(&org_s, "reservations")?;
                    let after = Self::apply_to_org(&mut tx, &org_s, -actual_nanos, held_delta)
                        .await?
                        .ok_or($crate::StoreError::OrgNotFound(org))?;
                    Self::insert_ledger(
                        &mut tx,
                        org,
                        $crate::LedgerKind::Debit,
                        -actual_nanos,
                        held_delta,
                        after,
                        Some(id),
                        note,
                        now,
                    )
                    .await?;
                    tx.commit().await?;
                    Ok($crate::Balance::new(after.0, after.1))
                })
            }

            fn release(&self, id: $crate::ReservationId) -> $crate::BoxFut<'_, bool> {
                Box::pin(async move {
                    let now = $crate::types::to_us(time::OffsetDateTime::now_utc());
                    let id_s = id.to_string();
                    let mut tx = self.begin_write().await?;
                    let active: Option<(String, i64)> = sqlx::query_as(
                        "UPDATE reservations SET status = 'released', closed_at = $2 \
                         WHERE id = $1 AND status = 'active' RETURNING org_id, amount_nanos",
                    )
                    .bind(&id_s)
                    .bind(now)
                    .fetch_optional(&mut *tx)
                    .await?;
                    let Some((org_s, hold)) = active else {
                        let exists: Option<String> =
                            sqlx::query_scalar("SELECT status FROM reservations WHERE id = $1")
                                .bind(&id_s)
                                .fetch_optional(&mut *tx)
                                .await?;
                        return match exists {
                            Some(_) => Ok(false),
                            None => Err($crate::StoreError::ReservationNotFound(id)),
                        };
                    };
                    let org: $crate::OrgId = $crate::types::parse_id(&org_s, "reservations")?;
                    let after = Self::apply_to_org(&mut tx, &org_s, 0, -hold)
                        .await?
                        .ok_or($crate::StoreError::OrgNotFound(org))?;
                    Self::insert_ledger(
                        &mut tx,
                        org,
                        $crate::LedgerKind::Release,
                        0,
                        -hold,
                        after,
                        Some(id),
                        None,
                        now,
                    )
                    .await?;
                    tx.commit().await?;
                    Ok(true)
                })
            }

            fn expire_stale(&self, now: time::OffsetDateTime) -> $crate::BoxFut<'_, u64> {
                Box::pin(async move {
                    let now_us = $crate::types::to_us(now);
                    let mut tx = self.begin_write().await?;
                    let expired: Vec<(String, String, i64)> = sqlx::query_as(
                        "UPDATE reservations SET status = 'expired', closed_at = $1 \
                         WHERE status = 'active' AND expires_at <= $1 \
                         RETURNING id, org_id, amount_nanos",
                    )
                    .bind(now_us)
                    .fetch_all(&mut *tx)
                    .await?;
                    for (id_s, org_s, hold) in &expired {
                        let id: $crate::ReservationId = $crate::types::parse_id(id_s, "reservations")?;
                        let org: $crate::OrgId = $crate::types::parse_id(org_s, "reservations")?;
                        let after = Self::apply_to_org(&mut tx, org_s, 0, -hold)
                            .await?
                            .ok_or($crate::StoreError::OrgNotFound(org))?;
                        Self::insert_ledger(
                            &mut tx,
                            org,
                            $crate::LedgerKind::Expire,
                            0,
                            -hold,
                            after,
                            Some(id),
                            Some("hold expired"),
                            now_us,
                        )
                        .await?;
                    }
                    tx.commit().await?;
                    if !expired.is_empty() {
                        tracing::info!(count = expired.len(), "released expired credit holds");
                    }
                    Ok(expired.len() as u64)
                })
            }

            fn balance(&self, org: $crate::OrgId) -> $crate::BoxFut<'_, $crate::Balance> {
                Box::pin(async move {
                    let row: Option<(i64, i64)> =
                        sqlx::query_as("SELECT balance_nanos, held_nanos FROM orgs WHERE id = $1")
                            .bind(org.to_string())
                            .fetch_optional(self.reader())
                            .await?;
                    let (b, h) = row.ok_or($crate::StoreError::OrgNotFound(org))?;
                    Ok($crate::Balance::new(b, h))
                })
            }

            fn ledger(
                &self,
                org: $crate::OrgId,
                limit: u32,
            ) -> $crate::BoxFut<'_, Vec<$crate::LedgerEntry>> {
                Box::pin(async move {
                    let sql = format!(
                        "SELECT {} FROM ledger_entries WHERE org_id = $1 \
                         ORDER BY created_at DESC, id DESC LIMIT $2",
                        $crate::common::LEDGER_COLUMNS
                    );
                    let rows = sqlx::query(&sql)
                        .bind(org.to_string())
                        .bind(i64::from(limit))
                        .fetch_all(self.reader())
                        .await?;
                    rows.iter().map(Self::ledger_from_row).collect()
                })
            }

            fn audit_ledger(&self, org: $crate::OrgId) -> $crate::BoxFut<'_, $crate::LedgerAudit> {
                Box::pin(async move {
                    let row: Option<(i64, i64, i64, i64, i64)> = sqlx::query_as(
                        "SELECT o.balance_nanos, o.held_nanos, \
                         (SELECT CAST(COALESCE(SUM(amount_nanos), 0) AS BIGINT) FROM ledger_entries WHERE org_id = $1), \
                         (SELECT CAST(COALESCE(SUM(held_delta_nanos), 0) AS BIGINT) FROM ledger_entries WHERE org_id = $1), \
                         (SELECT CAST(COALESCE(SUM(amount_nanos), 0) AS BIGINT) FROM reservations \
                          WHERE org_id = $1 AND status = 'active') \
                         FROM orgs o WHERE o.id = $1",
                    )
                    .bind(org.to_string())
                    .fetch_optional(self.reader())
                    .await?;
                    let (b, h, rb, rh, ah) = row.ok_or($crate::StoreError::OrgNotFound(org))?;
                    Ok($crate::LedgerAudit {
                        balance_nanos: b,
                        held_nanos: h,
                        rows_balance_nanos: rb,
                        rows_held_nanos: rh,
                        active_holds_nanos: ah,
                    })
                })
            }

            fn get_reservation(
                &self,
                id: $crate::ReservationId,
            ) -> $crate::BoxFut<'_, Option<$crate::Reservation>> {
                Box::pin(async move {
                    let sql = format!(
                        "SELECT {} FROM reservations WHERE id = $1",
                        $crate::common::RESERVATION_COLUMNS
                    );
                    let row = sqlx::query(&sql)
                        .bind(id.to_string())
                        .fetch_optional(self.reader())
                        .await?;
                    row.as_ref().map(Self::reservation_from_row).transpose()
                })
            }

            fn insert_logs<'a>(&'a self, rows: &'a [$crate::LogRow]) -> $crate::BoxFut<'a, ()> {
                Box::pin(async move {
                    if rows.is_empty() {
                        return Ok(());
                    }
                    let mut tx = self.begin_write().await?;
                    for chunk in rows.chunks($crate::common::LOG_ROWS_PER_STATEMENT) {
                        let mut qb = sqlx::QueryBuilder::<$db>::new(format!(
                            "INSERT INTO request_logs ({}) ",
                            $crate::common::LOG_COLUMNS
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
                                .push_bind($crate::types::to_us(r.created_at));
                        });
                        qb.build().execute(&mut *tx).await?;
                    }
                    tx.commit().await?;
                    Ok(())
                })
            }

            fn recent_logs<'a>(
                &'a self,
                q: &'a $crate::LogQuery,
            ) -> $crate::BoxFut<'a, Vec<$crate::LogRow>> {
                Box::pin(async move {
                    let mut qb = sqlx::QueryBuilder::<$db>::new(format!(
                        "SELECT {} FROM request_logs WHERE org_id = ",
                        $crate::common::LOG_COLUMNS
                    ));
                    qb.push_bind(q.org_id.to_string());
                    if let Some(status) = q.status {
                        qb.push(" AND status = ").push_bind(i64::from(status));
                    }
                    if let Some(provider) = &q.provider {
                        qb.push(" AND provider = ").push_bind(provider.as_str());
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
                        $crate::common::LOG_COLUMNS
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

            fn close(&self) -> $crate::BoxFut<'_, ()> {
                Box::pin(async move {
                    self.close_pools().await;
                    Ok(())
                })
            }
        }
    };
}

pub(crate) use impl_store;
