//! The dashboard's own state in the store, on both backends: sign-in sessions, provider-key
//! hints, and when gateway keys were last used.

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;

use common::Harness;
use switchyard_store::sessions::NewSession;
use switchyard_store::{DeploymentConfig, LogRow, NewProviderKey, ProviderSecret, Secret};
use time::{Duration, OffsetDateTime};

fn rows(org: switchyard_store::OrgId, n: usize) -> Vec<LogRow> {
    // Whole seconds: the store keeps microseconds, so a read gives back exactly this.
    let now =
        OffsetDateTime::from_unix_timestamp(OffsetDateTime::now_utc().unix_timestamp()).unwrap();
    (0..n)
        .map(|i| LogRow {
            id: uuid::Uuid::now_v7(),
            org_id: org,
            key_id: None,
            model: "m".into(),
            endpoint: None,
            provider: None,
            billing: None,
            status: 200,
            error_type: None,
            attempts: serde_json::json!([]),
            prompt_tokens: None,
            completion_tokens: None,
            cached_tokens: None,
            cache_write_tokens: None,
            reasoning_tokens: None,
            cost_nanos: None,
            latency_ms: 1,
            ttft_ms: None,
            overhead_us: None,
            stream: false,
            user_id: None,
            properties: BTreeMap::new(),
            request_body: None,
            response_body: None,
            created_at: now - Duration::minutes(i as i64 * 7),
            route: None,
            target_url: None,
            ttfb_ms: None,
            session_id: None,
            session_path: None,
            session_name: None,
            cache_status: None,
            cache_saved_nanos: None,
            client_request_id: None,
        })
        .collect()
}

async fn sessions_expire_and_end_with_their_key(h: Arc<Harness>) {
    let org = h.store.create_org("s").await.unwrap();
    let key = h.store.create_gateway_key(org.id, "k").await.unwrap();
    let now = OffsetDateTime::now_utc();
    let operator = NewSession {
        id_hash: [1; 32],
        org_id: None,
        key_id: None,
        csrf_token: "c1".into(),
        expires_at: now + Duration::hours(1),
    };
    let member = NewSession {
        id_hash: [2; 32],
        org_id: Some(org.id),
        key_id: Some(key.key.id),
        csrf_token: "c2".into(),
        expires_at: now + Duration::hours(1),
    };
    let old = NewSession {
        id_hash: [3; 32],
        org_id: None,
        key_id: None,
        csrf_token: "c3".into(),
        expires_at: now - Duration::seconds(1),
    };
    for s in [&operator, &member, &old] {
        h.store.create_session(s).await.unwrap();
    }
    let got = h.store.session([1; 32], now).await.unwrap().unwrap();
    assert_eq!((got.org_id, got.csrf_token.as_str()), (None, "c1"));
    assert_eq!(
        h.store.session([2; 32], now).await.unwrap().unwrap().org_id,
        Some(org.id)
    );
    assert!(
        h.store.session([3; 32], now).await.unwrap().is_none(),
        "expired"
    );
    assert!(
        h.store.session([9; 32], now).await.unwrap().is_none(),
        "unknown"
    );
    assert!(h.store.revoke_gateway_key(key.key.id).await.unwrap());
    assert!(
        h.store.session([2; 32], now).await.unwrap().is_none(),
        "its key was revoked"
    );
    assert_eq!(h.store.purge_sessions(now).await.unwrap(), 1);
    assert!(h.store.delete_session([1; 32]).await.unwrap());
    assert!(!h.store.delete_session([1; 32]).await.unwrap());
}

async fn key_hints_follow_their_key(h: Arc<Harness>) {
    let org = h.store.create_org("h").await.unwrap();
    for name in [None, Some("team-b")] {
        h.store
            .set_provider_key(&NewProviderKey {
                org_id: org.id,
                provider: "openai".into(),
                key_name: name.map(str::to_owned),
                config: DeploymentConfig::default(),
                secret: ProviderSecret::ApiKey(Secret::new("sk-0123456789abcd")),
            })
            .await
            .unwrap();
        h.store
            .set_key_hint(
                org.id,
                "openai",
                name,
                if name.is_some() { "bbbb" } else { "abcd" },
            )
            .await
            .unwrap();
    }
    let hints = h.store.key_hints(org.id).await.unwrap();
    assert_eq!(
        hints
            .iter()
            .map(|k| (k.key_name.as_deref(), k.hint.as_str()))
            .collect::<Vec<_>>(),
        vec![(None, "abcd"), (Some("team-b"), "bbbb")]
    );
    assert!(h
        .store
        .remove_provider_key(org.id, "openai", Some("team-b"))
        .await
        .unwrap());
    assert_eq!(h.store.key_hints(org.id).await.unwrap().len(), 1);
}

async fn keys_last_used_reads_the_log(h: Arc<Harness>) {
    let org = h.store.create_org("k").await.unwrap();
    let used = h
        .store
        .create_gateway_key(org.id, "a")
        .await
        .unwrap()
        .key
        .id;
    let idle = h
        .store
        .create_gateway_key(org.id, "b")
        .await
        .unwrap()
        .key
        .id;
    let mut rs = rows(org.id, 5);
    for r in &mut rs {
        r.key_id = Some(used);
    }
    h.store.insert_logs(&rs).await.unwrap();
    let last = h.store.keys_last_used(org.id, &[used, idle]).await.unwrap();
    let newest = rs.iter().map(|r| r.created_at).max().unwrap();
    assert_eq!(last, vec![(used, newest)]);
}

both_backends!(
    sessions_expire_and_end_with_their_key,
    key_hints_follow_their_key,
    keys_last_used_reads_the_log,
);
