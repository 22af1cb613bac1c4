//! One request: summary, the cost as lines (which tier, which rate, how many tokens, each
//! amount), the attempts with their errors, and the bodies as pretty JSON and as a chat.

use std::sync::Arc;

use axum::extract::{Path, State};
use maud::{html, Markup};
use serde_json::Value;
use switchyard_cost::Usage;
use switchyard_store::{BillingMode, LogRow};

use super::auth::Viewer;
use super::format::{cost, int, ms, opt_int, when_cell};
use super::layout::{Ctx, PageError, PageResult};
use super::requests::status_pill;
use crate::state::AppState;

/// The usage a log row records, as the cost engine reads it: input excludes cache reads and
/// writes; cache writes are taken as 5-minute writes (the row does not split them).
pub fn usage_of(row: &LogRow) -> Usage {
    let u = |v: Option<i64>| v.map(|v| v.max(0) as u64);
    let cached = u(row.cached_tokens);
    let writes = u(row.cache_write_tokens);
    let prompt = u(row.prompt_tokens);
    Usage {
        input: prompt.map(|p| p.saturating_sub(cached.unwrap_or(0) + writes.unwrap_or(0))),
        output: u(row.completion_tokens),
        cache_read: cached,
        cache_write_5m: writes,
        reasoning: u(row.reasoning_tokens),
        ..Usage::default()
    }
}

fn tier_label(threshold: u64) -> String {
    if threshold == 0 {
        "base tier (from 0 tokens)".into()
    } else {
        format!("tier from {} prompt tokens", int(threshold as i64))
    }
}

fn per_million(d: rust_decimal::Decimal) -> String {
    format!(
        "${}",
        (d * rust_decimal::Decimal::from(1_000_000)).normalize()
    )
}

fn cost_lines(ctx: &Ctx, row: &LogRow) -> Markup {
    let endpoint = row
        .endpoint
        .as_deref()
        .and_then(|e| ctx.state.registry.endpoint_by_id(e));
    let Some(endpoint) = endpoint else {
        return html! {
            p { "Cost: " (cost(row.cost_nanos)) }
            p.hint { "No registry endpoint priced this request (a passthrough model, or it never reached a provider), so there are no price lines." }
        };
    };
    let b = ctx.state.registry.price_endpoint(endpoint, &usage_of(row));
    let matches = row.cost_nanos == Some(b.total_nanos());
    html! {
        p { "Priced with " code { (endpoint.id) } ", " (tier_label(b.tier_threshold)) "." }
        div.table-wrap { table #cost-lines {
            thead { tr { th { "Line" } th.r { "Tokens" } th.r { "Rate per 1M" } th.r { "Rate per token" } th.r { "Amount" } } }
            tbody {
                @for l in &b.lines {
                    tr { td { (l.kind.label()) } td.r.num { (int(l.quantity as i64)) } td.r.num { (per_million(l.unit_price)) } td.r.num { "$" (l.unit_price.normalize()) } td.r.num { "$" (l.amount.normalize()) } }
                }
                tr { td { strong { "Total" } } td {} td {} td {} td.r.num { strong { "$" (b.total.normalize()) } } }
            }
        } }
        @if let Some(reported) = b.provider_reported { p.hint { "The provider reported its own cost ($" (reported.normalize()) "), which is what was charged." } }
        @if !matches {
            p.notice { "Logged cost: " (cost(row.cost_nanos)) ". The lines above re-price the logged token counts with today's registry; they differ when prices changed since, or the request had usage the log does not split (1-hour cache writes, images, web search)." }
        }
    }
}

fn pretty(body: &str) -> String {
    serde_json::from_str::<Value>(body)
        .ok()
        .and_then(|v| serde_json::to_string_pretty(&v).ok())
        .unwrap_or_else(|| body.to_owned())
}

/// Text of an OpenAI message `content` (a string or parts).
fn content_text(c: &Value) -> String {
    match c {
        Value::String(s) => s.clone(),
        Value::Array(parts) => parts
            .iter()
            .map(|p| {
                p.get("text")
                    .and_then(Value::as_str)
                    .map(str::to_owned)
                    .unwrap_or_else(|| {
                        format!(
                            "[{}]",
                            p.get("type").and_then(Value::as_str).unwrap_or("part")
                        )
                    })
            })
            .collect::<Vec<_>>()
            .join("\n"),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// The conversation: request messages, then the answer (a whole response, or the streamed
/// deltas joined).
fn chat_messages(request: Option<&str>, response: Option<&str>) -> Vec<(String, String)> {
    let mut out = Vec::new();
    if let Some(req) = request.and_then(|r| serde_json::from_str::<Value>(r).ok()) {
        for m in req
            .get("messages")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let role = m
                .get("role")
                .and_then(Value::as_str)
                .unwrap_or("?")
                .to_owned();
            out.push((role, content_text(m.get("content").unwrap_or(&Value::Null))));
        }
    }
    if let Some(res) = response {
        if let Ok(v) = serde_json::from_str::<Value>(res) {
            for c in v
                .get("choices")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                if let Some(m) = c.get("message") {
                    out.push((
                        "assistant".into(),
                        content_text(m.get("content").unwrap_or(&Value::Null)),
                    ));
                }
            }
        } else {
            let text: String = res
                .lines()
                .filter_map(|l| l.strip_prefix("data:"))
                .filter_map(|d| serde_json::from_str::<Value>(d.trim()).ok())
                .filter_map(|c| {
                    c.pointer("/choices/0/delta/content")
                        .and_then(Value::as_str)
                        .map(str::to_owned)
                })
                .collect();
            if !text.is_empty() {
                out.push(("assistant".into(), text));
            }
        }
    }
    out
}

pub async fn detail(
    State(state): State<Arc<AppState>>,
    viewer: Viewer,
    Path((org, id)): Path<(String, String)>,
) -> PageResult {
    let ctx = Ctx::load(state, viewer, &org).await?;
    let not_found = || PageError::NotFound(format!("no request {id} in this org"));
    let uuid = uuid::Uuid::parse_str(id.trim()).map_err(|_| not_found())?;
    // get_log filters by org: a request id of another org is not found here.
    let row = ctx
        .state
        .store
        .get_log(ctx.org.id, uuid)
        .await?
        .ok_or_else(not_found)?;
    let chat = chat_messages(row.request_body.as_deref(), row.response_body.as_deref());
    let attempts = row.attempts.as_array().cloned().unwrap_or_default();
    let s = |v: &Value, k: &str| {
        v.get(k)
            .map(|x| {
                x.as_str()
                    .map(str::to_owned)
                    .unwrap_or_else(|| x.to_string())
            })
            .unwrap_or_default()
    };
    let content = html! {
        div.pagehead {
            h1 { "Request" }
            code { (row.id) }
            div.spacer {}
            a href=(ctx.url("requests")) { "← All requests" }
        }
        div.grid.two {
            div.card {
                h2 { "Summary" }
                dl.kv {
                    dt { "Time (UTC)" } dd { (when_cell(row.created_at)) }
                    dt { "Status" } dd { (status_pill(row.status, row.error_type.as_deref())) @if let Some(e) = &row.error_type { " " (e) } }
                    dt { "Model string" } dd { code { (row.model) } }
                    dt { "Endpoint" } dd { (row.endpoint.clone().unwrap_or_else(|| "–".into())) }
                    dt { "Provider" } dd { (row.provider.clone().unwrap_or_else(|| "–".into())) }
                    dt { "Billing" } dd { (row.billing.map(BillingMode::as_str).unwrap_or("–")) }
                    dt { "Tokens" } dd { "prompt " (opt_int(row.prompt_tokens)) " · completion " (opt_int(row.completion_tokens)) " · cached " (opt_int(row.cached_tokens)) " · cache write " (opt_int(row.cache_write_tokens)) " · reasoning " (opt_int(row.reasoning_tokens)) }
                    dt { "Cost" } dd #detail-cost { (cost(row.cost_nanos)) }
                    dt { "Latency" } dd { (ms(Some(row.latency_ms))) @if let Some(t) = row.ttft_ms { " · TTFT " (ms(Some(t))) } }
                    dt { "Stream" } dd { (if row.stream { "yes" } else { "no" }) }
                    dt { "User" } dd { (row.user_id.clone().unwrap_or_else(|| "–".into())) }
                    dt { "Properties" } dd { div.props { @for (k, v) in &row.properties { span.pill { (k) "=" (v) } } @if row.properties.is_empty() { "–" } } }
                }
            }
            div.card {
                h2 { "Cost breakdown" }
                (cost_lines(&ctx, &row))
            }
        }
        div.card.section {
            h2 { "Attempts" }
            @if attempts.is_empty() {
                p.muted { "Answered by the first attempt." }
            } @else {
                div.table-wrap { table {
                    thead { tr { th { "#" } th { "Provider" } th { "Endpoint" } th { "Billing" } th { "Status" } th { "Error" } th { "Message" } } }
                    tbody { @for (i, a) in attempts.iter().enumerate() {
                        tr { td { (i + 1) } td { (s(a, "provider")) } td { (s(a, "endpoint")) } td { (s(a, "billing")) } td { (s(a, "status")) } td { (s(a, "error_type")) } td { (s(a, "message")) } }
                    } }
                } }
            }
        }
        @if row.request_body.is_none() && row.response_body.is_none() {
            div.card.section { p.muted { "Bodies are not stored for this org (or this request)." } }
        } @else {
            div.card.section {
                h2 { "Chat" }
                div.chat {
                    @for (role, text) in &chat {
                        div class={ "msg " (role) } { span.role { (role) } div.content { (text) } }
                    }
                    @if chat.is_empty() { p.muted { "No messages could be read from the bodies." } }
                }
            }
            div.grid.two {
                div.card { h2 { "Request body" } pre #request-body { (row.request_body.as_deref().map(pretty).unwrap_or_default()) } }
                div.card { h2 { "Response body" } pre #response-body { (row.response_body.as_deref().map(pretty).unwrap_or_default()) } }
            }
        }
    };
    Ok(ctx.render("requests", "Request", content))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chat_reads_requests_answers_and_streams() {
        let req = r#"{"messages":[{"role":"system","content":"Be brief."},{"role":"user","content":[{"type":"text","text":"Hi"}]}]}"#;
        let res = r#"{"choices":[{"message":{"role":"assistant","content":"Hello!"}}]}"#;
        let m = chat_messages(Some(req), Some(res));
        assert_eq!(
            m,
            vec![
                ("system".into(), "Be brief.".into()),
                ("user".into(), "Hi".into()),
                ("assistant".into(), "Hello!".into())
            ]
        );
        let sse = "data: {\"choices\":[{\"delta\":{\"content\":\"He\"}}]}\n\ndata: {\"choices\":[{\"delta\":{\"content\":\"llo\"}}]}\n\ndata: [DONE]\n\n";
        assert_eq!(
            chat_messages(None, Some(sse)),
            vec![("assistant".into(), "Hello".into())]
        );
    }

    #[test]
    fn usage_of_a_row_splits_cached_tokens_out_of_input() {
        let row: LogRow = serde_json::from_value(serde_json::json!({
            "id": uuid::Uuid::nil(), "org_id": uuid::Uuid::nil(), "key_id": null, "model": "m",
            "endpoint": null, "provider": null, "billing": null, "status": 200, "error_type": null,
            "attempts": [], "prompt_tokens": 100, "completion_tokens": 20, "cached_tokens": 30,
            "cache_write_tokens": null, "reasoning_tokens": 5, "cost_nanos": null, "latency_ms": 1,
            "ttft_ms": null, "overhead_us": null, "stream": false, "user_id": null, "properties": {},
            "request_body": null, "response_body": null, "created_at": "2026-01-01T00:00:00Z"
        }))
        .unwrap();
        let u = usage_of(&row);
        assert_eq!(
            (u.input, u.cache_read, u.output, u.reasoning),
            (Some(70), Some(30), Some(20), Some(5))
        );
        assert_eq!(u.prompt_tokens(), 100);
    }
}
