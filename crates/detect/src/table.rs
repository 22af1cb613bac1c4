//! Cost tables by match rule: ordered rows of `equals` / `startsWith` / `includes`
//! (case-insensitive), first match wins, and the check that no row is dead.

use rust_decimal::Decimal;
use rustc_hash::FxHashMap;
use serde::{Deserialize, Serialize};
use std::fmt;

/// How a row's `value` is compared with a model name. Both sides are lowercased first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum MatchOp {
    #[serde(rename = "equals")]
    Equals,
    #[serde(rename = "startsWith")]
    StartsWith,
    #[serde(rename = "includes")]
    Includes,
}

impl fmt::Display for MatchOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            MatchOp::Equals => "equals",
            MatchOp::StartsWith => "startsWith",
            MatchOp::Includes => "includes",
        })
    }
}

impl MatchOp {
    /// Whether `model` (lowercase) matches `value` (lowercase).
    pub fn matches(self, value: &str, model: &str) -> bool {
        match self {
            MatchOp::Equals => model == value,
            MatchOp::StartsWith => model.starts_with(value),
            MatchOp::Includes => model.contains(value),
        }
    }

    /// Whether every name a row `(other, other_value)` matches is also matched by
    /// `(self, value)`, i.e. an earlier `self` row makes the later row dead.
    pub fn covers(self, value: &str, other: MatchOp, other_value: &str) -> bool {
        match (self, other) {
            (MatchOp::Equals, MatchOp::Equals) => value == other_value,
            // A finite name set never covers an infinite one.
            (MatchOp::Equals, _) => false,
            (MatchOp::StartsWith, MatchOp::Equals | MatchOp::StartsWith) => {
                other_value.starts_with(value)
            }
            // `includes "x"` also matches names that do not start with `value`.
            (MatchOp::StartsWith, MatchOp::Includes) => value.is_empty(),
            (MatchOp::Includes, _) => other_value.contains(value),
        }
    }
}

/// Per-token USD prices of one row (`per_image`, `per_call` are per unit). Unset fields fall back
/// as in the reference: cache and audio prompt rates to `prompt`, completion audio to
/// `completion`, per-image and per-call to nothing.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RowPrices {
    #[serde(deserialize_with = "switchyard_cost::deserialize_decimal")]
    pub prompt: Decimal,
    #[serde(deserialize_with = "switchyard_cost::deserialize_decimal")]
    pub completion: Decimal,
    #[serde(
        default,
        deserialize_with = "switchyard_cost::deserialize_opt_decimal",
        skip_serializing_if = "Option::is_none"
    )]
    pub cache_read: Option<Decimal>,
    /// Cache writes not split into 5m/1h (the reference's `prompt_cache_write_token`).
    #[serde(
        default,
        deserialize_with = "switchyard_cost::deserialize_opt_decimal",
        skip_serializing_if = "Option::is_none"
    )]
    pub cache_write: Option<Decimal>,
    #[serde(
        default,
        deserialize_with = "switchyard_cost::deserialize_opt_decimal",
        skip_serializing_if = "Option::is_none"
    )]
    pub cache_write_5m: Option<Decimal>,
    #[serde(
        default,
        deserialize_with = "switchyard_cost::deserialize_opt_decimal",
        skip_serializing_if = "Option::is_none"
    )]
    pub cache_write_1h: Option<Decimal>,
    #[serde(
        default,
        deserialize_with = "switchyard_cost::deserialize_opt_decimal",
        skip_serializing_if = "Option::is_none"
    )]
    pub prompt_audio: Option<Decimal>,
    #[serde(
        default,
        deserialize_with = "switchyard_cost::deserialize_opt_decimal",
        skip_serializing_if = "Option::is_none"
    )]
    pub completion_audio: Option<Decimal>,
    #[serde(
        default,
        deserialize_with = "switchyard_cost::deserialize_opt_decimal",
        skip_serializing_if = "Option::is_none"
    )]
    pub per_image: Option<Decimal>,
    #[serde(
        default,
        deserialize_with = "switchyard_cost::deserialize_opt_decimal",
        skip_serializing_if = "Option::is_none"
    )]
    pub per_call: Option<Decimal>,
}

impl RowPrices {
    fn fields(&self) -> [(&'static str, Option<Decimal>); 10] {
        [
            ("prompt", Some(self.prompt)),
            ("completion", Some(self.completion)),
            ("cache_read", self.cache_read),
            ("cache_write", self.cache_write),
            ("cache_write_5m", self.cache_write_5m),
            ("cache_write_1h", self.cache_write_1h),
            ("prompt_audio", self.prompt_audio),
            ("completion_audio", self.completion_audio),
            ("per_image", self.per_image),
            ("per_call", self.per_call),
        ]
    }
}

/// Where a row came from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RowSource {
    /// Generated from the registry config `model:provider`.
    Registry { model: String, provider: String },
    /// From `data/explicit_rows.toml`, for names the registry does not carry.
    Explicit { legacy: String },
}

/// One row of a cost table.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CostRow {
    pub operator: MatchOp,
    /// As written; matching uses its lowercase form.
    pub value: String,
    pub prices: RowPrices,
    pub source: RowSource,
}

/// Why a cost table is refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TableError {
    #[error("row {index} has an empty value, which would match every model")]
    EmptyValue { index: usize },
    #[error("row {index} ({op} `{value}`) can never match: row {by_index} ({by_op} `{by_value}`) comes first and matches every name it does")]
    Shadowed {
        index: usize,
        op: MatchOp,
        value: String,
        by_index: usize,
        by_op: MatchOp,
        by_value: String,
    },
    #[error("row {index} (`{value}`) has a negative `{field}` price ({price})")]
    NegativePrice {
        index: usize,
        value: String,
        field: &'static str,
        price: Decimal,
    },
}

/// Every error in a table, in row order.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{} cost table error(s): {}", .0.len(), .0.iter().map(|e| e.to_string()).collect::<Vec<_>>().join("; "))]
pub struct TableErrors(pub Vec<TableError>);

/// Checks a row list: no empty value, no negative price, and no row made unreachable by an
/// earlier one (shadowing by a single earlier row; the union of several rows covering a
/// `startsWith`/`includes` row is not detected). Returns every error found.
pub fn check_rows(rows: &[CostRow]) -> Result<(), TableErrors> {
    let mut errors = Vec::new();
    let mut equals: FxHashMap<String, usize> = FxHashMap::default();
    // (index, op, lowercase value) of the earlier rows that can shadow more than themselves.
    let mut broad: Vec<(usize, MatchOp, String)> = Vec::new();
    for (index, row) in rows.iter().enumerate() {
        let value = row.value.to_lowercase();
        if value.is_empty() {
            errors.push(TableError::EmptyValue { index });
            continue;
        }
        for (field, price) in row.prices.fields() {
            if let Some(price) = price {
                if price.is_sign_negative() && !price.is_zero() {
                    errors.push(TableError::NegativePrice {
                        index,
                        value: row.value.clone(),
                        field,
                        price,
                    });
                }
            }
        }
        let shadow = broad
            .iter()
            .find(|(_, op, v)| op.covers(v, row.operator, &value))
            .map(|(i, _, _)| *i)
            .or_else(|| match row.operator {
                MatchOp::Equals => equals.get(&value).copied(),
                _ => None,
            });
        if let Some(by_index) = shadow {
            let by = &rows[by_index];
            errors.push(TableError::Shadowed {
                index,
                op: row.operator,
                value: row.value.clone(),
                by_index,
                by_op: by.operator,
                by_value: by.value.clone(),
            });
            continue;
        }
        match row.operator {
            MatchOp::Equals => {
                equals.insert(value, index);
            }
            MatchOp::StartsWith | MatchOp::Includes => broad.push((index, row.operator, value)),
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(TableErrors(errors))
    }
}

/// A checked cost table with a fast lookup.
///
/// In a table that passed [`check_rows`], an `equals` row that matches a model is always the
/// first matching row (any earlier row matching that name would have shadowed it), so lookup is
/// a hash probe on the `equals` rows, then a scan of the few `startsWith`/`includes` rows in
/// order.
#[derive(Clone, Debug, Default)]
pub struct CostTable {
    rows: Vec<CostRow>,
    equals: FxHashMap<String, usize>,
    /// (row index, lowercase value) of the non-`equals` rows, in order.
    broad: Vec<(usize, String)>,
}

impl CostTable {
    /// Checks `rows` and indexes them.
    pub fn new(rows: Vec<CostRow>) -> Result<CostTable, TableErrors> {
        check_rows(&rows)?;
        let mut equals = FxHashMap::default();
        let mut broad = Vec::new();
        for (i, row) in rows.iter().enumerate() {
            let v = row.value.to_lowercase();
            match row.operator {
                MatchOp::Equals => {
                    equals.insert(v, i);
                }
                _ => broad.push((i, v)),
            }
        }
        Ok(CostTable {
            rows,
            equals,
            broad,
        })
    }

    /// Appends the rows of `more` that are not shadowed by a row already present (and not
    /// shadowed within `more`, which was checked). Used for the reference's "AZURE costs followed
    /// by all OpenAI costs": Azure's own row for a name wins.
    pub fn extend_unshadowed(&mut self, more: &CostTable) {
        for row in &more.rows {
            let value = row.value.to_lowercase();
            let shadowed = self
                .broad
                .iter()
                .any(|(i, v)| self.rows[*i].operator.covers(v, row.operator, &value))
                || (row.operator == MatchOp::Equals && self.equals.contains_key(&value));
            if shadowed {
                continue;
            }
            let index = self.rows.len();
            match row.operator {
                MatchOp::Equals => {
                    self.equals.insert(value, index);
                }
                _ => self.broad.push((index, value)),
            }
            self.rows.push(row.clone());
        }
    }

    /// The first row matching `model` (case-insensitive), as the reference's `costOf`.
    pub fn find(&self, model: &str) -> Option<&CostRow> {
        let model = model.to_lowercase();
        if model.is_empty() {
            return None;
        }
        if let Some(&i) = self.equals.get(&model) {
            return Some(&self.rows[i]);
        }
        self.broad
            .iter()
            .find(|(i, v)| self.rows[*i].operator.matches(v, &model))
            .map(|(i, _)| &self.rows[*i])
    }

    pub fn rows(&self) -> &[CostRow] {
        &self.rows
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    pub fn len(&self) -> usize {
        self.rows.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    fn row(op: MatchOp, value: &str) -> CostRow {
        CostRow {
            operator: op,
            value: value.to_string(),
            prices: RowPrices {
                prompt: dec!(0.000001),
                completion: dec!(0.000002),
                ..Default::default()
            },
            source: RowSource::Explicit {
                legacy: "TEST".into(),
            },
        }
    }

    use MatchOp::{Equals as Eq_, Includes as In, StartsWith as Sw};

    #[test]
    fn starts_with_before_equals_is_refused() {
        let err = check_rows(&[row(Sw, "gpt-4"), row(Eq_, "gpt-4o")]).unwrap_err();
        assert_eq!(
            err.0,
            vec![TableError::Shadowed {
                index: 1,
                op: Eq_,
                value: "gpt-4o".into(),
                by_index: 0,
                by_op: Sw,
                by_value: "gpt-4".into(),
            }]
        );
        // The other order is the intended one.
        check_rows(&[row(Eq_, "gpt-4o"), row(Sw, "gpt-4")]).unwrap();
    }

    #[test]
    fn every_shadowing_combination() {
        let dead = [
            (row(Eq_, "a"), row(Eq_, "A")),
            (row(Sw, "ft:"), row(Sw, "ft:gpt")),
            (row(In, "realtime"), row(Eq_, "gpt-4o-realtime")),
            (row(In, "realtime"), row(Sw, "gpt-realtime")),
            (row(In, "o1"), row(In, "o1-pro")),
        ];
        for (a, b) in dead {
            assert!(check_rows(&[a.clone(), b.clone()]).is_err(), "{a:?} {b:?}");
        }
        let alive = [
            (row(Eq_, "a"), row(Sw, "a")),
            (row(Sw, "gpt"), row(In, "gpt")),
            (row(In, "o1-pro"), row(In, "o1")),
            (row(Sw, "gpt-4o"), row(Sw, "gpt-4")),
        ];
        for (a, b) in alive {
            assert!(check_rows(&[a.clone(), b.clone()]).is_ok(), "{a:?} {b:?}");
        }
    }

    #[test]
    fn empty_and_negative_are_refused() {
        let mut neg = row(Eq_, "x");
        neg.prices.cache_read = Some(dec!(-1));
        let err = check_rows(&[row(Eq_, ""), neg]).unwrap_err();
        assert_eq!(err.0.len(), 2);
        assert!(matches!(err.0[0], TableError::EmptyValue { index: 0 }));
        assert!(matches!(
            err.0[1],
            TableError::NegativePrice {
                field: "cache_read",
                ..
            }
        ));
    }

    #[test]
    fn lookup_is_first_match_and_case_insensitive() {
        let t = CostTable::new(vec![
            row(Eq_, "GPT-4o"),
            row(Sw, "ft:gpt-4o-mini"),
            row(In, "realtime"),
        ])
        .unwrap();
        assert_eq!(t.find("gpt-4O").unwrap().value, "GPT-4o");
        assert_eq!(
            t.find("FT:gpt-4o-mini:acme::x1").unwrap().value,
            "ft:gpt-4o-mini"
        );
        assert_eq!(t.find("gpt-realtime-x").unwrap().value, "realtime");
        assert!(t.find("gpt-4o-2").is_none());
        assert!(t.find("").is_none());
    }

    #[test]
    fn extend_skips_rows_already_covered() {
        let mut azure = CostTable::new(vec![row(Eq_, "gpt-4o"), row(Sw, "gpt-35")]).unwrap();
        let openai = CostTable::new(vec![
            row(Eq_, "gpt-4o"),
            row(Eq_, "gpt-35-turbo"),
            row(Eq_, "o1"),
        ])
        .unwrap();
        azure.extend_unshadowed(&openai);
        let values: Vec<_> = azure.rows().iter().map(|r| r.value.as_str()).collect();
        assert_eq!(values, ["gpt-4o", "gpt-35", "o1"]);
        check_rows(azure.rows()).unwrap();
    }
}
