//! Parsing a target URL into the canonical form the provider patterns match, refusing anything
//! ambiguous on the way.
//!
//! The reference tests its regexes on the raw string, so `https://api.openai.com.evil.com` or
//! `https://api.openai.com@evil.com` pass its unanchored prefix patterns. Here the URL is parsed
//! with the `url` crate (the parser our HTTP client uses), and the patterns see only
//! `scheme://host[:port]/path` rebuilt from the parsed parts, with host patterns anchored on both
//! ends. Anything the parser would silently rewrite in the host (percent-encoding, unicode, IP
//! shorthand like `127.1`) is refused rather than normalised, so what we approve is exactly what
//! the caller wrote.

use url::{Host, Url};

/// Why a URL does not resolve to an approved provider.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("not a valid absolute URL ({0})")]
    Malformed(String),
    #[error("the URL contains whitespace, control, non-ASCII or backslash characters")]
    AmbiguousCharacters,
    #[error("scheme `{0}` is not allowed; provider URLs must use https")]
    Scheme(String),
    #[error("the URL carries user info (`user@host`), which hides the real host")]
    UserInfo,
    #[error(
        "the host is percent-encoded, internationalised or otherwise not written in canonical form"
    )]
    NonCanonicalHost,
    #[error("punycode (`xn--`) host labels are not allowed")]
    Punycode,
    #[error("the host ends with a dot")]
    TrailingDot,
    #[error("IP-address hosts are not allowed (only the LOCAL loopback pattern)")]
    IpLiteral,
    #[error("non-default port {0} is not allowed (only the LOCAL loopback pattern)")]
    Port(u16),
    #[error("host `{0}` matches no provider pattern")]
    UnknownHost(String),
    #[error("no provider pattern matches `{0}`")]
    NoPattern(String),
}

/// A URL that passed the structural checks, with the string the patterns are matched against.
#[derive(Clone, Debug)]
pub struct CheckedUrl {
    pub url: Url,
    /// `scheme://host[:port]/path`, no query or fragment; host lowercase.
    pub canonical: String,
}

impl CheckedUrl {
    /// The reason to give when no pattern matched this URL: the most specific structural
    /// property that the patterns reject, else the host itself.
    pub fn no_match_reason(&self) -> Refusal {
        if self.url.scheme() != "https" {
            return Refusal::Scheme(self.url.scheme().to_string());
        }
        match self.url.host() {
            Some(Host::Ipv4(_) | Host::Ipv6(_)) => return Refusal::IpLiteral,
            Some(Host::Domain(_)) | None => {}
        }
        if let Some(port) = self.url.port() {
            return Refusal::Port(port);
        }
        match self.url.host_str() {
            Some(host) => Refusal::UnknownHost(host.to_string()),
            None => Refusal::NoPattern(self.canonical.clone()),
        }
    }
}

/// The authority (`user@host:port`) as written, between `scheme://` and the path.
fn raw_authority(input: &str) -> Option<&str> {
    let rest = &input[input.find("://")? + 3..];
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    Some(&rest[..end])
}

/// The host as written in an authority that has no user info: the port, if any, removed.
fn raw_host(authority: &str) -> &str {
    if authority.starts_with('[') {
        // IPv6 literal: the port, if any, follows the closing bracket.
        return match authority.find(']') {
            Some(i) => &authority[..=i],
            None => authority,
        };
    }
    match authority.rfind(':') {
        Some(i) => &authority[..i],
        None => authority,
    }
}

/// Parses and structurally checks a URL. Pattern matching is the caller's next step.
pub fn check_url(input: &str) -> Result<CheckedUrl, Refusal> {
    // The URL parser strips or rewrites these (tabs and newlines vanish, `\` becomes `/`), so
    // the string a log shows would differ from the URL requested.
    if input
        .bytes()
        .any(|b| !(0x21..0x7f).contains(&b) || b == b'\\')
    {
        return Err(Refusal::AmbiguousCharacters);
    }
    let url = Url::parse(input).map_err(|e| Refusal::Malformed(e.to_string()))?;
    match url.scheme() {
        "https" | "http" => {}
        other => return Err(Refusal::Scheme(other.to_string())),
    }
    // `https:api.openai.com` and `https:/api.openai.com` parse as special-scheme URLs; insist
    // on the written `scheme://` so the raw authority below is the one the parser used.
    let scheme_len = url.scheme().len();
    let written = input.get(..scheme_len + 3);
    if !written.is_some_and(|p| {
        p[..scheme_len].eq_ignore_ascii_case(url.scheme()) && &p[scheme_len..] == "://"
    }) {
        return Err(Refusal::Malformed("expected `scheme://host`".to_string()));
    }
    let authority = raw_authority(input).ok_or_else(|| Refusal::Malformed("no host".into()))?;
    if authority.contains('@') || !url.username().is_empty() || url.password().is_some() {
        return Err(Refusal::UserInfo);
    }
    let host = url
        .host_str()
        .ok_or_else(|| Refusal::Malformed("no host".to_string()))?;
    if !raw_host(authority).eq_ignore_ascii_case(host) {
        return Err(Refusal::NonCanonicalHost);
    }
    if host.ends_with('.') {
        return Err(Refusal::TrailingDot);
    }
    if host.split('.').any(|label| label.starts_with("xn--")) {
        return Err(Refusal::Punycode);
    }
    let mut canonical = String::with_capacity(input.len());
    canonical.push_str(url.scheme());
    canonical.push_str("://");
    canonical.push_str(host);
    if let Some(port) = url.port() {
        canonical.push(':');
        canonical.push_str(&port.to_string());
    }
    canonical.push_str(url.path());
    Ok(CheckedUrl { url, canonical })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_form_drops_query_default_port_and_case() {
        let c = check_url("https://API.OpenAI.com:443/v1/chat?x=1#f").unwrap();
        assert_eq!(c.canonical, "https://api.openai.com/v1/chat");
        let c = check_url("http://127.0.0.1:8787/v1").unwrap();
        assert_eq!(c.canonical, "http://127.0.0.1:8787/v1");
    }

    #[test]
    fn structural_refusals() {
        let cases = [
            ("https://api.openai.com@evil.com/", Refusal::UserInfo),
            ("https://user:pw@api.openai.com/", Refusal::UserInfo),
            ("https://api%2eopenai.com/", Refusal::NonCanonicalHost),
            ("https://api.openai.com./v1", Refusal::TrailingDot),
            ("https://xn--pi-7ka.openai.com/", Refusal::Punycode),
            (
                "https://api.openai.com\\@evil.com/",
                Refusal::AmbiguousCharacters,
            ),
            ("https://api.open\tai.com/", Refusal::AmbiguousCharacters),
            (" https://api.openai.com/", Refusal::AmbiguousCharacters),
            ("ftp://api.openai.com/", Refusal::Scheme("ftp".into())),
            ("http://127.1:8080/v1", Refusal::NonCanonicalHost),
        ];
        for (url, want) in cases {
            assert_eq!(check_url(url).unwrap_err(), want, "{url}");
        }
        assert!(matches!(
            check_url("https:api.openai.com"),
            Err(Refusal::Malformed(_))
        ));
        assert!(matches!(
            check_url("api.openai.com/v1"),
            Err(Refusal::Malformed(_))
        ));
    }

    #[test]
    fn unicode_host_is_refused_before_idna_mapping() {
        // Fullwidth dot and a Cyrillic "а": both non-ASCII, refused before parsing.
        assert_eq!(
            check_url("https://api\u{ff0e}openai.com/").unwrap_err(),
            Refusal::AmbiguousCharacters
        );
        assert_eq!(
            check_url("https://\u{0430}pi.openai.com/").unwrap_err(),
            Refusal::AmbiguousCharacters
        );
    }

    #[test]
    fn reasons_for_unmatched_urls() {
        let r = |u: &str| check_url(u).unwrap().no_match_reason();
        assert_eq!(r("http://api.openai.com/"), Refusal::Scheme("http".into()));
        assert_eq!(r("https://10.0.0.1/"), Refusal::IpLiteral);
        assert_eq!(r("https://[::1]/"), Refusal::IpLiteral);
        assert_eq!(r("https://api.openai.com:8443/"), Refusal::Port(8443));
        assert_eq!(
            r("https://evil.com/"),
            Refusal::UnknownHost("evil.com".into())
        );
    }
}
