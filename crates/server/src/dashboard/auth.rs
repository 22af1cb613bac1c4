//! Sign-in, sessions and CSRF.
//!
//! - An operator signs in with the admin token (off when none is configured), an org member
//!   with one of the org's gateway keys (`sy-...`).
//! - The session id is 32 random bytes in an `HttpOnly`, `SameSite=Strict` cookie (`Secure`
//!   when configured); the store keeps only its SHA-256 and an expiry. A member session ends
//!   when its key is revoked.
//! - Each session has a CSRF token; [`csrf_guard`] checks it (form field `_csrf` or header
//!   `x-csrf-token`) on every non-GET request before the handler. The sign-in form, which has
//!   no session yet, uses a double-submit cookie instead.
//! - Failed sign-ins are limited per client address (and overall when the address is unknown).

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{ConnectInfo, FromRequestParts, Query, Request, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use base64::Engine;
use maud::html;
use rand::RngCore;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use switchyard_store::sessions::{NewSession, Session};
use time::OffsetDateTime;

use super::layout;
use crate::admin::tokens_match;
use crate::state::AppState;

pub const SESSION_COOKIE: &str = "sy_session";
const LOGIN_COOKIE: &str = "sy_login";
/// Failed sign-ins allowed per client address in [`LIMIT_WINDOW`].
pub const MAX_FAILURES: u32 = 10;
const LIMIT_WINDOW: Duration = Duration::from_secs(600);
const MAX_FORM_BYTES: usize = 1 << 20;

/// A signed-in browser.
#[derive(Clone, Debug)]
pub struct Viewer {
    pub session: Session,
}

impl Viewer {
    pub fn is_operator(&self) -> bool {
        self.session.org_id.is_none()
    }

    pub fn csrf(&self) -> &str {
        &self.session.csrf_token
    }
}

fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn hash_id(id: &str) -> [u8; 32] {
    Sha256::digest(id.as_bytes()).into()
}

pub(crate) fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
        .filter(|v| !v.is_empty())
}

/// The session the request's cookie names, if it is live.
pub async fn current(state: &AppState, headers: &HeaderMap) -> Option<Viewer> {
    let id = cookie(headers, SESSION_COOKIE)?;
    match state
        .store
        .session(hash_id(id), OffsetDateTime::now_utc())
        .await
    {
        Ok(Some(session)) => Some(Viewer { session }),
        Ok(None) => None,
        Err(e) => {
            tracing::warn!(error = %e, "dashboard session lookup failed");
            None
        }
    }
}

fn is_htmx(headers: &HeaderMap) -> bool {
    headers.contains_key("hx-request")
}

/// Where an unauthenticated request goes: the sign-in page, back to `next` afterwards.
fn to_login(parts_uri: &axum::http::Uri, headers: &HeaderMap) -> Response {
    let next = parts_uri
        .path_and_query()
        .map(|p| p.as_str())
        .unwrap_or("/dashboard");
    let target = format!(
        "/dashboard/login?next={}",
        url::form_urlencoded::byte_serialize(next.as_bytes()).collect::<String>()
    );
    if is_htmx(headers) {
        // htmx follows this header with a full page load instead of swapping a fragment.
        let mut res = StatusCode::UNAUTHORIZED.into_response();
        if let Ok(v) = HeaderValue::from_str(&target) {
            res.headers_mut().insert("hx-redirect", v);
        }
        return res;
    }
    Redirect::to(&target).into_response()
}

impl FromRequestParts<Arc<AppState>> for Viewer {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<AppState>,
    ) -> Result<Viewer, Response> {
        // csrf_guard already looked the session up for mutating requests.
        if let Some(v) = parts.extensions.get::<Viewer>() {
            return Ok(v.clone());
        }
        current(state, &parts.headers)
            .await
            .ok_or_else(|| to_login(&parts.uri, &parts.headers))
    }
}

fn same_token(a: &str, b: &str) -> bool {
    tokens_match(a, b)
}

/// Checks the CSRF token of every non-GET dashboard request (the sign-in form excepted, see
/// [`login`]) before the handler runs; refuses with 403 when it is missing or wrong.
pub async fn csrf_guard(State(state): State<Arc<AppState>>, req: Request, next: Next) -> Response {
    if matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS)
        || req.uri().path() == "/dashboard/login"
    {
        return next.run(req).await;
    }
    let (mut parts, body) = req.into_parts();
    let Some(viewer) = current(&state, &parts.headers).await else {
        return to_login(&parts.uri, &parts.headers);
    };
    let bytes = match axum::body::to_bytes(body, MAX_FORM_BYTES).await {
        Ok(b) => b,
        Err(_) => {
            return layout::error_page(StatusCode::PAYLOAD_TOO_LARGE, "The form is too large.")
        }
    };
    let presented = parts
        .headers
        .get("x-csrf-token")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .or_else(|| {
            url::form_urlencoded::parse(&bytes)
                .find(|(k, _)| k == "_csrf")
                .map(|(_, v)| v.into_owned())
        });
    match presented {
        Some(t) if same_token(&t, viewer.csrf()) => {}
        _ => {
            return layout::error_page(
                StatusCode::FORBIDDEN,
                "This request has no valid CSRF token. Reload the page and try again.",
            )
        }
    }
    parts.extensions.insert(viewer);
    next.run(Request::from_parts(parts, Body::from(bytes)))
        .await
}

/// Failed sign-in attempts per client address, in a sliding window.
#[derive(Default)]
pub(crate) struct SignInLimiter {
    failures: Mutex<HashMap<Option<IpAddr>, (Instant, u32)>>,
}

impl SignInLimiter {
    /// `Err(wait)` when this address failed too often recently.
    fn check(&self, ip: Option<IpAddr>) -> Result<(), Duration> {
        let map = self.failures.lock().expect("limiter lock");
        match map.get(&ip) {
            Some((since, n)) if *n >= MAX_FAILURES && since.elapsed() < LIMIT_WINDOW => {
                Err(LIMIT_WINDOW - since.elapsed())
            }
            _ => Ok(()),
        }
    }

    fn fail(&self, ip: Option<IpAddr>) {
        let mut map = self.failures.lock().expect("limiter lock");
        if map.len() > 10_000 {
            map.retain(|_, (since, _)| since.elapsed() < LIMIT_WINDOW);
        }
        let entry = map.entry(ip).or_insert((Instant::now(), 0));
        if entry.0.elapsed() >= LIMIT_WINDOW {
            *entry = (Instant::now(), 0);
        }
        entry.1 += 1;
    }
}

#[derive(Deserialize, Default)]
pub struct LoginQuery {
    next: Option<String>,
    signed_out: Option<String>,
}

/// `next` only when it is a dashboard path (no open redirect to another site).
fn safe_next(next: Option<&str>) -> &str {
    match next {
        Some(n) if n.starts_with("/dashboard") && !n.contains("//") && !n.contains('\\') => n,
        _ => "/dashboard",
    }
}

fn cookie_header(name: &str, value: &str, max_age: u64, secure: bool) -> HeaderValue {
    let secure = if secure { "; Secure" } else { "" };
    HeaderValue::from_str(&format!(
        "{name}={value}; Path=/dashboard; HttpOnly; SameSite=Strict; Max-Age={max_age}{secure}"
    ))
    .expect("cookie header is ASCII")
}

pub async fn login_page(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Query(q): Query<LoginQuery>,
) -> Response {
    if current(&state, &headers).await.is_some() && q.signed_out.is_none() {
        return Redirect::to(safe_next(q.next.as_deref())).into_response();
    }
    let message = q
        .signed_out
        .is_some()
        .then_some((false, "You are signed out."));
    render_login(&state, q.next.as_deref(), message, StatusCode::OK)
}

fn render_login(
    state: &AppState,
    next: Option<&str>,
    message: Option<(bool, &str)>,
    status: StatusCode,
) -> Response {
    let form_token = random_token();
    let operator_on = state.config.admin_token.is_some();
    let body = html! {
        main.signin {
            div.card.signin-card {
                div.brand-big { img src="/dashboard/assets/favicon.svg" alt="" width="32" height="32"; span { "Switchyard" } }
                h1 { "Sign in to the dashboard" }
                @if let Some((is_error, text)) = message {
                    p class=(if is_error { "notice error" } else { "notice" }) role="alert" { (text) }
                }
                form method="post" action="/dashboard/login" {
                    input type="hidden" name="_login" value=(form_token);
                    input type="hidden" name="next" value=(safe_next(next));
                    label for="token" { "Gateway key or admin token" }
                    input #token type="password" name="token" autocomplete="current-password" required placeholder="sy-… or the admin token";
                    button.primary type="submit" { "Sign in" }
                }
                p.hint { "Org members sign in with one of their org's gateway keys (" code { "sy-…" } ") and see only that org." }
                @if operator_on {
                    p.hint { "Operators sign in with the admin token and can switch between orgs." }
                } @else {
                    div.notice {
                        p { strong { "Operator sign-in is off" } ": no admin token is configured." }
                        p { "Restart the gateway with " code { "SWITCHYARD_ADMIN_TOKEN" } " set to a secret of at least 16 characters (or " code { "admin_token" } " in the config file), e.g.:" }
                        pre { "SWITCHYARD_ADMIN_TOKEN=$(openssl rand -hex 24) switchyard serve" }
                        p { "Or create an org and a gateway key with the CLI and sign in with the key:" }
                        pre { "switchyard admin org create acme\nswitchyard admin key create --org acme me" }
                    }
                }
            }
        }
    };
    let mut res = (status, layout::bare("Sign in · Switchyard", body)).into_response();
    res.headers_mut().append(
        header::SET_COOKIE,
        cookie_header(
            LOGIN_COOKIE,
            &form_token,
            3600,
            state.config.dashboard.secure_cookies,
        ),
    );
    res
}

#[derive(Deserialize)]
pub struct LoginForm {
    token: String,
    #[serde(rename = "_login")]
    login: String,
    next: Option<String>,
}

pub async fn login(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    connect: Option<axum::extract::Extension<ConnectInfo<SocketAddr>>>,
    Form(form): Form<LoginForm>,
) -> Response {
    let ip = connect.map(|c| c.0 .0.ip());
    // Double-submit: the form's token must equal the cookie set with the form, which another
    // site can neither read nor set (SameSite=Strict, HttpOnly).
    match cookie(&headers, LOGIN_COOKIE) {
        Some(c) if same_token(c, &form.login) => {}
        _ => {
            return render_login(
                &state,
                form.next.as_deref(),
                Some((true, "The sign-in form expired. Please try again.")),
                StatusCode::FORBIDDEN,
            )
        }
    }
    if let Err(wait) = state.dashboard.limiter.check(ip) {
        let mut res = render_login(
            &state,
            form.next.as_deref(),
            Some((
                true,
                &format!(
                    "Too many failed sign-ins. Try again in {} minutes.",
                    wait.as_secs().div_ceil(60)
                ),
            )),
            StatusCode::TOO_MANY_REQUESTS,
        );
        res.headers_mut().insert(
            header::RETRY_AFTER,
            HeaderValue::from(wait.as_secs().max(1)),
        );
        return res;
    }
    let token = form.token.trim();
    let (org_id, key_id) = if token.starts_with(switchyard_store::GATEWAY_KEY_PREFIX) {
        match state.store.lookup_gateway_key(token).await {
            Ok(Some(k)) => (Some(k.org.id), Some(k.key.id)),
            Ok(None) => (None, None),
            Err(e) => {
                tracing::warn!(error = %e, "dashboard sign-in: key lookup failed");
                return layout::error_page(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "The store is unavailable.",
                );
            }
        }
    } else {
        (None, None)
    };
    let operator = key_id.is_none()
        && state
            .config
            .admin_token
            .as_deref()
            .is_some_and(|t| tokens_match(token, t));
    if key_id.is_none() && !operator {
        state.dashboard.limiter.fail(ip);
        return render_login(
            &state,
            form.next.as_deref(),
            Some((true, "That key or token is not valid.")),
            StatusCode::UNAUTHORIZED,
        );
    }
    let id = random_token();
    let ttl = state.config.dashboard.session_ttl_secs.max(60);
    let session = NewSession {
        id_hash: hash_id(&id),
        org_id,
        key_id,
        csrf_token: random_token(),
        expires_at: OffsetDateTime::now_utc() + Duration::from_secs(ttl),
    };
    if let Err(e) = state.store.create_session(&session).await {
        tracing::warn!(error = %e, "dashboard sign-in: session not stored");
        return layout::error_page(
            StatusCode::INTERNAL_SERVER_ERROR,
            "The store is unavailable.",
        );
    }
    // Expired sessions go when someone signs in: no background task needed.
    let _ = state.store.purge_sessions(OffsetDateTime::now_utc()).await;
    let secure = state.config.dashboard.secure_cookies;
    let mut res = Redirect::to(safe_next(form.next.as_deref())).into_response();
    let h = res.headers_mut();
    h.append(
        header::SET_COOKIE,
        cookie_header(SESSION_COOKIE, &id, ttl, secure),
    );
    h.append(
        header::SET_COOKIE,
        cookie_header(LOGIN_COOKIE, "", 0, secure),
    );
    res
}

pub async fn logout(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    if let Some(id) = cookie(&headers, SESSION_COOKIE) {
        let _ = state.store.delete_session(hash_id(id)).await;
    }
    let mut res = Redirect::to("/dashboard/login?signed_out=1").into_response();
    res.headers_mut().append(
        header::SET_COOKIE,
        cookie_header(SESSION_COOKIE, "", 0, state.config.dashboard.secure_cookies),
    );
    res
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_stays_on_the_dashboard() {
        assert_eq!(
            safe_next(Some("/dashboard/o/x/keys?a=1")),
            "/dashboard/o/x/keys?a=1"
        );
        for bad in [
            "https://evil.example",
            "//evil.example",
            "/dashboard//evil",
            "/admin",
            "/dashboard\\x",
        ] {
            assert_eq!(safe_next(Some(bad)), "/dashboard", "{bad}");
        }
    }

    #[test]
    fn cookies_are_found_by_name() {
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; sy_session=abc; b="),
        );
        assert_eq!(cookie(&h, "sy_session"), Some("abc"));
        assert_eq!(cookie(&h, "b"), None);
        assert_eq!(cookie(&h, "c"), None);
    }

    #[test]
    fn the_limiter_locks_after_repeated_failures() {
        let l = SignInLimiter::default();
        let ip = Some(IpAddr::from([127, 0, 0, 1]));
        for _ in 0..MAX_FAILURES {
            assert!(l.check(ip).is_ok());
            l.fail(ip);
        }
        assert!(l.check(ip).is_err());
        assert!(l.check(Some(IpAddr::from([10, 0, 0, 1]))).is_ok());
    }

    #[test]
    fn session_cookies_are_http_only_and_strict() {
        let c = cookie_header(SESSION_COOKIE, "x", 60, true);
        let c = c.to_str().unwrap();
        assert!(c.contains("HttpOnly") && c.contains("SameSite=Strict") && c.contains("Secure"));
        assert!(!cookie_header(SESSION_COOKIE, "x", 60, false)
            .to_str()
            .unwrap()
            .contains("Secure"));
    }
}
