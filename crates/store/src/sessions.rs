//! The dashboard's own state: sign-in sessions and the last characters of provider keys.
//!
//! A session id is a random value known only to the browser (in an `HttpOnly` cookie); the
//! store keeps its SHA-256, so a copy of the database signs nobody in. An operator session has
//! no org; a member session names its org and the gateway key it signed in with, and ends as
//! soon as that key is revoked (the lookup joins the key).

use serde::Serialize;
use time::OffsetDateTime;

use crate::{BoxFut, KeyId, OrgId};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewSession {
    pub id_hash: [u8; 32],
    /// `None` for an operator (admin token); the org of the key otherwise.
    pub org_id: Option<OrgId>,
    pub key_id: Option<KeyId>,
    /// Sent back with every mutating request; compared in constant time by the server.
    pub csrf_token: String,
    pub expires_at: OffsetDateTime,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Session {
    pub org_id: Option<OrgId>,
    pub key_id: Option<KeyId>,
    /// Not a secret on its own: it is only useful together with the session cookie.
    pub csrf_token: String,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
}

/// The last characters of one provider key's secret, for telling keys apart.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KeyHint {
    pub provider: String,
    pub key_name: Option<String>,
    pub hint: String,
}

pub trait SessionStore: Send + Sync {
    fn create_session<'a>(&'a self, session: &'a NewSession) -> BoxFut<'a, ()>;
    /// The live session with this id hash: not expired at `now`, and for a member, its key
    /// not revoked.
    fn session(&self, id_hash: [u8; 32], now: OffsetDateTime) -> BoxFut<'_, Option<Session>>;
    /// Ends a session (sign-out); false when there was none.
    fn delete_session(&self, id_hash: [u8; 32]) -> BoxFut<'_, bool>;
    /// Deletes every session expired by `now`; returns how many.
    fn purge_sessions(&self, now: OffsetDateTime) -> BoxFut<'_, u64>;
    /// Records the last characters of a provider key's secret (after `set_provider_key`).
    fn set_key_hint<'a>(
        &'a self,
        org: OrgId,
        provider: &'a str,
        key_name: Option<&'a str>,
        hint: &'a str,
    ) -> BoxFut<'a, ()>;
    /// Every recorded hint of an org's provider keys.
    fn key_hints(&self, org: OrgId) -> BoxFut<'_, Vec<KeyHint>>;
}

macro_rules! impl_sessions {
    ($ty:ty, $db:ty) => {
        impl $crate::sessions::SessionStore for $ty {
            fn create_session<'a>(
                &'a self,
                s: &'a $crate::sessions::NewSession,
            ) -> $crate::BoxFut<'a, ()> {
                Box::pin(async move {
                    sqlx::query(
                        "INSERT INTO dashboard_sessions (id_hash, org_id, key_id, csrf_token, created_at, expires_at) \
                         VALUES ($1, $2, $3, $4, $5, $6)",
                    )
                    .bind(&s.id_hash[..])
                    .bind(s.org_id.map(|o| o.to_string()))
                    .bind(s.key_id.map(|k| k.to_string()))
                    .bind(&s.csrf_token)
                    .bind($crate::types::to_us(time::OffsetDateTime::now_utc()))
                    .bind($crate::types::to_us(s.expires_at))
                    .execute(self.writer())
                    .await?;
                    Ok(())
                })
            }

            fn session(
                &self,
                id_hash: [u8; 32],
                now: time::OffsetDateTime,
            ) -> $crate::BoxFut<'_, Option<$crate::sessions::Session>> {
                Box::pin(async move {
                    let row: Option<(Option<String>, Option<String>, String, i64, i64)> = sqlx::query_as(
                        "SELECT s.org_id, s.key_id, s.csrf_token, s.created_at, s.expires_at \
                         FROM dashboard_sessions s LEFT JOIN gateway_keys k ON k.id = s.key_id \
                         WHERE s.id_hash = $1 AND s.expires_at > $2 \
                         AND (s.key_id IS NULL OR (k.id IS NOT NULL AND k.revoked_at IS NULL))",
                    )
                    .bind(&id_hash[..])
                    .bind($crate::types::to_us(now))
                    .fetch_optional(self.reader())
                    .await?;
                    const T: &str = "dashboard_sessions";
                    row.map(|(org, key, csrf_token, created, expires)| {
                        Ok($crate::sessions::Session {
                            org_id: org.map(|o| $crate::types::parse_id(&o, T)).transpose()?,
                            key_id: key.map(|k| $crate::types::parse_id(&k, T)).transpose()?,
                            csrf_token,
                            created_at: $crate::types::from_us(created, T)?,
                            expires_at: $crate::types::from_us(expires, T)?,
                        })
                    })
                    .transpose()
                })
            }

            fn delete_session(&self, id_hash: [u8; 32]) -> $crate::BoxFut<'_, bool> {
                Box::pin(async move {
                    let done = sqlx::query("DELETE FROM dashboard_sessions WHERE id_hash = $1")
                        .bind(&id_hash[..])
                        .execute(self.writer())
                        .await?;
                    Ok(done.rows_affected() > 0)
                })
            }

            fn purge_sessions(&self, now: time::OffsetDateTime) -> $crate::BoxFut<'_, u64> {
                Box::pin(async move {
                    let done = sqlx::query("DELETE FROM dashboard_sessions WHERE expires_at <= $1")
                        .bind($crate::types::to_us(now))
                        .execute(self.writer())
                        .await?;
                    Ok(done.rows_affected())
                })
            }

            fn set_key_hint<'a>(
                &'a self,
                org: $crate::OrgId,
                provider: &'a str,
                key_name: Option<&'a str>,
                hint: &'a str,
            ) -> $crate::BoxFut<'a, ()> {
                Box::pin(async move {
                    sqlx::query(
                        "UPDATE provider_keys SET secret_hint = $1 \
                         WHERE org_id = $2 AND provider = $3 AND key_name = $4",
                    )
                    .bind(hint)
                    .bind(org.to_string())
                    .bind(provider.trim())
                    .bind(key_name.map(str::trim).unwrap_or(""))
                    .execute(self.writer())
                    .await?;
                    Ok(())
                })
            }

            fn key_hints(
                &self,
                org: $crate::OrgId,
            ) -> $crate::BoxFut<'_, Vec<$crate::sessions::KeyHint>> {
                Box::pin(async move {
                    let rows: Vec<(String, String, String)> = sqlx::query_as(
                        "SELECT provider, key_name, secret_hint FROM provider_keys \
                         WHERE org_id = $1 AND secret_hint IS NOT NULL ORDER BY provider, key_name",
                    )
                    .bind(org.to_string())
                    .fetch_all(self.reader())
                    .await?;
                    Ok(rows
                        .into_iter()
                        .map(|(provider, key_name, hint)| $crate::sessions::KeyHint {
                            provider,
                            key_name: (!key_name.is_empty()).then_some(key_name),
                            hint,
                        })
                        .collect())
                })
            }
        }
    };
}

pub(crate) use impl_sessions;
