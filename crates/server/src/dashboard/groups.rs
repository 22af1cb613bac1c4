//! Users (by `x-switchyard-user-id`) and Properties (by `x-switchyard-property-<name>` and
//! value): requests, errors, cost, tokens, average latency, first and last seen.

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use maud::{html, Markup};
use serde::Deserialize;
use switchyard_store::analytics::{GroupQuery, GroupSort, GroupStats};

use super::auth::Viewer;
use super::format::{self, clean, int, usd, when_cell, Range};
use super::layout::{Ctx, PageError, PageResult};
use crate::state::AppState;

const PAGE_SIZE: u32 = 50;

#[derive(Deserialize, Default)]
pub struct GroupParams {
    range: Option<String>,
    from: Option<String>,
    to: Option<String>,
    q: Option<String>,
    /// Properties: the property name.
    name: Option<String>,
    sort: Option<String>,
    dir: Option<String>,
    page: Option<u32>,
}

impl GroupParams {
    fn query(&self, org: switchyard_store::OrgId) -> Result<(GroupQuery, Range), PageError> {
        let range = Range::parse(
            self.range.as_deref(),
            self.from.as_deref(),
            self.to.as_deref(),
            "24h",
        )?;
        let sort =
            match clean(&self.sort).as_deref() {
                None | Some("requests") => GroupSort::Requests,
                Some("cost") => GroupSort::Cost,
                Some("tokens") => GroupSort::Tokens,
                Some("latency") => GroupSort::Latency,
                Some("last_seen") => GroupSort::LastSeen,
                Some("first_seen") => GroupSort::FirstSeen,
                Some("key") => GroupSort::Key,
                Some(_) => return Err(PageError::Bad(
                    "`sort` must be requests, cost, tokens, latency, last_seen, first_seen or key"
                        .into(),
                )),
            };
        let page = self.page.unwrap_or(1).clamp(1, 10_000);
        Ok((
            GroupQuery {
                org_id: org,
                since: range.since,
                until: range.until,
                search: clean(&self.q),
                name: clean(&self.name),
                sort,
                descending: self.dir.as_deref() != Some("asc"),
                // One more than shown, to know whether a next page exists.
                limit: PAGE_SIZE + 1,
                offset: (page - 1) * PAGE_SIZE,
            },
            range,
        ))
    }

    fn pairs(&self, range: &Range) -> Vec<(&'static str, String)> {
        let mut p = range.pairs();
        p.push(("q", clean(&self.q).unwrap_or_default()));
        p.push(("name", clean(&self.name).unwrap_or_default()));
        p.push(("sort", clean(&self.sort).unwrap_or_default()));
        p.push(("dir", clean(&self.dir).unwrap_or_default()));
        p
    }
}

fn table(
    ctx: &Ctx,
    base: &str,
    p: &GroupParams,
    q: &GroupQuery,
    range: &Range,
    rows: &[GroupStats],
    properties: bool,
) -> Markup {
    let pairs = p.pairs(range);
    let sort_key = clean(&p.sort).unwrap_or_else(|| "requests".into());
    let link = |key: &str, desc: bool| {
        let mut v: Vec<(&str, String)> = pairs
            .iter()
            .filter(|(k, _)| *k != "sort" && *k != "dir")
            .cloned()
            .collect();
        v.push(("sort", key.to_owned()));
        v.push(("dir", if desc { "desc" } else { "asc" }.to_owned()));
        format::url_with(base, &v)
    };
    let page = p.page.unwrap_or(1).max(1);
    let page_link = |n: u32| {
        let mut v = pairs.clone();
        v.push(("page", n.to_string()));
        format::url_with(base, &v)
    };
    let shown = &rows[..rows.len().min(PAGE_SIZE as usize)];
    let requests = |g: &GroupStats| {
        let mut v = range.pairs();
        if properties {
            v.push(("property", format!("{}={}", g.key, g.value)));
        } else {
            v.push(("user", g.key.clone()));
        }
        format::url_with(&ctx.url("requests"), &v)
    };
    html! {
        div #results {
            @if shown.is_empty() {
                div.card.empty {
                    @if properties {
                        h2 { "No properties in this range" }
                        p { "Tag requests with " code { "x-switchyard-property-<name>: <value>" } " headers, e.g.:" }
                        pre { "curl http://" (ctx.host()) "/v1/chat/completions -H \"Authorization: Bearer $SWITCHYARD_KEY\" \\\n  -H \"x-switchyard-property-feature: search\" -H \"Content-Type: application/json\" \\\n  -d '{\"model\": \"gpt-4o-mini\", \"messages\": [{\"role\": \"user\", \"content\": \"Hello\"}]}'" }
                    } @else {
                        h2 { "No users in this range" }
                        p { "Send " code { "x-switchyard-user-id: <your user's id>" } " with requests to see usage per user, e.g.:" }
                        pre { "curl http://" (ctx.host()) "/v1/chat/completions -H \"Authorization: Bearer $SWITCHYARD_KEY\" \\\n  -H \"x-switchyard-user-id: alice\" -H \"Content-Type: application/json\" \\\n  -d '{\"model\": \"gpt-4o-mini\", \"messages\": [{\"role\": \"user\", \"content\": \"Hello\"}]}'" }
                    }
                }
            } @else {
                div.table-wrap { table {
                    thead { tr {
                        @if properties {
                            (format::sort_header("Property", "key", &sort_key, q.descending, link))
                            th { "Value" }
                        } @else {
                            (format::sort_header("User", "key", &sort_key, q.descending, link))
                        }
                        (format::sort_header("Requests", "requests", &sort_key, q.descending, link))
                        th.r { "Errors" }
                        (format::sort_header("Cost", "cost", &sort_key, q.descending, link))
                        (format::sort_header("Tokens", "tokens", &sort_key, q.descending, link))
                        (format::sort_header("Avg latency", "latency", &sort_key, q.descending, link))
                        (format::sort_header("First seen", "first_seen", &sort_key, q.descending, link))
                        (format::sort_header("Last seen", "last_seen", &sort_key, q.descending, link))
                    } }
                    tbody {
                        @for g in shown {
                            tr {
                                td { a href=(requests(g)) { (g.key) } }
                                @if properties { td { (g.value) } }
                                td.num { (int(g.requests)) }
                                td.num.r { (int(g.errors)) }
                                td.num { (usd(g.cost_nanos)) @if g.unpriced > 0 { span.muted { " +" (g.unpriced) " unpriced" } } }
                                td.num { (int(g.prompt_tokens + g.completion_tokens)) }
                                td.num { (format::ms(Some(g.latency_ms_sum / g.requests.max(1)))) }
                                td { (when_cell(g.first_seen)) }
                                td { (when_cell(g.last_seen)) }
                            }
                        }
                    }
                } }
                div.pager {
                    @if page > 1 { a href=(page_link(page - 1)) { "← Previous" } }
                    span.muted { "Page " (page) }
                    @if rows.len() > PAGE_SIZE as usize { a #next-page href=(page_link(page + 1)) { "Next →" } }
                }
            }
            @if q.uses_rollups() { p.hint { "Ranges over 48 hours read daily rollups, aligned to whole UTC days." } }
        }
    }
}

pub async fn users(
    State(state): State<Arc<AppState>>,
    viewer: Viewer,
    Path(org): Path<String>,
    Query(p): Query<GroupParams>,
) -> PageResult {
    let ctx = Ctx::load(state, viewer, &org).await?;
    let (q, range) = p.query(ctx.org.id)?;
    let rows = ctx.state.store.user_stats(&q).await?;
    let base = ctx.url("users");
    let content = html! {
        div.pagehead { h1 { "Users" } }
        form.filters method="get" action=(base) hx-get=(base) hx-target="#results" hx-select="#results" hx-swap="outerHTML" hx-push-url="true" hx-trigger="change, keyup changed delay:300ms from:input[name=q], submit" {
            (format::range_fields(&range))
            label.field { span { "User id contains" } input type="search" name="q" value=(p.q.clone().unwrap_or_default()) placeholder="alice"; }
            input type="hidden" name="sort" value=(p.sort.clone().unwrap_or_default());
            input type="hidden" name="dir" value=(p.dir.clone().unwrap_or_default());
            button type="submit" { "Apply" }
        }
        (table(&ctx, &base, &p, &q, &range, &rows, false))
    };
    Ok(ctx.render("users", "Users", content))
}

pub async fn properties(
    State(state): State<Arc<AppState>>,
    viewer: Viewer,
    Path(org): Path<String>,
    Query(p): Query<GroupParams>,
) -> PageResult {
    let ctx = Ctx::load(state, viewer, &org).await?;
    let (q, range) = p.query(ctx.org.id)?;
    let (rows, names) = futures::try_join!(
        ctx.state.store.property_stats(&q),
        ctx.state.store.property_names(&q)
    )?;
    let base = ctx.url("properties");
    let current = clean(&p.name).unwrap_or_default();
    let content = html! {
        div.pagehead { h1 { "Properties" } }
        form.filters method="get" action=(base) hx-get=(base) hx-target="#results" hx-select="#results" hx-swap="outerHTML" hx-push-url="true" hx-trigger="change, keyup changed delay:300ms from:input[name=q], submit" {
            (format::range_fields(&range))
            label.field { span { "Property" } select name="name" {
                option value="" { "all" }
                @for n in &names { option value=(n) selected[*n == current] { (n) } }
            } }
            label.field { span { "Value contains" } input type="search" name="q" value=(p.q.clone().unwrap_or_default()); }
            input type="hidden" name="sort" value=(p.sort.clone().unwrap_or_default());
            input type="hidden" name="dir" value=(p.dir.clone().unwrap_or_default());
            button type="submit" { "Apply" }
        }
        (table(&ctx, &base, &p, &q, &range, &rows, true))
    };
    Ok(ctx.render("properties", "Properties", content))
}
