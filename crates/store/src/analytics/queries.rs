//! The SQL of [`super::AnalyticsStore`], written once for both backends and stamped out per
//! store type (sqlx's row and argument types are per database). `$props_from` is the one
//! difference: how a row's `properties` JSON object becomes `(key, value)` rows.

macro_rules! impl_analytics {
    ($ty:ty, $db:ty, $props_from:literal) => {
        impl $crate::analytics::AnalyticsStore for $ty {
            fn search_requests<'a>(
                &'a self,
                q: &'a $crate::analytics::RequestQuery,
            ) -> $crate::BoxFut<'a, $crate::analytics::RequestPage> {
                Box::pin(async move {
                    use $crate::analytics::StatusFilter;
                    let f = &q.filter;
                    let key = q.sort.sql();
                    let mut qb = sqlx::QueryBuilder::<$db>::new(format!(
                        "SELECT id, created_at, status, model, endpoint, provider, billing_mode, \
                         error_type, prompt_tokens, completion_tokens, cached_tokens, reasoning_tokens, \
                         cost_nanos, latency_ms, ttft_ms, stream, user_id, key_id, properties, \
                         {key} AS sort_key FROM request_logs WHERE org_id = "
                    ));
                    qb.push_bind(q.org_id.to_string());
                    if let Some(t) = f.since {
                        qb.push(" AND created_at >= ").push_bind($crate::types::to_us(t));
                    }
                    if let Some(t) = f.until {
                        qb.push(" AND created_at < ").push_bind($crate::types::to_us(t));
                    }
                    match f.status {
                        None => {}
                        Some(StatusFilter::Exact(s)) => {
                            qb.push(" AND status = ").push_bind(i64::from(s));
                        }
                        Some(StatusFilter::Class(c)) => {
                            let lo = i64::from(c) * 100;
                            qb.push(" AND status >= ").push_bind(lo);
                            qb.push(" AND status < ").push_bind(lo + 100);
                        }
                        Some(StatusFilter::Errors) => {
                            qb.push(" AND (status >= 400 OR error_type IS NOT NULL)");
                        }
                    }
                    let eq = |qb: &mut sqlx::QueryBuilder<'a, $db>, col: &str, v: &'a Option<String>| {
                        if let Some(v) = v {
                            qb.push(format!(" AND {col} = ")).push_bind(v.as_str());
                        }
                    };
                    eq(&mut qb, "model", &f.model);
                    eq(&mut qb, "endpoint", &f.endpoint);
                    eq(&mut qb, "provider", &f.provider);
                    eq(&mut qb, "error_type", &f.error_type);
                    eq(&mut qb, "user_id", &f.user_id);
                    if let Some(b) = f.billing {
                        qb.push(" AND billing_mode = ").push_bind(b.as_str());
                    }
                    if let Some((name, value)) = &f.property {
                        // Properties are stored as a JSON object of strings; match the pair as
                        // serde_json writes it.
                        let pair = format!(
                            "{}:{}",
                            serde_json::Value::String(name.clone()),
                            serde_json::Value::String(value.clone())
                        );
                        qb.push(" AND properties LIKE ")
                            .push_bind($crate::analytics::like_pattern(&pair))
                            .push(" ESCAPE '\\'");
                    }
                    if let Some(n) = f.min_tokens {
                        qb.push(" AND COALESCE(prompt_tokens, 0) + COALESCE(completion_tokens, 0) >= ")
                            .push_bind(n);
                    }
                    if let Some(n) = f.min_cost_nanos {
                        qb.push(" AND cost_nanos >= ").push_bind(n);
                    }
                    match f.unpriced {
                        Some(true) => {
                            qb.push(" AND cost_nanos IS NULL");
                        }
                        Some(false) => {
                            qb.push(" AND cost_nanos IS NOT NULL");
                        }
                        None => {}
                    }
                    if let Some(n) = f.min_latency_ms {
                        qb.push(" AND latency_ms >= ").push_bind(n);
                    }
                    if let Some(n) = f.min_ttft_ms {
                        qb.push(" AND ttft_ms >= ").push_bind(n);
                    }
                    if let Some(text) = &f.text {
                        let p = $crate::analytics::like_pattern(text);
                        qb.push(" AND (request_body LIKE ")
                            .push_bind(p.clone())
                            .push(" ESCAPE '\\' OR response_body LIKE ")
                            .push_bind(p)
                            .push(" ESCAPE '\\')");
                    }
                    let (cmp, dir) = if q.descending { ("<", "DESC") } else { (">", "ASC") };
                    if let Some(c) = &q.after {
                        qb.push(format!(" AND ({key}, id) {cmp} ("))
                            .push_bind(c.key)
                            .push(", ")
                            .push_bind(c.id.as_str())
                            .push(")");
                    }
                    qb.push(format!(" ORDER BY {key} {dir}, id {dir} LIMIT "))
                        .push_bind(i64::from(q.limit) + 1);
                    let rows = qb.build().fetch_all(self.reader()).await?;
                    let mut out = Vec::with_capacity(rows.len());
                    let mut keys = Vec::with_capacity(rows.len());
                    for r in &rows {
                        use sqlx::Row;
                        const T: &str = "request_logs";
                        let corrupt = |detail: String| $crate::StoreError::Corrupt { table: T, detail };
                        let status: i64 = r.try_get("status")?;
                        let billing: Option<String> = r.try_get("billing_mode")?;
                        let properties: String = r.try_get("properties")?;
                        keys.push(r.try_get::<i64, _>("sort_key")?);
                        out.push($crate::analytics::RequestSummary {
                            id: $crate::types::parse_id(&r.try_get::<String, _>("id")?, T)?,
                            created_at: $crate::types::from_us(r.try_get("created_at")?, T)?,
                            status: u16::try_from(status)
                                .map_err(|_| corrupt(format!("status {status}")))?,
                            model: r.try_get("model")?,
                            endpoint: r.try_get("endpoint")?,
                            provider: r.try_get("provider")?,
                            billing: billing
                                .map(|b| {
                                    $crate::BillingMode::parse(&b)
                                        .ok_or_else(|| corrupt(format!("billing_mode {b:?}")))
                                })
                                .transpose()?,
                            error_type: r.try_get("error_type")?,
                            prompt_tokens: r.try_get("prompt_tokens")?,
                            completion_tokens: r.try_get("completion_tokens")?,
                            cached_tokens: r.try_get("cached_tokens")?,
                            reasoning_tokens: r.try_get("reasoning_tokens")?,
                            cost_nanos: r.try_get("cost_nanos")?,
                            latency_ms: r.try_get("latency_ms")?,
                            ttft_ms: r.try_get("ttft_ms")?,
                            stream: r.try_get("stream")?,
                            user_id: r.try_get("user_id")?,
                            key_id: r
                                .try_get::<Option<String>, _>("key_id")?
                                .map(|s| $crate::types::parse_id(&s, T))
                                .transpose()?,
                            properties: serde_json::from_str(&properties)
                                .map_err(|e| corrupt(format!("properties: {e}")))?,
                        });
                    }
                    let next = if out.len() > q.limit as usize {
                        out.truncate(q.limit as usize);
                        out.last().map(|last| $crate::analytics::Cursor {
                            key: keys[q.limit as usize - 1],
                            id: last.id.hyphenated().to_string(),
                        })
                    } else {
                        None
                    };
                    Ok($crate::analytics::RequestPage { rows: out, next })
                })
            }

            fn usage_series<'a>(
                &'a self,
                q: &'a $crate::analytics::SeriesQuery,
            ) -> $crate::BoxFut<'a, Vec<$crate::analytics::UsagePoint>> {
                Box::pin(async move {
                    let segs = q.segments(true);
                    if segs.is_empty() {
                        return Ok(Vec::new());
                    }
                    let mut qb = sqlx::QueryBuilder::<$db>::new("");
                    $crate::analytics::push_usage_sql(
                        &mut qb,
                        &q.org_id.to_string(),
                        q.step_secs.max(1) * 1_000_000,
                        &segs,
                    );
                    type R = (i64, String, String, String, i64, i64, i64, i64, i64, i64, i64, i64, i64);
                    let rows: Vec<R> = qb.build_query_as().fetch_all(self.reader()).await?;
                    Ok(rows
                        .into_iter()
                        .map(|(b, provider, model, billing, requests, errors, cost, unpriced, pt, ct, lat, ttft, ttft_n)| {
                            $crate::analytics::UsagePoint {
                                bucket: b / 1_000_000,
                                provider,
                                model,
                                billing,
                                requests,
                                errors,
                                cost_nanos: cost,
                                unpriced,
                                prompt_tokens: pt,
                                completion_tokens: ct,
                                latency_ms_sum: lat,
                                ttft_ms_sum: ttft,
                                ttft_count: ttft_n,
                            }
                        })
                        .collect())
                })
            }

            fn latency_histograms<'a>(
                &'a self,
                q: &'a $crate::analytics::SeriesQuery,
            ) -> $crate::BoxFut<'a, Vec<$crate::analytics::HistPoint>> {
                Box::pin(async move {
                    let segs = q.segments(true);
                    if segs.is_empty() {
                        return Ok(Vec::new());
                    }
                    let mut qb = sqlx::QueryBuilder::<$db>::new("");
                    $crate::analytics::push_histogram_sql(
                        &mut qb,
                        &q.org_id.to_string(),
                        q.step_secs.max(1) * 1_000_000,
                        &segs,
                    );
                    let rows: Vec<(i64, i64, i64, i64)> =
                        qb.build_query_as().fetch_all(self.reader()).await?;
                    Ok(rows
                        .into_iter()
                        .map(|(b, kind, hist, n)| $crate::analytics::HistPoint {
                            bucket: b / 1_000_000,
                            kind,
                            hist,
                            n,
                        })
                        .collect())
                })
            }

            fn error_counts<'a>(
                &'a self,
                q: &'a $crate::analytics::SeriesQuery,
            ) -> $crate::BoxFut<'a, Vec<$crate::analytics::ErrorCount>> {
                Box::pin(async move {
                    // Not per bucket: the widest rollup serves, whatever the step.
                    let segs = q.segments(false);
                    if segs.is_empty() {
                        return Ok(Vec::new());
                    }
                    let mut qb = sqlx::QueryBuilder::<$db>::new("");
                    $crate::analytics::push_errors_sql(&mut qb, &q.org_id.to_string(), &segs);
                    let rows: Vec<(i64, String, i64)> =
                        qb.build_query_as().fetch_all(self.reader()).await?;
                    Ok(rows
                        .into_iter()
                        .map(|(status, error_type, requests)| $crate::analytics::ErrorCount {
                            status: u16::try_from(status).unwrap_or(0),
                            error_type,
                            requests,
                        })
                        .collect())
                })
            }

            fn user_stats<'a>(
                &'a self,
                q: &'a $crate::analytics::GroupQuery,
            ) -> $crate::BoxFut<'a, Vec<$crate::analytics::GroupStats>> {
                Box::pin(async move {
                    let segs = q.segments();
                    if segs.is_empty() {
                        return Ok(Vec::new());
                    }
                    let org = q.org_id.to_string();
                    let mut qb = sqlx::QueryBuilder::<$db>::new(
                        "SELECT k1, '' AS k2, requests, errs, cost, unpriced, pt, ct, lat, first_seen, last_seen FROM (\
                         SELECT k1, CAST(SUM(n) AS BIGINT) AS requests, CAST(SUM(e) AS BIGINT) AS errs, \
                         CAST(SUM(c) AS BIGINT) AS cost, CAST(SUM(u) AS BIGINT) AS unpriced, \
                         CAST(SUM(pt) AS BIGINT) AS pt, CAST(SUM(ct) AS BIGINT) AS ct, \
                         CAST(SUM(l) AS BIGINT) AS lat, MIN(fs) AS first_seen, MAX(ls) AS last_seen FROM (",
                    );
                    for (i, s) in segs.iter().enumerate() {
                        if i > 0 {
                            qb.push(" UNION ALL ");
                        }
                        let time_col = if s.grain.is_some() {
                            qb.push(
                                "SELECT user_id AS k1, requests AS n, errors AS e, cost_nanos AS c, \
                                 unpriced AS u, prompt_tokens AS pt, completion_tokens AS ct, \
                                 latency_ms_sum AS l, first_seen AS fs, last_seen AS ls \
                                 FROM rollup_users WHERE org_id = ",
                            );
                            "day"
                        } else {
                            qb.push(
                                "SELECT user_id AS k1, CAST(1 AS BIGINT) AS n, \
                                 CAST(CASE WHEN status >= 400 OR error_type IS NOT NULL THEN 1 ELSE 0 END AS BIGINT) AS e, \
                                 COALESCE(cost_nanos, 0) AS c, \
                                 CAST(CASE WHEN cost_nanos IS NULL THEN 1 ELSE 0 END AS BIGINT) AS u, \
                                 COALESCE(prompt_tokens, 0) AS pt, COALESCE(completion_tokens, 0) AS ct, \
                                 latency_ms AS l, created_at AS fs, created_at AS ls \
                                 FROM request_logs WHERE user_id IS NOT NULL AND org_id = ",
                            );
                            "created_at"
                        };
                        qb.push_bind(org.clone());
                        qb.push(format!(" AND {time_col} >= ")).push_bind(s.since);
                        qb.push(format!(" AND {time_col} < ")).push_bind(s.until);
                        if let Some(text) = &q.search {
                            qb.push(" AND user_id LIKE ")
                                .push_bind($crate::analytics::like_pattern(text))
                                .push(" ESCAPE '\\'");
                        }
                    }
                    qb.push(") AS x GROUP BY k1) AS g");
                    $crate::analytics::push_group_order(&mut qb, q);
                    let rows = qb.build().fetch_all(self.reader()).await?;
                    rows.iter().map($crate::analytics::group_from_row::<$db>).collect()
                })
            }

            fn property_stats<'a>(
                &'a self,
                q: &'a $crate::analytics::GroupQuery,
            ) -> $crate::BoxFut<'a, Vec<$crate::analytics::GroupStats>> {
                Box::pin(async move {
                    let segs = q.segments();
                    if segs.is_empty() {
                        return Ok(Vec::new());
                    }
                    let org = q.org_id.to_string();
                    let mut qb = sqlx::QueryBuilder::<$db>::new(
                        "SELECT k1, k2, requests, errs, cost, unpriced, pt, ct, lat, first_seen, last_seen FROM (\
                         SELECT k1, k2, CAST(SUM(n) AS BIGINT) AS requests, CAST(SUM(e) AS BIGINT) AS errs, \
                         CAST(SUM(c) AS BIGINT) AS cost, CAST(SUM(u) AS BIGINT) AS unpriced, \
                         CAST(SUM(pt) AS BIGINT) AS pt, CAST(SUM(ct) AS BIGINT) AS ct, \
                         CAST(SUM(l) AS BIGINT) AS lat, MIN(fs) AS first_seen, MAX(ls) AS last_seen FROM (",
                    );
                    for (i, s) in segs.iter().enumerate() {
                        if i > 0 {
                            qb.push(" UNION ALL ");
                        }
                        let (time_col, name_col, value_col) = if s.grain.is_some() {
                            qb.push(
                                "SELECT name AS k1, value AS k2, requests AS n, errors AS e, \
                                 cost_nanos AS c, unpriced AS u, prompt_tokens AS pt, \
                                 completion_tokens AS ct, latency_ms_sum AS l, first_seen AS fs, \
                                 last_seen AS ls FROM rollup_properties WHERE org_id = ",
                            );
                            ("day", "name", "value")
                        } else {
                            qb.push(format!(
                                "SELECT p.key AS k1, p.value AS k2, CAST(1 AS BIGINT) AS n, \
                                 CAST(CASE WHEN r.status >= 400 OR r.error_type IS NOT NULL THEN 1 ELSE 0 END AS BIGINT) AS e, \
                                 COALESCE(r.cost_nanos, 0) AS c, \
                                 CAST(CASE WHEN r.cost_nanos IS NULL THEN 1 ELSE 0 END AS BIGINT) AS u, \
                                 COALESCE(r.prompt_tokens, 0) AS pt, COALESCE(r.completion_tokens, 0) AS ct, \
                                 r.latency_ms AS l, r.created_at AS fs, r.created_at AS ls \
                                 FROM request_logs r {} WHERE r.properties <> '{{}}' AND r.org_id = ",
                                $props_from
                            ));
                            ("r.created_at", "p.key", "p.value")
                        };
                        qb.push_bind(org.clone());
                        qb.push(format!(" AND {time_col} >= ")).push_bind(s.since);
                        qb.push(format!(" AND {time_col} < ")).push_bind(s.until);
                        if let Some(n) = &q.name {
                            qb.push(format!(" AND {name_col} = ")).push_bind(n.clone());
                        }
                        if let Some(text) = &q.search {
                            qb.push(format!(" AND {value_col} LIKE "))
                                .push_bind($crate::analytics::like_pattern(text))
                                .push(" ESCAPE '\\'");
                        }
                    }
                    qb.push(") AS x GROUP BY k1, k2) AS g");
                    $crate::analytics::push_group_order(&mut qb, q);
                    let rows = qb.build().fetch_all(self.reader()).await?;
                    rows.iter().map($crate::analytics::group_from_row::<$db>).collect()
                })
            }

            fn property_names<'a>(
                &'a self,
                q: &'a $crate::analytics::GroupQuery,
            ) -> $crate::BoxFut<'a, Vec<String>> {
                Box::pin(async move {
                    let segs = q.segments();
                    if segs.is_empty() {
                        return Ok(Vec::new());
                    }
                    let org = q.org_id.to_string();
                    let mut qb = sqlx::QueryBuilder::<$db>::new("SELECT DISTINCT k FROM (");
                    for (i, s) in segs.iter().enumerate() {
                        if i > 0 {
                            qb.push(" UNION ALL ");
                        }
                        let time_col = if s.grain.is_some() {
                            qb.push("SELECT name AS k FROM rollup_properties WHERE org_id = ");
                            "day"
                        } else {
                            qb.push(format!(
                                "SELECT p.key AS k FROM request_logs r {} \
                                 WHERE r.properties <> '{{}}' AND r.org_id = ",
                                $props_from
                            ));
                            "r.created_at"
                        };
                        qb.push_bind(org.clone());
                        qb.push(format!(" AND {time_col} >= ")).push_bind(s.since);
                        qb.push(format!(" AND {time_col} < ")).push_bind(s.until);
                    }
                    qb.push(") AS x ORDER BY k LIMIT 200");
                    let names: Vec<String> = qb.build_query_scalar().fetch_all(self.reader()).await?;
                    Ok(names)
                })
            }

            fn keys_last_used<'a>(
                &'a self,
                org: $crate::OrgId,
                keys: &'a [$crate::KeyId],
            ) -> $crate::BoxFut<'a, Vec<($crate::KeyId, time::OffsetDateTime)>> {
                Box::pin(async move {
                    let mut out = Vec::new();
                    // One index probe per key (request_logs_org_key_time): an org has few keys.
                    for key in keys {
                        let last: Option<i64> = sqlx::query_scalar(
                            "SELECT MAX(created_at) FROM request_logs WHERE org_id = $1 AND key_id = $2",
                        )
                        .bind(org.to_string())
                        .bind(key.to_string())
                        .fetch_one(self.reader())
                        .await?;
                        if let Some(us) = last {
                            out.push((*key, $crate::types::from_us(us, "request_logs")?));
                        }
                    }
                    Ok(out)
                })
            }
        }
    };
}

pub(crate) use impl_analytics;
