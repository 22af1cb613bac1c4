//! The page shell (header, org switcher, navigation), the per-request context, the error page,
//! and the security headers every dashboard answer carries.

use std::sync::Arc;
use std::time::Instant;

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use maud::{html, Markup, PreEscaped, DOCTYPE};
use switchyard_store::Org;

use super::auth::Viewer;
use crate::admin::{Admin, AdminError};
use crate::state::AppState;

/// Bumped with the assets, so browsers never mix an old script with a new page.
pub const ASSET_VERSION: &str = "1";

/// What a page failed with; rendered as a page with the matching status.
#[derive(Debug, thiserror::Error)]
pub enum PageError {
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    Bad(String),
    #[error("{0}")]
    Internal(String),
}

impl From<AdminError> for PageError {
    fn from(e: AdminError) -> PageError {
        match e {
            AdminError::Invalid { message, .. } => PageError::Bad(message),
            AdminError::NotFound { message, .. } => PageError::NotFound(message),
            AdminError::Forbidden(m) => PageError::Forbidden(m.to_owned()),
            AdminError::Internal(m) => PageError::Internal(m),
        }
    }
}

impl From<switchyard_store::StoreError> for PageError {
    fn from(e: switchyard_store::StoreError) -> PageError {
        PageError::Internal(e.to_string())
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let status = match &self {
            PageError::NotFound(_) => StatusCode::NOT_FOUND,
            PageError::Forbidden(_) => StatusCode::FORBIDDEN,
            PageError::Bad(_) => StatusCode::BAD_REQUEST,
            PageError::Internal(m) => {
                tracing::error!(error = %m, "dashboard page failed");
                StatusCode::INTERNAL_SERVER_ERROR
            }
        };
        error_page(status, &self.to_string())
    }
}

pub type PageResult = Result<Response, PageError>;

/// A page without navigation (sign-in, errors).
pub fn bare(title: &str, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            (head(title))
            body { (body) }
        }
    }
}

fn head(title: &str) -> Markup {
    html! {
        head {
            meta charset="utf-8";
            meta name="viewport" content="width=device-width, initial-scale=1";
            meta name="color-scheme" content="light dark";
            // htmx must not inject its own <style> element.
            meta name="htmx-config" content=r#"{"includeIndicatorStyles":false,"allowEval":false,"historyCacheSize":0}"#;
            title { (title) }
            link rel="icon" href="/dashboard/assets/favicon.svg" type="image/svg+xml";
            link rel="stylesheet" href={ "/dashboard/assets/uPlot.min.css?v=" (ASSET_VERSION) };
            link rel="stylesheet" href={ "/dashboard/assets/dashboard.css?v=" (ASSET_VERSION) };
            script src={ "/dashboard/assets/htmx.min.js?v=" (ASSET_VERSION) } defer {}
            script src={ "/dashboard/assets/uPlot.iife.min.js?v=" (ASSET_VERSION) } defer {}
            script src={ "/dashboard/assets/dashboard.js?v=" (ASSET_VERSION) } defer {}
        }
    }
}

pub fn error_page(status: StatusCode, message: &str) -> Response {
    let body = html! {
        main.signin {
            div.card.signin-card {
                h1 { (status.as_u16()) " · " (status.canonical_reason().unwrap_or("Error")) }
                p { (message) }
                p { a href="/dashboard" { "Back to the dashboard" } }
            }
        }
    };
    (status, bare("Switchyard", body)).into_response()
}

/// Headers of every dashboard answer: a strict CSP (scripts only from the gateway), no
/// framing, no caching of pages with org data.
pub async fn page_headers(mut res: Response) -> Response {
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
             img-src 'self' data:; connect-src 'self'; font-src 'self'; object-src 'none'; \
             frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
        ),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    h.entry(header::CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
    res
}

/// The navigation entries of an org, in order.
pub const NAV: &[(&str, &str)] = &[
    ("overview", "Overview"),
    ("requests", "Requests"),
    ("users", "Users"),
    ("properties", "Properties"),
    ("providers", "Providers"),
    ("models", "Models"),
    ("keys", "Keys"),
    ("credits", "Credits"),
];

/// Who is looking at which org: what every org page needs to render its shell.
pub struct Ctx {
    pub state: Arc<AppState>,
    pub viewer: Viewer,
    pub org: Org,
    /// Every org, for the operator's switcher (empty for members).
    pub orgs: Vec<Org>,
    pub started: Instant,
}

impl Ctx {
    /// Resolves `org_ref` (id or name) for this viewer. A member asking for any org but its
    /// own gets "not found", exactly like an org that does not exist.
    pub async fn load(
        state: Arc<AppState>,
        viewer: Viewer,
        org_ref: &str,
    ) -> Result<Ctx, PageError> {
        let started = Instant::now();
        let admin = Admin::new(state.store.as_ref(), &state.registry);
        let not_found = || PageError::NotFound(format!("no org `{org_ref}`"));
        let org = match viewer.session.org_id {
            Some(own) => {
                let org = admin.org(org_ref).await.map_err(|_| not_found())?;
                if org.id != own {
                    return Err(not_found());
                }
                org
            }
            None => admin.org(org_ref).await?,
        };
        let orgs = if viewer.is_operator() {
            admin.list_orgs().await?
        } else {
            Vec::new()
        };
        Ok(Ctx {
            state,
            viewer,
            org,
            orgs,
            started,
        })
    }

    pub fn admin(&self) -> Admin<'_> {
        Admin::new(self.state.store.as_ref(), &self.state.registry)
    }

    /// The gateway's address for copy-paste examples.
    pub fn host(&self) -> String {
        self.state.config.listen.to_string()
    }

    /// `/dashboard/o/<org id>/<page>`
    pub fn url(&self, page: &str) -> String {
        format!("/dashboard/o/{}/{page}", self.org.id)
    }

    /// The whole page: shell around `content`, with a `Server-Timing` header.
    pub fn render(&self, active: &str, title: &str, content: Markup) -> Response {
        self.render_status(StatusCode::OK, active, title, content)
    }

    pub fn render_status(
        &self,
        status: StatusCode,
        active: &str,
        title: &str,
        content: Markup,
    ) -> Response {
        let data_done = self.started.elapsed();
        let page = shell(
            &format!("{title} · {} · Switchyard", self.org.name),
            html! {
                (self.header(active))
                main #main { (content) }
            },
            self.viewer.csrf(),
        );
        let total = self.started.elapsed();
        let mut res = (status, page).into_response();
        if let Ok(v) = HeaderValue::from_str(&format!(
            "data;dur={:.1}, total;dur={:.1}",
            data_done.as_secs_f64() * 1e3,
            total.as_secs_f64() * 1e3
        )) {
            res.headers_mut().insert("server-timing", v);
        }
        res
    }

    fn header(&self, active: &str) -> Markup {
        html! {
            header.top {
                div.bar {
                    a.brand href="/dashboard" { img src="/dashboard/assets/favicon.svg" alt="" width="22" height="22"; span { "Switchyard" } }
                    @if self.viewer.is_operator() {
                        label.switcher {
                            span.sr { "Org" }
                            select #org-switch data-nav="1" aria-label="Switch org" {
                                @for o in &self.orgs {
                                    option value={ "/dashboard/o/" (o.id) "/" (active) } selected[o.id == self.org.id] { (o.name) }
                                }
                                option value="/dashboard/orgs" { "All orgs…" }
                            }
                        }
                        span.role { "operator" }
                    } @else {
                        span.orgname { (self.org.name) }
                        span.role { "member" }
                    }
                    form.signout method="post" action="/dashboard/logout" {
                        input type="hidden" name="_csrf" value=(self.viewer.csrf());
                        button.link #signout type="submit" { "Sign out" }
                    }
                }
                nav.tabs aria-label="Pages" {
                    @for (slug, label) in NAV {
                        a href=(self.url(slug)) class=(if *slug == active { "active" } else { "" }) aria-current=[(*slug == active).then_some("page")] { (label) }
                    }
                }
            }
        }
    }
}

/// A full page with the CSRF token where htmx sends it (`x-csrf-token` on every request).
pub fn shell(title: &str, body: Markup, csrf: &str) -> Markup {
    let headers = serde_json::json!({ "x-csrf-token": csrf }).to_string();
    html! {
        (DOCTYPE)
        html lang="en" {
            (head(title))
            body hx-headers=(headers) {
                (body)
                footer.foot {
                    "Switchyard · "
                    a href="/dashboard/assets/LICENSES.txt" { "third-party licences" }
                }
            }
        }
    }
}

/// A `<script type="application/json">` block: data for the page's script, never executed, and
/// safe against `</script>` in the data.
pub fn json_block(id: &str, value: &serde_json::Value) -> Markup {
    let text = value
        .to_string()
        .replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026");
    html! { script type="application/json" id=(id) { (PreEscaped(text)) } }
}
