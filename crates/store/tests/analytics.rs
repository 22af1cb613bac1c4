//! The dashboard's store queries on both backends: request search (filters, sorts, keyset
//! pages), series and aggregates from the raw rows and from the rollups (which must agree with
//! sums computed here from the same rows), sessions and provider-key hints.

mod common;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use common::Harness;
use switchyard_store::analytics::{
    GroupQuery, GroupSort, RequestFilter, RequestQuery, RequestSort, SeriesQuery, StatusFilter,
};
use switchyard_store::{BillingMode, LogRow, OrgId};
use time::{Duration, OffsetDateTime};

/// Hour-aligned "now" minus a bit, so windows line up with rollup hours.
fn anchor() -> OffsetDateTime {
    let now = OffsetDateTime::now_utc();
    let t = now.unix_timestamp() / 3600 * 3600;
    OffsetDateTime::from_unix_timestamp(t).unwrap() - Duration::hours(1)
}

/// Deterministic rows over the 4 days before `anchor()`.
fn rows(org: OrgId, n: usize) -> Vec<LogRow> {
    let base = anchor();
    (0..n)
        .map(|i| {
            let status = match i % 10 {
                3 => 429,
                7 => 500,
                _ => 200,
            };
            let mut properties = BTreeMap::new();
            properties.insert("feature".to_owned(), ["chat", "search"][i % 2].to_owned());
            if i % 3 == 0 {
                properties.insert("env".to_owned(), "prod".to_owned());
            }
            LogRow {
                id: uuid::Uuid::now_v7(),
                org_id: org,
                key_id: None,
                model: ["gpt-4o-mini", "claude-sonnet-4", "llama"][i % 3].to_owned(),
                endpoint: Some(format!("m{}:p:*", i % 3)),
                provider: Some(["openai", "anthropic"][i % 2].to_owned()),
                billing: Some(if i % 4 == 0 {
                    BillingMode::Byok
                } else {
                    BillingMode::Ptb
                }),
                status,
                error_type: (status != 200).then(|| "rate_limited".to_owned()),
                attempts: serde_json::json!([]),
                prompt_tokens: Some(100 + i as i64),
                completion_tokens: Some(10 + (i % 7) as i64),
                cached_tokens: Some(0),
                cache_write_tokens: None,
                reasoning_tokens: None,
                // Every 5th is unpriced.
                cost_nanos: (i % 5 != 0).then_some(1_000 + i as i64),
                latency_ms: 50 + (i as i64 * 37) % 3_000,
                ttft_ms: (i % 2 == 0).then_some(20 + i as i64 % 400),
                overhead_us: None,
                stream: i % 2 == 0,
                user_id: (i % 6 != 0).then(|| format!("user-{}", i % 4)),
                properties,
                request_body: Some(format!("{{\"messages\":[{{\"content\":\"hello {i}\"}}]}}")),
                response_body: Some(if i % 11 == 0 { "needle_50%" } else { "plain" }.to_owned()),
                // Spread over 4 days, distinct microseconds.
                route: None,
                target_url: None,
                ttfb_ms: None,
                session_id: None,
                session_path: None,
                session_name: None,
                cache_status: None,
                cache_saved_nanos: None,
                client_request_id: None,
                created_at: base
                    - Duration::minutes((i as i64 * 53) % (4 * 24 * 60))
                    - Duration::microseconds(i as i64),
            }
        })
        .collect()
}

async fn seeded(h: &Harness, n: usize) -> (OrgId, Vec<LogRow>) {
    let org = h.store.create_org("analytics").await.unwrap().id;
    let rows = rows(org, n);
    for chunk in rows.chunks(97) {
        h.store.insert_logs(chunk).await.unwrap();
    }
    (org, rows)
}

fn query(
    org: OrgId,
    filter: RequestFilter,
    sort: RequestSort,
    descending: bool,
    limit: u32,
) -> RequestQuery {
    RequestQuery {
        org_id: org,
        filter,
        sort,
        descending,
        after: None,
        limit,
    }
}

/// Pages through a query to the end; returns the ids in order.
async fn all_pages(h: &Harness, mut q: RequestQuery) -> Vec<uuid::Uuid> {
    let mut ids = Vec::new();
    loop {
        let page = h.store.search_requests(&q).await.unwrap();
        assert!(page.rows.len() <= q.limit as usize);
        ids.extend(page.rows.iter().map(|r| r.id));
        match page.next {
            Some(c) => q.after = Some(c),
            None => return ids,
        }
    }
}

async fn search_filters_sorts_and_pages(h: Arc<Harness>) {
    let (org, rows) = seeded(&h, 300).await;
    let other = h.store.create_org("other").await.unwrap().id;
    h.store.insert_logs(&self::rows(other, 20)).await.unwrap();

    // Newest first, every row once, across pages of 7.
    let ids = all_pages(
        &h,
        query(org, RequestFilter::default(), RequestSort::Time, true, 7),
    )
    .await;
    let mut expected: Vec<&LogRow> = rows.iter().collect();
    expected.sort_by(|a, b| b.created_at.cmp(&a.created_at).then(b.id.cmp(&a.id)));
    assert_eq!(ids, expected.iter().map(|r| r.id).collect::<Vec<_>>());

    // Cost ascending, unpriced (NULL) first, ties broken by id: still a total order.
    let ids = all_pages(
        &h,
        query(org, RequestFilter::default(), RequestSort::Cost, false, 13),
    )
    .await;
    assert_eq!(ids.len(), rows.len());
    assert_eq!(ids.iter().collect::<HashSet<_>>().len(), rows.len());
    let cost: HashMap<_, _> = rows
        .iter()
        .map(|r| (r.id, r.cost_nanos.unwrap_or(-1)))
        .collect();
    assert!(ids.windows(2).all(|w| cost[&w[0]] <= cost[&w[1]]));

    let count = |f: RequestFilter| {
        let h = h.clone();
        async move {
            all_pages(&h, query(org, f, RequestSort::Time, true, 50))
                .await
                .len()
        }
    };
    let errors = rows.iter().filter(|r| r.status >= 400).count();
    assert_eq!(
        count(RequestFilter {
            status: Some(StatusFilter::Errors),
            ..Default::default()
        })
        .await,
        errors
    );
    assert_eq!(
        count(RequestFilter {
            status: Some(StatusFilter::Class(5)),
            ..Default::default()
        })
        .await,
        rows.iter().filter(|r| r.status == 500).count()
    );
    assert_eq!(
        count(RequestFilter {
            status: Some(StatusFilter::Exact(429)),
            ..Default::default()
        })
        .await,
        rows.iter().filter(|r| r.status == 429).count()
    );
    assert_eq!(
        count(RequestFilter {
            model: Some("llama".into()),
            provider: Some("openai".into()),
            ..Default::default()
        })
        .await,
        rows.iter()
            .filter(|r| r.model == "llama" && r.provider.as_deref() == Some("openai"))
            .count()
    );
    assert_eq!(
        count(RequestFilter {
            billing: Some(BillingMode::Byok),
            ..Default::default()
        })
        .await,
        rows.iter()
            .filter(|r| r.billing == Some(BillingMode::Byok))
            .count()
    );
    assert_eq!(
        count(RequestFilter {
            user_id: Some("user-1".into()),
            ..Default::default()
        })
        .await,
        rows.iter()
            .filter(|r| r.user_id.as_deref() == Some("user-1"))
            .count()
    );
    assert_eq!(
        count(RequestFilter {
            property: Some(("env".into(), "prod".into())),
            ..Default::default()
        })
        .await,
        rows.iter()
            .filter(|r| r.properties.get("env").map(String::as_str) == Some("prod"))
            .count()
    );
    assert_eq!(
        count(RequestFilter {
            unpriced: Some(true),
            ..Default::default()
        })
        .await,
        rows.iter().filter(|r| r.cost_nanos.is_none()).count()
    );
    assert_eq!(
        count(RequestFilter {
            min_cost_nanos: Some(1_200),
            ..Default::default()
        })
        .await,
        rows.iter()
            .filter(|r| r.cost_nanos.is_some_and(|c| c >= 1_200))
            .count()
    );
    assert_eq!(
        count(RequestFilter {
            min_latency_ms: Some(2_000),
            ..Default::default()
        })
        .await,
        rows.iter().filter(|r| r.latency_ms >= 2_000).count()
    );
    assert_eq!(
        count(RequestFilter {
            min_ttft_ms: Some(300),
            ..Default::default()
        })
        .await,
        rows.iter()
            .filter(|r| r.ttft_ms.is_some_and(|t| t >= 300))
            .count()
    );
    assert_eq!(
        count(RequestFilter {
            min_tokens: Some(300),
            ..Default::default()
        })
        .await,
        rows.iter()
            .filter(|r| r.prompt_tokens.unwrap() + r.completion_tokens.unwrap() >= 300)
            .count()
    );
    // Body text is matched literally: `%` and `_` are not wildcards.
    assert_eq!(
        count(RequestFilter {
            text: Some("needle_50%".into()),
            ..Default::default()
        })
        .await,
        rows.iter()
            .filter(|r| r.response_body.as_deref() == Some("needle_50%"))
            .count()
    );
    assert_eq!(
        count(RequestFilter {
            text: Some("needle_5%%".into()),
            ..Default::default()
        })
        .await,
        0
    );
    assert_eq!(
        count(RequestFilter {
            text: Some("hello 42\"".into()),
            ..Default::default()
        })
        .await,
        1
    );
    let since = anchor() - Duration::hours(24);
    assert_eq!(
        count(RequestFilter {
            since: Some(since),
            ..Default::default()
        })
        .await,
        rows.iter().filter(|r| r.created_at >= since).count()
    );
}

/// Sums over rows in `[since, until)`: requests, errors, cost, tokens.
fn sums<'a>(rows: impl Iterator<Item = &'a LogRow>) -> (i64, i64, i64, i64) {
    rows.fold((0, 0, 0, 0), |(n, e, c, t), r| {
        (
            n + 1,
            e + i64::from(r.status >= 400 || r.error_type.is_some()),
            c + r.cost_nanos.unwrap_or(0),
            t + r.prompt_tokens.unwrap_or(0) + r.completion_tokens.unwrap_or(0),
        )
    })
}

async fn series_agree_with_rows_on_both_paths(h: Arc<Harness>) {
    let (org, rows) = seeded(&h, 400).await;
    let until = anchor() + Duration::hours(1);
    for (since, rollups) in [
        (until - Duration::hours(24), false),
        (until - Duration::days(5), true),
    ] {
        let q = SeriesQuery {
            org_id: org,
            since,
            until,
            step_secs: 3_600,
        };
        assert_eq!(q.uses_rollups(), rollups);
        let points = h.store.usage_series(&q).await.unwrap();
        let got = points.iter().fold((0, 0, 0, 0), |(n, e, c, t), p| {
            (
                n + p.requests,
                e + p.errors,
                c + p.cost_nanos,
                t + p.prompt_tokens + p.completion_tokens,
            )
        });
        let want = sums(
            rows.iter()
                .filter(|r| r.created_at >= since && r.created_at < until),
        );
        assert_eq!(got, want, "rollups: {rollups}");
        // Per bucket: the hour of each row.
        let mut per_hour: BTreeMap<i64, i64> = BTreeMap::new();
        for r in rows
            .iter()
            .filter(|r| r.created_at >= since && r.created_at < until)
        {
            *per_hour
                .entry(r.created_at.unix_timestamp().div_euclid(3600) * 3600)
                .or_default() += 1;
        }
        let mut got_hour: BTreeMap<i64, i64> = BTreeMap::new();
        for p in &points {
            *got_hour.entry(p.bucket).or_default() += p.requests;
        }
        assert_eq!(got_hour, per_hour, "rollups: {rollups}");
        let unpriced: i64 = points.iter().map(|p| p.unpriced).sum();
        assert_eq!(
            unpriced,
            rows.iter()
                .filter(|r| r.created_at >= since && r.created_at < until && r.cost_nanos.is_none())
                .count() as i64
        );

        let hist = h.store.latency_histograms(&q).await.unwrap();
        let lat: i64 = hist.iter().filter(|p| p.kind == 0).map(|p| p.n).sum();
        let ttft: i64 = hist.iter().filter(|p| p.kind == 1).map(|p| p.n).sum();
        assert_eq!(lat, want.0);
        let in_range = rows
            .iter()
            .filter(|r| r.created_at >= since && r.created_at < until);
        assert_eq!(
            ttft,
            in_range.filter(|r| r.ttft_ms.is_some()).count() as i64
        );
        let slow = hist
            .iter()
            .filter(|p| p.kind == 0 && p.hist == switchyard_store::analytics::latency_bucket(2_950))
            .map(|p| p.n)
            .sum::<i64>();
        let want_slow = rows
            .iter()
            .filter(|r| {
                r.created_at >= since
                    && r.created_at < until
                    && switchyard_store::analytics::latency_bucket(r.latency_ms)
                        == switchyard_store::analytics::latency_bucket(2_950)
            })
            .count() as i64;
        assert_eq!(slow, want_slow);

        let errors = h.store.error_counts(&q).await.unwrap();
        assert_eq!(errors.iter().map(|e| e.requests).sum::<i64>(), want.1);
        assert!(errors
            .iter()
            .all(|e| e.error_type == "rate_limited" && (e.status == 429 || e.status == 500)));
    }
}

async fn users_and_properties_agree_on_both_paths(h: Arc<Harness>) {
    let (org, rows) = seeded(&h, 360).await;
    let until = anchor() + Duration::hours(1);
    // A day-aligned long range (the rollup path counts whole days), and a short raw one.
    let day = until.unix_timestamp().div_euclid(86_400) * 86_400;
    let long_until = OffsetDateTime::from_unix_timestamp(day + 86_400).unwrap();
    for (since, until) in [
        (until - Duration::hours(20), until),
        (long_until - Duration::days(6), long_until),
    ] {
        let g = GroupQuery {
            org_id: org,
            since,
            until,
            search: None,
            name: None,
            sort: GroupSort::Requests,
            descending: true,
            limit: 100,
            offset: 0,
        };
        let in_range: Vec<&LogRow> = rows
            .iter()
            .filter(|r| r.created_at >= since && r.created_at < until)
            .collect();
        let users = h.store.user_stats(&g).await.unwrap();
        for u in &users {
            let mine = in_range
                .iter()
                .filter(|r| r.user_id.as_deref() == Some(u.key.as_str()));
            let (n, e, c, t) = sums(mine.clone().copied());
            assert_eq!(
                (
                    u.requests,
                    u.errors,
                    u.cost_nanos,
                    u.prompt_tokens + u.completion_tokens
                ),
                (n, e, c, t),
                "{}",
                u.key
            );
            assert_eq!(
                u.first_seen,
                mine.clone().map(|r| r.created_at).min().unwrap()
            );
            assert_eq!(u.last_seen, mine.map(|r| r.created_at).max().unwrap());
        }
        let distinct: HashSet<_> = in_range
            .iter()
            .filter_map(|r| r.user_id.as_deref())
            .collect();
        assert_eq!(users.len(), distinct.len());
        assert!(users.windows(2).all(|w| w[0].requests >= w[1].requests));

        let props = h
            .store
            .property_stats(&GroupQuery {
                name: Some("feature".into()),
                ..g.clone()
            })
            .await
            .unwrap();
        assert_eq!(props.len(), 2);
        for p in &props {
            let mine = in_range
                .iter()
                .filter(|r| r.properties.get("feature") == Some(&p.value))
                .copied();
            assert_eq!(
                (
                    p.requests,
                    p.errors,
                    p.cost_nanos,
                    p.prompt_tokens + p.completion_tokens
                ),
                sums(mine)
            );
        }
        let names = h.store.property_names(&g).await.unwrap();
        assert_eq!(names, vec!["env".to_owned(), "feature".to_owned()]);
        let search = h
            .store
            .user_stats(&GroupQuery {
                search: Some("er-2".into()),
                ..g.clone()
            })
            .await
            .unwrap();
        assert!(search.iter().all(|u| u.key == "user-2") && !search.is_empty());
        let page2 = h
            .store
            .user_stats(&GroupQuery {
                limit: 2,
                offset: 2,
                sort: GroupSort::Key,
                descending: false,
                ..g.clone()
            })
            .await
            .unwrap();
        let mut keys: Vec<_> = distinct.into_iter().collect();
        keys.sort();
        assert_eq!(
            page2.iter().map(|u| u.key.as_str()).collect::<Vec<_>>(),
            keys[2..4.min(keys.len())].to_vec()
        );
    }
}

/// A long range that starts and ends inside an hour: the rollups serve the whole buckets (6 h
/// and 1 h), the rows the edges, and every series figure equals what the rows in the range
/// give. Users and properties count the whole UTC days the range touches.
async fn unaligned_long_ranges_are_exact(h: Arc<Harness>) {
    let (org, rows) = seeded(&h, 500).await;
    let since = anchor() - Duration::days(3) - Duration::minutes(217) - Duration::microseconds(3);
    let until = anchor() - Duration::minutes(95);
    let in_range: Vec<&LogRow> = rows
        .iter()
        .filter(|r| r.created_at >= since && r.created_at < until)
        .collect();
    assert!(in_range.len() > 300 && in_range.len() < rows.len());
    for step in [3_600i64, 21_600] {
        let q = SeriesQuery {
            org_id: org,
            since,
            until,
            step_secs: step,
        };
        assert!(q.uses_rollups());
        let segs = q.segments(true);
        assert_eq!(segs.first().unwrap().grain, None);
        assert_eq!(segs.last().unwrap().grain, None);
        assert_eq!(
            segs.iter().any(|s| s.grain == Some(21_600_000_000)),
            step == 21_600,
            "6-hour rollups serve 6-hour steps only"
        );
        let bucket = |r: &LogRow| r.created_at.unix_timestamp().div_euclid(step) * step;

        let mut want: BTreeMap<i64, [i64; 6]> = BTreeMap::new();
        for r in &in_range {
            let w = want.entry(bucket(r)).or_default();
            w[0] += 1;
            w[1] += i64::from(r.status >= 400 || r.error_type.is_some());
            w[2] += r.cost_nanos.unwrap_or(0);
            w[3] += i64::from(r.cost_nanos.is_none());
            w[4] += r.prompt_tokens.unwrap_or(0) + r.completion_tokens.unwrap_or(0);
            w[5] += i64::from(r.ttft_ms.is_some());
        }
        let mut got: BTreeMap<i64, [i64; 6]> = BTreeMap::new();
        for p in h.store.usage_series(&q).await.unwrap() {
            let g = got.entry(p.bucket).or_default();
            g[0] += p.requests;
            g[1] += p.errors;
            g[2] += p.cost_nanos;
            g[3] += p.unpriced;
            g[4] += p.prompt_tokens + p.completion_tokens;
            g[5] += p.ttft_count;
        }
        assert_eq!(got, want, "usage per {step} s bucket");

        let mut want: BTreeMap<(i64, i64, i64), i64> = BTreeMap::new();
        for r in &in_range {
            let lb = switchyard_store::analytics::latency_bucket;
            *want.entry((bucket(r), 0, lb(r.latency_ms))).or_default() += 1;
            if let Some(t) = r.ttft_ms {
                *want.entry((bucket(r), 1, lb(t))).or_default() += 1;
            }
        }
        let mut got: BTreeMap<(i64, i64, i64), i64> = BTreeMap::new();
        for p in h.store.latency_histograms(&q).await.unwrap() {
            *got.entry((p.bucket, p.kind, p.hist)).or_default() += p.n;
        }
        assert_eq!(got, want, "histograms per {step} s bucket");

        let mut want: BTreeMap<(u16, String), i64> = BTreeMap::new();
        for r in in_range.iter().filter(|r| r.status >= 400) {
            *want
                .entry((r.status, r.error_type.clone().unwrap_or_default()))
                .or_default() += 1;
        }
        let got: BTreeMap<(u16, String), i64> = h
            .store
            .error_counts(&q)
            .await
            .unwrap()
            .into_iter()
            .map(|e| ((e.status, e.error_type), e.requests))
            .collect();
        assert_eq!(got, want, "errors");
    }

    let g = GroupQuery {
        org_id: org,
        since,
        until,
        search: None,
        name: None,
        sort: GroupSort::Requests,
        descending: true,
        limit: 100,
        offset: 0,
    };
    // Users and properties: the daily rollups over the range widened to whole UTC days.
    let segs = g.segments();
    assert_eq!(segs.len(), 1);
    let to_us = |t: OffsetDateTime| (t.unix_timestamp_nanos() / 1000) as i64;
    assert!(segs[0].since <= to_us(since) && segs[0].until >= to_us(until));
    assert_eq!(segs[0].since % 86_400_000_000, 0);
    assert_eq!(segs[0].until % 86_400_000_000, 0);
    let (day_since, day_until) = (
        OffsetDateTime::from_unix_timestamp(segs[0].since / 1_000_000).unwrap(),
        OffsetDateTime::from_unix_timestamp(segs[0].until / 1_000_000).unwrap(),
    );
    let in_range: Vec<&LogRow> = rows
        .iter()
        .filter(|r| r.created_at >= day_since && r.created_at < day_until)
        .collect();
    let users = h.store.user_stats(&g).await.unwrap();
    let distinct: HashSet<_> = in_range
        .iter()
        .filter_map(|r| r.user_id.as_deref())
        .collect();
    assert_eq!(users.len(), distinct.len());
    for u in &users {
        let mine: Vec<&LogRow> = in_range
            .iter()
            .filter(|r| r.user_id.as_deref() == Some(u.key.as_str()))
            .copied()
            .collect();
        assert_eq!(
            (
                u.requests,
                u.errors,
                u.cost_nanos,
                u.prompt_tokens + u.completion_tokens
            ),
            sums(mine.iter().copied()),
            "{}",
            u.key
        );
        assert_eq!(
            u.first_seen,
            mine.iter().map(|r| r.created_at).min().unwrap()
        );
        assert_eq!(
            u.last_seen,
            mine.iter().map(|r| r.created_at).max().unwrap()
        );
    }
    let props = h
        .store
        .property_stats(&GroupQuery {
            name: Some("feature".into()),
            ..g.clone()
        })
        .await
        .unwrap();
    assert_eq!(props.len(), 2);
    for p in &props {
        let mine = in_range
            .iter()
            .filter(|r| r.properties.get("feature") == Some(&p.value))
            .copied();
        assert_eq!(
            (
                p.requests,
                p.errors,
                p.cost_nanos,
                p.prompt_tokens + p.completion_tokens
            ),
            sums(mine)
        );
    }
    assert_eq!(
        h.store.property_names(&g).await.unwrap(),
        vec!["env".to_owned(), "feature".to_owned()]
    );
}

both_backends!(
    search_filters_sorts_and_pages,
    series_agree_with_rows_on_both_paths,
    users_and_properties_agree_on_both_paths,
    unaligned_long_ranges_are_exact,
);
