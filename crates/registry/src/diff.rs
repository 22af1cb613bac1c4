//! `switchyard registry diff`: what a data change does, for review. Pure: two loaded registries
//! in, a list of changes out.

use crate::lifecycle::Lifecycle;
use crate::{Endpoint, Registry};
use rust_decimal::Decimal;
use serde::Serialize;
use std::collections::BTreeSet;
use switchyard_cost::{CacheKind, ModalityRates, Tier};

/// Everything that differs between two registries.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct RegistryDiff {
    pub models_added: Vec<String>,
    pub models_removed: Vec<String>,
    pub endpoints_added: Vec<String>,
    pub endpoints_removed: Vec<String>,
    /// Lifecycle fields set, changed or removed on models and endpoints present on both sides.
    pub lifecycle: Vec<LifecycleChange>,
    /// Every price that differs on an endpoint present on both sides.
    pub prices: Vec<PriceChange>,
}

impl RegistryDiff {
    pub fn is_empty(&self) -> bool {
        *self == RegistryDiff::default()
    }
}

/// `deprecated`, `retired` or `successor` of a model or endpoint, before and after.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct LifecycleChange {
    /// `model` or `endpoint`.
    pub kind: &'static str,
    pub id: String,
    pub field: &'static str,
    pub old: Option<String>,
    pub new: Option<String>,
}

/// One price of one endpoint, before and after (USD per token, or per unit for `request`,
/// `web_search`; a multiplier for `*.cached_input_multiplier`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PriceChange {
    pub endpoint: String,
    /// The tier's threshold in tokens (0 for the base tier). Compared at every threshold either
    /// side has, with the rate a request of that size would pay.
    pub tier: u64,
    pub field: String,
    #[serde(with = "rust_decimal::serde::str_option")]
    pub old: Option<Decimal>,
    #[serde(with = "rust_decimal::serde::str_option")]
    pub new: Option<Decimal>,
    /// `new / old`, when both are set and `old` is not zero.
    #[serde(with = "rust_decimal::serde::str_option")]
    pub ratio: Option<Decimal>,
}

/// Compares `old` with `new`.
pub fn diff(old: &Registry, new: &Registry) -> RegistryDiff {
    let mut d = RegistryDiff::default();
    for m in new.models() {
        match old.model(&m.id) {
            None => d.models_added.push(m.id.clone()),
            Some(o) => lifecycle(&mut d, "model", &m.id, &o.lifecycle, &m.lifecycle),
        }
    }
    d.models_removed = old
        .models()
        .filter(|m| new.model(&m.id).is_none())
        .map(|m| m.id.clone())
        .collect();
    let mut new_ids: Vec<&Endpoint> = new.endpoints().collect();
    new_ids.sort_by(|a, b| a.id.cmp(&b.id));
    for e in new_ids {
        match old.endpoint_by_id(&e.id) {
            None => d.endpoints_added.push(e.id.clone()),
            Some(o) => {
                lifecycle(&mut d, "endpoint", &e.id, &o.lifecycle, &e.lifecycle);
                prices(&mut d, o, e);
            }
        }
    }
    let mut removed: Vec<String> = old
        .endpoints()
        .filter(|e| new.endpoint_by_id(&e.id).is_none())
        .map(|e| e.id.clone())
        .collect();
    removed.sort();
    d.endpoints_removed = removed;
    d
}

fn lifecycle(d: &mut RegistryDiff, kind: &'static str, id: &str, a: &Lifecycle, b: &Lifecycle) {
    let date = |x: Option<time::Date>| x.map(|x| x.to_string());
    for (field, old, new) in [
        ("deprecated", date(a.deprecated), date(b.deprecated)),
        ("retired", date(a.retired), date(b.retired)),
        ("successor", a.successor.clone(), b.successor.clone()),
    ] {
        if old != new {
            d.lifecycle.push(LifecycleChange {
                kind,
                id: id.to_owned(),
                field,
                old,
                new,
            });
        }
    }
}

/// The priced fields of a tier, by name: what a diff compares.
pub(crate) fn tier_fields(t: &Tier) -> Vec<(String, Option<Decimal>)> {
    let mut out = vec![
        ("input".to_owned(), Some(t.input)),
        ("output".to_owned(), Some(t.output)),
    ];
    for k in CacheKind::ALL {
        out.push((format!("cache_{}", k.as_str()), t.stated_cache_price(k)));
    }
    out.extend([
        ("thinking".to_owned(), t.thinking),
        ("request".to_owned(), t.request),
        ("web_search".to_owned(), t.web_search),
        (
            "cache_storage_per_hour".to_owned(),
            t.cache_storage_per_hour,
        ),
    ]);
    let modalities: [(&str, &Option<ModalityRates>); 4] = [
        ("image", &t.image),
        ("audio", &t.audio),
        ("video", &t.video),
        ("file", &t.file),
    ];
    for (name, m) in modalities {
        let m = m.clone().unwrap_or_default();
        out.extend([
            (format!("{name}.input"), m.input),
            (
                format!("{name}.cached_input_multiplier"),
                m.cached_input_multiplier,
            ),
            (format!("{name}.output"), m.output),
        ]);
    }
    out
}

pub(crate) fn ratio(new: Option<Decimal>, old: Option<Decimal>) -> Option<Decimal> {
    match (new, old) {
        (Some(n), Some(o)) if !o.is_zero() => Some((n / o).round_dp(6).normalize()),
        _ => None,
    }
}

fn prices(d: &mut RegistryDiff, old: &Endpoint, new: &Endpoint) {
    let thresholds: BTreeSet<u64> = old
        .pricing
        .tiers()
        .iter()
        .chain(new.pricing.tiers())
        .map(|t| t.threshold)
        .collect();
    for tier in thresholds {
        let a = tier_fields(old.pricing.tier_for(tier));
        let b = tier_fields(new.pricing.tier_for(tier));
        for ((field, o), (_, n)) in a.into_iter().zip(b) {
            if o != n {
                d.prices.push(PriceChange {
                    endpoint: new.id.clone(),
                    tier,
                    field,
                    old: o.map(|x| x.normalize()),
                    new: n.map(|x| x.normalize()),
                    ratio: ratio(n, o),
                });
            }
        }
    }
}
