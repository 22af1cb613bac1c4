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
                    let step = q.step_secs.max(1) * 1_000_000;
                    let (since, until) = $crate::analytics::bounds(q.since, q.until, q.uses_rollups(), false);
                    let sql = if q.uses_rollups() {
                        "SELECT (hour / $1) * $1 AS b, provider AS p, model AS m, billing_mode AS bm, \
                         CAST(SUM(requests) AS BIGINT), CAST(SUM(errors) AS BIGINT), \
                         CAST(SUM(cost_nanos) AS BIGINT), CAST(SUM(unpriced) AS BIGINT), \
                         CAST(SUM(prompt_tokens) AS BIGINT), CAST(SUM(completion_tokens) AS BIGINT), \
                         CAST(SUM(latency_ms_sum) AS BIGINT), CAST(SUM(ttft_ms_sum) AS BIGINT), \
                         CAST(SUM(ttft_count) AS BIGINT) \
                         FROM rollup_usage WHERE org_id = $2 AND hour >= $3 AND hour < $4 \
                         GROUP BY 1, 2, 3, 4 ORDER BY 1"
                    } else {
                        "SELECT (created_at / $1) * $1 AS b, COALESCE(provider, '') AS p, model AS m, \
                         COALESCE(billing_mode, '') AS bm, COUNT(*), \
                         CAST(SUM(CASE WHEN status >= 400 OR error_type IS NOT NULL THEN 1 ELSE 0 END) AS BIGINT), \
                         CAST(COALESCE(SUM(cost_nanos), 0) AS BIGINT), \
                         CAST(SUM(CASE WHEN cost_nanos IS NULL THEN 1 ELSE 0 END) AS BIGINT), \
                         CAST(COALESCE(SUM(prompt_tokens), 0) AS BIGINT), \
                         CAST(COALESCE(SUM(completion_tokens), 0) AS BIGINT), \
                         CAST(SUM(latency_ms) AS BIGINT), CAST(COALESCE(SUM(ttft_ms), 0) AS BIGINT), \
                         COUNT(ttft_ms) \
                         FROM request_logs WHERE org_id = $2 AND created_at >= $3 AND created_at < $4 \
                         GROUP BY 1, 2, 3, 4 ORDER BY 1"
                    };
                    type R = (i64, String, String, String, i64, i64, i64, i64, i64, i64, i64, i64, i64);
                    let rows: Vec<R> = sqlx::query_as(sql)
                        .bind(step)
                        .bind(q.org_id.to_string())
                        .bind(since)
                        .bind(until)
                        .fetch_all(self.reader())
                        .await?;
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
                    let step = q.step_secs.max(1) * 1_000_000;
                    let (since, until) = $crate::analytics::bounds(q.since, q.until, q.uses_rollups(), false);
                    let sql = if q.uses_rollups() {
                        "SELECT (hour / $1) * $1, kind, bucket, CAST(SUM(n) AS BIGINT) FROM rollup_latency \
                         WHERE org_id = $2 AND hour >= $3 AND hour < $4 GROUP BY 1, 2, 3 ORDER BY 1"
                            .to_owned()
                    } else {
                        format!(
                            "SELECT b, kind, h, COUNT(*) FROM (\
                             SELECT (created_at / $1) * $1 AS b, CAST(0 AS BIGINT) AS kind, {lat} AS h FROM request_logs \
                             WHERE org_id = $2 AND created_at >= $3 AND created_at < $4 \
                             UNION ALL \
                             SELECT (created_at / $1) * $1 AS b, CAST(1 AS BIGINT) AS kind, {ttft} AS h FROM request_logs \
                             WHERE org_id = $2 AND created_at >= $3 AND created_at < $4 AND ttft_ms IS NOT NULL\
                             ) AS x GROUP BY b, kind, h ORDER BY b",
                            lat = $crate::analytics::latency_bucket_sql("latency_ms"),
                            ttft = $crate::analytics::latency_bucket_sql("ttft_ms"),
                        )
                    };
                    let rows: Vec<(i64, i64, i64, i64)> = sqlx::query_as(&sql)
                        .bind(step)
                        .bind(q.org_id.to_string())
                        .bind(since)
                        .bind(until)
                        .fetch_all(self.reader())
                        .await?;
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
                    let (since, until) = $crate::analytics::bounds(q.since, q.until, q.uses_rollups(), false);
                    let sql = if q.uses_rollups() {
                        "SELECT status, error_type, CAST(SUM(n) AS BIGINT) AS c FROM rollup_errors \
                         WHERE org_id = $1 AND hour >= $2 AND hour < $3 \
                         GROUP BY status, error_type ORDER BY c DESC, status LIMIT 50"
                    } else {
                        "SELECT status, COALESCE(error_type, '') AS et, COUNT(*) AS c FROM request_logs \
                         WHERE org_id = $1 AND created_at >= $2 AND created_at < $3 \
                         AND (status >= 400 OR error_type IS NOT NULL) \
                         GROUP BY status, COALESCE(error_type, '') ORDER BY c DESC, status LIMIT 50"
                    };
                    let rows: Vec<(i64, String, i64)> = sqlx::query_as(sql)
                        .bind(q.org_id.to_string())
                        .bind(since)
                        .bind(until)
                        .fetch_all(self.reader())
                        .await?;
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
                    let (since, until) = $crate::analytics::bounds(q.since, q.until, q.uses_rollups(), true);
                    let mut qb = sqlx::QueryBuilder::<$db>::new(if q.uses_rollups() {
                        "SELECT k1, '' AS k2, requests, errs, cost, unpriced, pt, ct, lat, first_seen, last_seen FROM (\
                         SELECT user_id AS k1, CAST(SUM(requests) AS BIGINT) AS requests, \
                         CAST(SUM(errors) AS BIGINT) AS errs, CAST(SUM(cost_nanos) AS BIGINT) AS cost, \
                         CAST(SUM(unpriced) AS BIGINT) AS unpriced, CAST(SUM(prompt_tokens) AS BIGINT) AS pt, \
                         CAST(SUM(completion_tokens) AS BIGINT) AS ct, CAST(SUM(latency_ms_sum) AS BIGINT) AS lat, \
                         MIN(first_seen) AS first_seen, MAX(last_seen) AS last_seen \
                         FROM rollup_users WHERE org_id = "
                    } else {
                        "SELECT k1, '' AS k2, requests, errs, cost, unpriced, pt, ct, lat, first_seen, last_seen FROM (\
                         SELECT user_id AS k1, COUNT(*) AS requests, \
                         CAST(SUM(CASE WHEN status >= 400 OR error_type IS NOT NULL THEN 1 ELSE 0 END) AS BIGINT) AS errs, \
                         CAST(COALESCE(SUM(cost_nanos), 0) AS BIGINT) AS cost, \
                         CAST(SUM(CASE WHEN cost_nanos IS NULL THEN 1 ELSE 0 END) AS BIGINT) AS unpriced, \
                         CAST(COALESCE(SUM(prompt_tokens), 0) AS BIGINT) AS pt, \
                         CAST(COALESCE(SUM(completion_tokens), 0) AS BIGINT) AS ct, \
                         CAST(SUM(latency_ms) AS BIGINT) AS lat, \
                         MIN(created_at) AS first_seen, MAX(created_at) AS last_seen \
                         FROM request_logs WHERE user_id IS NOT NULL AND org_id = "
                    });
                    let time_col = if q.uses_rollups() { "day" } else { "created_at" };
                    qb.push_bind(q.org_id.to_string());
                    qb.push(format!(" AND {time_col} >= ")).push_bind(since);
                    qb.push(format!(" AND {time_col} < ")).push_bind(until);
                    if let Some(s) = &q.search {
                        qb.push(" AND user_id LIKE ")
                            .push_bind($crate::analytics::like_pattern(s))
                            .push(" ESCAPE '\\'");
                    }
                    qb.push(" GROUP BY user_id) AS g");
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
                    let (since, until) = $crate::analytics::bounds(q.since, q.until, q.uses_rollups(), true);
                    let mut qb = sqlx::QueryBuilder::<$db>::new(if q.uses_rollups() {
                        "SELECT k1, k2, requests, errs, cost, unpriced, pt, ct, lat, first_seen, last_seen FROM (\
                         SELECT name AS k1, value AS k2, CAST(SUM(requests) AS BIGINT) AS requests, \
                         CAST(SUM(errors) AS BIGINT) AS errs, CAST(SUM(cost_nanos) AS BIGINT) AS cost, \
                         CAST(SUM(unpriced) AS BIGINT) AS unpriced, CAST(SUM(prompt_tokens) AS BIGINT) AS pt, \
                         CAST(SUM(completion_tokens) AS BIGINT) AS ct, CAST(SUM(latency_ms_sum) AS BIGINT) AS lat, \
                         MIN(first_seen) AS first_seen, MAX(last_seen) AS last_seen \
                         FROM rollup_properties WHERE org_id = ".to_owned()
                    } else {
                        format!(
                            "SELECT k1, k2, requests, errs, cost, unpriced, pt, ct, lat, first_seen, last_seen FROM (\
                             SELECT p.key AS k1, p.value AS k2, COUNT(*) AS requests, \
                             CAST(SUM(CASE WHEN r.status >= 400 OR r.error_type IS NOT NULL THEN 1 ELSE 0 END) AS BIGINT) AS errs, \
                             CAST(COALESCE(SUM(r.cost_nanos), 0) AS BIGINT) AS cost, \
                             CAST(SUM(CASE WHEN r.cost_nanos IS NULL THEN 1 ELSE 0 END) AS BIGINT) AS unpriced, \
                             CAST(COALESCE(SUM(r.prompt_tokens), 0) AS BIGINT) AS pt, \
                             CAST(COALESCE(SUM(r.completion_tokens), 0) AS BIGINT) AS ct, \
                             CAST(SUM(r.latency_ms) AS BIGINT) AS lat, \
                             MIN(r.created_at) AS first_seen, MAX(r.created_at) AS last_seen \
                             FROM request_logs r {} WHERE r.properties <> '{{}}' AND r.org_id = ",
                            $props_from
                        )
                    });
                    let rollups = q.uses_rollups();
                    let (time_col, name_col, value_col) = if rollups {
                        ("day", "name", "value")
                    } else {
                        ("r.created_at", "p.key", "p.value")
                    };
                    qb.push_bind(q.org_id.to_string());
                    qb.push(format!(" AND {time_col} >= ")).push_bind(since);
                    qb.push(format!(" AND {time_col} < ")).push_bind(until);
                    if let Some(n) = &q.name {
                        qb.push(format!(" AND {name_col} = ")).push_bind(n.as_str());
                    }
                    if let Some(s) = &q.search {
                        qb.push(format!(" AND {value_col} LIKE "))
                            .push_bind($crate::analytics::like_pattern(s))
                            .push(" ESCAPE '\\'");
                    }
                    qb.push(format!(" GROUP BY {name_col}, {value_col}) AS g"));
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
                    let (since, until) = $crate::analytics::bounds(q.since, q.until, q.uses_rollups(), true);
                    let sql = if q.uses_rollups() {
                        "SELECT DISTINCT name FROM rollup_properties WHERE org_id = $1 AND day >= $2 \
                         AND day < $3 ORDER BY name LIMIT 200"
                            .to_owned()
                    } else {
                        format!(
                            "SELECT DISTINCT p.key FROM request_logs r {} WHERE r.properties <> '{{}}' \
                             AND r.org_id = $1 AND r.created_at >= $2 AND r.created_at < $3 \
                             ORDER BY p.key LIMIT 200",
                            $props_from
                        )
                    };
                    let names: Vec<String> = sqlx::query_scalar(&sql)
                        .bind(q.org_id.to_string())
                        .bind(since)
                        .bind(until)
                        .fetch_all(self.reader())
                        .await?;
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
