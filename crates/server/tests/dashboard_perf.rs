//! The dashboard's queries on a large request log, on SQLite and PostgreSQL: seeds
//! `SWITCHYARD_PERF_ROWS` rows (default 20,000; the figures in notes/DASHBOARD.md use
//! 1,000,000 in a release build) over 30 days, then prints the server time of the Overview
//! (24 h, 7 d, 30 d: all four queries together and each one alone) and of filtered Requests
//! pages. It asserts what the answers contain, never how fast they came (speed is a figure,
//! not a pass/fail).
//!
//!     SWITCHYARD_PERF_ROWS=1000000 cargo test --release -p switchyard-server \
//!         --test dashboard_perf -- --nocapture --test-threads 1

use std::sync::Arc;
use std::time::{Duration, Instant};

use switchyard_registry::Registry;
use switchyard_server::dashboard::format::Range;
use switchyard_server::dashboard::format_range;
use switchyard_server::dashboard::{overview, seed};
use switchyard_store::analytics::{
    GroupQuery, GroupSort, RequestFilter, RequestQuery, RequestSort, SeriesQuery, StatusFilter,
};
use switchyard_store::{OrgId, PgOptions, PgStore, SqliteOptions, SqliteStore, Store};

fn rows() -> u64 {
    std::env::var("SWITCHYARD_PERF_ROWS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20_000)
}

/// Median of 5 runs (after one warm-up) of `f`.
async fn median<F, Fut, T>(mut f: F) -> (Duration, T)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = T>,
{
    let mut out = f().await;
    let mut times = Vec::new();
    for _ in 0..5 {
        let t = Instant::now();
        out = f().await;
        times.push(t.elapsed());
    }
    times.sort();
    (times[2], out)
}

/// `pg`: the pool to `ANALYZE` after seeding, as autovacuum does on a live database (a fresh
/// table has no planner statistics).
async fn measure(
    backend: &str,
    store: Arc<dyn Store>,
    registry: &Registry,
    pg: Option<&sqlx::PgPool>,
) {
    let n = rows();
    let org: OrgId = store.create_org("perf").await.unwrap().id;
    // The views are fixed at the seed's end, so that the 30-day one holds every seeded row
    // however long the seeding took.
    let month = format_range("30d");
    let end = month.until;
    let t = Instant::now();
    let written = seed::seed_logs_until(store.as_ref(), registry, org, n, 30, 7, end)
        .await
        .unwrap();
    assert_eq!(written, n);
    println!(
        "[{backend}] seeded {n} rows in {:.1} s",
        t.elapsed().as_secs_f64()
    );
    if let Some(pool) = pg {
        sqlx::query("ANALYZE").execute(pool).await.unwrap();
    }

    for (key, span) in [
        ("24h", time::Duration::hours(24)),
        ("7d", time::Duration::days(7)),
        ("30d", time::Duration::days(30)),
    ] {
        let range = Range {
            key: key.to_owned(),
            since: end - span,
            ..month.clone()
        };
        let (time, data) = median(|| overview::load(store.as_ref(), org, &range)).await;
        let data = data.unwrap();
        let charts = Instant::now();
        let json = data.charts(false);
        let charts = charts.elapsed();
        let requests: i64 = data.usage.iter().map(|p| p.requests).sum();
        // The rollups (whole buckets) and the rows (the edges) together count each row in the
        // range once: the error table agrees with the error counts of the usage series.
        let errors: i64 = data.usage.iter().map(|p| p.errors).sum();
        assert_eq!(data.errors.iter().map(|e| e.requests).sum::<i64>(), errors);
        let lat: i64 = data.hist.iter().filter(|h| h.kind == 0).map(|h| h.n).sum();
        assert_eq!(lat, requests, "one latency sample per request");
        if key == "30d" {
            assert_eq!(requests as u64, n, "overview total");
            assert!(!data.top_users.is_empty() && !data.errors.is_empty());
        }
        assert!(json["requests"]["x"].as_array().unwrap().len() >= 24);
        println!(
            "[{backend}] overview {key:>4}: {:7.1} ms queries + {:5.1} ms charts ({requests} requests)",
            time.as_secs_f64() * 1e3,
            charts.as_secs_f64() * 1e3,
        );
        // Each query alone (the Overview runs them concurrently).
        let q = SeriesQuery {
            org_id: org,
            since: range.since,
            until: range.until,
            step_secs: overview::step_for(&range),
        };
        let g = GroupQuery {
            org_id: org,
            since: range.since,
            until: range.until,
            search: None,
            name: None,
            sort: GroupSort::Requests,
            descending: true,
            limit: 10,
            offset: 0,
        };
        let ms = |d: Duration| d.as_secs_f64() * 1e3;
        let (usage, _) = median(|| store.usage_series(&q)).await;
        let (hist, _) = median(|| store.latency_histograms(&q)).await;
        let (errs, _) = median(|| store.error_counts(&q)).await;
        let (users, _) = median(|| store.user_stats(&g)).await;
        println!(
            "[{backend}] overview {key:>4} alone: usage {:.1} ms, histograms {:.1} ms, errors {:.1} ms, top users {:.1} ms ({} pieces: {:?})",
            ms(usage),
            ms(hist),
            ms(errs),
            ms(users),
            q.segments(true).len(),
            q.segments(true).iter().map(|s| s.grain.map(|g| g / 3_600_000_000)).collect::<Vec<_>>(),
        );
    }

    let day = Range {
        since: end - time::Duration::hours(24),
        ..month.clone()
    };
    let (top_model, top_provider) = seed_model(store.as_ref(), org).await;
    let cases: Vec<(&str, RequestFilter)> = vec![
        (
            "24h, no filter",
            RequestFilter {
                since: Some(day.since),
                until: Some(day.until),
                ..Default::default()
            },
        ),
        (
            "24h, status=errors",
            RequestFilter {
                since: Some(day.since),
                until: Some(day.until),
                status: Some(StatusFilter::Errors),
                ..Default::default()
            },
        ),
        (
            "30d, status=429",
            RequestFilter {
                since: Some(month.since),
                until: Some(month.until),
                status: Some(StatusFilter::Exact(429)),
                ..Default::default()
            },
        ),
        (
            "30d, model",
            RequestFilter {
                since: Some(month.since),
                until: Some(month.until),
                model: Some(top_model.clone()),
                ..Default::default()
            },
        ),
        (
            "30d, user",
            RequestFilter {
                since: Some(month.since),
                until: Some(month.until),
                user_id: Some("user-0003".into()),
                ..Default::default()
            },
        ),
        (
            "30d, provider+billing+min cost",
            RequestFilter {
                since: Some(month.since),
                until: Some(month.until),
                provider: Some(top_provider.clone()),
                // Every seeded endpoint has BYOK rows (PTB only some).
                billing: Some(switchyard_store::BillingMode::Byok),
                min_cost_nanos: Some(1),
                ..Default::default()
            },
        ),
        (
            "30d, property",
            RequestFilter {
                since: Some(month.since),
                until: Some(month.until),
                property: Some(("feature".into(), "agent".into())),
                ..Default::default()
            },
        ),
    ];
    for (label, filter) in cases {
        let q = RequestQuery {
            org_id: org,
            filter: filter.clone(),
            sort: RequestSort::Time,
            descending: true,
            after: None,
            limit: 50,
        };
        let (time, page) = median(|| store.search_requests(&q)).await;
        let page = page.unwrap();
        // Page 2 through the cursor.
        let (time2, page2) = match &page.next {
            Some(c) => {
                let q2 = RequestQuery {
                    after: Some(c.clone()),
                    ..q.clone()
                };
                let (t, p) = median(|| store.search_requests(&q2)).await;
                (Some(t), Some(p.unwrap()))
            }
            None => (None, None),
        };
        for r in page
            .rows
            .iter()
            .chain(page2.iter().flat_map(|p| p.rows.iter()))
        {
            if let Some(StatusFilter::Exact(s)) = filter.status {
                assert_eq!(r.status, s);
            }
            if let Some(m) = &filter.model {
                assert_eq!(&r.model, m);
            }
            if let Some(u) = &filter.user_id {
                assert_eq!(r.user_id.as_ref(), Some(u));
            }
            if let Some(p) = &filter.provider {
                assert_eq!(r.provider.as_ref(), Some(p));
                assert_eq!(r.billing, filter.billing);
                assert!(r.cost_nanos.unwrap_or(0) >= 1);
            }
        }
        // Every case matches seeded rows (an empty answer would time a different query).
        assert!(!page.rows.is_empty(), "{label}: no rows");
        if let Some(p2) = &page2 {
            assert!(p2.rows.first().unwrap().created_at <= page.rows.last().unwrap().created_at);
        }
        println!(
            "[{backend}] requests {label:<32}: {:6.1} ms (page 2: {}) {} rows",
            time.as_secs_f64() * 1e3,
            time2
                .map(|t| format!("{:.1} ms", t.as_secs_f64() * 1e3))
                .unwrap_or_else(|| "-".into()),
            page.rows.len()
        );
    }
}

/// The most used (model string, provider) of the seed over the last day (realistic filters).
async fn seed_model(store: &dyn Store, org: OrgId) -> (String, String) {
    let range = format_range("24h");
    let data = overview::load(store, org, &range).await.unwrap();
    let mut by_model = std::collections::HashMap::<(String, String), i64>::new();
    for p in &data.usage {
        *by_model
            .entry((p.model.clone(), p.provider.clone()))
            .or_default() += p.requests;
    }
    by_model
        .into_iter()
        .max_by(|a, b| a.1.cmp(&b.1).then(b.0.cmp(&a.0)))
        .map(|(m, _)| m)
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dashboard_queries_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(SqliteOptions::new(dir.path()))
        .await
        .unwrap();
    let registry = Registry::embedded().unwrap();
    measure("sqlite", Arc::new(store), &registry, None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dashboard_queries_on_postgres() {
    let url = std::env::var("SWITCHYARD_TEST_PG_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned());
    let schema = format!("sy_perf_{}", uuid::Uuid::new_v4().simple());
    let mut opts = PgOptions::new(&url);
    opts.schema = Some(schema.clone());
    let store = PgStore::connect(opts)
        .await
        .expect("PostgreSQL on 127.0.0.1:5432");
    let pool = store.pool().clone();
    let registry = Registry::embedded().unwrap();
    let store: Arc<dyn Store> = Arc::new(store);
    let run = tokio::spawn({
        let store = store.clone();
        let pool = pool.clone();
        async move { measure("postgres", store, &registry, Some(&pool)).await }
    })
    .await;
    sqlx_drop_schema(&pool, &schema).await;
    if let Err(e) = run {
        std::panic::resume_unwind(e.into_panic());
    }
}

async fn sqlx_drop_schema(pool: &sqlx::PgPool, schema: &str) {
    let _ = sqlx::query(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"))
        .execute(pool)
        .await;
}
