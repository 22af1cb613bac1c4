//! Synthetic request-log rows for trying the dashboard on real volumes
//! (`switchyard admin seed-logs`) and for its timing test: spread over a time window, priced
//! with the registry, with users, properties, errors, streams and both billing modes.
//! Rows go in with `insert_logs`, batch by batch, in time order as a gateway writes them; the
//! batch commit updates the rollups, so the seeded rollups are the log writer's own.

use std::collections::BTreeMap;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use switchyard_registry::{Endpoint, Registry};
use switchyard_store::{BillingMode, LogRow, OrgId, Store, StoreError};
use time::{Duration, OffsetDateTime};

/// Rows per transaction.
const BATCH: usize = 2_000;

/// The endpoints the seed routes to: a spread of popular models, all priced.
fn endpoints(registry: &Registry) -> Vec<&Endpoint> {
    let mut out: Vec<&Endpoint> = registry
        .endpoints()
        .filter(|e| e.deployment == "*" && !e.require_explicit_routing)
        .collect();
    out.sort_by(|a, b| a.id.cmp(&b.id));
    // Every 7th keeps a few dozen distinct models and providers.
    out.into_iter().step_by(7).take(40).collect()
}

/// Inserts `rows` synthetic rows for `org` over the `days` before now; returns rows written.
/// Deterministic for a given `seed`.
pub async fn seed_logs(
    store: &dyn Store,
    registry: &Registry,
    org: OrgId,
    rows: u64,
    days: u32,
    seed: u64,
) -> Result<u64, StoreError> {
    let end = OffsetDateTime::now_utc();
    seed_logs_until(store, registry, org, rows, days, seed, end).await
}

/// [`seed_logs`] over `[end - days, end)`: every row falls inside a view of those days.
pub async fn seed_logs_until(
    store: &dyn Store,
    registry: &Registry,
    org: OrgId,
    rows: u64,
    days: u32,
    seed: u64,
    end: OffsetDateTime,
) -> Result<u64, StoreError> {
    let eps = endpoints(registry);
    if eps.is_empty() || rows == 0 {
        return Ok(0);
    }
    let mut rng = StdRng::seed_from_u64(seed);
    let span_us = i64::from(days.max(1)) * 86_400_000_000;
    let start = end - Duration::microseconds(span_us);
    let mut written = 0u64;
    let mut batch = Vec::with_capacity(BATCH);
    while written < rows {
        batch.clear();
        let n = BATCH.min((rows - written) as usize);
        for i in written..written + n as u64 {
            // Row i at a random point of the i-th of `rows` equal slots: in time order, as a
            // gateway writes its log (a batch spans a few hours, not the whole window).
            let at = ((i as f64 + rng.gen::<f64>()) * span_us as f64 / rows as f64) as i64;
            let created = start + Duration::microseconds(at.clamp(0, span_us - 1));
            batch.push(row(&mut rng, registry, &eps, org, created));
        }
        // The batch commit keeps the rollups with the rows.
        store.insert_logs(&batch).await?;
        written += n as u64;
    }
    Ok(written)
}

fn row(
    rng: &mut StdRng,
    registry: &Registry,
    eps: &[&Endpoint],
    org: OrgId,
    created: OffsetDateTime,
) -> LogRow {
    // Popular endpoints more often: the square of a uniform skews towards the start.
    let pick = (rng.gen::<f64>().powi(2) * eps.len() as f64) as usize;
    let e = eps[pick.min(eps.len() - 1)];
    let stream = rng.gen_bool(0.4);
    let roll: f64 = rng.gen();
    let (status, error_type) = if roll < 0.015 {
        (429u16, Some("rate_limited"))
    } else if roll < 0.025 {
        (502, Some("upstream_5xx"))
    } else if roll < 0.03 {
        (400, Some("bad_request"))
    } else if stream && roll < 0.035 {
        (200, Some("stream_error"))
    } else {
        (200, None)
    };
    let ok = status == 200;
    let prompt: u64 = rng.gen_range(20..4_000);
    let cached: u64 = if rng.gen_bool(0.3) { prompt / 2 } else { 0 };
    let completion: u64 = rng.gen_range(5..1_200);
    let reasoning = rng.gen_bool(0.1).then_some(completion / 3);
    let usage = switchyard_cost::Usage {
        input: Some(prompt - cached),
        output: Some(completion),
        cache_read: Some(cached),
        reasoning,
        ..Default::default()
    };
    let cost = ok.then(|| registry.price_endpoint(e, &usage).total_nanos());
    let base = rng.gen_range(150..1_500) as f64;
    let latency = (base * (1.0 + rng.gen::<f64>().powi(6) * 20.0)) as i64;
    let mut properties = BTreeMap::new();
    properties.insert(
        "feature".to_owned(),
        ["chat", "search", "summarise", "classify", "agent"][rng.gen_range(0..5)].to_owned(),
    );
    if rng.gen_bool(0.5) {
        properties.insert(
            "env".to_owned(),
            if rng.gen_bool(0.8) { "prod" } else { "staging" }.to_owned(),
        );
    }
    LogRow {
        id: uuid::Uuid::now_v7(),
        org_id: org,
        key_id: None,
        model: e.model.clone(),
        endpoint: Some(e.id.clone()),
        provider: Some(e.provider.clone()),
        billing: Some(if e.ptb && rng.gen_bool(0.6) {
            BillingMode::Ptb
        } else {
            BillingMode::Byok
        }),
        status,
        error_type: error_type.map(str::to_owned),
        attempts: serde_json::json!([]),
        prompt_tokens: ok.then_some(prompt as i64),
        completion_tokens: ok.then_some(completion as i64),
        cached_tokens: ok.then_some(cached as i64),
        cache_write_tokens: None,
        reasoning_tokens: reasoning.filter(|_| ok).map(|r| r as i64),
        cost_nanos: cost,
        latency_ms: latency,
        ttft_ms: stream.then(|| latency / rng.gen_range(3..8)),
        overhead_us: Some(rng.gen_range(80..400)),
        stream,
        user_id: rng
            .gen_bool(0.8)
            .then(|| format!("user-{:04}", (rng.gen::<f64>().powi(3) * 2_000.0) as u32)),
        properties,
        request_body: None,
        response_body: None,
        created_at: created,
        route: None,
        target_url: None,
        ttfb_ms: None,
        session_id: None,
        session_path: None,
        session_name: None,
        cache_status: None,
        cache_saved_nanos: None,
        client_request_id: None,
    }
}
