//! The dashboard over HTTP (no browser): sign-in and sessions, CSRF, the sign-in rate limit,
//! org isolation, first run without an admin token, assets and logos. The browser test
//! (tests/sdk/test_dashboard.py) drives the same pages in Chromium.

mod common;

use common::TestGateway;
use reqwest::header::{COOKIE, LOCATION, SET_COOKIE};
use reqwest::StatusCode;

const TOKEN: &str = "dashboard-admin-token-0123456789";

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// The value of a `Set-Cookie` of this name.
fn set_cookie(res: &reqwest::Response, name: &str) -> Option<(String, String)> {
    res.headers().get_all(SET_COOKIE).iter().find_map(|v| {
        let v = v.to_str().ok()?;
        let (pair, attrs) = v.split_once(';').unwrap_or((v, ""));
        let (k, val) = pair.split_once('=')?;
        (k == name).then(|| (val.to_owned(), attrs.to_owned()))
    })
}

struct Browser {
    url: String,
    http: reqwest::Client,
    session: Option<String>,
}

impl Browser {
    fn new(gw: &TestGateway) -> Browser {
        Browser {
            url: gw.url.clone(),
            http: client(),
            session: None,
        }
    }

    fn cookie(&self) -> String {
        self.session
            .as_ref()
            .map(|s| format!("sy_session={s}"))
            .unwrap_or_default()
    }

    async fn get(&self, path: &str) -> reqwest::Response {
        self.http
            .get(format!("{}{path}", self.url))
            .header(COOKIE, self.cookie())
            .send()
            .await
            .unwrap()
    }

    async fn post(&self, path: &str, form: &[(&str, &str)]) -> reqwest::Response {
        self.http
            .post(format!("{}{path}", self.url))
            .header(COOKIE, self.cookie())
            .form(form)
            .send()
            .await
            .unwrap()
    }

    /// Signs in through the form (with its double-submit token); returns the answer.
    async fn sign_in(&mut self, token: &str) -> reqwest::Response {
        let page = self.get("/dashboard/login").await;
        let (login, _) = set_cookie(&page, "sy_login").expect("the form sets its token");
        let res = self
            .http
            .post(format!("{}/dashboard/login", self.url))
            .header(COOKIE, format!("sy_login={login}"))
            .form(&[
                ("token", token),
                ("_login", login.as_str()),
                ("next", "/dashboard"),
            ])
            .send()
            .await
            .unwrap();
        if let Some((id, _)) = set_cookie(&res, "sy_session") {
            self.session = Some(id);
        }
        res
    }

    /// The CSRF token of the signed-in page (htmx sends it as a header; forms as `_csrf`).
    async fn csrf(&self, path: &str) -> String {
        let html = self.get(path).await.text().await.unwrap();
        let at = html
            .find("name=\"_csrf\" value=\"")
            .expect("a form with a CSRF token")
            + 20;
        html[at..at + html[at..].find('"').unwrap()].to_owned()
    }
}

#[tokio::test]
async fn sign_in_sessions_and_csrf() {
    let gw = TestGateway::start(|c| c.admin_token = Some(TOKEN.into())).await;
    let org = gw.org("0").await;
    let mut b = Browser::new(&gw);

    // Without a session every page goes to sign-in, with the page to come back to.
    let res = b
        .get(&format!("/dashboard/o/{}/requests?status=5xx", org.id))
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let to = res.headers()[LOCATION].to_str().unwrap();
    assert!(
        to.starts_with("/dashboard/login?next=%2Fdashboard%2Fo%2F"),
        "{to}"
    );
    assert_eq!(b.get("/").await.headers()[LOCATION], "/dashboard");

    // A wrong token: 401, no session.
    let res = b.sign_in("wrong-token-wrong-token").await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert!(b.session.is_none());
    assert!(res.text().await.unwrap().contains("not valid"));

    // The sign-in form without its double-submit cookie is refused even with the right token.
    let res = client()
        .post(format!("{}/dashboard/login", gw.url))
        .form(&[("token", TOKEN), ("_login", "x")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert!(set_cookie(&res, "sy_session").is_none());

    // The operator signs in: HttpOnly, SameSite=Strict cookie; the stored id is a hash.
    let res = b.sign_in(TOKEN).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let (id, attrs) = set_cookie(&res, "sy_session").unwrap();
    assert!(
        attrs.contains("HttpOnly") && attrs.contains("SameSite=Strict"),
        "{attrs}"
    );
    assert!(!attrs.contains("Secure"), "Secure only when configured");
    assert!(id.len() >= 43);
    let page = b.get(&format!("/dashboard/o/{}/overview", org.id)).await;
    assert_eq!(page.status(), StatusCode::OK);
    let csp = page.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(csp.contains("script-src 'self'") && csp.contains("frame-ancestors 'none'"));

    // CSRF: no token or a wrong one is refused and changes nothing; the right one works.
    let keys = format!("/dashboard/o/{}/keys", org.id);
    let before = gw.store.list_gateway_keys(org.id).await.unwrap().len();
    assert_eq!(
        b.post(&keys, &[("name", "x")]).await.status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        b.post(&keys, &[("name", "x"), ("_csrf", "nope")])
            .await
            .status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        gw.store.list_gateway_keys(org.id).await.unwrap().len(),
        before
    );
    let csrf = b.csrf(&keys).await;
    let res = b
        .post(&keys, &[("name", "ci"), ("_csrf", csrf.as_str())])
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let html = res.text().await.unwrap();
    let created = gw.store.list_gateway_keys(org.id).await.unwrap();
    assert_eq!(created.len(), before + 1);
    let at = html.find("id=\"new-key\">").unwrap() + 13;
    let plaintext = &html[at..at + html[at..].find('<').unwrap()];
    assert!(plaintext.starts_with("sy-"));
    assert!(
        !b.get(&keys).await.text().await.unwrap().contains(plaintext),
        "shown once"
    );
    // The header form of the token (htmx) works too.
    let res = b
        .http
        .post(format!("{}{keys}", gw.url))
        .header(COOKIE, b.cookie())
        .header("x-csrf-token", &csrf)
        .form(&[("name", "htmx")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);

    // Sign out ends the session in the store, not only in the browser.
    let old = b.cookie();
    assert_eq!(
        b.post("/dashboard/logout", &[("_csrf", csrf.as_str())])
            .await
            .status(),
        StatusCode::SEE_OTHER
    );
    let res = client()
        .get(format!("{}/dashboard/o/{}/overview", gw.url, org.id))
        .header(COOKIE, old)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn members_see_only_their_org_and_lose_access_with_their_key() {
    let gw = TestGateway::start(|c| c.admin_token = Some(TOKEN.into())).await;
    let (mine, theirs) = (gw.org("1").await, gw.org("1").await);
    let mut b = Browser::new(&gw);
    let res = b.sign_in(&mine.key).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(res.headers()[LOCATION], "/dashboard");
    assert_eq!(
        b.get("/dashboard").await.headers()[LOCATION]
            .to_str()
            .unwrap(),
        format!("/dashboard/o/{}/overview", mine.id)
    );
    for page in [
        "overview",
        "requests",
        "users",
        "properties",
        "providers",
        "models",
        "keys",
        "credits",
    ] {
        assert_eq!(
            b.get(&format!("/dashboard/o/{}/{page}", mine.id))
                .await
                .status(),
            StatusCode::OK,
            "{page}"
        );
        assert_eq!(
            b.get(&format!("/dashboard/o/{}/{page}", theirs.id))
                .await
                .status(),
            StatusCode::NOT_FOUND,
            "{page}"
        );
    }
    let csrf = b.csrf(&format!("/dashboard/o/{}/keys", mine.id)).await;
    // Writes to another org are refused the same way, and members cannot add credits.
    let res = b
        .post(
            &format!("/dashboard/o/{}/keys", theirs.id),
            &[("name", "x"), ("_csrf", &csrf)],
        )
        .await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    let their_key = gw.store.list_gateway_keys(theirs.id).await.unwrap()[0].id;
    let res = b
        .post(
            &format!("/dashboard/o/{}/keys/{their_key}/revoke", mine.id),
            &[("_csrf", &csrf)],
        )
        .await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    assert!(gw.store.list_gateway_keys(theirs.id).await.unwrap()[0]
        .revoked_at
        .is_none());
    let res = b
        .post(
            &format!("/dashboard/o/{}/credits", mine.id),
            &[("amount_usd", "5"), ("_csrf", &csrf)],
        )
        .await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert_eq!(gw.balance(&mine).await.balance_nanos, 1_000_000_000);
    assert_eq!(
        b.post("/dashboard/orgs", &[("name", "evil"), ("_csrf", &csrf)])
            .await
            .status(),
        StatusCode::FORBIDDEN
    );

    // Revoking the key the member signed in with ends the session.
    let my_key = gw.store.list_gateway_keys(mine.id).await.unwrap()[0].id;
    assert!(gw.store.revoke_gateway_key(my_key).await.unwrap());
    assert_eq!(
        b.get(&format!("/dashboard/o/{}/overview", mine.id))
            .await
            .status(),
        StatusCode::SEE_OTHER
    );
}

#[tokio::test]
async fn failed_sign_ins_are_rate_limited() {
    let gw = TestGateway::start(|c| c.admin_token = Some(TOKEN.into())).await;
    let mut b = Browser::new(&gw);
    for _ in 0..switchyard_server::dashboard::auth::MAX_FAILURES {
        assert_eq!(
            b.sign_in("sy-not-a-key").await.status(),
            StatusCode::UNAUTHORIZED
        );
    }
    let res = b.sign_in(TOKEN).await;
    assert_eq!(
        res.status(),
        StatusCode::TOO_MANY_REQUESTS,
        "even the right token waits"
    );
    assert!(res.headers().contains_key("retry-after"));
    assert!(b.session.is_none());
}

#[tokio::test]
async fn first_run_without_an_admin_token() {
    let gw = TestGateway::start(|_| {}).await;
    let org = gw.org("0").await;
    let mut b = Browser::new(&gw);
    let page = b.get("/dashboard/login").await.text().await.unwrap();
    assert!(page.contains("Operator sign-in is off") && page.contains("SWITCHYARD_ADMIN_TOKEN"));
    // No admin token: nothing signs in as operator, not even an empty token.
    assert_eq!(b.sign_in("").await.status(), StatusCode::UNAUTHORIZED);
    // An org member still can.
    assert_eq!(b.sign_in(&org.key).await.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        b.get(&format!("/dashboard/o/{}/overview", org.id))
            .await
            .status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn assets_and_every_registry_logo_are_served() {
    let gw = TestGateway::start(|_| {}).await;
    let http = client();
    for asset in [
        "htmx.min.js",
        "uPlot.iife.min.js",
        "uPlot.min.css",
        "dashboard.css",
        "dashboard.js",
        "favicon.svg",
        "LICENSES.txt",
    ] {
        let res = http
            .get(format!("{}/dashboard/assets/{asset}", gw.url))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK, "{asset}");
        assert!(!res.bytes().await.unwrap().is_empty());
    }
    let registry = common::registry();
    for p in registry.providers() {
        let res = http
            .get(format!("{}{}", gw.url, p.ui.logo))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK, "{}: {}", p.id, p.ui.logo);
        assert_eq!(res.headers()["content-type"], "image/svg+xml");
        assert!(res.text().await.unwrap().starts_with("<svg"), "{}", p.id);
    }
    assert_eq!(
        http.get(format!("{}/logos/nope.svg", gw.url))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        http.get(format!("{}/dashboard/assets/../Cargo.toml", gw.url))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::NOT_FOUND
    );
}
