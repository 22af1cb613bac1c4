//! Requests: the filtered, sorted, keyset-paginated list. One request: `request_detail`.

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use maud::{html, Markup};
use serde::Deserialize;
use switchyard_store::analytics::{Cursor, RequestFilter, RequestQuery, RequestSort, StatusFilter};
use switchyard_store::BillingMode;

use super::auth::Viewer;
use super::format::{self, clean, cost, ms, opt_int, when_cell, Range};
use super::layout::{Ctx, PageError, PageResult};
use super::overview::empty_state;
use crate::state::AppState;

pub const PAGE_SIZE: u32 = 50;

/// The Requests page's query string: every filter, the sort and the page cursor.
#[derive(Deserialize, Default, Clone)]
pub struct RequestParams {
    pub range: Option<String>,
    pub from: Option<String>,
    pub to: Option<String>,
    /// `200`, `2xx`, `4xx`, `5xx` or `errors`.
    pub status: Option<String>,
    pub model: Option<String>,
    pub endpoint: Option<String>,
    pub provider: Option<String>,
    pub billing: Option<String>,
    pub error_type: Option<String>,
    pub user: Option<String>,
    /// `name=value`
    pub property: Option<String>,
    pub min_tokens: Option<String>,
    /// USD
    pub min_cost: Option<String>,
    /// `priced` or `unpriced`
    pub priced: Option<String>,
    pub min_latency: Option<String>,
    pub min_ttft: Option<String>,
    /// Text in the request or response body.
    pub q: Option<String>,
    pub sort: Option<String>,
    pub dir: Option<String>,
    pub after: Option<String>,
}

fn number(v: &Option<String>, name: &str) -> Result<Option<i64>, PageError> {
    clean(v)
        .map(|s| {
            s.parse::<i64>()
                .map_err(|_| PageError::Bad(format!("`{name}` must be a whole number")))
        })
        .transpose()
}

impl RequestParams {
    /// The store query of these parameters. Parsing errors name the parameter.
    pub fn query(&self, org: switchyard_store::OrgId) -> Result<(RequestQuery, Range), PageError> {
        let range = Range::parse(
            self.range.as_deref(),
            self.from.as_deref(),
            self.to.as_deref(),
            "24h",
        )?;
        let status = match clean(&self.status).as_deref() {
            None => None,
            Some("2xx") => Some(StatusFilter::Class(2)),
            Some("4xx") => Some(StatusFilter::Class(4)),
            Some("5xx") => Some(StatusFilter::Class(5)),
            Some("errors") => Some(StatusFilter::Errors),
            Some(s) => Some(StatusFilter::Exact(s.parse().map_err(|_| {
                PageError::Bad("`status` must be a code, 2xx, 4xx, 5xx or errors".into())
            })?)),
        };
        let billing = match clean(&self.billing).as_deref() {
            None => None,
            Some("byok") => Some(BillingMode::Byok),
            Some("ptb") => Some(BillingMode::Ptb),
            Some(_) => return Err(PageError::Bad("`billing` must be byok or ptb".into())),
        };
        let property = clean(&self.property)
            .map(|p| {
                p.split_once('=')
                    .map(|(n, v)| (n.trim().to_owned(), v.trim().to_owned()))
                    .ok_or_else(|| PageError::Bad("`property` must be name=value".into()))
            })
            .transpose()?;
        let min_cost_nanos = clean(&self.min_cost)
            .map(|s| {
                s.parse::<rust_decimal::Decimal>()
                    .map(switchyard_cost::usd_to_nanos)
                    .map_err(|_| PageError::Bad("`min_cost` must be a USD amount".into()))
            })
            .transpose()?;
        let unpriced = match clean(&self.priced).as_deref() {
            None => None,
            Some("unpriced") => Some(true),
            Some("priced") => Some(false),
            Some(_) => return Err(PageError::Bad("`priced` must be priced or unpriced".into())),
        };
        let sort = match clean(&self.sort).as_deref() {
            None | Some("time") => RequestSort::Time,
            Some("cost") => RequestSort::Cost,
            Some("latency") => RequestSort::Latency,
            Some("ttft") => RequestSort::Ttft,
            Some("tokens") => RequestSort::Tokens,
            Some(_) => {
                return Err(PageError::Bad(
                    "`sort` must be time, cost, latency, ttft or tokens".into(),
                ))
            }
        };
        let after = clean(&self.after)
            .map(|c| {
                Cursor::decode(&c)
                    .ok_or_else(|| PageError::Bad("`after` is not a page cursor".into()))
            })
            .transpose()?;
        let filter = RequestFilter {
            since: Some(range.since),
            until: Some(range.until),
            status,
            model: clean(&self.model),
            endpoint: clean(&self.endpoint),
            provider: clean(&self.provider),
            billing,
            error_type: clean(&self.error_type),
            user_id: clean(&self.user),
            property,
            min_tokens: number(&self.min_tokens, "min_tokens")?,
            min_cost_nanos,
            unpriced,
            min_latency_ms: number(&self.min_latency, "min_latency")?,
            min_ttft_ms: number(&self.min_ttft, "min_ttft")?,
            text: clean(&self.q),
        };
        Ok((
            RequestQuery {
                org_id: org,
                filter,
                sort,
                descending: self.dir.as_deref() != Some("asc"),
                after,
                limit: PAGE_SIZE,
            },
            range,
        ))
    }

    /// Query pairs of this view (without the cursor), for links that keep the filters.
    fn pairs(&self) -> Vec<(&'static str, String)> {
        let v = |o: &Option<String>| clean(o).unwrap_or_default();
        let mut p = vec![
            ("range", v(&self.range)),
            ("status", v(&self.status)),
            ("model", v(&self.model)),
            ("endpoint", v(&self.endpoint)),
            ("provider", v(&self.provider)),
            ("billing", v(&self.billing)),
            ("error_type", v(&self.error_type)),
            ("user", v(&self.user)),
            ("property", v(&self.property)),
            ("min_tokens", v(&self.min_tokens)),
            ("min_cost", v(&self.min_cost)),
            ("priced", v(&self.priced)),
            ("min_latency", v(&self.min_latency)),
            ("min_ttft", v(&self.min_ttft)),
            ("q", v(&self.q)),
            ("sort", v(&self.sort)),
            ("dir", v(&self.dir)),
        ];
        if self.range.as_deref() == Some("custom") {
            p.push(("from", v(&self.from)));
            p.push(("to", v(&self.to)));
        }
        p
    }
}

fn text_field(name: &str, label: &str, value: &Option<String>, placeholder: &str) -> Markup {
    html! {
        label.field {
            span { (label) }
            input type="text" name=(name) value=(value.clone().unwrap_or_default()) placeholder=(placeholder);
        }
    }
}

fn select_field(
    name: &str,
    label: &str,
    value: &Option<String>,
    options: &[(&str, &str)],
) -> Markup {
    let current = value.clone().unwrap_or_default();
    html! {
        label.field {
            span { (label) }
            select name=(name) {
                @for (v, l) in options { option value=(v) selected[*v == current] { (l) } }
            }
        }
    }
}

pub fn status_pill(status: u16, error_type: Option<&str>) -> Markup {
    let failed = status >= 400 || error_type.is_some();
    html! { span class=(if failed { "pill err" } else { "pill ok" }) title=[error_type] { (status) } }
}

pub async fn list(
    State(state): State<Arc<AppState>>,
    viewer: Viewer,
    Path(org): Path<String>,
    Query(p): Query<RequestParams>,
) -> PageResult {
    let ctx = Ctx::load(state, viewer, &org).await?;
    let (query, range) = p.query(ctx.org.id)?;
    let page = ctx.state.store.search_requests(&query).await?;
    let base = ctx.url("requests");
    let pairs = p.pairs();
    let sort_key = clean(&p.sort).unwrap_or_else(|| "time".into());
    let sort_link = |key: &str, desc: bool| {
        let mut q: Vec<(&str, String)> = pairs
            .iter()
            .filter(|(k, _)| *k != "sort" && *k != "dir")
            .cloned()
            .collect();
        q.push(("sort", key.to_owned()));
        q.push(("dir", if desc { "desc" } else { "asc" }.to_owned()));
        format::url_with(&base, &q)
    };
    let mut providers: Vec<(&str, &str)> = vec![("", "any")];
    providers.extend(
        ctx.state
            .registry
            .providers()
            .map(|p| (p.id.as_str(), p.name.as_str())),
    );
    let next_url = page.next.as_ref().map(|c| {
        let mut q = pairs.clone();
        q.push(("after", c.encode()));
        format::url_with(&base, &q)
    });
    let filtered = pairs
        .iter()
        .any(|(k, v)| !v.is_empty() && !matches!(*k, "range" | "sort" | "dir"));
    let content = html! {
        div.pagehead { h1 { "Requests" } }
        form.filters #filters method="get" action=(base) hx-get=(base) hx-target="#results" hx-select="#results" hx-swap="outerHTML" hx-push-url="true" hx-trigger="change, submit" {
            (format::range_fields(&range))
            (select_field("status", "Status", &p.status, &[("", "any"), ("2xx", "2xx"), ("4xx", "4xx"), ("5xx", "5xx"), ("errors", "errors")]))
            (text_field("model", "Model", &p.model, "gpt-4o-mini"))
            label.field { span { "Provider" } select name="provider" {
                @for (v, l) in &providers { option value=(v) selected[Some(*v) == p.provider.as_deref() || (v.is_empty() && p.provider.as_deref().unwrap_or("").is_empty())] { (l) } }
            } }
            (text_field("endpoint", "Endpoint", &p.endpoint, "model:provider:*"))
            (select_field("billing", "Billing", &p.billing, &[("", "any"), ("ptb", "PTB"), ("byok", "BYOK")]))
            (text_field("user", "User", &p.user, "user id"))
            (text_field("property", "Property", &p.property, "name=value"))
            (text_field("error_type", "Error type", &p.error_type, "rate_limited"))
            label.field { span { "Min tokens" } input type="number" min="0" name="min_tokens" value=(p.min_tokens.clone().unwrap_or_default()); }
            label.field { span { "Min cost (USD)" } input type="text" inputmode="decimal" name="min_cost" value=(p.min_cost.clone().unwrap_or_default()) placeholder="0.01"; }
            (select_field("priced", "Price", &p.priced, &[("", "any"), ("priced", "priced"), ("unpriced", "unpriced")]))
            label.field { span { "Min latency (ms)" } input type="number" min="0" name="min_latency" value=(p.min_latency.clone().unwrap_or_default()); }
            label.field { span { "Min TTFT (ms)" } input type="number" min="0" name="min_ttft" value=(p.min_ttft.clone().unwrap_or_default()); }
            (text_field("q", "Body contains", &p.q, "text in bodies"))
            input type="hidden" name="sort" value=(p.sort.clone().unwrap_or_default());
            input type="hidden" name="dir" value=(p.dir.clone().unwrap_or_default());
            button.primary type="submit" { "Filter" }
            @if filtered { a href=(format::url_with(&base, &range.pairs())) { "Clear filters" } }
        }
        div #results {
            @if page.rows.is_empty() {
                @if filtered || query.after.is_some() {
                    div.card.empty { h2 { "No requests match these filters" } p { "Widen the time range or " a href=(format::url_with(&base, &range.pairs())) { "clear the filters" } "." } }
                } @else {
                    (empty_state(&ctx))
                }
            } @else {
                div.table-wrap { table #requests-table {
                    thead { tr {
                        (format::sort_header("Time (UTC)", "time", &sort_key, query.descending, sort_link))
                        th { "Status" } th { "Model" } th.hide-sm { "Endpoint" } th { "Provider" } th { "Billing" }
                        (format::sort_header("Tokens p / c / cached / reasoning", "tokens", &sort_key, query.descending, sort_link))
                        (format::sort_header("Cost", "cost", &sort_key, query.descending, sort_link))
                        (format::sort_header("Latency", "latency", &sort_key, query.descending, sort_link))
                        (format::sort_header("TTFT", "ttft", &sort_key, query.descending, sort_link))
                        th { "User" } th { "Properties" }
                    } }
                    tbody {
                        @for r in &page.rows {
                            tr data-request-id=(r.id) {
                                td { a href={ (base) "/" (r.id) } { (when_cell(r.created_at)) } }
                                td { (status_pill(r.status, r.error_type.as_deref())) }
                                td { (r.model) }
                                td.hide-sm.muted { (r.endpoint.clone().unwrap_or_default()) }
                                td { (r.provider.clone().unwrap_or_default()) }
                                td { (r.billing.map(BillingMode::as_str).unwrap_or("")) }
                                td.num { (opt_int(r.prompt_tokens)) " / " (opt_int(r.completion_tokens)) " / " (opt_int(r.cached_tokens)) " / " (opt_int(r.reasoning_tokens)) }
                                td.cost { (cost(r.cost_nanos)) }
                                td.num { (ms(Some(r.latency_ms))) }
                                td.num { (ms(r.ttft_ms)) }
                                td { (r.user_id.clone().unwrap_or_default()) }
                                td { div.props { @for (k, v) in &r.properties { span.pill { (k) "=" (v) } } } }
                            }
                        }
                    }
                } }
                div.pager {
                    @if query.after.is_some() { a href=(format::url_with(&base, &pairs)) { "← First page" } }
                    @if let Some(next) = &next_url {
                        a #next-page href=(next) { "Next page →" }
                    }
                    span.muted { (page.rows.len()) " requests on this page" }
                }
            }
        }
    };
    Ok(ctx.render("requests", "Requests", content))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn params_refuse_junk_and_name_it() {
        let org = switchyard_store::OrgId::generate();
        let bad = |p: RequestParams| {
            p.query(org)
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default()
        };
        assert!(bad(RequestParams {
            status: Some("abc".into()),
            ..Default::default()
        })
        .contains("status"));
        assert!(bad(RequestParams {
            property: Some("novalue".into()),
            ..Default::default()
        })
        .contains("property"));
        assert!(bad(RequestParams {
            after: Some("x".into()),
            ..Default::default()
        })
        .contains("after"));
        let (q, _) = RequestParams {
            status: Some("5xx".into()),
            min_cost: Some("0.5".into()),
            ..Default::default()
        }
        .query(org)
        .unwrap();
        assert_eq!(q.filter.status, Some(StatusFilter::Class(5)));
        assert_eq!(q.filter.min_cost_nanos, Some(500_000_000));
    }
}
