//! Providers: one card per registry provider, by relevance, with its logo, description, docs
//! link and the org's BYOK key state; forms to add, replace and remove a key, built from the
//! registry's metadata (auth style, `api_key_label`, `api_key_placeholder`, `required_config`).
//! Secrets are never rendered back: a key shows as "set" with its last 4 characters.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::Form;
use maud::{html, Markup};
use serde::Deserialize;
use serde_json::Value;
use switchyard_registry::{AuthStyle, ConfigField, Provider};

use super::assets::has_vendored_logo;
use super::auth::Viewer;
use super::format::{clean, when};
use super::layout::{Ctx, PageResult};
use crate::admin::{ProviderKeyInput, ProviderKeyView};
use crate::state::AppState;

#[derive(Deserialize, Default)]
pub struct ProviderParams {
    q: Option<String>,
}

/// A message shown on one provider's card after a form was sent.
struct Notice {
    provider: String,
    error: bool,
    text: String,
}

fn config_label(f: ConfigField) -> (&'static str, &'static str) {
    match f {
        ConfigField::Region => ("Region", "us-east-1"),
        ConfigField::ProjectId => ("Project id", "my-project"),
        ConfigField::ResourceName => ("Resource name", "my-resource"),
        ConfigField::DeploymentName => ("Deployment name", "gpt-4o"),
        ConfigField::ApiVersion => ("API version", "2024-10-21"),
        ConfigField::BaseUri => ("Base URI", "https://..."),
    }
}

fn key_form(ctx: &Ctx, p: &Provider, replace: bool) -> Markup {
    let action = ctx.url(&format!("providers/{}", p.id));
    html! {
        details data-form=(p.id) {
            summary { (if replace { "Replace or add a key" } else { "Add a key" }) }
            form.stack method="post" action=(action) {
                input type="hidden" name="_csrf" value=(ctx.viewer.csrf());
                @match p.auth {
                    AuthStyle::AwsSigv4 => {
                        label { "AWS access key id" input type="text" name="aws_access_key_id" required autocomplete="off" placeholder="AKIA..."; }
                        label { "AWS secret access key" input type="password" name="aws_secret_access_key" required autocomplete="off"; }
                        label { "AWS session token (optional)" input type="password" name="aws_session_token" autocomplete="off"; }
                    }
                    AuthStyle::GoogleServiceAccount => {
                        label { (p.ui.api_key_label) textarea name="service_account_json" required placeholder=(p.ui.api_key_placeholder) {} }
                    }
                    AuthStyle::Bearer | AuthStyle::XApiKey | AuthStyle::ApiKey => {
                        label { (p.ui.api_key_label) input type="password" name="api_key" required autocomplete="off" placeholder=(p.ui.api_key_placeholder); }
                    }
                }
                @for f in &p.required_config {
                    @let (label, placeholder) = config_label(*f);
                    label { (label) input type="text" name=(f.as_str()) required placeholder=(placeholder); }
                }
                label { "Key name (optional, to hold several: " code { "model/" (p.id) "/<name>" } ")" input type="text" name="key_name" pattern="[A-Za-z0-9._-]{1,64}" placeholder="default"; }
                button.primary type="submit" { "Save key" }
            }
        }
    }
}

fn card(ctx: &Ctx, p: &Provider, keys: &[&ProviderKeyView], notice: Option<&Notice>) -> Markup {
    let search_text = format!("{} {} {}", p.id, p.name, p.ui.description).to_lowercase();
    let vendored = has_vendored_logo(&p.ui.logo);
    html! {
        div.card.provider #{ "provider-" (p.id) } data-card-text=(search_text) data-provider=(p.id) {
            div.head {
                span class=(if vendored { "logo" } else { "logo mono" }) { img src=(p.ui.logo) alt="" width="24" height="24"; }
                div {
                    h3 { (p.name) }
                    a href=(p.ui.docs_url) target="_blank" rel="noopener noreferrer" { "Docs" }
                }
            }
            p { (p.ui.description) }
            @if let Some(n) = notice {
                p class=(if n.error { "notice error" } else { "notice success" }) role="status" { (n.text) }
            }
            div.keystate {
                @if keys.is_empty() {
                    span.muted.key-missing { "No key: requests use pass-through billing (credits) where the gateway has one." }
                } @else {
                    @for k in keys {
                        div.key-set {
                            span.pill.ok { "set" }
                            " "
                            @if let Some(h) = &k.secret_last4 { code { "…" (h) } " " }
                            @if let Some(n) = &k.info.key_name { "(" (n) ") " }
                            span.muted { "updated " (when(k.info.updated_at)) " UTC" }
                            @if k.info.config.region.is_some() { span.muted { " · " (k.info.config.region.clone().unwrap_or_default()) } }
                            form.inline method="post" action=(ctx.url(&format!("providers/{}/remove", p.id))) {
                                input type="hidden" name="_csrf" value=(ctx.viewer.csrf());
                                input type="hidden" name="key_name" value=(k.info.key_name.clone().unwrap_or_default());
                                button.link.danger type="submit" { "Remove" }
                            }
                        }
                    }
                }
            }
            (key_form(ctx, p, !keys.is_empty()))
        }
    }
}

async fn render(
    ctx: &Ctx,
    q: Option<String>,
    notice: Option<Notice>,
    status: StatusCode,
) -> PageResult {
    let keys = ctx
        .admin()
        .list_provider_keys(&ctx.org.id.to_string())
        .await?;
    let mut providers: Vec<&Provider> = ctx.state.registry.providers().collect();
    providers.sort_by(|a, b| {
        b.ui.relevance
            .cmp(&a.ui.relevance)
            .then(a.name.cmp(&b.name))
    });
    let by_provider: HashMap<&str, Vec<&ProviderKeyView>> =
        keys.iter().fold(HashMap::new(), |mut m, k| {
            m.entry(k.info.provider.as_str()).or_default().push(k);
            m
        });
    let content = html! {
        div.pagehead {
            h1 { "Providers" }
            div.spacer {}
            label.field { span { "Search" } input #provider-search type="search" data-filter-cards="1" value=(q.unwrap_or_default()) placeholder="name or description"; }
        }
        p.hint { "Your own provider keys (BYOK) are encrypted at rest and used before pass-through billing. Keys never come back: a set key shows its last 4 characters." }
        div.grid.cards {
            @for p in &providers {
                (card(ctx, p, by_provider.get(p.id.as_str()).map(Vec::as_slice).unwrap_or(&[]), notice.as_ref().filter(|n| n.provider == p.id)))
            }
        }
    };
    Ok(ctx.render_status(status, "providers", "Providers", content))
}

pub async fn page(
    State(state): State<Arc<AppState>>,
    viewer: Viewer,
    Path(org): Path<String>,
    Query(p): Query<ProviderParams>,
) -> PageResult {
    let ctx = Ctx::load(state, viewer, &org).await?;
    render(&ctx, clean(&p.q), None, StatusCode::OK).await
}

fn field(form: &HashMap<String, String>, name: &str) -> Option<String> {
    form.get(name)
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
}

pub async fn set(
    State(state): State<Arc<AppState>>,
    viewer: Viewer,
    Path((org, provider)): Path<(String, String)>,
    Form(form): Form<HashMap<String, String>>,
) -> PageResult {
    let ctx = Ctx::load(state, viewer, &org).await?;
    let input = ProviderKeyInput {
        key_name: field(&form, "key_name"),
        api_key: field(&form, "api_key"),
        aws_access_key_id: field(&form, "aws_access_key_id"),
        aws_secret_access_key: field(&form, "aws_secret_access_key"),
        aws_session_token: field(&form, "aws_session_token"),
        service_account_json: field(&form, "service_account_json").map(Value::String),
        region: field(&form, "region"),
        project_id: field(&form, "project_id"),
        resource_name: field(&form, "resource_name"),
        deployment_name: field(&form, "deployment_name"),
        api_version: field(&form, "api_version"),
        base_uri: field(&form, "base_uri"),
    };
    let result = ctx
        .admin()
        .set_provider_key(&ctx.org.id.to_string(), &provider, input)
        .await;
    let (notice, status) = match result {
        Ok(view) => {
            ctx.state
                .invalidate(crate::governance::Invalidation::ProviderKeysChanged {
                    org_id: ctx.org.id,
                })
                .await;
            (
                Notice {
                    provider: view.info.provider.clone(),
                    error: false,
                    text: "Key saved (encrypted). The next request uses it.".into(),
                },
                StatusCode::OK,
            )
        }
        Err(e) => (
            Notice {
                provider: provider.clone(),
                error: true,
                text: e.to_string(),
            },
            e.status(),
        ),
    };
    render(&ctx, None, Some(notice), status).await
}

pub async fn remove(
    State(state): State<Arc<AppState>>,
    viewer: Viewer,
    Path((org, provider)): Path<(String, String)>,
    Form(form): Form<HashMap<String, String>>,
) -> PageResult {
    let ctx = Ctx::load(state, viewer, &org).await?;
    let result = ctx
        .admin()
        .remove_provider_key(
            &ctx.org.id.to_string(),
            &provider,
            field(&form, "key_name").as_deref(),
        )
        .await;
    let (notice, status) = match result {
        Ok(_) => {
            ctx.state
                .invalidate(crate::governance::Invalidation::ProviderKeysChanged {
                    org_id: ctx.org.id,
                })
                .await;
            (
                Notice {
                    provider: provider.clone(),
                    error: false,
                    text: "Key removed.".into(),
                },
                StatusCode::OK,
            )
        }
        Err(e) => (
            Notice {
                provider: provider.clone(),
                error: true,
                text: e.to_string(),
            },
            e.status(),
        ),
    };
    render(&ctx, None, Some(notice), status).await
}
