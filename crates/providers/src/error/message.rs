//! The provider's message out of an error body (JSON paths, HTML pages, plain text) and the
//! `Retry-After` it asked for.

use std::sync::LazyLock;
use std::time::{Duration, SystemTime};

use regex::Regex;
use serde_json::Value;

/// Messages longer than this are cut: an error line in a log is not the place for a whole body.
pub(crate) const MAX_MESSAGE_CHARS: usize = 600;

/// Looks up a dotted path (`error.message`, `detail.0.msg`, `0.error.message`).
pub fn json_path<'a>(v: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.').try_fold(v, |cur, seg| match cur {
        Value::Array(items) => seg.parse::<usize>().ok().and_then(|i| items.get(i)),
        Value::Object(map) => map.get(seg),
        _ => None,
    })
}

/// Shapes tried after the provider's own paths: OpenAI, AWS, FastAPI, Google arrays, bare string.
const COMMON_PATHS: &[&str] = &[
    "error.message",
    "message",
    "Message",
    "error",
    "detail",
    "0.error.message",
    "errors.0.message",
];

/// The provider's error text out of a JSON body, or `None` when no path matched.
pub fn json_message(v: &Value, paths: &[String]) -> Option<String> {
    paths
        .iter()
        .map(String::as_str)
        .chain(COMMON_PATHS.iter().copied())
        .filter_map(|p| json_path(v, p))
        .find_map(|m| match m {
            Value::String(s) if !s.trim().is_empty() => Some(s.clone()),
            // `detail` of FastAPI validation errors is a list of objects; keep it compact.
            Value::Array(_) | Value::Object(_) => Some(m.to_string()),
            Value::Number(n) => Some(n.to_string()),
            _ => None,
        })
}

/// A message for a body that is not JSON: empty, an HTML page, or plain text.
pub(crate) fn text_message(status: u16, body: &str) -> String {
    let reason = http::StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("");
    let trimmed = body.trim();
    if trimmed.is_empty() {
        return format!("empty response body (HTTP {status} {reason})").replace(" )", ")");
    }
    if looks_like_html(trimmed) {
        // A load balancer's error page: its title says what happened; the markup says nothing.
        let title = html_title(trimmed)
            .map(|t| format!(": {t}"))
            .unwrap_or_default();
        return format!("upstream returned an HTML error page (HTTP {status}){title}");
    }
    collapse_whitespace(trimmed)
}

fn looks_like_html(s: &str) -> bool {
    let head: String = s.chars().take(256).collect::<String>().to_ascii_lowercase();
    head.starts_with("<!doctype html")
        || head.starts_with("<html")
        || head.contains("<html")
        || (head.starts_with('<')
            && (head.contains("<head") || head.contains("<body") || head.contains("<title")))
}

fn html_title(s: &str) -> Option<String> {
    static TITLE: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(r"(?is)<title[^>]*>(.*?)</title>").expect("valid regex"));
    static H1: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(r"(?is)<h1[^>]*>(.*?)</h1>").expect("valid regex"));
    static TAGS: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"<[^>]*>").expect("valid regex"));
    let raw = TITLE
        .captures(s)
        .or_else(|| H1.captures(s))
        .map(|c| c[1].to_owned())?;
    let text = collapse_whitespace(&TAGS.replace_all(&raw, " "));
    (!text.is_empty()).then(|| text.chars().take(120).collect())
}

fn collapse_whitespace(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

pub(crate) fn clip(s: &str) -> String {
    if s.chars().count() <= MAX_MESSAGE_CHARS {
        return s.to_owned();
    }
    let mut out: String = s.chars().take(MAX_MESSAGE_CHARS).collect();
    out.push('…');
    out
}

/// `Retry-After` (seconds or an HTTP date) or the millisecond variants some providers send
/// (`retry-after-ms` on OpenAI/Azure). A date in the past means "now".
pub fn retry_after(headers: &http::HeaderMap, now: SystemTime) -> Option<Duration> {
    let get = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
    };
    if let Some(ms) = get("retry-after-ms").and_then(|v| v.parse::<f64>().ok()) {
        if ms.is_finite() && ms >= 0.0 {
            return Some(Duration::from_millis(ms as u64));
        }
    }
    let v = get("retry-after")?;
    if let Ok(secs) = v.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    if let Ok(secs) = v.parse::<f64>() {
        return (secs.is_finite() && secs >= 0.0).then(|| Duration::from_secs_f64(secs));
    }
    let at = parse_http_date(v)?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

/// IMF-fixdate, the only form RFC 9110 says senders generate: `Sun, 06 Nov 1994 08:49:37 GMT`.
fn parse_http_date(s: &str) -> Option<SystemTime> {
    let fmt = time::macros::format_description!(
        "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
    );
    let dt = time::PrimitiveDateTime::parse(s, &fmt).ok()?.assume_utc();
    let secs = u64::try_from(dt.unix_timestamp()).ok()?;
    Some(SystemTime::UNIX_EPOCH + Duration::from_secs(secs))
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderMap;
    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, v.parse().unwrap());
        }
        h
    }

    #[test]
    fn retry_after_seconds_ms_and_date() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(784_111_777); // 1994-11-06 08:49:37
        assert_eq!(
            retry_after(&headers(&[("retry-after", "20")]), now),
            Some(Duration::from_secs(20))
        );
        assert_eq!(
            retry_after(
                &headers(&[("retry-after-ms", "1500"), ("retry-after", "2")]),
                now
            ),
            Some(Duration::from_millis(1500))
        );
        assert_eq!(
            retry_after(
                &headers(&[("retry-after", "Sun, 06 Nov 1994 08:50:07 GMT")]),
                now
            ),
            Some(Duration::from_secs(30))
        );
        assert_eq!(
            retry_after(
                &headers(&[("retry-after", "Sun, 06 Nov 1994 08:00:00 GMT")]),
                now
            ),
            Some(Duration::ZERO)
        );
        assert_eq!(retry_after(&headers(&[("retry-after", "soon")]), now), None);
        assert_eq!(retry_after(&HeaderMap::new(), now), None);
    }

    #[test]
    fn message_from_paths_then_common_shapes() {
        let v: Value =
            serde_json::from_str(r#"{"detail":[{"msg":"Field required","loc":["body","model"]}]}"#)
                .unwrap();
        assert_eq!(
            json_message(&v, &["detail.0.msg".into()]).as_deref(),
            Some("Field required")
        );
        let v: Value = serde_json::from_str(
            r#"{"message":"The security token included in the request is invalid."}"#,
        )
        .unwrap();
        assert_eq!(
            json_message(&v, &[]).as_deref(),
            Some("The security token included in the request is invalid.")
        );
        let v: Value = serde_json::from_str(
            r#"[{"error":{"code":429,"message":"Quota","status":"RESOURCE_EXHAUSTED"}}]"#,
        )
        .unwrap();
        assert_eq!(
            json_message(&v, &["0.error.message".into()]).as_deref(),
            Some("Quota")
        );
        let v: Value = serde_json::from_str(r#"{"error":"model not found"}"#).unwrap();
        assert_eq!(json_message(&v, &[]).as_deref(), Some("model not found"));
    }
}
