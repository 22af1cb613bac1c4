//! The web dashboard, served by the gateway itself at `/dashboard` (`/` redirects there).
//!
//! Server-rendered HTML (maud templates, checked at compile time), htmx for partial updates
//! and uPlot for charts; every script, style and logo is embedded in the binary and served
//! from here ([`assets`]), and the Content-Security-Policy allows nothing else.
//!
//! Every route needs a session ([`auth`]) except the sign-in page and the static assets.
//! Mutating requests pass [`auth::csrf_guard`] first: it checks the session's CSRF token for
//! every non-GET request of this router before any handler runs, so a new form cannot forget
//! it. Org pages live under `/dashboard/o/{org}/...`; [`layout::Ctx::load`] resolves the org
//! and refuses (as "not found") an org a member does not belong to.
//!
//! Reads come from the store's [`switchyard_store::AnalyticsStore`] queries and the registry;
//! writes go through [`crate::admin::Admin`], the same service as the admin API and the CLI.

pub mod assets;
pub mod auth;
mod credits;
pub mod format;
mod groups;
mod keys;
pub mod layout;
mod models;
pub mod overview;
mod providers;
mod request_detail;
pub mod requests;
pub mod seed;

use std::sync::Arc;

use axum::middleware;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use serde::Deserialize;

use crate::state::AppState;

/// A preset range (`1h`, `24h`, `7d`, `30d`) ending now, for tests and benches.
///
/// # Panics
/// On any other key.
pub fn format_range(key: &str) -> format::Range {
    format::Range::parse(Some(key), None, None, "24h").expect("a preset range")
}

/// `[dashboard]` settings.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DashboardConfig {
    /// Mark the session cookie `Secure` (set it when the gateway is reached over TLS, e.g.
    /// behind a TLS-terminating proxy). `SWITCHYARD_DASHBOARD_SECURE_COOKIES=true`.
    pub secure_cookies: bool,
    /// How long a sign-in lasts, seconds.
    pub session_ttl_secs: u64,
}

impl Default for DashboardConfig {
    fn default() -> Self {
        DashboardConfig {
            secure_cookies: false,
            session_ttl_secs: 12 * 3600,
        }
    }
}

/// The dashboard's in-process state: the sign-in rate limiter.
#[derive(Default)]
pub struct DashboardState {
    pub(crate) limiter: auth::SignInLimiter,
}

pub fn router(state: Arc<AppState>) -> Router<Arc<AppState>> {
    let pages = Router::new()
        .route("/dashboard", get(home))
        .route("/dashboard/", get(home))
        .route("/dashboard/login", get(auth::login_page).post(auth::login))
        .route("/dashboard/logout", post(auth::logout))
        .route(
            "/dashboard/orgs",
            get(credits::orgs).post(credits::create_org),
        )
        .route("/dashboard/o/{org}", get(org_home))
        .route("/dashboard/o/{org}/overview", get(overview::page))
        .route("/dashboard/o/{org}/requests", get(requests::list))
        .route(
            "/dashboard/o/{org}/requests/{id}",
            get(request_detail::detail),
        )
        .route("/dashboard/o/{org}/users", get(groups::users))
        .route("/dashboard/o/{org}/properties", get(groups::properties))
        .route("/dashboard/o/{org}/providers", get(providers::page))
        .route(
            "/dashboard/o/{org}/providers/{provider}",
            post(providers::set),
        )
        .route(
            "/dashboard/o/{org}/providers/{provider}/remove",
            post(providers::remove),
        )
        .route("/dashboard/o/{org}/models", get(models::page))
        .route(
            "/dashboard/o/{org}/keys",
            get(keys::page).post(keys::create),
        )
        .route("/dashboard/o/{org}/keys/{key}/revoke", post(keys::revoke))
        .route(
            "/dashboard/o/{org}/credits",
            get(credits::page).post(credits::add),
        )
        .layer(middleware::from_fn_with_state(state, auth::csrf_guard))
        .layer(middleware::map_response(layout::page_headers));
    Router::new()
        .route("/", get(|| async { Redirect::to("/dashboard") }))
        .route("/dashboard/assets/{file}", get(assets::asset))
        .route("/logos/{file}", get(assets::logo))
        .route("/favicon.ico", get(assets::favicon))
        .merge(pages)
}

/// Signed in: the member's org, or for an operator the org list. Otherwise the sign-in page.
async fn home(
    axum::extract::State(state): axum::extract::State<Arc<AppState>>,
    headers: axum::http::HeaderMap,
) -> Response {
    match auth::current(&state, &headers).await {
        None => Redirect::to("/dashboard/login").into_response(),
        Some(v) => match v.session.org_id {
            Some(org) => Redirect::to(&format!("/dashboard/o/{org}/overview")).into_response(),
            None => Redirect::to("/dashboard/orgs").into_response(),
        },
    }
}

async fn org_home(axum::extract::Path(org): axum::extract::Path<String>) -> Response {
    Redirect::to(&format!("/dashboard/o/{org}/overview")).into_response()
}
