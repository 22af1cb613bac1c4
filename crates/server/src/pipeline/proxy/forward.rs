//! Forwarding bytes: the request's headers as sent upstream (the gateway's own stripped, the
//! org's key injected in the provider's style when asked), and the answer read through a usage
//! tap that copies the bytes through unchanged — compressed ones too: the SDKs ask for gzip, so
//! providers compress, and the tap undoes the `Content-Encoding` on its own copy only.

use std::sync::Arc;
use std::time::SystemTime;

use axum::http::{HeaderMap, HeaderName, HeaderValue, Method};
use bytes::Bytes;
use switchyard_cost::Usage;
use switchyard_detect::PromptUsage;
use switchyard_providers::adapter::Credentials;
use switchyard_providers::bedrock::{sign_headers, AwsCredentials, SigningScope};
use switchyard_providers::error::{ErrorKind, ProviderError};
use switchyard_providers::tap::{response_is_stream, TapFormat, UsageTap};
use switchyard_registry::{AuthStyle, Provider};

use super::super::{AnswerReader, StreamReader, Whole};
use crate::state::AppState;

/// Hop-by-hop headers (RFC 9110 §7.6.1): they describe one connection, never forwarded.
const HOP_BY_HOP: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-connection",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

/// The headers a caller puts its provider key in (SigV4's signature is in `authorization`).
pub const PROVIDER_AUTH_HEADERS: &[&str] =
    &["authorization", "x-api-key", "api-key", "x-goog-api-key"];

/// Where the gateway key is, and whether the gateway must authenticate the upstream call.
#[derive(Clone, Debug)]
pub struct GatewayAuth {
    /// `Bearer sy-...`, as phase 1 reads it.
    pub bearer: String,
    /// The header that carried it (stripped before forwarding).
    pub from: &'static str,
    /// No provider key of the caller's own: inject the org's stored one.
    pub inject: bool,
}

fn is_gateway_key(v: &str) -> bool {
    let v = v.trim();
    let v = v
        .strip_prefix("Bearer ")
        .or_else(|| v.strip_prefix("bearer "))
        .unwrap_or(v);
    v.trim().starts_with(switchyard_store::GATEWAY_KEY_PREFIX)
}

/// Finds the gateway key: `x-switchyard-auth` or `Helicone-Auth`, else a provider auth header
/// holding a gateway key (an SDK configured with only the gateway key puts it there).
pub fn gateway_auth(headers: &HeaderMap, query: Option<&str>) -> Option<GatewayAuth> {
    let text = |n: &str| headers.get(n).and_then(|v| v.to_str().ok());
    let (bearer, from) = if let Some(v) = text("x-switchyard-auth") {
        (v.trim().to_owned(), "x-switchyard-auth")
    } else if let Some(v) = text("helicone-auth") {
        (v.trim().to_owned(), "helicone-auth")
    } else {
        let from = PROVIDER_AUTH_HEADERS
            .iter()
            .copied()
            .find(|n| text(n).is_some_and(is_gateway_key))?;
        let v = text(from)?.trim();
        let bearer = if v.starts_with("Bearer ") || v.starts_with("bearer ") {
            v.to_owned()
        } else {
            format!("Bearer {v}")
        };
        (bearer, from)
    };
    let caller_key = PROVIDER_AUTH_HEADERS
        .iter()
        .any(|n| *n != from && headers.contains_key(*n))
        // Gemini's key may travel in the query.
        || query.is_some_and(|q| q.split('&').any(|p| p.starts_with("key=")));
    Some(GatewayAuth {
        bearer,
        from,
        inject: !caller_key,
    })
}

/// The request headers as sent upstream: everything but the gateway's (`x-switchyard-*`,
/// `Helicone-*`, the gateway key's header), hop-by-hop headers (and those `Connection` names),
/// `Host` and `Content-Length` (both set again from the URL and the same body).
pub fn upstream_headers(incoming: &HeaderMap, auth: Option<&GatewayAuth>) -> HeaderMap {
    let named_by_connection: Vec<String> = incoming
        .get_all("connection")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|s| s.trim().to_ascii_lowercase())
        .collect();
    let mut out = HeaderMap::with_capacity(incoming.len());
    for (name, value) in incoming {
        let n = name.as_str();
        let drop = n.starts_with("x-switchyard-")
            || n.starts_with("helicone-")
            || HOP_BY_HOP.contains(&n)
            || n == "host"
            || n == "content-length"
            || auth.is_some_and(|a| a.from == n)
            || named_by_connection.iter().any(|c| c == n);
        if !drop {
            out.append(name.clone(), value.clone());
        }
    }
    out
}

/// The answer headers as given to the client: the upstream's, less hop-by-hop framing.
pub fn answer_headers(upstream: &HeaderMap) -> HeaderMap {
    let mut out = HeaderMap::with_capacity(upstream.len());
    for (name, value) in upstream {
        let n = name.as_str();
        if !HOP_BY_HOP.contains(&n) && n != "content-length" {
            out.append(name.clone(), value.clone());
        }
    }
    out
}

fn sensitive(v: &str, provider: &str) -> Result<HeaderValue, ProviderError> {
    let mut v = HeaderValue::from_str(v).map_err(|_| {
        ProviderError::config(
            provider,
            "the stored key has characters not allowed in a header",
        )
    })?;
    v.set_sensitive(true);
    Ok(v)
}

/// The region of a `bedrock-runtime.{region}.amazonaws.com` URL.
fn bedrock_region(url: &str) -> Option<String> {
    let host = url::Url::parse(url).ok()?.host_str()?.to_owned();
    let rest = host.strip_prefix("bedrock-runtime.")?;
    let region = rest.strip_suffix(".amazonaws.com")?;
    let region = region.strip_prefix("fips.").unwrap_or(region);
    (!region.is_empty() && !region.contains('.')).then(|| region.to_owned())
}

/// Adds the org's key in the provider's own style. SigV4 is computed over the exact bytes
/// forwarded.
pub fn inject_auth(
    headers: &mut HeaderMap,
    provider: &Provider,
    credentials: &Credentials,
    method: &Method,
    url: &str,
    body: &[u8],
    key_region: Option<&str>,
) -> Result<(), ProviderError> {
    let id = provider.id.as_str();
    let key = || match credentials {
        Credentials::ApiKey(k) | Credentials::GoogleAccessToken(k) => Ok(k.expose()),
        _ => Err(ProviderError::config(
            id,
            "this provider authenticates with an API key; the stored key has other credentials",
        )),
    };
    match provider.auth {
        // Gemini's native API takes its key in `x-goog-api-key`; its OpenAI-compatible paths
        // take a bearer token.
        AuthStyle::Bearer if id == "google-ai-studio" && !url.contains("/openai/") => {
            headers.insert("x-goog-api-key", sensitive(key()?, id)?);
        }
        AuthStyle::Bearer | AuthStyle::GoogleServiceAccount => {
            headers.insert(
                http::header::AUTHORIZATION,
                sensitive(&format!("Bearer {}", key()?), id)?,
            );
        }
        AuthStyle::XApiKey => {
            headers.insert("x-api-key", sensitive(key()?, id)?);
        }
        AuthStyle::ApiKey => {
            headers.insert("api-key", sensitive(key()?, id)?);
        }
        AuthStyle::AwsSigv4 => {
            let Credentials::Aws {
                access_key_id,
                secret_access_key,
                session_token,
            } = credentials
            else {
                return Err(ProviderError::config(
                    id,
                    "Bedrock needs AWS access keys; the stored key has other credentials",
                ));
            };
            let aws = AwsCredentials::new(
                access_key_id.clone(),
                secret_access_key.expose(),
                session_token.as_ref().map(|t| t.expose().to_owned()),
            );
            let region = bedrock_region(url)
                .or_else(|| key_region.map(str::to_owned))
                .unwrap_or_else(|| "us-east-1".to_owned());
            // Signed: the content type (when sent) and the host from the URL; other headers
            // pass unsigned, so a hop that adds one cannot break the signature.
            let content_type = headers
                .get(http::header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            let signed: Vec<(&str, &str)> = content_type
                .as_deref()
                .map(|ct| vec![("content-type", ct)])
                .unwrap_or_default();
            let scope = SigningScope {
                region: &region,
                service: "bedrock",
                time: SystemTime::now(),
                content_sha256_header: false,
            };
            let pairs = sign_headers(method.as_str(), url, &signed, body, &aws, &scope)
                .map_err(|e| ProviderError::config(id, e.to_string()))?;
            for (k, v) in pairs {
                let name = HeaderName::from_bytes(k.as_bytes())
                    .map_err(|_| ProviderError::config(id, "SigV4 gave a bad header name"))?;
                let secret = name == http::header::AUTHORIZATION || k == "x-amz-security-token";
                let mut value = HeaderValue::from_str(&v)
                    .map_err(|_| ProviderError::config(id, "SigV4 gave a bad header value"))?;
                value.set_sensitive(secret);
                headers.insert(name, value);
            }
        }
    }
    Ok(())
}

/// Prices a tapped answer: the registry when it knows (provider, model id), else the rule
/// tables of `crates/detect`, else unpriced.
#[derive(Clone)]
pub struct Pricer {
    pub state: Arc<AppState>,
    pub provider: String,
    /// What the rule tables are looked up by: the target URL, or the provider's registry URL.
    pub rule_url: String,
    /// The request's model, for answers that do not name one.
    pub model: String,
}

impl Pricer {
    /// The usage with its USD cost in `provider_cost` (so the pipeline's pricing of a
    /// passthrough attempt takes it); the default (unreported) usage when there was none.
    fn priced(&self, tapped: switchyard_providers::tap::TapResult) -> Usage {
        let Some(mut usage) = tapped.usage else {
            return Usage::default();
        };
        if usage.provider_cost.is_some() {
            return usage;
        }
        // The answer's model (what was served) first, then the one the request named.
        let answered = tapped.model.filter(|m| !m.is_empty());
        let models: Vec<&str> = [answered.as_deref(), Some(self.model.as_str())]
            .into_iter()
            .flatten()
            .filter(|m| !m.is_empty())
            .collect();
        let registry = &self.state.registry;
        for model in &models {
            if let Some(e) = registry.endpoint_by_provider_model_id(&self.provider, model) {
                usage.provider_cost = Some(registry.price_endpoint(e, &usage).total);
                return usage;
            }
        }
        let rule = PromptUsage {
            prompt: usage.input.unwrap_or(0),
            completion: usage.output.unwrap_or(0),
            cache_write: usage.cache_write(),
            cache_read: usage.cache_read.unwrap_or(0),
            cache_write_5m: usage.cache_write_5m,
            cache_write_1h: usage.cache_write_1h,
            ..PromptUsage::default()
        };
        let detector = &self.state.proxy.detector;
        for model in &models {
            if let Ok(p) = detector.cost_of_prompt(&self.rule_url, model, &rule) {
                usage.provider_cost = Some(p.cost.usd);
                return usage;
            }
        }
        usage
    }
}

fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|ct| {
            let mime = ct
                .split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase();
            mime == "application/json" || mime.ends_with("+json")
        })
        .unwrap_or(false)
}

/// Reads a forwarded answer: the bytes as they came, the usage from a tap beside them.
pub struct ProxyReader {
    pub format: Option<TapFormat>,
    pub pricer: Pricer,
}

impl AnswerReader for ProxyReader {
    type Stream = ProxyStream;

    fn map_error(&self, status: u16, _headers: &HeaderMap, _body: &[u8]) -> ProviderError {
        // Not called: every status is forwarded (`forwards_status`).
        let mut e = ProviderError::new(
            self.pricer.provider.as_str(),
            ErrorKind::Upstream5xx,
            format!("upstream answered HTTP {status}"),
        );
        e.status = Some(status);
        e
    }

    fn whole(&self, headers: &HeaderMap, body: Bytes) -> Result<Whole, ProviderError> {
        let usage = match self.format {
            Some(f) => {
                let mut tap = UsageTap::with_encoding(f, false, content_encoding(headers));
                tap.feed(&body);
                self.pricer.priced(tap.finish())
            }
            None => Usage::default(),
        };
        Ok(Whole {
            headers: answer_headers(headers),
            body,
            usage,
        })
    }

    /// JSON is read whole (its cost goes in a header); anything else (SSE, event-stream,
    /// audio, files) is forwarded chunk by chunk.
    fn is_stream(&self, headers: &HeaderMap) -> bool {
        !is_json(headers)
    }

    fn stream(&self, headers: &HeaderMap) -> (ProxyStream, HeaderMap) {
        let ct = headers
            .get(http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok());
        let tap = self
            .format
            .map(|f| UsageTap::with_encoding(f, response_is_stream(ct), content_encoding(headers)));
        (
            ProxyStream {
                tap,
                pricer: self.pricer.clone(),
                usage: Usage::default(),
            },
            answer_headers(headers),
        )
    }

    fn forwards_status(&self) -> bool {
        true
    }
}

/// The answer's `Content-Encoding`, for the tap (the client gets the bytes as sent).
fn content_encoding(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(http::header::CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok())
}

/// Copies each chunk through and feeds the tap.
pub struct ProxyStream {
    tap: Option<UsageTap>,
    pricer: Pricer,
    usage: Usage,
}

impl StreamReader for ProxyStream {
    fn feed(&mut self, bytes: &[u8], out: &mut Vec<u8>) -> Result<(), ProviderError> {
        if let Some(t) = &mut self.tap {
            t.feed(bytes);
        }
        out.extend_from_slice(bytes);
        Ok(())
    }

    fn finish(&mut self, _out: &mut Vec<u8>) -> Result<(), ProviderError> {
        if let Some(t) = &mut self.tap {
            self.usage = self.pricer.priced(t.finish());
        }
        Ok(())
    }

    fn usage(&self) -> &Usage {
        &self.usage
    }

    fn error_frame(&self, _e: &ProviderError) -> Option<Vec<u8>> {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(
                HeaderName::from_bytes(k.as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
        }
        h
    }

    #[test]
    fn gateway_key_places_and_modes() {
        let own = headers(&[
            ("authorization", "Bearer sk-own"),
            ("x-switchyard-auth", "Bearer sy-k"),
        ]);
        let a = gateway_auth(&own, None).unwrap();
        assert_eq!(
            (a.bearer.as_str(), a.from, a.inject),
            ("Bearer sy-k", "x-switchyard-auth", false)
        );

        let alone = headers(&[("authorization", "Bearer sy-k")]);
        let a = gateway_auth(&alone, None).unwrap();
        assert_eq!((a.from, a.inject), ("authorization", true));

        let anthropic_sdk = headers(&[("x-api-key", "sy-k")]);
        let a = gateway_auth(&anthropic_sdk, None).unwrap();
        assert_eq!(
            (a.bearer.as_str(), a.from, a.inject),
            ("Bearer sy-k", "x-api-key", true)
        );

        let helicone = headers(&[
            ("helicone-auth", "Bearer sy-k"),
            ("x-api-key", "sk-ant-own"),
        ]);
        let a = gateway_auth(&helicone, None).unwrap();
        assert_eq!((a.from, a.inject), ("helicone-auth", false));

        let gemini_query = headers(&[("x-switchyard-auth", "Bearer sy-k")]);
        assert!(
            !gateway_auth(&gemini_query, Some("alt=sse&key=AIza"))
                .unwrap()
                .inject
        );
        assert!(gateway_auth(&gemini_query, Some("alt=sse")).unwrap().inject);

        assert!(gateway_auth(&headers(&[("authorization", "Bearer sk-own")]), None).is_none());
    }

    #[test]
    fn strips_only_the_gateways_and_hop_by_hop_headers() {
        let incoming = headers(&[
            ("authorization", "Bearer sk-own"),
            ("x-switchyard-auth", "Bearer sy-k"),
            ("x-switchyard-user-id", "u"),
            ("helicone-property-app", "x"),
            ("host", "gateway"),
            ("connection", "keep-alive, x-drop-me"),
            ("x-drop-me", "1"),
            ("keep-alive", "timeout=5"),
            ("transfer-encoding", "chunked"),
            ("content-length", "12"),
            ("anthropic-version", "2023-06-01"),
            ("x-custom", "a"),
            ("x-custom", "b"),
            ("user-agent", "sdk/1"),
            ("accept-encoding", "gzip, deflate"),
        ]);
        let auth = gateway_auth(&incoming, None).unwrap();
        let out = upstream_headers(&incoming, Some(&auth));
        let names: Vec<_> = out.keys().map(|k| k.as_str().to_owned()).collect();
        assert_eq!(
            names,
            [
                "authorization",
                "anthropic-version",
                "x-custom",
                "user-agent",
                "accept-encoding"
            ]
        );
        assert_eq!(out.get_all("x-custom").iter().count(), 2);
        assert_eq!(out["authorization"], "Bearer sk-own");
        // As sent: a compressed answer is read by the tap, not avoided.
        assert_eq!(out["accept-encoding"], "gzip, deflate");
    }

    #[test]
    fn bedrock_regions_from_hosts() {
        let r = |u: &str| bedrock_region(u);
        assert_eq!(
            r("https://bedrock-runtime.eu-west-3.amazonaws.com/model/x/invoke").as_deref(),
            Some("eu-west-3")
        );
        assert_eq!(
            r("https://bedrock-runtime.fips.us-east-1.amazonaws.com/m").as_deref(),
            Some("us-east-1")
        );
        assert_eq!(r("http://127.0.0.1:9/model/x/invoke"), None);
    }
}
