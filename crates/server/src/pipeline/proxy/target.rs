//! Where a proxied request goes, and whether it may go there.
//!
//! - `/{provider}/{rest}`: a registry provider whose base URL is fixed (in the registry, or by
//!   `providers.<id>.base_url` in config); the rest of the path and the query are appended.
//!   The URL comes from the operator, so it is trusted as the unified route trusts it.
//! - `/proxy/{rest}` with `x-switchyard-target-url: https://host[:port]`: the caller names the
//!   origin. The URL (origin + path) must be an approved domain of `crates/detect` (first
//!   match wins), https only (the LOCAL pattern only with `[proxy] allow_local`), and every
//!   address its host resolves to must be public: checked here for a clear 403, and again by
//!   the proxy's HTTP client when it connects (so a second DNS answer cannot point it inward).

use std::collections::HashMap;
use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::pin::Pin;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use switchyard_detect::Detector;
use switchyard_registry::{Provider, Registry};

use crate::config::Config;
use crate::error::ApiError;
use crate::state::AppState;

/// The header naming a `/proxy/...` request's target origin.
pub const TARGET_HEADER: &str = "x-switchyard-target-url";

/// A DNS lookup: the addresses of a host name.
pub type Lookup = Pin<Box<dyn Future<Output = std::io::Result<Vec<IpAddr>>> + Send>>;

/// Resolves host names for the proxy; the system's by default, a table in tests.
pub trait HostResolver: Send + Sync + 'static {
    fn lookup(&self, host: &str) -> Lookup;
}

/// The operating system's resolver.
pub struct SystemResolver;

impl HostResolver for SystemResolver {
    fn lookup(&self, host: &str) -> Lookup {
        let host = host.to_owned();
        Box::pin(async move {
            let addrs = tokio::net::lookup_host((host.as_str(), 0)).await?;
            Ok(addrs.map(|a| a.ip()).collect())
        })
    }
}

/// Whether an address is on the public internet: not loopback, private, link-local, CGNAT,
/// multicast, unspecified or otherwise reserved (IPv4 inside IPv6 judged as IPv4).
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public_v4(v4);
            }
            let s = v6.segments();
            // NAT64 (64:ff9b::/96) reaches the IPv4 address in its last 32 bits.
            if s[0] == 0x64 && s[1] == 0xff9b && s[2..6] == [0, 0, 0, 0] {
                let o = v6.octets();
                return is_public_v4(Ipv4Addr::new(o[12], o[13], o[14], o[15]));
            }
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (s[0] & 0xfe00) == 0xfc00 // unique local fc00::/7
                || (s[0] & 0xffc0) == 0xfe80 // link-local fe80::/10
                || (s[0] & 0xffc0) == 0xfec0 // site-local fec0::/10 (deprecated)
                || v6 == Ipv6Addr::new(0, 0, 0, 0, 0, 0, 0, 1)
                // IPv4-compatible ::a.b.c.d (deprecated): never a public destination.
                || (s[0..6] == [0, 0, 0, 0, 0, 0]))
        }
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let o = ip.octets();
    !(ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_multicast()
        || ip.is_unspecified()
        || ip.is_broadcast()
        || o[0] == 0 // "this network" 0.0.0.0/8
        || (o[0] == 100 && (o[1] & 0xc0) == 64) // CGNAT 100.64.0.0/10
        || o[0] >= 240) // reserved 240.0.0.0/4
}

/// The swappable resolver behind both the pre-check and the proxy client.
#[derive(Clone)]
struct SharedResolver(Arc<RwLock<Arc<dyn HostResolver>>>);

impl SharedResolver {
    fn get(&self) -> Arc<dyn HostResolver> {
        self.0.read().expect("resolver lock").clone()
    }
}

/// The proxy client's DNS: only public addresses, whatever the resolver answers.
struct PublicOnly(SharedResolver);

impl reqwest::dns::Resolve for PublicOnly {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let lookup = self.0.get().lookup(name.as_str());
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let ips = lookup.await?;
            let public: Vec<SocketAddr> = ips
                .into_iter()
                .filter(|ip| is_public(*ip))
                .map(|ip| SocketAddr::new(ip, 0))
                .collect();
            if public.is_empty() {
                return Err(format!("{host} resolves to no public address").into());
            }
            Ok(Box::new(public.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

/// What the proxy front door shares between requests.
pub struct ProxyState {
    pub detector: Detector,
    /// For caller-named targets: no redirects, public addresses only.
    pub client: reqwest::Client,
    pub allow_local: bool,
    resolver: SharedResolver,
    /// Providers of approved domains the registry does not have (LLAMA, TOGETHER, LOCAL...):
    /// OpenAI-compatible, caller's key only.
    unlisted: HashMap<String, Provider>,
}

/// The id a detected provider goes by: its registry id, else its legacy name in lower case.
fn unlisted_id(name: &str) -> String {
    name.to_ascii_lowercase()
}

impl ProxyState {
    pub fn new(config: &Config, registry: &Registry) -> Result<ProxyState, String> {
        let detector =
            Detector::from_registry(registry).map_err(|e| format!("proxy detector: {e}"))?;
        let resolver = SharedResolver(Arc::new(RwLock::new(Arc::new(SystemResolver))));
        let client = reqwest::Client::builder()
            .connect_timeout(config.connect_timeout())
            .read_timeout(config.request_timeout())
            .pool_idle_timeout(Duration::from_secs(90))
            .tcp_nodelay(true)
            .redirect(reqwest::redirect::Policy::none())
            .dns_resolver(Arc::new(PublicOnly(resolver.clone())))
            .build()
            .map_err(|e| format!("proxy http client: {e}"))?;
        let template = registry
            .provider("openai")
            .ok_or("the registry has no openai provider")?;
        let mut unlisted = HashMap::new();
        for e in detector.patterns().entries() {
            if e.registry.is_none() {
                let mut p = template.clone();
                p.id = unlisted_id(&e.name);
                p.name = e.name.clone();
                p.base_url = String::new();
                unlisted.insert(p.id.clone(), p);
            }
        }
        Ok(ProxyState {
            detector,
            client,
            allow_local: config.proxy.allow_local,
            resolver,
            unlisted,
        })
    }

    /// Replaces the resolver (tests point names at chosen addresses).
    pub fn set_resolver(&self, resolver: Arc<dyn HostResolver>) {
        *self.resolver.0.write().expect("resolver lock") = resolver;
    }

    /// A provider by id: the registry's, or an unlisted one of the URL table.
    pub fn provider<'s>(&'s self, registry: &'s Registry, id: &str) -> Option<&'s Provider> {
        registry.provider(id).or_else(|| self.unlisted.get(id))
    }
}

/// Where one request goes.
#[derive(Clone, Debug)]
pub struct Resolved {
    /// Registry provider id (or an unlisted provider's lower-case legacy name).
    pub provider: String,
    /// The whole upstream URL: origin, path, query.
    pub url: String,
    /// The path and query sent upstream (for the usage format and the model).
    pub path: String,
    pub query: Option<String>,
    /// Named by the caller (`/proxy/...`): sent with the checking client.
    pub caller_named: bool,
    /// The LOCAL pattern: any API shape may be behind it.
    pub local: bool,
}

fn refuse(message: String) -> ApiError {
    ApiError::TargetNotAllowed(message)
}

fn not_found(message: String) -> ApiError {
    ApiError::NotFound {
        message,
        code: "unknown_route",
    }
}

/// `/{first}/{rest}` → the target, or `None` when `first` is no proxy prefix (the request is
/// then an unknown route). The DNS check of caller-named targets is [`check_addresses`].
pub fn resolve(
    state: &AppState,
    path: &str,
    query: Option<&str>,
    target_header: Option<&str>,
) -> Option<Result<Resolved, ApiError>> {
    let trimmed = path.strip_prefix('/')?;
    let (first, rest) = match trimmed.split_once('/') {
        Some((f, r)) => (f, r),
        None => (trimmed, ""),
    };
    let rest_path = format!("/{rest}");
    let tail = |base: &str| match query {
        Some(q) => format!("{base}{rest_path}?{q}"),
        None => format!("{base}{rest_path}"),
    };
    if first == "proxy" {
        return Some(resolve_named(state, &rest_path, query, target_header, tail));
    }
    let provider = state.registry.provider(first)?;
    let base = match state.base_urls.get(&provider.id) {
        Some(b) => b.clone(),
        None if provider.base_url.contains('{') => {
            return Some(Err(not_found(format!(
                "`/{first}/...` needs a fixed base URL, and {first}'s depends on the deployment: use `/proxy/...` with `{TARGET_HEADER}: https://<your {first} host>`"
            ))))
        }
        None => provider.base_url.trim_end_matches('/').to_owned(),
    };
    Some(Ok(Resolved {
        provider: provider.id.clone(),
        url: tail(&base),
        path: rest_path,
        query: query.map(str::to_owned),
        caller_named: false,
        local: false,
    }))
}

fn resolve_named(
    state: &AppState,
    rest_path: &str,
    query: Option<&str>,
    target_header: Option<&str>,
    tail: impl Fn(&str) -> String,
) -> Result<Resolved, ApiError> {
    let Some(origin) = target_header.map(str::trim) else {
        return Err(ApiError::bad_request(
            format!(
                "`/proxy/...` needs the target origin in `{TARGET_HEADER}: https://host[:port]`"
            ),
            None,
        ));
    };
    let origin = origin.trim_end_matches('/');
    // An origin only: the path comes from the request, and a query or fragment there would
    // be forwarded unseen.
    let after_scheme = origin.split_once("://").map_or("", |(_, r)| r);
    if after_scheme.is_empty() || after_scheme.contains(['/', '?', '#']) {
        return Err(refuse(format!(
            "target {origin:?} is not allowed: `{TARGET_HEADER}` must be an origin only, like https://api.openai.com (the path comes from the request)"
        )));
    }
    let proxy = &state.proxy;
    let url = tail(origin);
    let detected = match proxy.detector.provider_by_url(&url) {
        Ok(d) => Ok((d.name.to_owned(), d.registry.map(str::to_owned))),
        Err(refusal) => Err(refusal),
    };
    let (name, registry, local) = match detected {
        Ok((name, registry)) if name != "LOCAL" => (name, registry, false),
        Ok(_) if !proxy.allow_local => return Err(local_off()),
        Ok((name, registry)) => (name, registry, true),
        Err(refusal) => {
            // LOCAL matches an origin with a version segment (`http://127.0.0.1:8787/v1`); the
            // request's own path goes after it.
            let first = rest_path
                .trim_start_matches('/')
                .split('/')
                .next()
                .unwrap_or("");
            match proxy.detector.provider_by_url(&format!("{origin}/{first}")) {
                Ok(d) if d.name == "LOCAL" && proxy.allow_local => (d.name.to_owned(), None, true),
                Ok(d) if d.name == "LOCAL" => return Err(local_off()),
                _ => {
                    return Err(refuse(format!(
                        "target {} is not allowed: {refusal}",
                        host_of(origin)
                    )))
                }
            }
        }
    };
    Ok(Resolved {
        provider: registry.unwrap_or_else(|| unlisted_id(&name)),
        url,
        path: rest_path.to_owned(),
        query: query.map(str::to_owned),
        caller_named: true,
        local,
    })
}

fn local_off() -> ApiError {
    refuse("target 127.0.0.1 is not allowed: the LOCAL pattern is off (set `[proxy] allow_local = true` or SWITCHYARD_PROXY_ALLOW_LOCAL=1)".into())
}

/// The host of an origin as written, for messages.
fn host_of(origin: &str) -> &str {
    let rest = origin.split_once("://").map_or(origin, |(_, r)| r);
    let rest = rest.rsplit_once('@').map_or(rest, |(_, h)| h);
    match rest.rsplit_once(':') {
        Some((h, port)) if port.bytes().all(|b| b.is_ascii_digit()) => h,
        _ => rest,
    }
}

/// Every address of a caller-named, non-LOCAL target's host must be public (403 otherwise);
/// runs before any connection is made.
pub async fn check_addresses(state: &AppState, target: &Resolved) -> Result<(), ApiError> {
    if !target.caller_named || target.local {
        return Ok(());
    }
    let host = url::Url::parse(&target.url)
        .ok()
        .and_then(|u| u.host_str().map(str::to_owned))
        .ok_or_else(|| refuse("target has no host".into()))?;
    let ips = state
        .proxy
        .resolver
        .get()
        .lookup(&host)
        .await
        .map_err(|e| refuse(format!("target {host} did not resolve: {e}")))?;
    if ips.is_empty() {
        return Err(refuse(format!("target {host} did not resolve")));
    }
    if let Some(ip) = ips.iter().find(|ip| !is_public(**ip)) {
        return Err(refuse(format!(
            "target {host} is not allowed: it resolves to {ip}, which is not a public address"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn public_and_internal_addresses() {
        let internal = [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "100.127.255.254",
            "224.0.0.1",
            "0.0.0.0",
            "0.1.2.3",
            "255.255.255.255",
            "240.0.0.1",
            "::1",
            "::",
            "fe80::1",
            "fc00::1",
            "fd12:3456::1",
            "ff02::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "64:ff9b::a00:1",
            "::10.0.0.1",
        ];
        for a in internal {
            assert!(!is_public(a.parse().unwrap()), "{a} counted as public");
        }
        let public = [
            "8.8.8.8",
            "104.18.6.192",
            "100.128.0.1",
            "172.32.0.1",
            "2606:4700::6812:6c0",
            "::ffff:8.8.8.8",
            "64:ff9b::808:808",
        ];
        for a in public {
            assert!(is_public(a.parse().unwrap()), "{a} counted as internal");
        }
    }

    #[test]
    fn host_of_origins() {
        assert_eq!(host_of("https://api.openai.com"), "api.openai.com");
        assert_eq!(host_of("https://evil.com:8443"), "evil.com");
        assert_eq!(host_of("https://a@evil.com"), "evil.com");
    }
}
