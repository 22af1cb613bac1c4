//! The rate-limit policy grammar (pure, no I/O).
//!
//! `QUOTA;w=SECONDS[;u=request|tokens|cents][;s=user|key|<property name>]`, Helicone's
//! `Helicone-RateLimit-Policy` grammar plus the `tokens` unit and the `key` scope:
//!
//! - `QUOTA` is the bucket capacity: a whole number ≥ 1 for `request` and `tokens`, a positive
//!   decimal for `cents` (`0.5;w=60;u=cents` is half a cent a minute, as in Helicone).
//! - `w` is the window in whole seconds, 60 to 31,536,000 (one year), as in Helicone. The bucket
//!   refills at `QUOTA / w` per second.
//! - `u` defaults to `request`. `s` defaults to the whole org (Helicone's "global", which is per
//!   org). `s=user` is the caller's user id, `s=key` the gateway key, anything else a custom
//!   property name (letters, digits, `_`, `-`; matched case-insensitively, stored lower-case).
//!
//! Parameter names and unit values are case-insensitive and may come in any order after the
//! quota; a parameter given twice is an error. Several policies are joined with `,` (the IETF
//! `RateLimit-Policy` list form). Every error names the part that is wrong, so the server can
//! answer 400 with it as is.

use std::fmt;
use std::str::FromStr;

use rust_decimal::prelude::ToPrimitive;
use rust_decimal::Decimal;

/// Helicone's bounds on `w`.
pub const MIN_WINDOW_SECS: u32 = 60;
pub const MAX_WINDOW_SECS: u32 = 31_536_000;
/// Largest quota accepted: far above any real limit, small enough that bucket arithmetic in
/// `f64` stays exact to well below one unit.
pub const MAX_QUOTA: u64 = 1_000_000_000_000;

/// What a bucket counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Unit {
    /// One per request, taken before the upstream call.
    Request,
    /// Prompt plus completion tokens, deducted after the answer.
    Tokens,
    /// US cents of the priced cost, deducted after the answer.
    Cents,
}

impl Unit {
    pub fn as_str(self) -> &'static str {
        match self {
            Unit::Request => "request",
            Unit::Tokens => "tokens",
            Unit::Cents => "cents",
        }
    }

    /// Whether the amount is known before the upstream call (only a request count is).
    pub fn is_upfront(self) -> bool {
        self == Unit::Request
    }
}

/// Whose bucket a request draws from.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum ScopeKind {
    /// One bucket for the whole org (no `s`).
    Org,
    /// One per user id (`s=user`).
    User,
    /// One per gateway key (`s=key`).
    Key,
    /// One per value of a custom property (`s=<name>`), the name lower-cased.
    Property(String),
}

/// One parsed policy.
#[derive(Clone, Debug, PartialEq)]
pub struct Policy {
    /// The capacity, exactly as written (for `cents` it may have a fraction).
    pub quota: Decimal,
    pub window_secs: u32,
    pub unit: Unit,
    pub scope: ScopeKind,
    /// The canonical spelling, used in bucket keys and the `-policy` header: defaults omitted,
    /// parameters in grammar order, lower-case.
    canonical: String,
    quota_f64: f64,
}

/// A policy string that cannot be used; the message names the part that is wrong.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    #[error("rate-limit policy is empty (expected QUOTA;w=SECONDS[;u=UNIT][;s=SCOPE])")]
    Empty,
    #[error("quota must be {expected}, got {got:?}")]
    Quota { expected: &'static str, got: String },
    #[error("w is required (the window in seconds, e.g. \"100;w=60\")")]
    MissingWindow,
    #[error("w must be a whole number of seconds >= {MIN_WINDOW_SECS}, got {0:?}")]
    Window(String),
    #[error("w must be at most {MAX_WINDOW_SECS} seconds (one year), got {0:?}")]
    WindowTooLong(String),
    #[error("u must be request, tokens or cents, got {0:?}")]
    Unit(String),
    #[error("s must be user, key or a property name of letters, digits, _ and -, got {0:?}")]
    Scope(String),
    #[error("{0:?} is not a NAME=VALUE parameter (expected w=, u= or s=)")]
    Malformed(String),
    #[error("unknown parameter {0:?} (expected w, u or s)")]
    UnknownParameter(String),
    #[error("{0} is given twice")]
    Duplicate(&'static str),
    /// One policy of a `,` list is wrong: which one, and why.
    #[error("policy {index} ({text:?}): {source}")]
    InList {
        index: usize,
        text: String,
        source: Box<PolicyError>,
    },
}

impl Policy {
    /// The canonical policy string (`20;w=60;s=user`).
    pub fn as_str(&self) -> &str {
        &self.canonical
    }

    /// The quota as a float, for bucket arithmetic.
    pub fn quota_f64(&self) -> f64 {
        self.quota_f64
    }

    /// Parses one policy.
    pub fn parse(text: &str) -> Result<Policy, PolicyError> {
        let text = text.trim();
        if text.is_empty() {
            return Err(PolicyError::Empty);
        }
        let mut parts = text.split(';').map(str::trim);
        let quota_text = parts.next().unwrap_or_default();
        let (mut window, mut unit, mut scope) = (None, None, None);
        for part in parts {
            // A trailing `;` is harmless.
            if part.is_empty() {
                continue;
            }
            let Some((name, value)) = part.split_once('=') else {
                return Err(PolicyError::Malformed(part.to_owned()));
            };
            let value = value.trim();
            match name.trim().to_ascii_lowercase().as_str() {
                "w" => set_once(&mut window, "w", parse_window(value)?)?,
                "u" => set_once(&mut unit, "u", parse_unit(value)?)?,
                "s" => set_once(&mut scope, "s", parse_scope(value)?)?,
                other => return Err(PolicyError::UnknownParameter(other.to_owned())),
            }
        }
        let unit = unit.unwrap_or(Unit::Request);
        let quota = parse_quota(quota_text, unit)?;
        let window_secs = window.ok_or(PolicyError::MissingWindow)?;
        let scope = scope.unwrap_or(ScopeKind::Org);
        let canonical = canonical(quota, window_secs, unit, &scope);
        Ok(Policy {
            quota_f64: quota.to_f64().unwrap_or(f64::MAX),
            quota,
            window_secs,
            unit,
            scope,
            canonical,
        })
    }

    /// Parses a `,`-separated list (a header may carry several). Empty items are skipped; an
    /// empty or blank list is no policy at all.
    pub fn parse_list(text: &str) -> Result<Vec<Policy>, PolicyError> {
        text.split(',')
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .enumerate()
            .map(|(i, p)| {
                Policy::parse(p).map_err(|e| PolicyError::InList {
                    index: i + 1,
                    text: p.to_owned(),
                    source: Box::new(e),
                })
            })
            .collect()
    }
}

impl FromStr for Policy {
    type Err = PolicyError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Policy::parse(s)
    }
}

impl fmt::Display for Policy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.canonical)
    }
}

fn set_once<T>(slot: &mut Option<T>, name: &'static str, value: T) -> Result<(), PolicyError> {
    if slot.is_some() {
        return Err(PolicyError::Duplicate(name));
    }
    *slot = Some(value);
    Ok(())
}

fn parse_quota(text: &str, unit: Unit) -> Result<Decimal, PolicyError> {
    let whole = unit != Unit::Cents;
    let err = || PolicyError::Quota {
        expected: if whole {
            "a whole number >= 1"
        } else {
            "a positive number of cents"
        },
        got: text.to_owned(),
    };
    // Digits with an optional fraction: no sign, exponent or spaces, as in Helicone's grammar.
    let (int, frac) = text.split_once('.').unwrap_or((text, ""));
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if int.is_empty() || !digits(int) || !digits(frac) || (text.contains('.') && frac.is_empty()) {
        return Err(err());
    }
    if whole && !frac.is_empty() {
        return Err(err());
    }
    let q = Decimal::from_str(text).map_err(|_| err())?.normalize();
    if q <= Decimal::ZERO || q > Decimal::from(MAX_QUOTA) {
        return Err(err());
    }
    Ok(q)
}

fn parse_window(value: &str) -> Result<u32, PolicyError> {
    if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
        return Err(PolicyError::Window(value.to_owned()));
    }
    // All digits: a parse failure can only be overflow, which is "too long".
    let w: u64 = value
        .parse()
        .map_err(|_| PolicyError::WindowTooLong(value.to_owned()))?;
    if w < u64::from(MIN_WINDOW_SECS) {
        return Err(PolicyError::Window(value.to_owned()));
    }
    if w > u64::from(MAX_WINDOW_SECS) {
        return Err(PolicyError::WindowTooLong(value.to_owned()));
    }
    Ok(w as u32)
}

fn parse_unit(value: &str) -> Result<Unit, PolicyError> {
    match value.to_ascii_lowercase().as_str() {
        "request" => Ok(Unit::Request),
        "tokens" => Ok(Unit::Tokens),
        "cents" => Ok(Unit::Cents),
        _ => Err(PolicyError::Unit(value.to_owned())),
    }
}

fn parse_scope(value: &str) -> Result<ScopeKind, PolicyError> {
    let ok = !value.is_empty()
        && value.len() <= 64
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if !ok {
        return Err(PolicyError::Scope(value.to_owned()));
    }
    let name = value.to_ascii_lowercase();
    Ok(match name.as_str() {
        "user" => ScopeKind::User,
        "key" => ScopeKind::Key,
        _ => ScopeKind::Property(name),
    })
}

fn canonical(quota: Decimal, w: u32, unit: Unit, scope: &ScopeKind) -> String {
    let mut s = format!("{quota};w={w}");
    if unit != Unit::Request {
        s.push_str(";u=");
        s.push_str(unit.as_str());
    }
    match scope {
        ScopeKind::Org => {}
        ScopeKind::User => s.push_str(";s=user"),
        ScopeKind::Key => s.push_str(";s=key"),
        ScopeKind::Property(name) => {
            s.push_str(";s=");
            s.push_str(name);
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_canonical_form() {
        let p = Policy::parse("100;w=60").unwrap();
        assert_eq!(p.quota, Decimal::from(100));
        assert_eq!(p.window_secs, 60);
        assert_eq!(p.unit, Unit::Request);
        assert_eq!(p.scope, ScopeKind::Org);
        assert_eq!(p.as_str(), "100;w=60");
        let p = Policy::parse(" 20 ; S=User ; W=3600 ; u=TOKENS ; ").unwrap();
        assert_eq!(p.as_str(), "20;w=3600;u=tokens;s=user");
        let p = Policy::parse("0.50;w=60;u=cents;s=Team-A").unwrap();
        assert_eq!(p.as_str(), "0.5;w=60;u=cents;s=team-a");
        assert_eq!(p.scope, ScopeKind::Property("team-a".into()));
        assert_eq!(Policy::parse("5;w=60;s=key").unwrap().scope, ScopeKind::Key);
        assert_eq!(
            Policy::parse("5;w=60;u=request").unwrap().as_str(),
            "5;w=60"
        );
    }

    #[test]
    fn list_names_the_bad_item() {
        let ps = Policy::parse_list("100;w=60, 1000;w=3600;s=user,").unwrap();
        assert_eq!(ps.len(), 2);
        assert!(Policy::parse_list("  ").unwrap().is_empty());
        let err = Policy::parse_list("100;w=60,10;w=5").unwrap_err();
        assert_eq!(
            err.to_string(),
            "policy 2 (\"10;w=5\"): w must be a whole number of seconds >= 60, got \"5\""
        );
    }
}
