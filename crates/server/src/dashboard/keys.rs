//! Keys: the org's gateway keys (name, prefix, created, last used, revoked); create one (its
//! plaintext is shown once, on the answer to the create form, and never again) and revoke.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Form;
use maud::{html, Markup};

use super::auth::Viewer;
use super::format::when_cell;
use super::layout::{Ctx, PageResult};
use crate::admin::CreatedKey;
use crate::state::AppState;

async fn render(
    ctx: &Ctx,
    created: Option<&CreatedKey>,
    notice: Option<(bool, String)>,
    status: StatusCode,
) -> PageResult {
    let org = ctx.org.id.to_string();
    let keys = ctx.admin().list_keys(&org).await?;
    let ids: Vec<_> = keys.iter().map(|k| k.id).collect();
    let last_used: HashMap<_, _> = ctx
        .state
        .store
        .keys_last_used(ctx.org.id, &ids)
        .await?
        .into_iter()
        .collect();
    let content = html! {
        div.pagehead { h1 { "Gateway keys" } }
        @if let Some(k) = created {
            div.card.once.section #created-key {
                h2 { "New key “" (k.name) "”" }
                p { strong { "Copy it now: it is shown only this once." } " The gateway keeps only its SHA-256." }
                code #new-key { (k.key) }
                button type="button" data-copy="new-key" { "Copy" }
            }
        }
        @if let Some((error, text)) = &notice {
            p class=(if *error { "notice error" } else { "notice success" }) role="status" { (text) }
        }
        div.card.section {
            h2 { "Create a key" }
            form.filters method="post" action=(ctx.url("keys")) {
                input type="hidden" name="_csrf" value=(ctx.viewer.csrf());
                label.field { span { "Name" } input #key-name type="text" name="name" required maxlength="200" placeholder="backend"; }
                button.primary #create-key type="submit" { "Create key" }
            }
        }
        div.table-wrap { table #keys-table {
            thead { tr { th { "Name" } th { "Prefix" } th { "Created (UTC)" } th { "Last used (UTC)" } th { "State" } th {} } }
            tbody {
                @for k in &keys {
                    tr data-key-id=(k.id) {
                        td { (k.name) }
                        td { code { (k.prefix) "…" } }
                        td { (when_cell(k.created_at)) }
                        td { @match last_used.get(&k.id) { Some(t) => { (when_cell(*t)) }, None => { span.muted { "never" } } } }
                        td { @if k.revoked_at.is_some() { span.pill.err { "revoked" } } @else { span.pill.ok { "active" } } }
                        td {
                            @if k.revoked_at.is_none() {
                                form.inline method="post" action=(ctx.url(&format!("keys/{}/revoke", k.id))) {
                                    input type="hidden" name="_csrf" value=(ctx.viewer.csrf());
                                    button.danger type="submit" { "Revoke" }
                                }
                            }
                        }
                    }
                }
                @if keys.is_empty() { tr { td.muted colspan="6" { "No keys yet: create one above." } } }
            }
        } }
        (usage_hint(ctx))
    };
    Ok(ctx.render_status(status, "keys", "Keys", content))
}

fn usage_hint(ctx: &Ctx) -> Markup {
    html! {
        p.hint { "Use a key like an OpenAI key: " code { "OpenAI(base_url=\"http://" (ctx.host()) "/v1\", api_key=\"sy-…\")" } ". Org members can also sign in to this dashboard with it." }
    }
}

pub async fn page(
    State(state): State<Arc<AppState>>,
    viewer: Viewer,
    Path(org): Path<String>,
) -> PageResult {
    let ctx = Ctx::load(state, viewer, &org).await?;
    render(&ctx, None, None, StatusCode::OK).await
}

pub async fn create(
    State(state): State<Arc<AppState>>,
    viewer: Viewer,
    Path(org): Path<String>,
    Form(form): Form<HashMap<String, String>>,
) -> PageResult {
    let ctx = Ctx::load(state, viewer, &org).await?;
    let name = form.get("name").map(String::as_str).unwrap_or("");
    match ctx.admin().create_key(&ctx.org.id.to_string(), name).await {
        Ok(k) => render(&ctx, Some(&k), None, StatusCode::OK).await,
        Err(e) => render(&ctx, None, Some((true, e.to_string())), e.status()).await,
    }
}

pub async fn revoke(
    State(state): State<Arc<AppState>>,
    viewer: Viewer,
    Path((org, key)): Path<(String, String)>,
) -> PageResult {
    let ctx = Ctx::load(state, viewer, &org).await?;
    match ctx
        .admin()
        .revoke_org_key(&ctx.org.id.to_string(), &key)
        .await
    {
        Ok(r) => {
            ctx.state
                .invalidate(crate::governance::Invalidation::GatewayKeyRevoked { key_id: r.id })
                .await;
            let text = format!("Key {} revoked: the gateway refuses it from now on.", r.id);
            render(&ctx, None, Some((false, text)), StatusCode::OK).await
        }
        Err(e) => render(&ctx, None, Some((true, e.to_string())), e.status()).await,
    }
}
