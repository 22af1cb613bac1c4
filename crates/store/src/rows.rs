//! Row → type conversions shared by every concern, stamped out per backend.

/// Columns of `request_logs`, in the order `push_log_values` binds them.
pub(crate) const LOG_COLUMNS: &str =
    "id, org_id, key_id, model, endpoint, provider, billing_mode, \
     status, error_type, attempts, prompt_tokens, completion_tokens, cached_tokens, \
     cache_write_tokens, reasoning_tokens, cost_nanos, latency_ms, ttft_ms, overhead_us, stream, \
     user_id, properties, request_body, response_body, created_at, route, target_url, ttfb_ms, \
     session_id, session_path, session_name, cache_status, cache_saved_nanos, client_request_id";

/// The sizes of a batch's multi-row INSERTs (log rows, ledger rows), largest first. A batch
/// is cut greedily into these, so the statement cache holds five texts per table whatever the
/// batch sizes: a prepared multi-row INSERT holds a few KB per row in SQLite, and one cached
/// text per batch size (sqlx keeps 100) was most of the gateway's memory under load, while
/// preparing a fresh statement every time costs CPU for every row. 34 columns × 256 rows stays
/// far under every backend's bound-parameter limit (SQLite 32766, PostgreSQL 65535).
pub(crate) const STATEMENT_ROWS: [usize; 5] = [256, 64, 16, 4, 1];

/// `rows` cut into chunks of the [`STATEMENT_ROWS`] sizes, in order.
pub(crate) fn statement_chunks<T>(rows: &[T]) -> impl Iterator<Item = &[T]> {
    let mut rest = rows;
    std::iter::from_fn(move || {
        let size = STATEMENT_ROWS.into_iter().find(|s| *s <= rest.len())?;
        let (chunk, tail) = rest.split_at(size);
        rest = tail;
        Some(chunk)
    })
}

/// Ids per `IN (...)` list (one bound parameter each): a whole default-sized batch. Its text
/// varies with the count, so it is not kept in the statement cache.
pub(crate) const IDS_PER_STATEMENT: usize = crate::log_writer::DEFAULT_MAX_BATCH_SIZE;

pub(crate) const ORG_COLUMNS: &str = "id, name, store_bodies, created_at, rate_limit_policy";
pub(crate) const GATEWAY_KEY_COLUMNS: &str =
    "id, org_id, name, prefix, created_at, revoked_at, rate_limit_policy, cache_enabled";
pub(crate) const PROVIDER_KEY_COLUMNS: &str =
    "id, org_id, provider, key_name, config, secret_kind, created_at, updated_at";
pub(crate) const LEDGER_COLUMNS: &str =
    "id, org_id, kind, amount_nanos, balance_after, request_id, note, created_at";
pub(crate) const LEASE_COLUMNS: &str = "org_id, instance_id, amount_nanos, held_nanos, holds, \
     oldest_hold_at, created_at, renewed_at, expires_at";

pub(crate) fn is_fk_violation(e: &sqlx::Error) -> bool {
    matches!(
        e.as_database_error().map(|d| d.kind()),
        Some(sqlx::error::ErrorKind::ForeignKeyViolation)
    )
}

pub(crate) fn ttl_micros(ttl: std::time::Duration) -> i64 {
    i64::try_from(ttl.as_micros()).unwrap_or(i64::MAX / 2)
}

macro_rules! impl_rows {
    ($ty:ty, $db:ty) => {
        impl $ty {
            fn org_from_row(r: &<$db as sqlx::Database>::Row) -> $crate::Result<$crate::Org> {
                use sqlx::Row;
                Ok($crate::Org {
                    id: $crate::types::parse_id(&r.try_get::<String, _>("id")?, "orgs")?,
                    name: r.try_get("name")?,
                    store_bodies: r.try_get("store_bodies")?,
                    created_at: $crate::types::from_us(r.try_get("created_at")?, "orgs")?,
                    rate_limit_policy: r.try_get("rate_limit_policy")?,
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
                    rate_limit_policy: r.try_get("rate_limit_policy")?,
                    cache_enabled: r.try_get("cache_enabled")?,
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
                    balance_after_nanos: r.try_get("balance_after")?,
                    request_id: r
                        .try_get::<Option<String>, _>("request_id")?
                        .map(|s| $crate::types::parse_id(&s, T))
                        .transpose()?,
                    note: r.try_get("note")?,
                    created_at: $crate::types::from_us(r.try_get("created_at")?, T)?,
                })
            }

            fn lease_from_row(r: &<$db as sqlx::Database>::Row) -> $crate::Result<$crate::Lease> {
                use sqlx::Row;
                const T: &str = "credit_leases";
                Ok($crate::Lease {
                    org_id: $crate::types::parse_id(&r.try_get::<String, _>("org_id")?, T)?,
                    instance_id: r.try_get("instance_id")?,
                    amount_nanos: r.try_get("amount_nanos")?,
                    held_nanos: r.try_get("held_nanos")?,
                    holds: r.try_get("holds")?,
                    oldest_hold_at: r
                        .try_get::<Option<i64>, _>("oldest_hold_at")?
                        .map(|us| $crate::types::from_us(us, T))
                        .transpose()?,
                    created_at: $crate::types::from_us(r.try_get("created_at")?, T)?,
                    renewed_at: $crate::types::from_us(r.try_get("renewed_at")?, T)?,
                    expires_at: $crate::types::from_us(r.try_get("expires_at")?, T)?,
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
                    route: r.try_get("route")?,
                    target_url: r.try_get("target_url")?,
                    ttfb_ms: r.try_get("ttfb_ms")?,
                    session_id: r.try_get("session_id")?,
                    session_path: r.try_get("session_path")?,
                    session_name: r.try_get("session_name")?,
                    cache_status: r.try_get("cache_status")?,
                    cache_saved_nanos: r.try_get("cache_saved_nanos")?,
                    client_request_id: r.try_get("client_request_id")?,
                })
            }
        }
    };
}

pub(crate) use impl_rows;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_are_cut_into_the_few_cached_statement_sizes() {
        for n in [0usize, 1, 3, 17, 255, 256, 257, 1000, 4096, 4097] {
            let rows: Vec<usize> = (0..n).collect();
            let chunks: Vec<&[usize]> = statement_chunks(&rows).collect();
            assert_eq!(chunks.concat(), rows, "{n}: every row once, in order");
            assert!(
                chunks.iter().all(|c| STATEMENT_ROWS.contains(&c.len())),
                "{n}"
            );
            // Below the largest size, at most three of each: few round trips per batch.
            for size in &STATEMENT_ROWS[1..] {
                assert!(
                    chunks.iter().filter(|c| c.len() == *size).count() <= 3,
                    "{n}"
                );
            }
        }
    }
}
