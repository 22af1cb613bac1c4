//! Cache prices: per kind (read, 5-minute write, 1-hour write), either a multiplier of the
//! tier's input rate (`cache`) or an absolute USD-per-token price (`cache_price`).
//!
//! Both forms exist because neither alone is exact for every price list: Anthropic states
//! cache prices as multipliers (0.1×, 1.25×, 2×), while some providers state a cached-input
//! price that no short decimal multiplier reproduces ($0.11 on a $0.60 input is 0.1833…×).

use crate::decimal_serde::deserialize_opt_decimal;
use crate::pricing::Tier;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// One kind of cached-token charge.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CacheKind {
    Read,
    Write5m,
    Write1h,
}

impl CacheKind {
    pub const ALL: [CacheKind; 3] = [CacheKind::Read, CacheKind::Write5m, CacheKind::Write1h];

    /// The field name in a registry file: `read`, `write_5m`, `write_1h`.
    pub fn as_str(self) -> &'static str {
        match self {
            CacheKind::Read => "read",
            CacheKind::Write5m => "write_5m",
            CacheKind::Write1h => "write_1h",
        }
    }
}

macro_rules! cache_fields {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
        #[serde(deny_unknown_fields)]
        pub struct $name {
            #[serde(
                default,
                deserialize_with = "deserialize_opt_decimal",
                skip_serializing_if = "Option::is_none"
            )]
            pub read: Option<Decimal>,
            #[serde(
                default,
                deserialize_with = "deserialize_opt_decimal",
                skip_serializing_if = "Option::is_none"
            )]
            pub write_5m: Option<Decimal>,
            #[serde(
                default,
                deserialize_with = "deserialize_opt_decimal",
                skip_serializing_if = "Option::is_none"
            )]
            pub write_1h: Option<Decimal>,
        }

        impl $name {
            pub fn get(&self, kind: CacheKind) -> Option<Decimal> {
                match kind {
                    CacheKind::Read => self.read,
                    CacheKind::Write5m => self.write_5m,
                    CacheKind::Write1h => self.write_1h,
                }
            }

            pub fn set(&mut self, kind: CacheKind, value: Option<Decimal>) {
                match kind {
                    CacheKind::Read => self.read = value,
                    CacheKind::Write5m => self.write_5m = value,
                    CacheKind::Write1h => self.write_1h = value,
                }
            }

            pub fn is_empty(&self) -> bool {
                self.read.is_none() && self.write_5m.is_none() && self.write_1h.is_none()
            }
        }
    };
}

cache_fields! {
    /// Cache prices as multipliers of the tier's input rate (`cache = { read = 0.1 }`).
    CacheMultipliers
}

cache_fields! {
    /// Cache prices as absolute USD per token (`cache_price = { read = 0.00000011 }`).
    CachePrices
}

/// How a resolved tier prices one cache kind, as the data states it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CacheRate {
    /// A multiplier of the tier's input rate.
    Multiplier(Decimal),
    /// USD per token.
    Price(Decimal),
}

impl Tier {
    /// The stated price of a cache kind, in whichever form the data gives it. A resolved tier
    /// holds at most one form per kind (validation refuses both in one tier, and a tier that
    /// states a kind in either form does not inherit the other form from below).
    pub fn cache_rate(&self, kind: CacheKind) -> Option<CacheRate> {
        match (self.cache_price.get(kind), self.cache.get(kind)) {
            (Some(p), _) => Some(CacheRate::Price(p)),
            (None, Some(m)) => Some(CacheRate::Multiplier(m)),
            (None, None) => None,
        }
    }

    /// The stated price of a cache kind in USD per token, or `None` when the data gives none.
    pub fn stated_cache_price(&self, kind: CacheKind) -> Option<Decimal> {
        self.cache_rate(kind).map(|r| match r {
            CacheRate::Price(p) => p,
            CacheRate::Multiplier(m) => self.input * m,
        })
    }

    /// What one cached token of this kind costs, USD: the stated price, else the input rate
    /// (a provider that states no cache price charges cached tokens as input).
    pub fn cache_unit_price(&self, kind: CacheKind) -> Decimal {
        self.stated_cache_price(kind).unwrap_or(self.input)
    }

    /// USD per cache-read token.
    pub fn cache_read_rate(&self) -> Decimal {
        self.cache_unit_price(CacheKind::Read)
    }

    /// USD per token written to the 5-minute cache.
    pub fn cache_write_5m_rate(&self) -> Decimal {
        self.cache_unit_price(CacheKind::Write5m)
    }

    /// USD per token written to the 1-hour cache.
    pub fn cache_write_1h_rate(&self) -> Decimal {
        self.cache_unit_price(CacheKind::Write1h)
    }

    /// The dearest rate any prompt token can be charged at: input, cache read or cache write.
    /// For upper bounds (credit holds).
    pub fn max_input_rate(&self) -> Decimal {
        CacheKind::ALL
            .into_iter()
            .map(|k| self.cache_unit_price(k))
            .fold(self.input, Decimal::max)
    }

    /// The cached rate of a modality whose input rate is `in_rate`: the modality's own
    /// multiplier, else the tier's cache-read multiplier, else the tier's absolute cache-read
    /// price scaled by `in_rate / input` (exactly the price when the modality costs the text
    /// input rate), else `in_rate`.
    pub(crate) fn cached_modality_rate(&self, in_rate: Decimal, own: Option<Decimal>) -> Decimal {
        if let Some(m) = own {
            return in_rate * m;
        }
        match self.cache_rate(CacheKind::Read) {
            Some(CacheRate::Multiplier(m)) => in_rate * m,
            Some(CacheRate::Price(p)) if in_rate == self.input || self.input.is_zero() => p,
            Some(CacheRate::Price(p)) => in_rate * p / self.input,
            None => in_rate,
        }
    }
}
