//! The response-cache key and TTL (pure, no I/O).
//!
//! The key is SHA-256 over, length-prefixed: a version tag, the org id, the model string as the
//! caller wrote it, the `x-switchyard-cache-seed` (or `Helicone-Cache-Seed`) value, and the
//! request body in a canonical form:
//! - object keys sorted (byte order), no whitespace, strings escaped as serde_json does;
//! - numbers that are whole and exact in an `f64` written as integers (`1.0` and `1` are the
//!   same temperature), others in serde_json's shortest form;
//! - at the top level, the fields of [`IGNORED_FIELDS`] removed, and the fields named in
//!   `x-switchyard-cache-ignore-keys` (or `Helicone-Cache-Ignore-Keys`; a comma list of
//!   top-level names).
//!
//! Everything else counts, including `n`, `seed`, `temperature`, `max_tokens`, `tools`,
//! `response_format`, `logprobs`, `parallel_tool_calls` and `service_tier`: each can change
//! the answer (or how many answers there are).

use std::fmt::Write as _;
use std::time::Duration;

use serde_json::Value;
use sha2::{Digest, Sha256};

/// Top-level request fields that do not change the answer, so they are not part of the key:
/// - `stream`, `stream_options`: how the answer is delivered (a cached whole answer is replayed
///   as a stream, with a usage chunk when asked);
/// - `user`, `safety_identifier`: the end user, for the provider's abuse monitoring;
/// - `metadata`, `store`: OpenAI's stored-completions bookkeeping;
/// - `prompt_cache_key`: a hint for the provider's own prompt cache.
pub const IGNORED_FIELDS: &[&str] = &[
    "stream",
    "stream_options",
    "user",
    "safety_identifier",
    "metadata",
    "store",
    "prompt_cache_key",
];

/// Headers that switch caching on for one request (value `true`).
pub const ENABLE_HEADERS: [&str; 2] = ["x-switchyard-cache", "helicone-cache-enabled"];
pub const IGNORE_KEYS_HEADERS: [&str; 2] = [
    "x-switchyard-cache-ignore-keys",
    "helicone-cache-ignore-keys",
];
pub const SEED_HEADERS: [&str; 2] = ["x-switchyard-cache-seed", "helicone-cache-seed"];

/// A response-cache key.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct CacheKey(pub [u8; 32]);

impl CacheKey {
    pub fn hex(&self) -> String {
        hex::encode(self.0)
    }
}

/// The key of a request. `ignore_keys` is the raw comma list of the ignore-keys header.
pub fn cache_key(
    org: &str,
    model: &str,
    body: &Value,
    ignore_keys: Option<&str>,
    seed: Option<&str>,
) -> CacheKey {
    let ignored: Vec<&str> = ignore_keys
        .unwrap_or("")
        .split(',')
        .map(str::trim)
        .filter(|k| !k.is_empty())
        .collect();
    let mut canon = String::with_capacity(512);
    write_top(&mut canon, body, &ignored);
    let mut h = Sha256::new();
    for part in [
        "switchyard-cache-v1",
        org,
        model,
        seed.unwrap_or(""),
        canon.as_str(),
    ] {
        h.update((part.len() as u64).to_be_bytes());
        h.update(part.as_bytes());
    }
    // "No seed" and "empty seed" stay apart.
    h.update([u8::from(seed.is_some())]);
    CacheKey(h.finalize().into())
}

/// The canonical text of a body as the key sees it (for tests and debugging).
pub fn canonical_body(body: &Value, ignore_keys: &[&str]) -> String {
    let mut s = String::new();
    write_top(&mut s, body, ignore_keys);
    s
}

fn write_top(out: &mut String, body: &Value, ignore: &[&str]) {
    match body {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map
                .keys()
                .filter(|k| !IGNORED_FIELDS.contains(&k.as_str()) && !ignore.contains(&k.as_str()))
                .collect();
            keys.sort_unstable();
            write_object(out, keys.into_iter().map(|k| (k, &map[k])));
        }
        other => write_value(out, other),
    }
}

fn write_object<'a>(out: &mut String, entries: impl Iterator<Item = (&'a String, &'a Value)>) {
    out.push('{');
    for (i, (k, v)) in entries.enumerate() {
        if i > 0 {
            out.push(',');
        }
        write_string(out, k);
        out.push(':');
        write_value(out, v);
    }
    out.push('}');
}

fn write_value(out: &mut String, v: &Value) {
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => write_number(out, n),
        Value::String(s) => write_string(out, s),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_value(out, item);
            }
            out.push(']');
        }
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort_unstable();
            write_object(out, keys.into_iter().map(|k| (k, &map[k])));
        }
    }
}

fn write_number(out: &mut String, n: &serde_json::Number) {
    if let Some(i) = n.as_i64() {
        let _ = write!(out, "{i}");
    } else if let Some(u) = n.as_u64() {
        let _ = write!(out, "{u}");
    } else if let Some(f) = n.as_f64() {
        // 2^53: beyond it an f64 is not exact, so keep its own spelling.
        if f.fract() == 0.0 && f.abs() < 9_007_199_254_740_992.0 {
            let _ = write!(out, "{}", f as i64);
        } else {
            let _ = write!(out, "{n}");
        }
    }
}

fn write_string(out: &mut String, s: &str) {
    // serde_json's escaping: the same string always gives the same bytes.
    out.push_str(&serde_json::to_string(s).expect("a string serialises"));
}

/// What `Cache-Control` asks of the cache for one request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CacheControl {
    /// Whether a stored answer may be served.
    pub lookup: bool,
    /// How long the answer may be stored; `None` = do not store.
    pub store_ttl: Option<Duration>,
}

/// Reads a request's `Cache-Control`: `max-age=N` sets the TTL (bounded to `max`; 0 = do not
/// store), `no-store` turns the cache off for the request, `no-cache` skips the lookup but
/// stores the fresh answer. Without the header (or `max-age`) the TTL is `default`.
pub fn cache_control(header: Option<&str>, default: Duration, max: Duration) -> CacheControl {
    let mut cc = CacheControl {
        lookup: true,
        store_ttl: Some(default.min(max)),
    };
    let Some(header) = header else { return cc };
    let mut no_store = false;
    for directive in header.split(',').map(str::trim) {
        let (name, value) = directive.split_once('=').unwrap_or((directive, ""));
        match name.trim().to_ascii_lowercase().as_str() {
            "no-store" => no_store = true,
            "no-cache" => cc.lookup = false,
            "max-age" => {
                // A malformed max-age is ignored (RFC 9111 §4.2.1: treat as absent).
                if let Ok(secs) = value.trim().trim_matches('"').parse::<u64>() {
                    cc.store_ttl = (secs > 0).then(|| Duration::from_secs(secs).min(max));
                }
            }
            _ => {}
        }
    }
    if no_store {
        return CacheControl {
            lookup: false,
            store_ttl: None,
        };
    }
    cc
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn canonical_form_sorts_and_normalises_numbers() {
        let body = json!({"b": 1.0, "a": {"z": [1, 2.5], "y": "é\n"}, "stream": true});
        assert_eq!(
            canonical_body(&body, &[]),
            r#"{"a":{"y":"é\n","z":[1,2.5]},"b":1}"#
        );
    }
}
