//! `switchyard registry check-prices`: our endpoints against an external price list in
//! LiteLLM's format (see [`litellm`]), with reviewed exceptions ([`acknowledged`]). Pure: the
//! caller reads the files and chooses the date.

pub mod acknowledged;
pub mod litellm;

use crate::diff::ratio;
use crate::{Endpoint, Registry};
use acknowledged::{known_field, Acknowledgement};
use litellm::{mapped_providers, split_id, TheirEntry};
use rust_decimal::Decimal;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use switchyard_cost::CacheKind;
use time::Date;

/// The whole comparison.
#[derive(Clone, Debug, Serialize)]
pub struct PriceCheck {
    #[serde(serialize_with = "crate::lifecycle::serialize_date")]
    pub date: Date,
    /// One row per provider of ours that the external list can describe.
    pub providers: Vec<ProviderSummary>,
    /// Every field where we and they differ, acknowledged or not.
    pub disagreements: Vec<Disagreement>,
    /// Their current chat models (region variants merged) that we do not have.
    pub ours_missing: Vec<Missing>,
    /// Our endpoints (on providers they describe) they have no entry for.
    pub theirs_missing: Vec<String>,
    /// Acknowledgements that match nothing any more: remove them.
    pub stale: Vec<Acknowledgement>,
    /// Acknowledgements that cannot be right (unknown provider or field).
    pub invalid: Vec<(Acknowledgement, String)>,
}

impl PriceCheck {
    /// Disagreements nobody has reviewed.
    pub fn unacknowledged(&self) -> impl Iterator<Item = &Disagreement> {
        self.disagreements
            .iter()
            .filter(|d| d.acknowledged.is_none())
    }

    /// True when every disagreement is acknowledged and the acknowledged file is clean: the
    /// command's exit 0.
    pub fn is_clean(&self) -> bool {
        self.unacknowledged().next().is_none() && self.stale.is_empty() && self.invalid.is_empty()
    }
}

/// Counts for one provider.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ProviderSummary {
    pub provider: String,
    /// Our endpoints with an entry in their list.
    pub matched: usize,
    /// Matched endpoints where every compared field is equal.
    pub agreeing: usize,
    /// Matched endpoints with at least one difference.
    pub disagreeing: usize,
    /// Of those differences, how many are acknowledged.
    pub acknowledged: usize,
    /// Our endpoints they do not list.
    pub theirs_missing: usize,
    /// Their current chat model ids (region variants merged) we do not have, and how many of
    /// those are acknowledged omissions.
    pub ours_missing: usize,
    pub ours_missing_acknowledged: usize,
    /// Coverage: of their distinct current chat model ids, how many we have.
    pub their_current: usize,
    pub we_have: usize,
}

impl ProviderSummary {
    /// `we_have / their_current` in percent, one decimal; `None` when they list none.
    pub fn coverage_percent(&self) -> Option<Decimal> {
        percent(self.we_have, self.their_current)
    }

    /// Coverage with acknowledged omissions (retired in fact, not a chat model) left out of
    /// their count.
    pub fn coverage_percent_excluding_acknowledged(&self) -> Option<Decimal> {
        percent(
            self.we_have,
            self.their_current - self.ours_missing_acknowledged,
        )
    }
}

fn percent(part: usize, whole: usize) -> Option<Decimal> {
    (whole > 0).then(|| (Decimal::from(part * 100) / Decimal::from(whole)).round_dp(1))
}

/// One field of one endpoint where we and they differ.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Disagreement {
    pub endpoint: String,
    pub provider: String,
    /// Their model id, region-merged: what an acknowledgement names.
    pub id: String,
    /// Their key the endpoint was matched to.
    pub key: String,
    /// `input`, `cache_read`, `output>200k`, `context`, `max_output`, ...
    pub field: String,
    /// USD per token for prices, tokens for `context` and `max_output`; `None`: not stated.
    #[serde(with = "rust_decimal::serde::str_option")]
    pub ours: Option<Decimal>,
    #[serde(with = "rust_decimal::serde::str")]
    pub theirs: Decimal,
    /// `ours / theirs`.
    #[serde(with = "rust_decimal::serde::str_option")]
    pub ratio: Option<Decimal>,
    /// The acknowledgement's reason, when reviewed.
    pub acknowledged: Option<String>,
}

/// A current chat model of theirs we lack.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Missing {
    pub provider: String,
    pub id: String,
    /// Their keys for it (one per region variant).
    pub keys: Vec<String>,
    pub acknowledged: Option<String>,
}

/// Compares `registry` with `theirs` on `date` (which decides what is "current" in their list).
pub fn check_prices(
    registry: &Registry,
    theirs: &[TheirEntry],
    acknowledged: &[Acknowledgement],
    date: Date,
) -> PriceCheck {
    let described: BTreeSet<&str> = mapped_providers()
        .filter(|p| theirs.iter().any(|t| t.mapped.provider == *p))
        .collect();
    // (provider, id) → entries (first in file order first; LiteLLM lists some twice).
    let mut index: HashMap<(&str, &str), Vec<&TheirEntry>> = HashMap::new();
    for t in theirs {
        index
            .entry((t.mapped.provider, t.mapped.id.as_str()))
            .or_default()
            .push(t);
    }
    let mut summaries: BTreeMap<&str, ProviderSummary> = described
        .iter()
        .map(|p| {
            (
                *p,
                ProviderSummary {
                    provider: (*p).to_owned(),
                    ..Default::default()
                },
            )
        })
        .collect();
    let mut out = PriceCheck {
        date,
        providers: Vec::new(),
        disagreements: Vec::new(),
        ours_missing: Vec::new(),
        theirs_missing: Vec::new(),
        stale: Vec::new(),
        invalid: Vec::new(),
    };
    let mut endpoints: Vec<&Endpoint> = registry
        .endpoints()
        .filter(|e| described.contains(e.provider.as_str()))
        .collect();
    endpoints.sort_by(|a, b| a.id.cmp(&b.id));
    for e in endpoints {
        let s = summaries.get_mut(e.provider.as_str()).expect("described");
        let Some(t) = find(registry, &index, e) else {
            s.theirs_missing += 1;
            out.theirs_missing.push(e.id.clone());
            continue;
        };
        s.matched += 1;
        let found = compare(e, t);
        if found.is_empty() {
            s.agreeing += 1;
        } else {
            s.disagreeing += 1;
        }
        out.disagreements.extend(found);
    }
    // Coverage: their distinct current chat ids per provider, against every id we know there.
    let mut ours: HashMap<&str, BTreeSet<String>> = HashMap::new();
    for c in registry.configs() {
        let set = ours.entry(c.provider.as_str()).or_default();
        for pid in std::iter::once(&c.provider_model_id).chain(&c.aliases) {
            set.insert(split_id(&c.provider, pid).0);
        }
    }
    for e in registry.endpoints() {
        let set = ours.entry(e.provider.as_str()).or_default();
        set.insert(split_id(&e.provider, &e.provider_model_id).0);
    }
    let mut current: BTreeMap<(&str, &str), Vec<&str>> = BTreeMap::new();
    for t in theirs.iter().filter(|t| t.is_current_chat(date)) {
        current
            .entry((t.mapped.provider, t.mapped.id.as_str()))
            .or_default()
            .push(t.key.as_str());
    }
    for ((provider, id), keys) in current {
        let s = summaries.get_mut(provider).expect("described");
        s.their_current += 1;
        if ours.get(provider).is_some_and(|set| set.contains(id)) {
            s.we_have += 1;
        } else {
            s.ours_missing += 1;
            out.ours_missing.push(Missing {
                provider: provider.to_owned(),
                id: id.to_owned(),
                keys: keys.into_iter().map(str::to_owned).collect(),
                acknowledged: None,
            });
        }
    }
    apply_acknowledgements(registry, acknowledged, &mut out, &mut summaries);
    out.providers = summaries.into_values().collect();
    out
}

/// Their entry for one of our endpoints: by provider model id, then aliases; for each, the
/// entry of the same region or geography, else the one without.
fn find<'t>(
    registry: &Registry,
    index: &HashMap<(&str, &str), Vec<&'t TheirEntry>>,
    e: &Endpoint,
) -> Option<&'t TheirEntry> {
    let aliases = registry
        .config(&e.model, &e.provider)
        .map(|c| c.aliases.as_slice())
        .unwrap_or_default();
    let (id, geo) = split_id(&e.provider, &e.provider_model_id);
    let region = geo.or_else(|| (e.deployment != "*").then(|| e.deployment.clone()));
    let ids = std::iter::once(id).chain(aliases.iter().map(|a| split_id(&e.provider, a).0));
    for id in ids {
        let Some(entries) = index.get(&(e.provider.as_str(), id.as_str())) else {
            continue;
        };
        let same = entries
            .iter()
            .find(|t| region.is_some() && t.mapped.qualifier == region);
        if let Some(t) = same.or_else(|| entries.iter().find(|t| t.mapped.qualifier.is_none())) {
            return Some(t);
        }
    }
    None
}

fn tier_name(field: &str, tokens: u64) -> String {
    if tokens == 0 {
        field.to_owned()
    } else if tokens.is_multiple_of(1000) {
        format!("{field}>{}k", tokens / 1000)
    } else {
        format!("{field}>{tokens}")
    }
}

fn compare(e: &Endpoint, t: &TheirEntry) -> Vec<Disagreement> {
    let mut out = Vec::new();
    let mut push = |field: String, ours: Option<Decimal>, theirs: Decimal| {
        out.push(Disagreement {
            endpoint: e.id.clone(),
            provider: e.provider.clone(),
            id: t.mapped.id.clone(),
            key: t.key.clone(),
            field,
            ours: ours.map(|x| x.normalize()),
            theirs: theirs.normalize(),
            ratio: ratio(ours, Some(theirs)),
            acknowledged: None,
        });
    };
    let thresholds: BTreeSet<u64> = std::iter::once(0)
        .chain(e.pricing.tiers().iter().map(|x| x.threshold))
        .chain(t.tiers.keys().copied())
        .collect();
    for tokens in thresholds {
        let tier = e.pricing.tier_for(tokens);
        let ours: [(&str, Option<Decimal>); 5] = [
            ("input", Some(tier.input)),
            ("output", Some(tier.output)),
            ("cache_read", tier.stated_cache_price(CacheKind::Read)),
            (
                "cache_write_5m",
                tier.stated_cache_price(CacheKind::Write5m),
            ),
            (
                "cache_write_1h",
                tier.stated_cache_price(CacheKind::Write1h),
            ),
        ];
        for (field, mine) in ours {
            let Some(theirs) = t.at(tokens, field) else {
                continue;
            };
            // An unstated cache price is charged as input; theirs at 0 means "no charge
            // listed", which says nothing either.
            if mine.is_none() && theirs.is_zero() {
                continue;
            }
            if mine != Some(theirs) {
                push(tier_name(field, tokens), mine, theirs);
            }
        }
    }
    for (field, mine, theirs) in [
        ("context", e.context_length, t.max_input_tokens),
        ("max_output", e.max_completion_tokens, t.max_output_tokens),
    ] {
        if let Some(theirs) = theirs.filter(|&x| x != mine) {
            let mine = (mine > 0).then(|| Decimal::from(mine));
            push(field.to_owned(), mine, Decimal::from(theirs));
        }
    }
    out
}

fn apply_acknowledgements(
    registry: &Registry,
    acks: &[Acknowledgement],
    out: &mut PriceCheck,
    summaries: &mut BTreeMap<&str, ProviderSummary>,
) {
    for a in acks {
        if registry.provider(&a.provider).is_none() {
            out.invalid
                .push((a.clone(), format!("unknown provider `{}`", a.provider)));
            continue;
        }
        if !known_field(&a.field) {
            out.invalid.push((
                a.clone(),
                format!("unknown field `{}`: a compared field (input, output, cache_read, cache_write_5m, cache_write_1h, context, max_output, or a tier such as input>200k) or `missing`", a.field),
            ));
            continue;
        }
        let mut used = false;
        if a.field == "missing" {
            for m in out
                .ours_missing
                .iter_mut()
                .filter(|m| m.provider == a.provider && m.id == a.id)
            {
                m.acknowledged = Some(a.reason.clone());
                used = true;
            }
        } else {
            for d in out
                .disagreements
                .iter_mut()
                .filter(|d| d.provider == a.provider && d.id == a.id && d.field == a.field)
            {
                d.acknowledged = Some(a.reason.clone());
                used = true;
            }
        }
        if !used {
            out.stale.push(a.clone());
        }
    }
    for d in out
        .disagreements
        .iter()
        .filter(|d| d.acknowledged.is_some())
    {
        if let Some(s) = summaries.get_mut(d.provider.as_str()) {
            s.acknowledged += 1;
        }
    }
    for m in out.ours_missing.iter().filter(|m| m.acknowledged.is_some()) {
        if let Some(s) = summaries.get_mut(m.provider.as_str()) {
            s.ours_missing_acknowledged += 1;
        }
    }
}
