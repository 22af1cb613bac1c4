//! The Vertex service-account token exchange against a local token endpoint on 127.0.0.1: the
//! endpoint verifies the JWT's RS256 signature with the test key's public half and its claims,
//! then hands out tokens; the cache is checked for reuse, early refresh and single-flight.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::post;
use axum::{Form, Json, Router};
use jsonwebtoken::{decode, decode_header, Algorithm, DecodingKey, Validation};
use serde_json::json;
use switchyard_providers::google::auth::{
    Claims, FetchResponse, ServiceAccount, TokenCache, TokenError, TokenFetcher,
    CLOUD_PLATFORM_SCOPE, JWT_BEARER_GRANT,
};

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/vertex");

fn fixture(name: &str) -> String {
    std::fs::read_to_string(format!("{FIXTURES}/{name}")).unwrap()
}

#[derive(Clone)]
struct Endpoint {
    key: Arc<DecodingKey>,
    audience: String,
    issued: Arc<AtomicU64>,
    delay: Duration,
    fail_next: Arc<AtomicBool>,
}

async fn token(
    State(ep): State<Endpoint>,
    Form(form): Form<HashMap<String, String>>,
) -> impl IntoResponse {
    tokio::time::sleep(ep.delay).await;
    if ep.fail_next.swap(false, Ordering::SeqCst) {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({"error": "backend_error"})),
        );
    }
    if form.get("grant_type").map(String::as_str) != Some(JWT_BEARER_GRANT) {
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({"error": "unsupported_grant_type"})),
        );
    }
    let Some(assertion) = form.get("assertion") else {
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({"error": "invalid_request"})),
        );
    };
    let mut v = Validation::new(Algorithm::RS256);
    v.set_audience(&[&ep.audience]);
    v.set_issuer(&["gateway@switchyard-test.iam.gserviceaccount.com"]);
    v.set_required_spec_claims(&["exp", "iat", "aud", "iss"]);
    let claims = match decode::<Claims>(assertion, &ep.key, &v) {
        Ok(d) => d.claims,
        Err(e) => {
            let description = match e.kind() {
                jsonwebtoken::errors::ErrorKind::InvalidSignature => {
                    "Invalid JWT Signature.".to_owned()
                }
                other => format!("Invalid JWT: {other:?}"),
            };
            return (
                StatusCode::BAD_REQUEST,
                Json(json!({"error": "invalid_grant", "error_description": description})),
            );
        }
    };
    let header = decode_header(assertion).unwrap();
    let well_formed = claims.scope == CLOUD_PLATFORM_SCOPE
        && claims.exp == claims.iat + 3600
        && header.kid.as_deref() == Some("0123456789abcdef0123456789abcdef01234567");
    if !well_formed {
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({"error": "invalid_scope"})),
        );
    }
    let n = ep.issued.fetch_add(1, Ordering::SeqCst) + 1;
    (
        StatusCode::OK,
        Json(
            json!({"access_token": format!("ya29.test-{n}"), "expires_in": 3599, "token_type": "Bearer"}),
        ),
    )
}

struct Server {
    url: String,
    issued: Arc<AtomicU64>,
    fail_next: Arc<AtomicBool>,
}

async fn start(delay: Duration) -> Server {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/token", listener.local_addr().unwrap());
    let key = DecodingKey::from_rsa_pem(fixture("test-public-key.pem").as_bytes()).unwrap();
    let ep = Endpoint {
        key: Arc::new(key),
        audience: url.clone(),
        issued: Arc::new(AtomicU64::new(0)),
        delay,
        fail_next: Arc::new(AtomicBool::new(false)),
    };
    let server = Server {
        url,
        issued: Arc::clone(&ep.issued),
        fail_next: Arc::clone(&ep.fail_next),
    };
    let app = Router::new().route("/token", post(token)).with_state(ep);
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    server
}

/// The gateway's side of the trait, over reqwest.
struct Reqwest(reqwest::Client);

impl TokenFetcher for Reqwest {
    async fn post_form(&self, url: &str, body: String) -> Result<FetchResponse, String> {
        let resp = self
            .0
            .post(url)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await
            .map_err(|e| e.to_string())?;
        let status = resp.status().as_u16();
        let body = resp.bytes().await.map_err(|e| e.to_string())?.to_vec();
        Ok(FetchResponse { status, body })
    }
}

/// Now, in Unix seconds: the endpoint checks `exp` against the real clock, so the cache's test
/// clock starts from it.
fn real_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn account(token_uri: &str) -> ServiceAccount {
    let mut sa = ServiceAccount::from_json(&fixture("test-service-account.json")).unwrap();
    sa.token_uri = token_uri.to_owned();
    sa
}

fn cache(server: &Server, clock: Arc<AtomicU64>) -> TokenCache<Reqwest> {
    TokenCache::new(Reqwest(reqwest::Client::new()))
        .allow_token_uri(server.url.clone())
        .with_clock(move || clock.load(Ordering::SeqCst))
}

#[tokio::test]
async fn exchanges_a_signed_jwt_and_caches_until_five_minutes_before_expiry() {
    let server = start(Duration::ZERO).await;
    let start = real_now();
    let clock = Arc::new(AtomicU64::new(start));
    let cache = cache(&server, Arc::clone(&clock));
    let sa = account(&server.url);

    let t1 = cache.token(&sa).await.unwrap();
    assert_eq!(t1.secret(), "ya29.test-1");
    assert_eq!(t1.expires_at, start + 3599);
    assert_eq!(t1.bearer(), "Bearer ya29.test-1");

    // Still more than five minutes left: the cached token.
    clock.store(start + 3599 - 301, Ordering::SeqCst);
    assert_eq!(cache.token(&sa).await.unwrap(), t1);
    assert_eq!(server.issued.load(Ordering::SeqCst), 1);

    // Inside the last five minutes: refreshed. (The JWT is then issued 58 minutes ahead of the
    // endpoint's clock; jsonwebtoken does not check `iat`, and `exp` is still in the future.)
    clock.store(start + 3599 - 299, Ordering::SeqCst);
    let t2 = cache.token(&sa).await.unwrap();
    assert_eq!(t2.secret(), "ya29.test-2");
    assert_eq!(server.issued.load(Ordering::SeqCst), 2);

    // Invalidation forces a new exchange.
    cache.invalidate(&sa);
    assert_eq!(cache.token(&sa).await.unwrap().secret(), "ya29.test-3");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_callers_share_one_refresh() {
    let server = start(Duration::from_millis(200)).await;
    let clock = Arc::new(AtomicU64::new(real_now()));
    let cache = Arc::new(cache(&server, clock));
    let sa = account(&server.url);
    let calls = (0..16).map(|_| {
        let cache = Arc::clone(&cache);
        let sa = sa.clone();
        tokio::spawn(async move { cache.token(&sa).await })
    });
    let tokens: Vec<_> = futures::future::join_all(calls)
        .await
        .into_iter()
        .map(|r| r.unwrap().unwrap())
        .collect();
    assert!(tokens.iter().all(|t| t.secret() == "ya29.test-1"));
    assert_eq!(server.issued.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn a_failed_exchange_is_not_cached() {
    let server = start(Duration::ZERO).await;
    let cache = cache(&server, Arc::new(AtomicU64::new(real_now())));
    let sa = account(&server.url);
    server.fail_next.store(true, Ordering::SeqCst);
    let err = cache.token(&sa).await.unwrap_err();
    assert!(
        matches!(err, TokenError::Rejected { status: 503, .. }),
        "{err:?}"
    );
    assert!(err.retryable());
    assert_eq!(cache.token(&sa).await.unwrap().secret(), "ya29.test-1");
}

#[tokio::test]
async fn a_jwt_signed_with_another_key_is_refused() {
    let server = start(Duration::ZERO).await;
    let cache = cache(&server, Arc::new(AtomicU64::new(real_now())));
    let mut json: serde_json::Value =
        serde_json::from_str(&fixture("test-service-account.json")).unwrap();
    json["private_key"] = fixture("untrusted-private-key.pem").into();
    json["token_uri"] = server.url.clone().into();
    let sa = ServiceAccount::from_json(&json.to_string()).unwrap();
    let err = cache.token(&sa).await.unwrap_err();
    assert_eq!(
        err,
        TokenError::Rejected {
            status: 400,
            error: "invalid_grant".into(),
            description: "Invalid JWT Signature.".into()
        }
    );
    assert!(!err.retryable());
    assert_eq!(server.issued.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn a_token_uri_that_is_not_google_is_never_contacted() {
    let server = start(Duration::ZERO).await;
    // No allow_token_uri: only Google's endpoints are accepted.
    let cache = TokenCache::new(Reqwest(reqwest::Client::new()));
    let err = cache.token(&account(&server.url)).await.unwrap_err();
    assert_eq!(err, TokenError::TokenUriNotAllowed(server.url.clone()));
    assert_eq!(server.issued.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn an_unreachable_endpoint_is_a_retryable_transport_error() {
    // Bind then drop a listener so the port is (very likely) closed.
    let addr = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let url = format!("http://{addr}/token");
    let cache = TokenCache::new(Reqwest(reqwest::Client::new())).allow_token_uri(url.clone());
    let err = cache.token(&account(&url)).await.unwrap_err();
    assert!(matches!(err, TokenError::Transport(_)), "{err:?}");
    assert!(err.retryable());
}
