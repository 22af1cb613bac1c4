//! Usage types and exact pricing math for Switchyard.
//!
//! Pure: no I/O. Amounts are [`rust_decimal::Decimal`] USD; stored totals are integer
//! nano-dollars (USD × 1e9), the one money unit of the whole system.
//!
//! The rules (see `shared/spec/decisions.md`):
//! - a price list is a list of [`Tier`]s starting at threshold 0, strictly increasing; a field a
//!   higher tier leaves out is inherited from the nearest lower tier that has it;
//! - the tier is chosen once per request from the provider's [`TierBasis`] (by default the prompt
//!   size the provider saw: input + cache reads + cache writes), inclusive threshold, and every
//!   line of the request is priced at that tier;
//! - cache reads and writes are priced per kind either as multipliers of the input rate
//!   (`cache`) or as absolute USD per token (`cache_price`), never both for one kind in a tier;
//! - reasoning tokens are part of output tokens, priced at `thinking` when given;
//! - a provider-reported cost replaces the computed total (the lines stay for display).

mod breakdown;
mod cache;
mod decimal_serde;
mod pricing;
mod usage;

pub use breakdown::{price, CostBreakdown, CostLine, LineKind, NANOS_PER_USD};
pub use cache::{CacheKind, CacheMultipliers, CachePrices, CacheRate};
pub use decimal_serde::{deserialize_decimal, deserialize_opt_decimal};
pub use pricing::{ModalityRates, Pricing, PricingError, Tier, TierBasis, TierSpec};
pub use usage::{ModalityUsage, Usage};

/// Converts a USD amount to integer nano-dollars, rounding half away from zero.
///
/// Saturates at the `i64` range (about 9.2 billion USD), far above any single request.
pub fn usd_to_nanos(usd: rust_decimal::Decimal) -> i64 {
    use rust_decimal::prelude::ToPrimitive;
    let scaled = (usd * rust_decimal::Decimal::from(NANOS_PER_USD))
        .round_dp_with_strategy(0, rust_decimal::RoundingStrategy::MidpointAwayFromZero);
    scaled.to_i64().unwrap_or(if scaled.is_sign_negative() {
        i64::MIN
    } else {
        i64::MAX
    })
}

/// Converts integer nano-dollars back to an exact USD decimal.
pub fn nanos_to_usd(nanos: i64) -> rust_decimal::Decimal {
    rust_decimal::Decimal::new(nanos, 9).normalize()
}
