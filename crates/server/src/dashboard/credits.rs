//! Credits (balance, held, available, the ledger; adding credits is for operators) and the
//! operator's org list (switch, create).

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect};
use axum::Form;
use maud::html;
use serde::Deserialize;

use super::auth::Viewer;
use super::format::{int, usd, when_cell};
use super::layout::{self, Ctx, PageError, PageResult};
use crate::admin::Admin;
use crate::state::AppState;

#[derive(Deserialize, Default)]
pub struct LedgerParams {
    /// The previous page's cursor (`next_before`).
    before: Option<String>,
}

const LEDGER_PAGE: u32 = 50;

async fn render(
    ctx: &Ctx,
    before: Option<&str>,
    notice: Option<(bool, String)>,
    status: StatusCode,
) -> PageResult {
    let org = ctx.org.id.to_string();
    let admin = ctx.admin();
    let balance = admin.balance(&org).await?;
    let page = admin.ledger(&org, Some(LEDGER_PAGE), before).await?;
    let rows = &page.data;
    let content = html! {
        div.pagehead { h1 { "Credits" } }
        @if let Some((error, text)) = &notice {
            p class=(if *error { "notice error" } else { "notice success" }) role="status" { (text) }
        }
        div.grid.stats {
            div.card.stat { div.label { "Balance" } div.value #balance { (usd(balance.balance_nanos)) } }
            div.card.stat { div.label { "Held (requests in flight)" } div.value { (usd(balance.held_nanos)) } div.sub { (usd(balance.leased_nanos)) " leased to gateway instances" } }
            div.card.stat { div.label { "Available" } div.value #available { (usd(balance.available_nanos)) } }
        }
        @if ctx.viewer.is_operator() {
            div.card.section {
                h2 { "Add credits" }
                form.filters method="post" action=(ctx.url("credits")) {
                    input type="hidden" name="_csrf" value=(ctx.viewer.csrf());
                    label.field { span { "Amount (USD)" } input #credit-amount type="text" inputmode="decimal" name="amount_usd" required placeholder="25.00"; }
                    label.field { span { "Note" } input type="text" name="note" maxlength="1000" placeholder="invoice 1042"; }
                    button.primary type="submit" { "Add credits" }
                }
                p.hint { "Exact to the nano-dollar (9 decimal places), at most 1,000,000 USD per grant." }
            }
        } @else {
            p.hint { "Credits pay for pass-through billing (requests without your own provider key). Your operator adds them." }
        }
        h2 { "Ledger" }
        div.table-wrap { table #ledger {
            thead { tr { th { "Time (UTC)" } th { "Kind" } th.r { "Amount" } th.r { "Balance after" } th { "Request" } th { "Note" } } }
            tbody {
                @for r in rows {
                    tr {
                        td { (when_cell(r.entry.created_at)) }
                        td { span.pill { (r.entry.kind.as_str()) } }
                        td.r.num { (usd(r.entry.amount_nanos)) }
                        td.r.num { (usd(r.entry.balance_after_nanos)) }
                        td { @if let Some(id) = r.entry.request_id { a href=(ctx.url(&format!("requests/{id}"))) { code { (id.to_string()[..8]) "…" } } } }
                        td { (r.entry.note.clone().unwrap_or_default()) }
                    }
                }
                @if rows.is_empty() { tr { td.muted colspan="6" { "No ledger rows yet." } } }
            }
        } }
        div.pager {
            @if before.is_some() { a href=(ctx.url("credits")) { "← Newest" } }
            span.muted { (int(rows.len() as i64)) " rows" }
            @if let Some(next) = &page.next_before {
                a #next-page href={ (ctx.url("credits")) "?before=" (next) } { "Older →" }
            }
        }
    };
    Ok(ctx.render_status(status, "credits", "Credits", content))
}

pub async fn page(
    State(state): State<Arc<AppState>>,
    viewer: Viewer,
    Path(org): Path<String>,
    Query(q): Query<LedgerParams>,
) -> PageResult {
    let ctx = Ctx::load(state, viewer, &org).await?;
    render(
        &ctx,
        q.before.as_deref().filter(|b| !b.is_empty()),
        None,
        StatusCode::OK,
    )
    .await
}

pub async fn add(
    State(state): State<Arc<AppState>>,
    viewer: Viewer,
    Path(org): Path<String>,
    Form(form): Form<HashMap<String, String>>,
) -> PageResult {
    let ctx = Ctx::load(state, viewer, &org).await?;
    if !ctx.viewer.is_operator() {
        return Err(PageError::Forbidden(
            "Only an operator (admin token) can add credits.".into(),
        ));
    }
    let amount = form.get("amount_usd").map(String::as_str).unwrap_or("");
    let note = form.get("note").map(String::as_str);
    let (notice, status) = match ctx
        .admin()
        .add_credits(&ctx.org.id.to_string(), amount, note)
        .await
    {
        Ok(b) => (
            (
                false,
                format!(
                    "Added {} USD; balance {} USD.",
                    amount.trim(),
                    b.balance_usd
                ),
            ),
            StatusCode::OK,
        ),
        Err(e) => ((true, e.to_string()), e.status()),
    };
    render(&ctx, None, Some(notice), status).await
}

fn operator_only(viewer: &Viewer) -> Result<(), PageError> {
    if viewer.is_operator() {
        Ok(())
    } else {
        Err(PageError::Forbidden(
            "Only an operator sees every org.".into(),
        ))
    }
}

async fn render_orgs(
    state: &AppState,
    viewer: &Viewer,
    notice: Option<(bool, String)>,
    status: StatusCode,
) -> PageResult {
    let orgs = Admin::new(state.store.as_ref(), &state.registry)
        .list_orgs()
        .await?;
    let body = html! {
        header.top { div.bar {
            a.brand href="/dashboard" { img src="/dashboard/assets/favicon.svg" alt="" width="22" height="22"; span { "Switchyard" } }
            span.role { "operator" }
            form.signout method="post" action="/dashboard/logout" {
                input type="hidden" name="_csrf" value=(viewer.csrf());
                button.link #signout type="submit" { "Sign out" }
            }
        } }
        main #main {
            div.pagehead { h1 { "Orgs" } }
            @if let Some((error, text)) = &notice {
                p class=(if *error { "notice error" } else { "notice success" }) role="status" { (text) }
            }
            div.card.section {
                h2 { "Create an org" }
                form.filters method="post" action="/dashboard/orgs" {
                    input type="hidden" name="_csrf" value=(viewer.csrf());
                    label.field { span { "Name" } input #org-name type="text" name="name" required maxlength="200" placeholder="acme"; }
                    button.primary type="submit" { "Create org" }
                }
            }
            @if orgs.is_empty() {
                div.card.empty { h2 { "No orgs yet" } p { "Create the first org above, then a gateway key for it on its Keys page." } }
            } @else {
                div.table-wrap { table #orgs {
                    thead { tr { th { "Name" } th { "Id" } th { "Created (UTC)" } th { "Bodies stored" } } }
                    tbody { @for o in &orgs {
                        tr { td { a href={ "/dashboard/o/" (o.id) "/overview" } { (o.name) } } td { code { (o.id) } } td { (when_cell(o.created_at)) } td { (if o.store_bodies { "yes" } else { "no" }) } }
                    } }
                } }
            }
        }
    };
    Ok((
        status,
        layout::shell("Orgs · Switchyard", body, viewer.csrf()),
    )
        .into_response())
}

pub async fn orgs(State(state): State<Arc<AppState>>, viewer: Viewer) -> PageResult {
    if let Some(org) = viewer.session.org_id {
        return Ok(Redirect::to(&format!("/dashboard/o/{org}/overview")).into_response());
    }
    render_orgs(&state, &viewer, None, StatusCode::OK).await
}

pub async fn create_org(
    State(state): State<Arc<AppState>>,
    viewer: Viewer,
    Form(form): Form<HashMap<String, String>>,
) -> PageResult {
    operator_only(&viewer)?;
    let name = form.get("name").map(String::as_str).unwrap_or("");
    match Admin::new(state.store.as_ref(), &state.registry)
        .create_org(name)
        .await
    {
        Ok(org) => Ok(Redirect::to(&format!("/dashboard/o/{}/keys", org.id)).into_response()),
        Err(e) => render_orgs(&state, &viewer, Some((true, e.to_string())), e.status()).await,
    }
}
