//! The store test suite; every test runs on SQLite and on PostgreSQL.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{sample_log, Harness};
use switchyard_store::*;
use time::OffsetDateTime;

both_backends!(
    orgs_create_get_list,
    gateway_keys_hash_lookup_revoke,
    gateway_key_plaintext_not_stored,
    provider_keys_round_trip_and_upsert,
    provider_keys_wrong_or_missing_master_key,
    provider_secret_not_in_database,
    logs_round_trip_filters_and_spend,
    logs_filter_on_user_session_property_and_client_id,
    log_writer_10k_rows_flushed_on_shutdown,
    log_writer_flushes_on_interval,
    log_writer_counts_drops_when_full,
    log_writer_takes_a_backlog_in_large_batches,
    log_filters_use_their_partial_indexes,
);

async fn orgs_create_get_list(h: Arc<Harness>) {
    let s = &*h.store;
    let a = s.create_org("  Acme ").await.unwrap();
    assert_eq!(a.name, "Acme");
    assert!(a.store_bodies, "store_bodies defaults to true");
    let b = s.create_org("Beta").await.unwrap();
    assert_eq!(s.get_org(a.id).await.unwrap(), Some(a.clone()));
    assert_eq!(s.get_org(OrgId::generate()).await.unwrap(), None);
    let all = s.list_orgs().await.unwrap();
    assert_eq!(all, vec![a.clone(), b.clone()]);
    s.set_store_bodies(a.id, false).await.unwrap();
    assert!(!s.get_org(a.id).await.unwrap().unwrap().store_bodies);
    assert!(matches!(
        s.set_store_bodies(OrgId::generate(), true).await,
        Err(StoreError::OrgNotFound(_))
    ));
    assert!(matches!(
        s.create_org("  ").await,
        Err(StoreError::Invalid(_))
    ));
    let bal = s.balance(b.id).await.unwrap();
    assert_eq!(
        bal,
        Balance {
            balance_nanos: 0,
            leased_nanos: 0,
            held_nanos: 0,
            available_nanos: 0
        }
    );
}

async fn gateway_keys_hash_lookup_revoke(h: Arc<Harness>) {
    let s = &*h.store;
    let org = s.create_org("acme").await.unwrap();
    let other = s.create_org("other").await.unwrap();
    let k1 = s.create_gateway_key(org.id, "prod").await.unwrap();
    let k2 = s.create_gateway_key(org.id, "dev").await.unwrap();
    let k3 = s.create_gateway_key(other.id, "x").await.unwrap();
    let p1 = k1.plaintext.expose();
    assert!(p1.starts_with("sy-") && p1.len() == 3 + 43, "{}", p1.len());
    assert!(p1.starts_with(&k1.key.prefix));
    assert_ne!(p1, k2.plaintext.expose());

    let authed = s.lookup_gateway_key(p1).await.unwrap().expect("key found");
    assert_eq!(authed.key, k1.key);
    assert_eq!(authed.org, org);
    let by_hash = s
        .lookup_gateway_key_hash(hash_gateway_key(k3.plaintext.expose()))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(by_hash.org.id, other.id);
    // A near miss is not a match.
    let mut wrong = p1.to_owned();
    wrong.pop();
    wrong.push(if p1.ends_with('A') { 'B' } else { 'A' });
    assert!(s.lookup_gateway_key(&wrong).await.unwrap().is_none());
    assert!(s.lookup_gateway_key("").await.unwrap().is_none());

    let listed = s.list_gateway_keys(org.id).await.unwrap();
    assert_eq!(listed, vec![k1.key.clone(), k2.key.clone()]);
    let json = serde_json::to_string(&listed).unwrap();
    assert!(!json.contains(p1) && !json.contains(k2.plaintext.expose()));
    assert!(
        !format!("{k1:?}").contains(p1),
        "Debug must redact the plaintext"
    );

    assert!(s.revoke_gateway_key(k1.key.id).await.unwrap());
    assert!(!s.revoke_gateway_key(k1.key.id).await.unwrap());
    assert!(s.lookup_gateway_key(p1).await.unwrap().is_none());
    assert!(s
        .lookup_gateway_key(k2.plaintext.expose())
        .await
        .unwrap()
        .is_some());
    let listed = s.list_gateway_keys(org.id).await.unwrap();
    assert!(listed[0].revoked_at.is_some() && listed[1].revoked_at.is_none());

    assert!(matches!(
        s.create_gateway_key(OrgId::generate(), "ghost").await,
        Err(StoreError::OrgNotFound(_))
    ));
}

async fn gateway_key_plaintext_not_stored(h: Arc<Harness>) {
    let s = &*h.store;
    let org = s.create_org("acme").await.unwrap();
    let k = s.create_gateway_key(org.id, "prod").await.unwrap();
    let secret_part = &k.plaintext.expose()[11..];
    for col in h.raw_secret_columns().await {
        assert!(!contains(&col, secret_part.as_bytes()));
    }
    for f in h.sqlite_files() {
        let bytes = std::fs::read(&f).unwrap();
        assert!(!contains(&bytes, secret_part.as_bytes()), "{f:?}");
    }
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

fn openai_key(org: OrgId, name: Option<&str>, secret: &str) -> NewProviderKey {
    NewProviderKey {
        org_id: org,
        provider: "openai".to_owned(),
        key_name: name.map(str::to_owned),
        config: DeploymentConfig::default(),
        secret: ProviderSecret::ApiKey(secret.into()),
    }
}

async fn provider_keys_round_trip_and_upsert(h: Arc<Harness>) {
    let s = &*h.store;
    let org = s.create_org("acme").await.unwrap().id;
    let other = s.create_org("other").await.unwrap().id;

    let info = s
        .set_provider_key(&openai_key(org, None, "sk-first"))
        .await
        .unwrap();
    assert_eq!(info.key_name, None);
    assert_eq!(info.secret_kind, SecretKind::ApiKey);

    let bedrock = NewProviderKey {
        org_id: org,
        provider: "bedrock".to_owned(),
        key_name: Some("eu".to_owned()),
        config: DeploymentConfig {
            region: Some("eu-west-1".to_owned()),
            ..Default::default()
        },
        secret: ProviderSecret::Aws {
            access_key_id: "AKIAEXAMPLE".into(),
            secret_access_key: "aws-secret/abc+def".into(),
            session_token: None,
        },
    };
    s.set_provider_key(&bedrock).await.unwrap();
    let sa_json =
        r#"{"type":"service_account","private_key":"-----BEGIN PRIVATE KEY-----\nMIIE\n"}"#;
    let vertex = NewProviderKey {
        org_id: org,
        provider: "vertex".to_owned(),
        key_name: None,
        config: DeploymentConfig {
            region: Some("us-central1".to_owned()),
            project_id: Some("proj-1".to_owned()),
            ..Default::default()
        },
        secret: ProviderSecret::ServiceAccount(sa_json.into()),
    };
    s.set_provider_key(&vertex).await.unwrap();
    let azure = NewProviderKey {
        org_id: org,
        provider: "azure".to_owned(),
        key_name: Some("east".to_owned()),
        config: DeploymentConfig {
            resource_name: Some("my-res".to_owned()),
            deployment_name: Some("gpt4o".to_owned()),
            api_version: Some("2024-10-21".to_owned()),
            base_uri: Some("https://my-res.openai.azure.com".to_owned()),
            ..Default::default()
        },
        secret: ProviderSecret::ApiKey("azure-key".into()),
    };
    s.set_provider_key(&azure).await.unwrap();

    let listed = s.list_provider_keys(org).await.unwrap();
    let names: Vec<_> = listed
        .iter()
        .map(|k| (k.provider.as_str(), k.key_name.as_deref()))
        .collect();
    assert_eq!(
        names,
        vec![
            ("azure", Some("east")),
            ("bedrock", Some("eu")),
            ("openai", None),
            ("vertex", None)
        ]
    );
    let listed_json = serde_json::to_string(&listed).unwrap();
    for secret in ["sk-first", "aws-secret", "PRIVATE KEY", "azure-key"] {
        assert!(!listed_json.contains(secret), "list leaked {secret}");
    }
    assert_eq!(listed[0].config, azure.config);

    let got = s
        .get_provider_key_decrypted(org, "bedrock", Some("eu"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got.secret, bedrock.secret);
    assert_eq!(got.info.config.region.as_deref(), Some("eu-west-1"));
    assert!(!format!("{got:?}").contains("aws-secret"));
    let v = s
        .get_provider_key_decrypted(org, "vertex", None)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(v.secret, ProviderSecret::ServiceAccount(sa_json.into()));
    assert!(s
        .get_provider_key_decrypted(org, "bedrock", None)
        .await
        .unwrap()
        .is_none());
    assert!(s
        .get_provider_key_decrypted(other, "openai", None)
        .await
        .unwrap()
        .is_none());

    // Upsert: same (org, provider, name) replaces the secret and keeps the id.
    let again = s
        .set_provider_key(&openai_key(org, None, "sk-second"))
        .await
        .unwrap();
    assert_eq!(again.id, info.id);
    assert_eq!(again.created_at, info.created_at);
    let got = s
        .get_provider_key_decrypted(org, "openai", None)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got.secret, ProviderSecret::ApiKey("sk-second".into()));
    assert_eq!(s.list_provider_keys(org).await.unwrap().len(), 4);

    let all = s.provider_keys_decrypted(org).await.unwrap();
    assert_eq!(all.len(), 4);
    assert!(s.provider_keys_decrypted(other).await.unwrap().is_empty());

    assert!(s
        .remove_provider_key(org, "bedrock", Some("eu"))
        .await
        .unwrap());
    assert!(!s
        .remove_provider_key(org, "bedrock", Some("eu"))
        .await
        .unwrap());
    assert_eq!(s.list_provider_keys(org).await.unwrap().len(), 3);

    assert!(matches!(
        s.set_provider_key(&openai_key(OrgId::generate(), None, "x"))
            .await,
        Err(StoreError::OrgNotFound(_))
    ));
}

async fn provider_keys_wrong_or_missing_master_key(h: Arc<Harness>) {
    let org = h.store.create_org("acme").await.unwrap().id;
    h.store
        .set_provider_key(&openai_key(org, Some("k1"), "sk-live-123"))
        .await
        .unwrap();

    let (wrong, _) = MasterKey::generate();
    let other = h.reopen(Some(wrong)).await;
    let err = other
        .get_provider_key_decrypted(org, "openai", Some("k1"))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::WrongMasterKey(_)), "{err:?}");
    assert!(matches!(
        other.provider_keys_decrypted(org).await,
        Err(StoreError::WrongMasterKey(_))
    ));
    // Listing needs no key.
    assert_eq!(other.list_provider_keys(org).await.unwrap().len(), 1);
    other.close().await.unwrap();

    let none = h.reopen(None).await;
    assert!(matches!(
        none.get_provider_key_decrypted(org, "openai", Some("k1"))
            .await,
        Err(StoreError::MasterKeyMissing)
    ));
    assert!(matches!(
        none.set_provider_key(&openai_key(org, None, "x")).await,
        Err(StoreError::MasterKeyMissing)
    ));
    none.close().await.unwrap();

    // The right key (from its base64 form) still works.
    let same = h.reopen(Some(h.master_key.clone())).await;
    let got = same
        .get_provider_key_decrypted(org, "openai", Some("k1"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got.secret, ProviderSecret::ApiKey("sk-live-123".into()));
    same.close().await.unwrap();
}

async fn provider_secret_not_in_database(h: Arc<Harness>) {
    let org = h.store.create_org("acme").await.unwrap().id;
    let secret = "sk-proj-ThisMustNeverBeStoredInClear0123456789";
    h.store
        .set_provider_key(&openai_key(org, None, secret))
        .await
        .unwrap();
    let cols = h.raw_secret_columns().await;
    assert!(cols.len() >= 4);
    for col in &cols {
        assert!(!contains(col, secret.as_bytes()));
        assert!(!contains(col, b"ThisMustNever"));
    }
    for f in h.sqlite_files() {
        let bytes = std::fs::read(&f).unwrap();
        assert!(
            !contains(&bytes, b"ThisMustNever"),
            "{f:?} holds the secret"
        );
    }
}

async fn logs_round_trip_filters_and_spend(h: Arc<Harness>) {
    let s = &*h.store;
    let org = s.create_org("acme").await.unwrap().id;
    let other = s.create_org("other").await.unwrap().id;
    let day1 = time::macros::datetime!(2025-03-01 10:00:00.123456 UTC);
    let day2 = time::macros::datetime!(2025-03-02 23:59:59.999000 UTC);
    let mut rows: Vec<LogRow> = (0..30)
        .map(|i| {
            let at = if i < 20 { day1 } else { day2 } + time::Duration::microseconds(i as i64);
            sample_log(org, i, at)
        })
        .collect();
    rows[3].response_body = Some("data: {\"x\":1}\n\n".to_owned());
    rows[3]
        .properties
        .insert("team".to_owned(), "search".to_owned());
    rows[4].provider = None;
    rows[4].billing = None;
    rows[4].endpoint = None;
    rows[4].key_id = None;
    rows[4].prompt_tokens = None;
    rows.push(sample_log(other, 1, day1));
    s.insert_logs(&rows).await.unwrap();
    s.insert_logs(&[]).await.unwrap();
    assert_eq!(s.count_logs(org).await.unwrap(), 30);
    assert_eq!(s.count_logs(other).await.unwrap(), 1);

    // Every field round-trips, None stays distinct from Some(0).
    let got = s.get_log(org, rows[3].id).await.unwrap().unwrap();
    assert_eq!(got, rows[3]);
    let got = s.get_log(org, rows[4].id).await.unwrap().unwrap();
    assert_eq!(got, rows[4]);
    assert!(s.get_log(other, rows[3].id).await.unwrap().is_none());

    let recent = s.recent_logs(&LogQuery::new(org, 5)).await.unwrap();
    assert_eq!(recent.len(), 5);
    assert_eq!(recent[0], rows[29]);
    assert!(recent
        .windows(2)
        .all(|w| w[0].created_at >= w[1].created_at));
    let mut q = LogQuery::new(org, 100);
    q.status = Some(429);
    let limited = s.recent_logs(&q).await.unwrap();
    assert_eq!(limited.len(), 6);
    assert!(limited.iter().all(|r| r.status == 429));
    q.provider = Some("openai".to_owned());
    let both = s.recent_logs(&q).await.unwrap();
    assert!(both
        .iter()
        .all(|r| r.status == 429 && r.provider.as_deref() == Some("openai")));
    assert_eq!(both.len(), 3); // i = 0, 10, 20
    let mut q = LogQuery::new(org, 100);
    q.before = Some(day2);
    assert_eq!(s.recent_logs(&q).await.unwrap().len(), 20);

    let spend = s
        .spend(
            org,
            day1 - time::Duration::days(1),
            day2 + time::Duration::days(1),
        )
        .await
        .unwrap();
    let total_requests: i64 = spend.iter().map(|r| r.requests).sum();
    assert_eq!(total_requests, 30);
    let expected_cost: i64 = rows[..30].iter().filter_map(|r| r.cost_nanos).sum();
    assert_eq!(
        spend.iter().map(|r| r.cost_nanos).sum::<i64>(),
        expected_cost
    );
    let unpriced = rows[..30].iter().filter(|r| r.cost_nanos.is_none()).count() as i64;
    assert_eq!(
        spend.iter().map(|r| r.unpriced_requests).sum::<i64>(),
        unpriced
    );
    let d1_openai_ptb: Vec<_> = spend
        .iter()
        .filter(|r| {
            r.day == day1.date() && r.provider == "openai" && r.billing == Some(BillingMode::Ptb)
        })
        .collect();
    assert_eq!(d1_openai_ptb.len(), 1);
    let exp: Vec<&LogRow> = rows[..20]
        .iter()
        .filter(|r| r.provider.as_deref() == Some("openai") && r.billing == Some(BillingMode::Ptb))
        .collect();
    assert_eq!(d1_openai_ptb[0].requests, exp.len() as i64);
    assert_eq!(
        d1_openai_ptb[0].cost_nanos,
        exp.iter().filter_map(|r| r.cost_nanos).sum::<i64>()
    );
    assert_eq!(
        d1_openai_ptb[0].prompt_tokens,
        exp.iter().filter_map(|r| r.prompt_tokens).sum::<i64>()
    );
    assert!(spend.iter().any(|r| r.day == day2.date()));
    assert!(spend
        .iter()
        .any(|r| r.provider.is_empty() && r.billing.is_none()));
    // The window is half-open and per org.
    assert!(s
        .spend(
            org,
            day2 + time::Duration::days(1),
            day2 + time::Duration::days(2)
        )
        .await
        .unwrap()
        .is_empty());
    let o = s
        .spend(other, day1 - time::Duration::days(1), day2)
        .await
        .unwrap();
    assert_eq!(o.iter().map(|r| r.requests).sum::<i64>(), 1);
}

async fn logs_filter_on_user_session_property_and_client_id(h: Arc<Harness>) {
    let s = &*h.store;
    let org = s.create_org("acme").await.unwrap().id;
    // Whole seconds: the store keeps microseconds.
    let now = OffsetDateTime::now_utc().replace_nanosecond(0).unwrap();
    let mut rows = Vec::new();
    for i in 0..6 {
        let mut r = sample_log(org, i, now + time::Duration::milliseconds(i as i64));
        r.user_id = Some(format!("u{}", i % 2));
        r.session_id = (i < 3).then(|| "s-1".to_owned());
        r.session_path = Some(format!("/root/{i}"));
        r.session_name = Some("checkout".into());
        r.properties.insert(
            "tier".into(),
            if i == 4 { "gold".into() } else { "free".into() },
        );
        r.route = Some(if i == 5 { "proxy" } else { "chat" }.into());
        r.target_url = (i == 5).then(|| "https://api.openai.com/v1/chat/completions".into());
        r.ttfb_ms = Some(i as i64);
        r.client_request_id = (i == 2).then(|| "client-abc".to_owned());
        r.cache_status = (i == 1).then(|| "hit".to_owned());
        r.cache_saved_nanos = (i == 1).then_some(1234);
        rows.push(r);
    }
    s.insert_logs(&rows).await.unwrap();
    let query = |f: &dyn Fn(&mut LogQuery)| {
        let mut q = LogQuery::new(org, 100);
        f(&mut q);
        q
    };
    let ids = |rows: Vec<LogRow>| {
        let mut v: Vec<uuid::Uuid> = rows.into_iter().map(|r| r.id).collect();
        v.sort();
        v
    };
    let want = |idx: &[usize]| {
        let mut v: Vec<uuid::Uuid> = idx.iter().map(|i| rows[*i].id).collect();
        v.sort();
        v
    };
    let q = query(&|q| q.user_id = Some("u1".into()));
    assert_eq!(ids(s.recent_logs(&q).await.unwrap()), want(&[1, 3, 5]));
    let q = query(&|q| q.session_id = Some("s-1".into()));
    assert_eq!(ids(s.recent_logs(&q).await.unwrap()), want(&[0, 1, 2]));
    let q = query(&|q| q.property = Some(("tier".into(), "gold".into())));
    assert_eq!(ids(s.recent_logs(&q).await.unwrap()), want(&[4]));
    let q = query(&|q| q.client_request_id = Some("client-abc".into()));
    assert_eq!(ids(s.recent_logs(&q).await.unwrap()), want(&[2]));
    // Every new column round-trips.
    let back = s.get_log(org, rows[5].id).await.unwrap().unwrap();
    assert_eq!(back, rows[5]);
    let back = s.get_log(org, rows[1].id).await.unwrap().unwrap();
    assert_eq!(back, rows[1]);
}

async fn log_writer_10k_rows_flushed_on_shutdown(h: Arc<Harness>) {
    let org = h.store.create_org("acme").await.unwrap().id;
    let writer = LogWriter::spawn(h.store.clone(), LogWriterConfig::default(), None);
    let now = OffsetDateTime::now_utc();
    let started = std::time::Instant::now();
    for i in 0..10_000 {
        assert!(writer.log(sample_log(org, i, now)), "row {i} dropped");
    }
    let enqueue = started.elapsed();
    let stats = writer.shutdown().await;
    let total = started.elapsed();
    eprintln!(
        "{:?}: 10k rows enqueued in {enqueue:?}, all written in {total:?}, {} batches",
        h.store.backend(),
        stats.batches
    );
    assert_eq!(stats.written, 10_000);
    assert_eq!(stats.dropped, 0);
    assert_eq!(stats.failed, 0);
    // A backlog is taken whole, but never more than `max_batch_size` rows at a time.
    let max = LogWriterConfig::default().max_batch_size;
    assert!(
        stats.batches >= 10_000usize.div_ceil(max) as u64,
        "batches of at most {max}: {}",
        stats.batches
    );
    assert!(
        stats.batches <= 10_000 / 16,
        "rows were batched: {}",
        stats.batches
    );
    assert_eq!(h.store.count_logs(org).await.unwrap(), 10_000);
    // After shutdown new rows are refused and counted, never silently lost.
    assert!(!writer.log(sample_log(org, 0, now)));
    assert_eq!(writer.stats().dropped, 1);
    assert_eq!(writer.shutdown().await.written, 10_000);
}

async fn log_writer_flushes_on_interval(h: Arc<Harness>) {
    let org = h.store.create_org("acme").await.unwrap().id;
    let config = LogWriterConfig {
        flush_interval: Duration::from_millis(20),
        ..Default::default()
    };
    let writer = LogWriter::spawn(h.store.clone(), config, None);
    let now = OffsetDateTime::now_utc();
    for i in 0..3 {
        assert!(writer.log(sample_log(org, i, now)));
    }
    // A partial batch is written once the interval passes, without shutdown. Polled for up to
    // 10 s: on a loaded machine a shared PostgreSQL can make the first commit retry.
    let mut count = 0;
    for _ in 0..500 {
        tokio::time::sleep(Duration::from_millis(20)).await;
        count = h.store.count_logs(org).await.unwrap();
        if count == 3 {
            break;
        }
    }
    assert_eq!(count, 3);
    assert_eq!(writer.stats().written, 3);
    assert_eq!(writer.queued(), 0);
    writer.shutdown().await;
}

async fn log_writer_takes_a_backlog_in_large_batches(h: Arc<Harness>) {
    let org = h.store.create_org("acme").await.unwrap().id;
    let config = LogWriterConfig {
        batch_size: 64,
        max_batch_size: 4096,
        flush_interval: Duration::from_millis(20),
        ..Default::default()
    };
    let writer = LogWriter::spawn(h.store.clone(), config, None);
    let now = OffsetDateTime::now_utc();
    // Queued in one tight loop with no await: a backlog the writer finds all at once.
    let rows: Vec<LogRow> = (0..3_000).map(|i| sample_log(org, i, now)).collect();
    for row in rows {
        assert!(writer.log(row));
    }
    let mut written = 0;
    for _ in 0..500 {
        tokio::time::sleep(Duration::from_millis(20)).await;
        written = writer.stats().written;
        if written == 3_000 {
            break;
        }
    }
    assert_eq!(written, 3_000);
    assert_eq!(h.store.count_logs(org).await.unwrap(), 3_000);
    // 64 rows a batch would take 47 batches; the backlog goes in one or two (plus at most one
    // the writer may have started before the rest arrived).
    let batches = writer.stats().batches;
    assert!(batches <= 3, "{batches} batches for a 3,000-row backlog");
    writer.shutdown().await;
}

async fn log_filters_use_their_partial_indexes(h: Arc<Harness>) {
    // The user, client-id and session indexes hold only rows that have a value (migration
    // 0007); a filter `col = value` implies that, so the planner must still take them.
    let newest = "ORDER BY created_at DESC, id DESC LIMIT 50";
    for (column, order, index) in [
        ("user_id", newest, "request_logs_org_user_time"),
        // A client's request id is looked up, not listed.
        ("client_request_id", "", "request_logs_org_client_id"),
        ("session_id", newest, "request_logs_org_session"),
    ] {
        let plan = h
            .explain(&format!(
                "SELECT id FROM request_logs WHERE org_id = 'o' AND {column} = 'v' {order}"
            ))
            .await;
        assert!(plan.contains(index), "{column}: {plan}");
    }
}

async fn log_writer_counts_drops_when_full(h: Arc<Harness>) {
    let org = h.store.create_org("acme").await.unwrap().id;
    let config = LogWriterConfig {
        capacity: 8,
        batch_size: 4,
        ..Default::default()
    };
    let writer = LogWriter::spawn(h.store.clone(), config, None);
    let now = OffsetDateTime::now_utc();
    let mut accepted = 0u64;
    for i in 0..10_000 {
        if writer.log(sample_log(org, i, now)) {
            accepted += 1;
        }
    }
    let stats = writer.shutdown().await;
    assert!(stats.dropped > 0, "a full queue drops instead of blocking");
    assert_eq!(accepted + stats.dropped, 10_000);
    assert_eq!(stats.written, accepted);
    assert_eq!(h.store.count_logs(org).await.unwrap() as u64, accepted);
}

#[tokio::test]
async fn open_dispatches_on_url() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(None, dir.path(), None).await.unwrap();
    assert_eq!(store.backend(), Backend::Sqlite);
    assert!(dir.path().join(SQLITE_FILE).exists());
    store.close().await.unwrap();
    let err = open(Some("mysql://user:hunter2@db/x"), dir.path(), None)
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Config(_)));
    assert!(
        !err.to_string().contains("hunter2"),
        "URL secrets not echoed"
    );
}
