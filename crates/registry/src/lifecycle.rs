//! Lifecycle dates: when a model or endpoint is deprecated or retired, and what replaces it.
//!
//! Pure: nothing here reads the clock. Callers pass the date they mean (the server passes
//! today's UTC date), so routing on a given day is reproducible in tests.

use serde::{Serialize, Serializer};
use time::Date;

/// Where a model or endpoint is in its life on a given date.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LifecycleStatus {
    /// Served and routed.
    Active,
    /// Still served and routed, but the provider has announced its end.
    Deprecated,
    /// No longer served: never routed.
    Retired,
}

impl LifecycleStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            LifecycleStatus::Active => "active",
            LifecycleStatus::Deprecated => "deprecated",
            LifecycleStatus::Retired => "retired",
        }
    }
}

/// The lifecycle fields of a model or endpoint. All optional: no dates means active.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize)]
pub struct Lifecycle {
    /// From this date the provider discourages use; still routed.
    #[serde(
        serialize_with = "serialize_opt_date",
        skip_serializing_if = "Option::is_none"
    )]
    pub deprecated: Option<Date>,
    /// From this date the model or endpoint is gone; never routed.
    #[serde(
        serialize_with = "serialize_opt_date",
        skip_serializing_if = "Option::is_none"
    )]
    pub retired: Option<Date>,
    /// The model id callers should move to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub successor: Option<String>,
}

impl Lifecycle {
    /// The status on `date`: retired if `retired <= date`, else deprecated if
    /// `deprecated <= date`, else active.
    pub fn status_at(&self, date: Date) -> LifecycleStatus {
        if self.retired.is_some_and(|r| r <= date) {
            LifecycleStatus::Retired
        } else if self.deprecated.is_some_and(|d| d <= date) {
            LifecycleStatus::Deprecated
        } else {
            LifecycleStatus::Active
        }
    }

    pub fn is_retired_at(&self, date: Date) -> bool {
        self.status_at(date) == LifecycleStatus::Retired
    }

    /// True when no field is set.
    pub fn is_empty(&self) -> bool {
        self.deprecated.is_none() && self.retired.is_none() && self.successor.is_none()
    }

    /// This lifecycle with `outer`'s applied on top: the earlier of each date, and this
    /// successor or else the outer one. An endpoint ends no later than its model.
    pub fn within(&self, outer: &Lifecycle) -> Lifecycle {
        fn earliest(a: Option<Date>, b: Option<Date>) -> Option<Date> {
            match (a, b) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            }
        }
        Lifecycle {
            deprecated: earliest(self.deprecated, outer.deprecated),
            retired: earliest(self.retired, outer.retired),
            successor: self.successor.clone().or_else(|| outer.successor.clone()),
        }
    }
}

/// Why a model cannot be routed on a date: it is retired, or every endpoint it has (on the
/// provider asked for) is.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Retirement {
    pub model: String,
    /// The date it was retired (the latest of its endpoints' when they retired one by one).
    #[serde(serialize_with = "serialize_date")]
    pub retired: Date,
    /// The model id to use instead, when the registry names one.
    pub successor: Option<String>,
}

/// Parses a `YYYY-MM-DD` date (a real calendar date: `2026-02-30` is refused).
pub fn parse_date(s: &str) -> Option<Date> {
    Date::parse(s, time::macros::format_description!("[year]-[month]-[day]")).ok()
}

/// Serializes a date as `YYYY-MM-DD`.
pub fn serialize_date<S: Serializer>(d: &Date, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(d)
}

fn serialize_opt_date<S: Serializer>(d: &Option<Date>, s: S) -> Result<S::Ok, S::Error> {
    match d {
        Some(d) => s.collect_str(d),
        None => s.serialize_none(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::date;

    #[test]
    fn status_boundaries_are_inclusive() {
        let l = Lifecycle {
            deprecated: Some(date!(2026 - 06 - 01)),
            retired: Some(date!(2026 - 12 - 01)),
            successor: Some("m2".into()),
        };
        assert_eq!(l.status_at(date!(2026 - 05 - 31)), LifecycleStatus::Active);
        assert_eq!(
            l.status_at(date!(2026 - 06 - 01)),
            LifecycleStatus::Deprecated
        );
        assert_eq!(
            l.status_at(date!(2026 - 11 - 30)),
            LifecycleStatus::Deprecated
        );
        assert_eq!(l.status_at(date!(2026 - 12 - 01)), LifecycleStatus::Retired);
        assert_eq!(
            Lifecycle::default().status_at(date!(2999 - 01 - 01)),
            LifecycleStatus::Active
        );
    }

    #[test]
    fn an_endpoint_ends_no_later_than_its_model() {
        let model = Lifecycle {
            retired: Some(date!(2026 - 01 - 01)),
            successor: Some("m2".into()),
            ..Default::default()
        };
        let own = Lifecycle {
            deprecated: Some(date!(2025 - 06 - 01)),
            retired: Some(date!(2026 - 03 - 01)),
            successor: None,
        };
        let l = own.within(&model);
        assert_eq!(l.retired, Some(date!(2026 - 01 - 01)));
        assert_eq!(l.deprecated, Some(date!(2025 - 06 - 01)));
        assert_eq!(l.successor.as_deref(), Some("m2"));
    }

    #[test]
    fn dates_parse_strictly() {
        assert_eq!(parse_date("2026-11-22"), Some(date!(2026 - 11 - 22)));
        assert_eq!(parse_date("2026-02-30"), None);
        assert_eq!(parse_date("2026-1-2"), None);
        assert_eq!(parse_date("Nov 2026"), None);
    }
}
