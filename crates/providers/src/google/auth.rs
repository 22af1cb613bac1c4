//! Google service-account auth for Vertex: service-account JSON → RS256-signed JWT → OAuth access
//! token (RFC 7523 JWT bearer grant), cached per service account and refreshed before it expires.
//!
//! The crate stays pure: the one HTTP call (a form POST to the account's `token_uri`) goes through
//! the [`TokenFetcher`] trait, which the gateway implements with its HTTP client and the tests with
//! a local token endpoint.

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures::future::{BoxFuture, FutureExt, Shared};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// OAuth scope for Vertex AI (and every Google Cloud API).
pub const CLOUD_PLATFORM_SCOPE: &str = "https://www.googleapis.com/auth/cloud-platform";
/// Grant type of the JWT bearer flow.
pub const JWT_BEARER_GRANT: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";
/// Google's token endpoint, the `token_uri` of every service-account key it issues.
pub const GOOGLE_TOKEN_URI: &str = "https://oauth2.googleapis.com/token";
/// Lifetime asked for in the JWT (Google's maximum).
pub const JWT_LIFETIME_SECS: u64 = 3600;
/// How long before expiry a cached token is replaced.
pub const REFRESH_MARGIN: Duration = Duration::from_secs(300);

/// Token endpoints accepted by default. The `token_uri` comes from a caller-supplied key file,
/// so any other URI would let a key make the gateway POST to a host of the caller's choosing.
const GOOGLE_TOKEN_URIS: &[&str] = &[
    GOOGLE_TOKEN_URI,
    "https://accounts.google.com/o/oauth2/token",
];

/// The fields of a service-account key file that the token exchange needs.
#[derive(Clone, PartialEq, Eq, Deserialize)]
pub struct ServiceAccount {
    pub client_email: String,
    private_key: String,
    #[serde(default)]
    pub private_key_id: Option<String>,
    #[serde(default = "default_token_uri")]
    pub token_uri: String,
    #[serde(default)]
    pub project_id: Option<String>,
}

fn default_token_uri() -> String {
    GOOGLE_TOKEN_URI.to_owned()
}

impl fmt::Debug for ServiceAccount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServiceAccount")
            .field("client_email", &self.client_email)
            .field("private_key_id", &self.private_key_id)
            .field("private_key", &"<redacted>")
            .field("token_uri", &self.token_uri)
            .field("project_id", &self.project_id)
            .finish()
    }
}

impl ServiceAccount {
    /// Parses a service-account key file (the JSON Google Cloud hands out).
    pub fn from_json(json: &str) -> Result<Self, TokenError> {
        let v: Value = serde_json::from_str(json)
            .map_err(|e| TokenError::InvalidServiceAccount(format!("not JSON: {e}")))?;
        if let Some(t) = v.get("type").and_then(Value::as_str) {
            if t != "service_account" {
                return Err(TokenError::InvalidServiceAccount(format!(
                    "`type` is `{t}`, expected `service_account`"
                )));
            }
        }
        // serde's message names the missing field, never a value.
        let sa: ServiceAccount = serde_json::from_value(v)
            .map_err(|e| TokenError::InvalidServiceAccount(e.to_string()))?;
        if sa.client_email.is_empty() || sa.private_key.is_empty() {
            return Err(TokenError::InvalidServiceAccount(
                "`client_email` and `private_key` must not be empty".into(),
            ));
        }
        Ok(sa)
    }

    /// The PEM private key, for code that must scrub it from text.
    pub fn private_key(&self) -> &str {
        &self.private_key
    }

    /// The cache key: the account, plus the key id so a rotated key gets its own token.
    fn cache_key(&self) -> String {
        format!(
            "{}#{}",
            self.client_email,
            self.private_key_id.as_deref().unwrap_or("")
        )
    }
}

/// JWT claims of the token request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    pub iss: String,
    pub scope: String,
    pub aud: String,
    pub iat: u64,
    pub exp: u64,
}

/// The signed assertion for the token request, issued at `iat` (Unix seconds).
pub fn signed_jwt(sa: &ServiceAccount, iat: u64) -> Result<String, TokenError> {
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
    header.kid = sa.private_key_id.clone();
    let claims = Claims {
        iss: sa.client_email.clone(),
        scope: CLOUD_PLATFORM_SCOPE.to_owned(),
        aud: sa.token_uri.clone(),
        iat,
        exp: iat + JWT_LIFETIME_SECS,
    };
    let key = jsonwebtoken::EncodingKey::from_rsa_pem(sa.private_key.as_bytes()).map_err(|e| {
        TokenError::InvalidServiceAccount(format!("`private_key` is not an RSA PEM key: {e}"))
    })?;
    jsonwebtoken::encode(&header, &claims, &key)
        .map_err(|e| TokenError::InvalidServiceAccount(format!("signing the JWT failed: {e}")))
}

/// The form body of the token request.
pub fn token_request_body(jwt: &str) -> String {
    url::form_urlencoded::Serializer::new(String::new())
        .append_pair("grant_type", JWT_BEARER_GRANT)
        .append_pair("assertion", jwt)
        .finish()
}

/// An OAuth access token and when it stops working. `Debug` hides the token.
#[derive(Clone, PartialEq, Eq)]
pub struct AccessToken {
    token: String,
    /// Unix seconds.
    pub expires_at: u64,
}

impl AccessToken {
    pub fn new(token: impl Into<String>, expires_at: u64) -> Self {
        AccessToken {
            token: token.into(),
            expires_at,
        }
    }

    pub fn secret(&self) -> &str {
        &self.token
    }

    /// The `authorization` header value.
    pub fn bearer(&self) -> String {
        format!("Bearer {}", self.token)
    }

    /// True when the token is still good at `now` with `margin` to spare.
    pub fn is_fresh(&self, now: u64, margin: Duration) -> bool {
        now.saturating_add(margin.as_secs()) < self.expires_at
    }
}

impl fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AccessToken")
            .field("token", &"<redacted>")
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

/// Reads the token endpoint's answer: `{"access_token", "expires_in", "token_type"}` on 200,
/// `{"error", "error_description"}` otherwise. `now` is when the request was sent.
pub fn parse_token_response(status: u16, body: &[u8], now: u64) -> Result<AccessToken, TokenError> {
    let v: Option<Value> = serde_json::from_slice(body).ok();
    if !(200..300).contains(&status) {
        let field = |k: &str| {
            v.as_ref()
                .and_then(|v| v.get(k))
                .and_then(Value::as_str)
                .map(str::to_owned)
        };
        return Err(TokenError::Rejected {
            status,
            error: field("error").unwrap_or_else(|| "unknown_error".into()),
            description: field("error_description").unwrap_or_default(),
        });
    }
    let v = v.ok_or_else(|| TokenError::InvalidResponse("body is not JSON".into()))?;
    let token = v
        .get("access_token")
        .and_then(Value::as_str)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| TokenError::InvalidResponse("no `access_token`".into()))?;
    let expires_in = v
        .get("expires_in")
        .and_then(Value::as_u64)
        .ok_or_else(|| TokenError::InvalidResponse("no numeric `expires_in`".into()))?;
    Ok(AccessToken::new(token, now + expires_in))
}

/// The answer of a token endpoint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FetchResponse {
    pub status: u16,
    pub body: Vec<u8>,
}

/// The one HTTP call of the exchange: POST `body` as `application/x-www-form-urlencoded` to `url`.
/// An `Err` is a transport failure (connect, timeout), described without secrets.
pub trait TokenFetcher: Send + Sync + 'static {
    fn post_form(
        &self,
        url: &str,
        body: String,
    ) -> impl Future<Output = Result<FetchResponse, String>> + Send;
}

/// Why no token could be had.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("service account key is not valid: {0}")]
    InvalidServiceAccount(String),
    #[error("token_uri `{0}` is not a Google token endpoint")]
    TokenUriNotAllowed(String),
    #[error("token endpoint could not be reached: {0}")]
    Transport(String),
    #[error("token endpoint refused the service account ({status}): {error} {description}")]
    Rejected {
        status: u16,
        error: String,
        description: String,
    },
    #[error("token endpoint answer is not valid: {0}")]
    InvalidResponse(String),
}

impl TokenError {
    /// Whether asking again later may work: transport failures, 429 and 5xx.
    pub fn retryable(&self) -> bool {
        match self {
            TokenError::Transport(_) => true,
            TokenError::Rejected { status, .. } => *status == 429 || *status >= 500,
            _ => false,
        }
    }
}

/// One complete exchange, uncached.
pub async fn fetch_token<F: TokenFetcher + ?Sized>(
    fetcher: &F,
    sa: &ServiceAccount,
    now: u64,
) -> Result<AccessToken, TokenError> {
    let jwt = signed_jwt(sa, now)?;
    let resp = fetcher
        .post_form(&sa.token_uri, token_request_body(&jwt))
        .await
        .map_err(TokenError::Transport)?;
    parse_token_response(resp.status, &resp.body, now)
}

type SharedFetch = Shared<BoxFuture<'static, Result<AccessToken, TokenError>>>;

#[derive(Default)]
struct Entry {
    token: Option<AccessToken>,
    pending: Option<SharedFetch>,
}

type Clock = Arc<dyn Fn() -> u64 + Send + Sync>;

/// Access tokens per service account, refreshed [`REFRESH_MARGIN`] before they expire. While one
/// refresh is in flight every other caller for the same account awaits that same refresh
/// (single-flight), so a burst of requests costs one token call.
pub struct TokenCache<F: TokenFetcher> {
    fetcher: Arc<F>,
    entries: Mutex<HashMap<String, Entry>>,
    margin: Duration,
    clock: Clock,
    extra_token_uris: Vec<String>,
}

impl<F: TokenFetcher> fmt::Debug for TokenCache<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.entries.lock().map(|e| e.len()).unwrap_or(0);
        f.debug_struct("TokenCache")
            .field("accounts", &n)
            .field("margin", &self.margin)
            .finish()
    }
}

fn system_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

impl<F: TokenFetcher> TokenCache<F> {
    /// A cache that accepts only Google's own token endpoints.
    pub fn new(fetcher: F) -> Self {
        TokenCache {
            fetcher: Arc::new(fetcher),
            entries: Mutex::new(HashMap::new()),
            margin: REFRESH_MARGIN,
            clock: Arc::new(system_now),
            extra_token_uris: Vec::new(),
        }
    }

    /// Also accept this exact token URI (a private or test token endpoint).
    pub fn allow_token_uri(mut self, uri: impl Into<String>) -> Self {
        self.extra_token_uris.push(uri.into());
        self
    }

    /// Use another clock (Unix seconds), for tests.
    pub fn with_clock(mut self, clock: impl Fn() -> u64 + Send + Sync + 'static) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    pub fn with_refresh_margin(mut self, margin: Duration) -> Self {
        self.margin = margin;
        self
    }

    /// A fresh access token for the account: the cached one, the refresh already in flight, or a
    /// new exchange. A failed exchange is not cached; the next call tries again.
    pub async fn token(&self, sa: &ServiceAccount) -> Result<AccessToken, TokenError> {
        let allowed = GOOGLE_TOKEN_URIS.contains(&sa.token_uri.as_str())
            || self.extra_token_uris.contains(&sa.token_uri);
        if !allowed {
            return Err(TokenError::TokenUriNotAllowed(sa.token_uri.clone()));
        }
        let key = sa.cache_key();
        let fetch = {
            let mut entries = self.entries.lock().expect("token cache lock");
            let entry = entries.entry(key.clone()).or_default();
            let now = (self.clock)();
            match (&entry.token, &entry.pending) {
                (Some(t), _) if t.is_fresh(now, self.margin) => return Ok(t.clone()),
                (_, Some(pending)) => pending.clone(),
                _ => {
                    let fetcher = Arc::clone(&self.fetcher);
                    let sa = sa.clone();
                    let fut: SharedFetch =
                        async move { fetch_token(fetcher.as_ref(), &sa, now).await }
                            .boxed()
                            .shared();
                    entry.pending = Some(fut.clone());
                    fut
                }
            }
        };
        let result = fetch.clone().await;
        let mut entries = self.entries.lock().expect("token cache lock");
        if let Some(entry) = entries.get_mut(&key) {
            // Only the refresh we awaited may settle the entry; a later one may be in flight.
            if entry.pending.as_ref().is_some_and(|p| p.ptr_eq(&fetch)) {
                entry.pending = None;
                if let Ok(t) = &result {
                    entry.token = Some(t.clone());
                }
            }
        }
        result
    }

    /// Forgets an account's token (e.g. after the provider answered 401 with it).
    pub fn invalidate(&self, sa: &ServiceAccount) {
        self.entries
            .lock()
            .expect("token cache lock")
            .remove(&sa.cache_key());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn service_account_parsing_and_redaction() {
        let json = r#"{"type":"service_account","project_id":"p1","private_key_id":"k1",
            "private_key":"-----BEGIN PRIVATE KEY-----\nSECRETPEM\n-----END PRIVATE KEY-----\n",
            "client_email":"svc@p1.iam.gserviceaccount.com"}"#;
        let sa = ServiceAccount::from_json(json).unwrap();
        assert_eq!(sa.token_uri, GOOGLE_TOKEN_URI);
        assert_eq!(sa.project_id.as_deref(), Some("p1"));
        assert!(!format!("{sa:?}").contains("SECRETPEM"));
        let err = ServiceAccount::from_json(r#"{"type":"authorized_user"}"#).unwrap_err();
        assert!(err.to_string().contains("authorized_user"));
        let err = ServiceAccount::from_json(r#"{"private_key":"x"}"#).unwrap_err();
        assert!(err.to_string().contains("client_email"), "{err}");
        // A key that is not RSA PEM fails when signing, naming the field, not the value.
        let e = signed_jwt(&sa, 0).unwrap_err();
        assert!(
            matches!(e, TokenError::InvalidServiceAccount(ref m) if m.contains("private_key") && !m.contains("SECRETPEM"))
        );
    }

    #[test]
    fn token_response_parsing() {
        let t = parse_token_response(
            200,
            br#"{"access_token":"ya29.c.abc","expires_in":3599,"token_type":"Bearer"}"#,
            1_000,
        )
        .unwrap();
        assert_eq!((t.secret(), t.expires_at), ("ya29.c.abc", 4_599));
        assert_eq!(t.bearer(), "Bearer ya29.c.abc");
        assert!(!format!("{t:?}").contains("ya29"));
        assert!(t.is_fresh(4_000, REFRESH_MARGIN));
        assert!(!t.is_fresh(4_300, REFRESH_MARGIN));
        let e = parse_token_response(
            400,
            br#"{"error":"invalid_grant","error_description":"Invalid JWT Signature."}"#,
            0,
        )
        .unwrap_err();
        assert_eq!(
            e,
            TokenError::Rejected {
                status: 400,
                error: "invalid_grant".into(),
                description: "Invalid JWT Signature.".into()
            }
        );
        assert!(!e.retryable());
        assert!(parse_token_response(503, b"<html>", 0)
            .unwrap_err()
            .retryable());
        assert!(matches!(
            parse_token_response(200, br#"{"expires_in":1}"#, 0),
            Err(TokenError::InvalidResponse(_))
        ));
    }

    #[test]
    fn form_body_is_url_encoded() {
        assert_eq!(
            token_request_body("a.b-c_d"),
            "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer&assertion=a.b-c_d"
        );
    }
}
