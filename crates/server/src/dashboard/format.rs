//! Formatting and query helpers shared by the pages: money, counts, times, time ranges and
//! URLs that keep a view's filters (so every view can be bookmarked and shared).

use maud::{html, Markup};
use time::format_description::well_known::Rfc3339;
use time::macros::format_description;
use time::{Duration, OffsetDateTime, PrimitiveDateTime};

use super::layout::PageError;

/// Exact USD from nano-dollars: `$0.000123`, never rounded.
pub fn usd(nanos: i64) -> String {
    let sign = if nanos < 0 { "−" } else { "" };
    let d = switchyard_cost::nanos_to_usd(nanos.saturating_abs()).normalize();
    // At least cents; every further digit is kept (nothing is rounded away).
    let text = if d.scale() < 2 {
        format!("{d:.2}")
    } else {
        d.to_string()
    };
    format!("{sign}${text}")
}

/// A cost cell: exact USD, or "unpriced" (never 0 for unknown).
pub fn cost(nanos: Option<i64>) -> Markup {
    match nanos {
        Some(n) => html! { span.num title="USD, exact" { (usd(n)) } },
        None => html! { span.muted.unpriced { "unpriced" } },
    }
}

/// 1234567 → "1,234,567".
pub fn int(n: i64) -> String {
    let s = n.unsigned_abs().to_string();
    let mut out = String::with_capacity(s.len() + s.len() / 3 + 1);
    if n < 0 {
        out.push('-');
    }
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

pub fn opt_int(n: Option<i64>) -> String {
    n.map(int).unwrap_or_else(|| "–".into())
}

pub fn ms(n: Option<i64>) -> String {
    match n {
        None => "–".into(),
        Some(n) if n >= 10_000 => format!("{:.1} s", n as f64 / 1000.0),
        Some(n) => format!("{} ms", int(n)),
    }
}

/// `2026-12-01 21:40:05` (UTC).
pub fn when(t: OffsetDateTime) -> String {
    t.format(format_description!(
        "[year]-[month]-[day] [hour]:[minute]:[second]"
    ))
    .unwrap_or_default()
}

pub fn when_cell(t: OffsetDateTime) -> Markup {
    html! { time datetime=(t.format(&Rfc3339).unwrap_or_default()) { (when(t)) } }
}

/// The time ranges every page offers.
pub const RANGES: &[(&str, &str)] = &[
    ("1h", "1 hour"),
    ("24h", "24 hours"),
    ("7d", "7 days"),
    ("30d", "30 days"),
    ("custom", "Custom"),
];

/// A resolved time range `[since, until)`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Range {
    /// `1h`, `24h`, `7d`, `30d` or `custom`.
    pub key: String,
    pub since: OffsetDateTime,
    pub until: OffsetDateTime,
    /// Custom bounds as typed (`YYYY-MM-DDTHH:MM`, UTC), for the form.
    pub from_text: String,
    pub to_text: String,
}

fn parse_local(text: &str) -> Option<OffsetDateTime> {
    let t = text.trim();
    if let Ok(t) = OffsetDateTime::parse(t, &Rfc3339) {
        return Some(t);
    }
    PrimitiveDateTime::parse(
        t,
        format_description!("[year]-[month]-[day]T[hour]:[minute]"),
    )
    .or_else(|_| {
        PrimitiveDateTime::parse(
            t,
            format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]"),
        )
    })
    .ok()
    .map(PrimitiveDateTime::assume_utc)
}

pub fn input_time(t: OffsetDateTime) -> String {
    t.format(format_description!("[year]-[month]-[day]T[hour]:[minute]"))
        .unwrap_or_default()
}

impl Range {
    /// From `range`, `from` and `to` query values; `default` when `range` is absent.
    pub fn parse(
        range: Option<&str>,
        from: Option<&str>,
        to: Option<&str>,
        default: &str,
    ) -> Result<Range, PageError> {
        let now = OffsetDateTime::now_utc();
        let key = range.filter(|r| !r.is_empty()).unwrap_or(default);
        let span = match key {
            "1h" => Some(Duration::hours(1)),
            "24h" => Some(Duration::hours(24)),
            "7d" => Some(Duration::days(7)),
            "30d" => Some(Duration::days(30)),
            "custom" => None,
            other => {
                return Err(PageError::Bad(format!(
                    "unknown range `{other}`: use 1h, 24h, 7d, 30d or custom"
                )))
            }
        };
        let (since, until) = match span {
            Some(s) => (now - s, now),
            None => {
                let since = from.and_then(parse_local).ok_or_else(|| {
                    PageError::Bad("a custom range needs `from` (YYYY-MM-DDTHH:MM, UTC)".into())
                })?;
                let until = to
                    .filter(|t| !t.trim().is_empty())
                    .map_or(Some(now), parse_local)
                    .ok_or_else(|| {
                        PageError::Bad("`to` is not a time (YYYY-MM-DDTHH:MM, UTC)".into())
                    })?;
                if until <= since {
                    return Err(PageError::Bad("`to` must be after `from`".into()));
                }
                if until - since > Duration::days(400) {
                    return Err(PageError::Bad("a range can be at most 400 days".into()));
                }
                (since, until)
            }
        };
        Ok(Range {
            key: key.to_owned(),
            since,
            until,
            from_text: input_time(since),
            to_text: input_time(until),
        })
    }

    /// Query pairs that reproduce this range.
    pub fn pairs(&self) -> Vec<(&'static str, String)> {
        if self.key == "custom" {
            vec![
                ("range", "custom".into()),
                ("from", self.from_text.clone()),
                ("to", self.to_text.clone()),
            ]
        } else {
            vec![("range", self.key.clone())]
        }
    }
}

/// The range picker: a select plus custom bounds, inside the page's filter form.
pub fn range_fields(r: &Range) -> Markup {
    html! {
        label.field {
            span { "Range" }
            select name="range" data-range="1" {
                @for (k, label) in RANGES {
                    option value=(k) selected[*k == r.key] { (label) }
                }
            }
        }
        label.field.custom-range hidden[r.key != "custom"] {
            span { "From (UTC)" }
            input type="datetime-local" name="from" value=(r.from_text) disabled[r.key != "custom"];
        }
        label.field.custom-range hidden[r.key != "custom"] {
            span { "To (UTC)" }
            input type="datetime-local" name="to" value=(r.to_text) disabled[r.key != "custom"];
        }
    }
}

/// `path?k=v&...`, URL-encoded, dropping empty values.
pub fn url_with(path: &str, pairs: &[(&str, String)]) -> String {
    let mut ser = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        if !v.is_empty() {
            ser.append_pair(k, v);
        }
    }
    let q = ser.finish();
    if q.is_empty() {
        path.to_owned()
    } else {
        format!("{path}?{q}")
    }
}

/// Trims and drops empty query values.
pub fn clean(v: &Option<String>) -> Option<String> {
    v.as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

/// A sortable column header: a link that sorts by `key`, toggling the direction when the view
/// is already sorted by it.
pub fn sort_header(
    label: &str,
    key: &str,
    current: &str,
    descending: bool,
    link: impl Fn(&str, bool) -> String,
) -> Markup {
    let active = key == current;
    let next_desc = if active { !descending } else { true };
    let arrow = match (active, descending) {
        (false, _) => "",
        (true, true) => " ↓",
        (true, false) => " ↑",
    };
    html! {
        th aria-sort=[active.then_some(if descending { "descending" } else { "ascending" })] {
            a.sort href=(link(key, next_desc)) { (label) (arrow) }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usd_is_exact() {
        assert_eq!(usd(0), "$0.00");
        assert_eq!(usd(1), "$0.000000001");
        assert_eq!(usd(12_500_000_000), "$12.50");
        assert_eq!(usd(25_000_000_000), "$25.00");
        assert_eq!(usd(17_250), "$0.00001725");
        assert_eq!(usd(-2_000_000_000), "−$2.00");
    }

    #[test]
    fn ints_group_thousands() {
        assert_eq!(int(0), "0");
        assert_eq!(int(1234567), "1,234,567");
        assert_eq!(int(-1000), "-1,000");
        assert_eq!(int(999), "999");
    }

    #[test]
    fn ranges_parse_and_refuse() {
        let r = Range::parse(Some("7d"), None, None, "24h").unwrap();
        assert_eq!(r.until - r.since, Duration::days(7));
        let r = Range::parse(None, None, None, "24h").unwrap();
        assert_eq!(r.key, "24h");
        let r = Range::parse(
            Some("custom"),
            Some("2026-01-01T00:00"),
            Some("2026-01-02T12:30"),
            "24h",
        )
        .unwrap();
        assert_eq!(
            r.until - r.since,
            Duration::hours(36) + Duration::minutes(30)
        );
        assert!(Range::parse(Some("custom"), None, None, "24h").is_err());
        assert!(Range::parse(Some("2w"), None, None, "24h").is_err());
        assert!(Range::parse(
            Some("custom"),
            Some("2026-01-02T00:00"),
            Some("2026-01-01T00:00"),
            "24h"
        )
        .is_err());
    }

    #[test]
    fn urls_keep_only_set_filters() {
        assert_eq!(
            url_with("/x", &[("a", "1 2".into()), ("b", String::new())]),
            "/x?a=1+2"
        );
        assert_eq!(url_with("/x", &[]), "/x");
    }
}
