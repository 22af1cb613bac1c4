//! Gateway keys (stored as SHA-256 hashes) and BYOK provider keys (AES-256-GCM at rest).

use crate::{
    hash_gateway_key, AuthedKey, BoxFut, GatewayKey, KeyId, NewGatewayKey, NewProviderKey, OrgId,
    ProviderKey, ProviderKeyInfo,
};

pub trait KeyStore {
    // --- gateway keys
    /// Creates a key; the plaintext is returned here once and never stored.
    fn create_gateway_key<'a>(&'a self, org: OrgId, name: &'a str) -> BoxFut<'a, NewGatewayKey>;
    /// Looks up an active (not revoked) key by [`hash_gateway_key`] of the presented key.
    fn lookup_gateway_key_hash(&self, hash: [u8; 32]) -> BoxFut<'_, Option<AuthedKey>>;
    /// Looks up an active key by the presented plaintext.
    fn lookup_gateway_key<'a>(&'a self, presented: &'a str) -> BoxFut<'a, Option<AuthedKey>> {
        self.lookup_gateway_key_hash(hash_gateway_key(presented))
    }
    /// Returns false when the key does not exist or was already revoked.
    fn revoke_gateway_key(&self, id: KeyId) -> BoxFut<'_, bool>;
    /// All keys of an org, revoked ones included (never hashes or plaintext).
    fn list_gateway_keys(&self, org: OrgId) -> BoxFut<'_, Vec<GatewayKey>>;
    /// Sets a key's stored rate-limit policy list (`None` clears it) and its cache switch.
    /// Returns false when the key does not exist.
    fn set_gateway_key_governance<'a>(
        &'a self,
        id: KeyId,
        policy: Option<&'a str>,
        cache_enabled: bool,
    ) -> BoxFut<'a, bool>;

    // --- BYOK provider keys
    /// Upsert on (org, provider, key name); the secret is encrypted with the master key.
    fn set_provider_key<'a>(&'a self, key: &'a NewProviderKey) -> BoxFut<'a, ProviderKeyInfo>;
    fn remove_provider_key<'a>(
        &'a self,
        org: OrgId,
        provider: &'a str,
        key_name: Option<&'a str>,
    ) -> BoxFut<'a, bool>;
    /// Metadata only; no secret material.
    fn list_provider_keys(&self, org: OrgId) -> BoxFut<'_, Vec<ProviderKeyInfo>>;
    /// For the server's upstream calls only; never expose the result over an API.
    fn get_provider_key_decrypted<'a>(
        &'a self,
        org: OrgId,
        provider: &'a str,
        key_name: Option<&'a str>,
    ) -> BoxFut<'a, Option<ProviderKey>>;
    /// Every key of an org, decrypted (what the server caches per org).
    fn provider_keys_decrypted(&self, org: OrgId) -> BoxFut<'_, Vec<ProviderKey>>;
}

macro_rules! impl_keys {
    ($ty:ty) => {
        impl $crate::KeyStore for $ty {
            fn create_gateway_key<'a>(
                &'a self,
                org: $crate::OrgId,
                name: &'a str,
            ) -> $crate::BoxFut<'a, $crate::NewGatewayKey> {
                let this = self.clone();
                let name = name.trim().to_owned();
                $crate::detach(async move {
                    let (plaintext, hash, prefix) = $crate::crypto::generate_gateway_key();
                    let key = $crate::GatewayKey {
                        id: $crate::KeyId::generate(),
                        org_id: org,
                        name,
                        prefix,
                        created_at: $crate::types::now_micros(),
                        revoked_at: None,
                        rate_limit_policy: None,
                        cache_enabled: false,
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
                    .execute(this.writer())
                    .await
                    .map_err(|e| {
                        if $crate::rows::is_fk_violation(&e) {
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
                         k.rate_limit_policy, k.cache_enabled, \
                         o.name AS org_name, o.store_bodies, o.created_at AS org_created_at, \
                         o.rate_limit_policy AS org_rate_limit_policy \
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
                        rate_limit_policy: r.try_get("org_rate_limit_policy")?,
                    };
                    Ok(Some($crate::AuthedKey { key, org }))
                })
            }

            fn set_gateway_key_governance<'a>(
                &'a self,
                id: $crate::KeyId,
                policy: Option<&'a str>,
                cache_enabled: bool,
            ) -> $crate::BoxFut<'a, bool> {
                let this = self.clone();
                let policy = policy.map(str::to_owned);
                $crate::detach(async move {
                    let done = sqlx::query(
                        "UPDATE gateway_keys SET rate_limit_policy = $2, cache_enabled = $3 WHERE id = $1",
                    )
                    .bind(id.to_string())
                    .bind(policy)
                    .bind(cache_enabled)
                    .execute(this.writer())
                    .await?;
                    Ok(done.rows_affected() > 0)
                })
            }

            fn revoke_gateway_key(&self, id: $crate::KeyId) -> $crate::BoxFut<'_, bool> {
                let this = self.clone();
                $crate::detach(async move {
                    let done = sqlx::query(
                        "UPDATE gateway_keys SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL",
                    )
                    .bind(id.to_string())
                    .bind($crate::types::to_us(time::OffsetDateTime::now_utc()))
                    .execute(this.writer())
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
                        $crate::rows::GATEWAY_KEY_COLUMNS
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
                let this = self.clone();
                let key = key.clone();
                $crate::detach(async move {
                    use sqlx::Row;
                    let key = &key;
                    let mk = this.master_key()?;
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
                    .fetch_one(this.writer())
                    .await
                    .map_err(|e| {
                        if $crate::rows::is_fk_violation(&e) {
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
                let this = self.clone();
                let provider = provider.trim().to_owned();
                let key_name = key_name.map(str::trim).unwrap_or("").to_owned();
                $crate::detach(async move {
                    let done = sqlx::query(
                        "DELETE FROM provider_keys WHERE org_id = $1 AND provider = $2 AND key_name = $3",
                    )
                    .bind(org.to_string())
                    .bind(&provider)
                    .bind(&key_name)
                    .execute(this.writer())
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
                        $crate::rows::PROVIDER_KEY_COLUMNS
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
                        $crate::rows::PROVIDER_KEY_COLUMNS
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
                        $crate::rows::PROVIDER_KEY_COLUMNS
                    );
                    let rows = sqlx::query(&sql)
                        .bind(org.to_string())
                        .fetch_all(self.reader())
                        .await?;
                    rows.iter().map(|r| self.decrypt_provider_key(r)).collect()
                })
            }
        }
    };
}

pub(crate) use impl_keys;
