//! Orgs: who owns keys, credits and logs.

use crate::{BoxFut, Org, OrgId};

pub trait OrgStore {
    fn create_org<'a>(&'a self, name: &'a str) -> BoxFut<'a, Org>;
    fn get_org(&self, id: OrgId) -> BoxFut<'_, Option<Org>>;
    fn list_orgs(&self) -> BoxFut<'_, Vec<Org>>;
    /// Turns request/response body storage on or off for an org.
    fn set_store_bodies(&self, id: OrgId, store_bodies: bool) -> BoxFut<'_, ()>;
    /// Sets (or with `None` clears) the org's stored rate-limit policy list.
    fn set_org_rate_limit<'a>(&'a self, id: OrgId, policy: Option<&'a str>) -> BoxFut<'a, ()>;
}

macro_rules! impl_orgs {
    ($ty:ty) => {
        impl $crate::OrgStore for $ty {
            fn create_org<'a>(&'a self, name: &'a str) -> $crate::BoxFut<'a, $crate::Org> {
                let this = self.clone();
                let name = name.trim().to_owned();
                $crate::detach(async move {
                    if name.is_empty() {
                        return Err($crate::StoreError::Invalid("org name is empty".into()));
                    }
                    let org = $crate::Org {
                        id: $crate::OrgId::generate(),
                        name,
                        store_bodies: true,
                        created_at: $crate::types::now_micros(),
                        rate_limit_policy: None,
                    };
                    sqlx::query(
                        "INSERT INTO orgs (id, name, store_bodies, balance_nanos, leased_nanos, created_at) \
                         VALUES ($1, $2, $3, 0, 0, $4)",
                    )
                    .bind(org.id.to_string())
                    .bind(&org.name)
                    .bind(org.store_bodies)
                    .bind($crate::types::to_us(org.created_at))
                    .execute(this.writer())
                    .await?;
                    Ok(org)
                })
            }

            fn get_org(&self, id: $crate::OrgId) -> $crate::BoxFut<'_, Option<$crate::Org>> {
                Box::pin(async move {
                    let sql = format!(
                        "SELECT {} FROM orgs WHERE id = $1",
                        $crate::rows::ORG_COLUMNS
                    );
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
                        $crate::rows::ORG_COLUMNS
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
                let this = self.clone();
                $crate::detach(async move {
                    let done = sqlx::query("UPDATE orgs SET store_bodies = $2 WHERE id = $1")
                        .bind(id.to_string())
                        .bind(store_bodies)
                        .execute(this.writer())
                        .await?;
                    if done.rows_affected() == 0 {
                        return Err($crate::StoreError::OrgNotFound(id));
                    }
                    Ok(())
                })
            }

            fn set_org_rate_limit<'a>(
                &'a self,
                id: $crate::OrgId,
                policy: Option<&'a str>,
            ) -> $crate::BoxFut<'a, ()> {
                let this = self.clone();
                let policy = policy.map(str::to_owned);
                $crate::detach(async move {
                    let done = sqlx::query("UPDATE orgs SET rate_limit_policy = $2 WHERE id = $1")
                        .bind(id.to_string())
                        .bind(policy)
                        .execute(this.writer())
                        .await?;
                    if done.rows_affected() == 0 {
                        return Err($crate::StoreError::OrgNotFound(id));
                    }
                    Ok(())
                })
            }
        }
    };
}

pub(crate) use impl_orgs;
