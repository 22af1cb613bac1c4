//! The Overview: requests (success / error), cost per provider or model, latency p50/p95/p99
//! and time to first token, tokens per minute, top models and users, errors by status and
//! type, and PTB spend against BYOK, for a time range.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::response::Response;
use maud::{html, Markup};
use serde::Deserialize;
use serde_json::{json, Value};
use switchyard_store::analytics::{
    ErrorCount, GroupQuery, GroupSort, GroupStats, HistPoint, SeriesQuery, UsagePoint,
    LATENCY_BUCKETS_MS,
};
use switchyard_store::{OrgId, Store};

use super::auth::Viewer;
use super::format::{self, int, usd, Range};
use super::layout::{json_block, Ctx, PageError, PageResult};
use crate::state::AppState;

const PALETTE: &[&str] = &[
    "#2f6fed", "#e8793a", "#2bb673", "#a560e8", "#e84a6f", "#1fb5c4", "#b8a31c", "#8c8c8c",
];
const OK_COLOR: &str = "#2bb673";
const ERR_COLOR: &str = "#e84a5f";
/// Series shown separately in "cost by"; the rest are summed as "other".
const TOP_SERIES: usize = 6;

#[derive(Deserialize, Default)]
pub struct OverviewParams {
    range: Option<String>,
    from: Option<String>,
    to: Option<String>,
    /// `provider` (default) or `model`.
    split: Option<String>,
}

/// Bucket width for a range: about 60-200 points, whole hours on the rollup path.
pub fn step_for(range: &Range) -> i64 {
    let secs = (range.until - range.since).whole_seconds().max(60);
    let rollups = range.until - range.since > switchyard_store::analytics::RAW_RANGE_LIMIT;
    [60, 300, 900, 1_800, 3_600, 10_800, 21_600, 43_200, 86_400]
        .into_iter()
        .filter(|s| !rollups || s % 3_600 == 0)
        .find(|s| secs / s <= 200)
        .unwrap_or(86_400)
}

/// Everything the Overview shows, computed from the store's series.
pub struct OverviewData {
    pub usage: Vec<UsagePoint>,
    pub hist: Vec<HistPoint>,
    pub errors: Vec<ErrorCount>,
    pub top_users: Vec<GroupStats>,
    pub step: i64,
    pub x: Vec<i64>,
}

/// The store queries of the Overview (what the 200 ms budget is about).
pub async fn load(
    store: &dyn Store,
    org: OrgId,
    range: &Range,
) -> Result<OverviewData, switchyard_store::StoreError> {
    let step = step_for(range);
    let q = SeriesQuery {
        org_id: org,
        since: range.since,
        until: range.until,
        step_secs: step,
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
    let (usage, hist, errors, top_users) = futures::try_join!(
        store.usage_series(&q),
        store.latency_histograms(&q),
        store.error_counts(&q),
        store.user_stats(&g),
    )?;
    let first = range.since.unix_timestamp().div_euclid(step) * step;
    let x = (0..)
        .map(|i| first + i * step)
        .take_while(|t| *t < range.until.unix_timestamp())
        .collect();
    Ok(OverviewData {
        usage,
        hist,
        errors,
        top_users,
        step,
        x,
    })
}

/// The `p`-quantile of a histogram (counts per [`LATENCY_BUCKETS_MS`] bucket), interpolated
/// linearly inside its bucket. `None` when the histogram is empty.
pub fn quantile(counts: &[i64], p: f64) -> Option<f64> {
    let total: i64 = counts.iter().sum();
    if total == 0 {
        return None;
    }
    let rank = p * total as f64;
    let mut seen = 0i64;
    for (i, &n) in counts.iter().enumerate() {
        if n == 0 {
            continue;
        }
        if (seen + n) as f64 >= rank {
            let lo = if i == 0 { 0 } else { LATENCY_BUCKETS_MS[i - 1] } as f64;
            let Some(&hi) = LATENCY_BUCKETS_MS.get(i) else {
                return Some(lo);
            };
            let within = ((rank - seen as f64) / n as f64).clamp(0.0, 1.0);
            return Some(lo + within * (hi as f64 - lo));
        }
        seen += n;
    }
    LATENCY_BUCKETS_MS.last().map(|&b| b as f64)
}

fn series(label: &str, color: &str, values: Vec<Option<f64>>) -> Value {
    json!({ "label": label, "color": color, "values": values })
}

impl OverviewData {
    fn index(&self) -> HashMap<i64, usize> {
        self.x.iter().enumerate().map(|(i, t)| (*t, i)).collect()
    }

    /// The JSON the page's charts read.
    pub fn charts(&self, split_by_model: bool) -> Value {
        let idx = self.index();
        let n = self.x.len();
        let mut ok = vec![0f64; n];
        let mut err = vec![0f64; n];
        let mut tokens = vec![0f64; n];
        let mut ttft_sum = vec![0f64; n];
        let mut ttft_n = vec![0f64; n];
        let mut by_key: BTreeMap<String, (i64, Vec<f64>)> = BTreeMap::new();
        for p in &self.usage {
            let Some(&i) = idx.get(&p.bucket) else {
                continue;
            };
            ok[i] += (p.requests - p.errors) as f64;
            err[i] += p.errors as f64;
            tokens[i] += (p.prompt_tokens + p.completion_tokens) as f64;
            ttft_sum[i] += p.ttft_ms_sum as f64;
            ttft_n[i] += p.ttft_count as f64;
            let key = if split_by_model {
                p.model.clone()
            } else if p.provider.is_empty() {
                "(no provider)".to_owned()
            } else {
                p.provider.clone()
            };
            let e = by_key.entry(key).or_insert_with(|| (0, vec![0f64; n]));
            e.0 += p.cost_nanos;
            e.1[i] += p.cost_nanos as f64 / 1e9;
        }
        let mut keys: Vec<(String, (i64, Vec<f64>))> = by_key.into_iter().collect();
        keys.sort_by(|a, b| b.1 .0.cmp(&a.1 .0).then(a.0.cmp(&b.0)));
        let mut cost_series = Vec::new();
        let mut other = vec![0f64; n];
        let mut has_other = false;
        for (k, (key, (_, values))) in keys.into_iter().enumerate() {
            if k < TOP_SERIES {
                cost_series.push(series(
                    &key,
                    PALETTE[k],
                    values.into_iter().map(Some).collect(),
                ));
            } else {
                has_other = true;
                other.iter_mut().zip(values).for_each(|(o, v)| *o += v);
            }
        }
        if has_other {
            cost_series.push(series(
                "other",
                PALETTE[7],
                other.into_iter().map(Some).collect(),
            ));
        }
        // Latency quantiles per bucket from the histograms.
        let buckets = LATENCY_BUCKETS_MS.len() + 1;
        let mut lat = vec![vec![0i64; buckets]; n];
        let mut ttft = vec![vec![0i64; buckets]; n];
        for h in &self.hist {
            let Some(&i) = idx.get(&h.bucket) else {
                continue;
            };
            let target = if h.kind == 0 { &mut lat } else { &mut ttft };
            if let Some(c) = target[i].get_mut(h.hist as usize) {
                *c += h.n;
            }
        }
        let q = |rows: &[Vec<i64>], p: f64| -> Vec<Option<f64>> {
            rows.iter()
                .map(|c| quantile(c, p).map(f64::round))
                .collect()
        };
        let per_minute = 60.0 / self.step as f64;
        let opt = |v: Vec<f64>| -> Vec<Option<f64>> { v.into_iter().map(Some).collect() };
        json!({
            "requests": {
                "unit": "", "axis": "requests", "fill": true, "x": self.x,
                "series": [series("Success", OK_COLOR, opt(ok)), series("Error", ERR_COLOR, opt(err))],
            },
            "cost": { "unit": "USD", "axis": "USD", "fill": false, "x": self.x, "series": cost_series },
            "latency": {
                "unit": "ms", "axis": "latency", "fill": false, "x": self.x,
                "series": [
                    series("p50", PALETTE[0], q(&lat, 0.50)),
                    series("p95", PALETTE[1], q(&lat, 0.95)),
                    series("p99", PALETTE[4], q(&lat, 0.99)),
                ],
            },
            "ttft": {
                "unit": "ms", "axis": "time to first token", "fill": false, "x": self.x,
                "series": [
                    series("TTFT p50", PALETTE[2], q(&ttft, 0.50)),
                    series("TTFT p95", PALETTE[3], q(&ttft, 0.95)),
                    series("TTFT mean", PALETTE[5], ttft_sum.iter().zip(&ttft_n).map(|(s, n)| (*n > 0.0).then(|| (s / n).round())).collect::<Vec<_>>()),
                ],
            },
            "tokens": {
                "unit": "tok/min", "axis": "tokens per minute", "fill": true, "x": self.x,
                "series": [series("Tokens / min", PALETTE[3], tokens.into_iter().map(|t| Some((t * per_minute * 10.0).round() / 10.0)).collect())],
            },
        })
    }
}

struct Totals {
    requests: i64,
    errors: i64,
    cost: i64,
    unpriced: i64,
    tokens: i64,
    latency_sum: i64,
    ptb_cost: i64,
    byok_cost: i64,
    ptb_requests: i64,
    byok_requests: i64,
}

fn totals(usage: &[UsagePoint]) -> Totals {
    let mut t = Totals {
        requests: 0,
        errors: 0,
        cost: 0,
        unpriced: 0,
        tokens: 0,
        latency_sum: 0,
        ptb_cost: 0,
        byok_cost: 0,
        ptb_requests: 0,
        byok_requests: 0,
    };
    for p in usage {
        t.requests += p.requests;
        t.errors += p.errors;
        t.cost += p.cost_nanos;
        t.unpriced += p.unpriced;
        t.tokens += p.prompt_tokens + p.completion_tokens;
        t.latency_sum += p.latency_ms_sum;
        match p.billing.as_str() {
            "ptb" => {
                t.ptb_cost += p.cost_nanos;
                t.ptb_requests += p.requests;
            }
            "byok" => {
                t.byok_cost += p.cost_nanos;
                t.byok_requests += p.requests;
            }
            _ => {}
        }
    }
    t
}

fn stat(label: &str, value: String, sub: Option<String>) -> Markup {
    html! {
        div.card.stat {
            div.label { (label) }
            div.value { (value) }
            @if let Some(s) = sub { div.sub { (s) } }
        }
    }
}

fn chart(id: &str, title: &str, hint: &str) -> Markup {
    html! {
        div.card {
            h2 { (title) }
            div.chart data-chart=(id) role="img" aria-label=(title) { div.empty-chart { "Loading chart…" } }
            @if !hint.is_empty() { p.hint { (hint) } }
        }
    }
}

pub async fn page(
    State(state): State<Arc<AppState>>,
    viewer: Viewer,
    Path(org): Path<String>,
    Query(p): Query<OverviewParams>,
) -> PageResult {
    let ctx = Ctx::load(state, viewer, &org).await?;
    let range = Range::parse(
        p.range.as_deref(),
        p.from.as_deref(),
        p.to.as_deref(),
        "24h",
    )?;
    let by_model = p.split.as_deref() == Some("model");
    let data = load(ctx.state.store.as_ref(), ctx.org.id, &range)
        .await
        .map_err(PageError::from)?;
    Ok(render(&ctx, &range, by_model, &data))
}

fn render(ctx: &Ctx, range: &Range, by_model: bool, data: &OverviewData) -> Response {
    let t = totals(&data.usage);
    let mut models: BTreeMap<&str, (i64, i64, i64)> = BTreeMap::new();
    for p in &data.usage {
        let e = models.entry(p.model.as_str()).or_default();
        e.0 += p.requests;
        e.1 += p.cost_nanos;
        e.2 += p.prompt_tokens + p.completion_tokens;
    }
    let mut models: Vec<_> = models.into_iter().collect();
    models.sort_by(|a, b| b.1 .0.cmp(&a.1 .0).then(a.0.cmp(b.0)));
    models.truncate(10);
    let requests_url = |pairs: Vec<(&str, String)>| {
        let mut all = range.pairs();
        all.extend(pairs);
        format::url_with(&ctx.url("requests"), &all)
    };
    let split_pairs = |split: &str| {
        let mut all = range.pairs();
        all.push(("split", split.to_owned()));
        format::url_with(&ctx.url("overview"), &all)
    };
    let rolled = range.until - range.since > switchyard_store::analytics::RAW_RANGE_LIMIT;
    let content = html! {
        div.pagehead {
            h1 { "Overview" }
            div.spacer {}
            form.filters method="get" action=(ctx.url("overview")) {
                (format::range_fields(range))
                input type="hidden" name="split" value=(if by_model { "model" } else { "provider" });
                button type="submit" { "Apply" }
            }
        }
        @if t.requests == 0 {
            (empty_state(ctx))
        }
        div.grid.stats {
            (stat("Requests", int(t.requests), Some(format!("{} failed ({:.1}%)", int(t.errors), if t.requests > 0 { t.errors as f64 * 100.0 / t.requests as f64 } else { 0.0 }))))
            (stat("Cost", usd(t.cost), (t.unpriced > 0).then(|| format!("{} unpriced requests", int(t.unpriced)))))
            (stat("Tokens", int(t.tokens), None))
            (stat("Avg latency", format::ms((t.requests > 0).then(|| t.latency_sum / t.requests)), None))
            (stat("PTB spend", usd(t.ptb_cost), Some(format!("{} requests", int(t.ptb_requests)))))
            (stat("BYOK spend", usd(t.byok_cost), Some(format!("{} requests, paid to providers", int(t.byok_requests)))))
        }
        div.grid.charts {
            (chart("requests", "Requests over time", ""))
            div.card {
                div.pagehead {
                    h2 { "Cost over time" }
                    div.spacer {}
                    span.hint {
                        "by "
                        @if by_model { a href=(split_pairs("provider")) { "provider" } " · " strong { "model" } }
                        @else { strong { "provider" } " · " a href=(split_pairs("model")) { "model" } }
                    }
                }
                div.chart data-chart="cost" role="img" aria-label="Cost over time" { div.empty-chart { "Loading chart…" } }
            }
            (chart("latency", "Latency", "Percentiles from latency histograms (bucket-interpolated)."))
            (chart("ttft", "Time to first token", "Streams only."))
            (chart("tokens", "Tokens per minute", "Prompt + completion tokens."))
            div.card {
                h2 { "PTB spend vs BYOK" }
                @let total = (t.ptb_cost + t.byok_cost).max(1);
                div.bars {
                    span style=(format!("width:{:.2}%;background:{}", t.ptb_cost as f64 * 100.0 / total as f64, PALETTE[0])) {}
                    span style=(format!("width:{:.2}%;background:{}", t.byok_cost as f64 * 100.0 / total as f64, PALETTE[1])) {}
                }
                dl.kv {
                    dt { "Pass-through (credits)" } dd { (usd(t.ptb_cost)) " · " (int(t.ptb_requests)) " requests" }
                    dt { "BYOK (your provider keys)" } dd { (usd(t.byok_cost)) " · " (int(t.byok_requests)) " requests" }
                }
            }
        }
        div.grid.two {
            div.card {
                h2 { "Top models" }
                div.table-wrap { table {
                    thead { tr { th { "Model" } th.r { "Requests" } th.r { "Tokens" } th.r { "Cost" } } }
                    tbody {
                        @for (model, (n, cost, tok)) in &models {
                            tr { td { a href=(requests_url(vec![("model", model.to_string())])) { (model) } } td.r.num { (int(*n)) } td.r.num { (int(*tok)) } td.r { (usd(*cost)) } }
                        }
                        @if models.is_empty() { tr { td.muted colspan="4" { "No requests in this range." } } }
                    }
                } }
            }
            div.card {
                h2 { "Top users" }
                div.table-wrap { table {
                    thead { tr { th { "User" } th.r { "Requests" } th.r { "Tokens" } th.r { "Cost" } } }
                    tbody {
                        @for u in &data.top_users {
                            tr { td { a href=(requests_url(vec![("user", u.key.clone())])) { (u.key) } } td.r.num { (int(u.requests)) } td.r.num { (int(u.prompt_tokens + u.completion_tokens)) } td.r { (usd(u.cost_nanos)) } }
                        }
                        @if data.top_users.is_empty() { tr { td.muted colspan="4" { "No user ids yet: send " code { "x-switchyard-user-id" } " with requests." } } }
                    }
                } }
            }
            div.card {
                h2 { "Errors by status and type" }
                div.table-wrap { table {
                    thead { tr { th { "Status" } th { "Error type" } th.r { "Requests" } } }
                    tbody {
                        @for e in &data.errors {
                            tr {
                                td { a href=(requests_url(vec![("status", e.status.to_string())])) { span.pill.err { (e.status) } } }
                                td { @if e.error_type.is_empty() { span.muted { "–" } } @else { a href=(requests_url(vec![("error_type", e.error_type.clone())])) { (e.error_type) } } }
                                td.r.num { (int(e.requests)) }
                            }
                        }
                        @if data.errors.is_empty() { tr { td.muted colspan="3" { "No errors in this range." } } }
                    }
                } }
            }
        }
        p.hint {
            "Buckets of " (format::ms(Some(data.step * 1000))) ", times in UTC. "
            @if rolled { "Ranges over 48 hours read 6-hourly and hourly rollups for the whole buckets and the request log for the partial hours at either end (top users: daily rollups, aligned to whole UTC days)." }
            @else { "Computed from the request log." }
        }
        (json_block("chart-data", &data.charts(by_model)))
    };
    ctx.render("overview", "Overview", content)
}

/// What to do when there is nothing to show: a curl command with the org's key.
pub fn empty_state(ctx: &Ctx) -> Markup {
    html! {
        div.card.empty.section {
            h2 { "No requests yet" }
            p { "Send a request through the gateway with one of this org's keys and it shows up here within a second:" }
            pre { "curl http://" (ctx.host()) "/v1/chat/completions \\\n  -H \"Authorization: Bearer $SWITCHYARD_KEY\" -H \"Content-Type: application/json\" \\\n  -d '{\"model\": \"gpt-4o-mini\", \"messages\": [{\"role\": \"user\", \"content\": \"Hello\"}]}'" }
            p { "No key at hand? " a href=(ctx.url("keys")) { "Create a gateway key" } ", and add a " a href=(ctx.url("providers")) { "provider key" } " or " a href=(ctx.url("credits")) { "credits" } "." }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_interpolate_inside_buckets() {
        let mut counts = vec![0i64; LATENCY_BUCKETS_MS.len() + 1];
        assert_eq!(quantile(&counts, 0.5), None);
        counts[4] = 100; // 75 < x <= 100 ms
        assert_eq!(quantile(&counts, 0.5), Some(87.5));
        assert_eq!(quantile(&counts, 1.0), Some(100.0));
        counts[LATENCY_BUCKETS_MS.len()] = 100; // beyond the last bound
        assert_eq!(quantile(&counts, 0.99), Some(120_000.0));
    }

    #[test]
    fn steps_give_few_hundred_points() {
        for key in ["1h", "24h", "7d", "30d"] {
            let r = Range::parse(Some(key), None, None, "24h").unwrap();
            let step = step_for(&r);
            let points = (r.until - r.since).whole_seconds() / step;
            assert!((24..=200).contains(&points), "{key}: {points}");
            if key == "7d" || key == "30d" {
                assert_eq!(step % 3600, 0, "{key}: rollup steps are whole hours");
            }
        }
    }
}
