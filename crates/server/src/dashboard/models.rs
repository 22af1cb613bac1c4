//! Models: the registry browser. Search by name, author, provider, input modality and context
//! length; per model its endpoints with prices per 1M tokens (input, output, cache read and
//! write, tiers), context, max output and pass-through availability.

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use maud::{html, Markup};
use rust_decimal::Decimal;
use serde::Deserialize;
use switchyard_registry::{Modality, Model, ModelProviderConfig};

use super::auth::Viewer;
use super::format::{self, clean, int};
use super::layout::{Ctx, PageError, PageResult};
use crate::state::AppState;

const PAGE_SIZE: usize = 40;

#[derive(Deserialize, Default)]
pub struct ModelParams {
    q: Option<String>,
    author: Option<String>,
    provider: Option<String>,
    modality: Option<String>,
    min_context: Option<String>,
    ptb: Option<String>,
    sort: Option<String>,
    page: Option<usize>,
}

fn modality_str(m: Modality) -> &'static str {
    match m {
        Modality::Text => "text",
        Modality::Image => "image",
        Modality::Audio => "audio",
        Modality::Video => "video",
        Modality::File => "file",
    }
}

fn per_m(d: Decimal) -> String {
    format!(
        "${}",
        (d * Decimal::from(1_000_000)).round_dp(4).normalize()
    )
}

fn endpoints_table(configs: &[&ModelProviderConfig], ctx: &Ctx) -> Markup {
    html! {
        div.table-wrap { table.endpoints {
            thead { tr {
                th { "Provider" } th.r { "Input /1M" } th.r { "Output /1M" } th.r { "Cache read /1M" } th.r { "Cache write /1M" }
                th { "Tiers" } th.r { "Context" } th.r { "Max output" } th { "PTB" } th.hide-sm { "Deployments" }
            } }
            tbody {
                @for c in configs {
                    @let base = c.pricing.base();
                    tr {
                        td { (ctx.state.registry.provider(&c.provider).map(|p| p.name.as_str()).unwrap_or(c.provider.as_str())) br; code.muted { (c.provider_model_id) } }
                        td.r.num { (per_m(base.input)) }
                        td.r.num { (per_m(base.output)) }
                        td.r.num { (base.cache.read.map(|m| per_m(base.input * m)).unwrap_or_else(|| "–".into())) }
                        td.r.num { (base.cache.write_5m.map(|m| per_m(base.input * m)).unwrap_or_else(|| "–".into())) }
                        td {
                            @if c.pricing.tiers().len() <= 1 { span.muted { "one" } }
                            @else {
                                @for t in c.pricing.tiers().iter().skip(1) {
                                    div.num { "≥ " (int(t.threshold as i64)) ": " (per_m(t.input)) " / " (per_m(t.output)) }
                                }
                            }
                        }
                        td.r.num { (int(c.context_length as i64)) }
                        td.r.num { (int(c.max_completion_tokens as i64)) }
                        td { @if c.ptb { span.pill.ok { "yes" } } @else { span.muted { "BYOK only" } } }
                        td.hide-sm.muted { (c.deployments.join(", ")) }
                    }
                }
            }
        } }
    }
}

fn matches(ctx: &Ctx, m: &Model, p: &ModelParams, min_context: Option<u64>) -> bool {
    let r = &ctx.state.registry;
    if let Some(q) = clean(&p.q).map(|q| q.to_lowercase()) {
        let hay = format!("{} {} {}", m.id, m.name, m.former_ids.join(" ")).to_lowercase();
        if !hay.contains(&q) {
            return false;
        }
    }
    if clean(&p.author).is_some_and(|a| a != m.author) {
        return false;
    }
    if let Some(prov) = clean(&p.provider) {
        if !r.providers_for_model(&m.id).any(|x| x.id == prov) {
            return false;
        }
    }
    if let Some(md) = clean(&p.modality) {
        if !m.input_modalities.iter().any(|x| modality_str(*x) == md) {
            return false;
        }
    }
    if min_context.is_some_and(|c| m.context_length < c) {
        return false;
    }
    if p.ptb.as_deref() == Some("1") && r.ptb_endpoints_for_model(&m.id).next().is_none() {
        return false;
    }
    true
}

pub async fn page(
    State(state): State<Arc<AppState>>,
    viewer: Viewer,
    Path(org): Path<String>,
    Query(p): Query<ModelParams>,
) -> PageResult {
    let ctx = Ctx::load(state, viewer, &org).await?;
    let r = &ctx.state.registry;
    let min_context = clean(&p.min_context)
        .map(|s| {
            s.parse::<u64>().map_err(|_| {
                PageError::Bad("`min_context` must be a whole number of tokens".into())
            })
        })
        .transpose()?;
    let mut models: Vec<&Model> = r
        .models()
        .filter(|m| matches(&ctx, m, &p, min_context))
        .collect();
    let input_price = |m: &Model| {
        r.configs()
            .filter(|c| c.model == m.id)
            .map(|c| c.pricing.base().input)
            .min()
            .unwrap_or(Decimal::MAX)
    };
    match clean(&p.sort).as_deref() {
        Some("context") => models.sort_by(|a, b| {
            b.context_length
                .cmp(&a.context_length)
                .then(a.id.cmp(&b.id))
        }),
        Some("price") => {
            models.sort_by(|a, b| input_price(a).cmp(&input_price(b)).then(a.id.cmp(&b.id)))
        }
        Some("newest") => models.sort_by(|a, b| b.created.cmp(&a.created).then(a.id.cmp(&b.id))),
        _ => models.sort_by_key(|m| m.name.to_lowercase()),
    }
    let total = models.len();
    let page = p.page.unwrap_or(1).max(1);
    let shown: Vec<&Model> = models
        .iter()
        .skip((page - 1) * PAGE_SIZE)
        .take(PAGE_SIZE)
        .copied()
        .collect();
    let base = ctx.url("models");
    let pairs = vec![
        ("q", clean(&p.q).unwrap_or_default()),
        ("author", clean(&p.author).unwrap_or_default()),
        ("provider", clean(&p.provider).unwrap_or_default()),
        ("modality", clean(&p.modality).unwrap_or_default()),
        ("min_context", clean(&p.min_context).unwrap_or_default()),
        ("ptb", clean(&p.ptb).unwrap_or_default()),
        ("sort", clean(&p.sort).unwrap_or_default()),
    ];
    let page_link = |n: usize| {
        let mut v = pairs.clone();
        v.push(("page", n.to_string()));
        format::url_with(&base, &v)
    };
    let mut authors: Vec<_> = r
        .authors()
        .map(|a| (a.id.as_str(), a.name.as_str()))
        .collect();
    authors.sort_by_key(|a| a.1.to_lowercase());
    let mut providers: Vec<_> = r
        .providers()
        .map(|p| (p.id.as_str(), p.name.as_str()))
        .collect();
    providers.sort_by_key(|p| p.1.to_lowercase());
    let sel = |v: &Option<String>, x: &str| v.as_deref() == Some(x);
    let content = html! {
        div.pagehead { h1 { "Models" } }
        form.filters method="get" action=(base) hx-get=(base) hx-target="#results" hx-select="#results" hx-swap="outerHTML" hx-push-url="true" hx-trigger="change, keyup changed delay:250ms from:#model-search, submit" {
            label.field { span { "Search" } input #model-search type="search" name="q" value=(p.q.clone().unwrap_or_default()) placeholder="claude, gpt-4o, llama…"; }
            label.field { span { "Author" } select name="author" { option value="" { "any" } @for (id, name) in &authors { option value=(id) selected[sel(&p.author, id)] { (name) } } } }
            label.field { span { "Provider" } select name="provider" { option value="" { "any" } @for (id, name) in &providers { option value=(id) selected[sel(&p.provider, id)] { (name) } } } }
            label.field { span { "Input" } select name="modality" { option value="" { "any" } @for m in ["text", "image", "audio", "video", "file"] { option value=(m) selected[sel(&p.modality, m)] { (m) } } } }
            label.field { span { "Min context" } input type="number" min="0" step="1000" name="min_context" value=(p.min_context.clone().unwrap_or_default()) placeholder="128000"; }
            label.field { span { "Pass-through" } select name="ptb" { option value="" { "any" } option value="1" selected[sel(&p.ptb, "1")] { "PTB available" } } }
            label.field { span { "Sort" } select name="sort" {
                option value="" { "name" }
                option value="context" selected[sel(&p.sort, "context")] { "context length" }
                option value="price" selected[sel(&p.sort, "price")] { "input price" }
                option value="newest" selected[sel(&p.sort, "newest")] { "newest" }
            } }
            button type="submit" { "Search" }
        }
        div #results {
            p.muted #model-count { (total) " of " (r.models().len()) " models" }
            @if shown.is_empty() {
                div.card.empty { h2 { "No models match" } p { a href=(base) { "Clear the search" } } }
            }
            @for m in &shown {
                @let configs: Vec<&ModelProviderConfig> = r.configs().filter(|c| c.model == m.id).collect();
                div.card.section.model data-model=(m.id) {
                    div.pagehead {
                        div {
                            h2 { (m.name) }
                            code { (m.id) }
                            " · " (r.author(&m.author).map(|a| a.name.as_str()).unwrap_or(m.author.as_str()))
                            " · created " (m.created)
                        }
                        div.spacer {}
                        div.muted.num {
                            "context " (int(m.context_length as i64)) " · max output " (int(m.max_output_tokens as i64))
                            " · in: " (m.input_modalities.iter().map(|x| modality_str(*x)).collect::<Vec<_>>().join(", "))
                            " · out: " (m.output_modalities.iter().map(|x| modality_str(*x)).collect::<Vec<_>>().join(", "))
                        }
                    }
                    @if configs.is_empty() { p.muted { "No endpoint serves this model." } }
                    @else { (endpoints_table(&configs, &ctx)) }
                }
            }
            div.pager {
                @if page > 1 { a href=(page_link(page - 1)) { "← Previous" } }
                span.muted { "Page " (page) " of " (total.div_ceil(PAGE_SIZE).max(1)) }
                @if page * PAGE_SIZE < total { a #next-page href=(page_link(page + 1)) { "Next →" } }
            }
        }
    };
    Ok(ctx.render("models", "Models", content))
}
