//! Switchyard's routing: model strings and the ordered attempts built from them.
//!
//! [`parse_model_string`] reads a `model` value (`model`, `model/provider`,
//! `model/provider/<deployment or key id>`, comma fallback chains, `!provider` exclusions,
//! `:online`, renamed ids) against the registry; [`build_attempts`] turns it into the list of
//! upstream calls to try on a given date, given which providers the org has keys for
//! ([`Availability`]); retired endpoints are never tried. Every
//! failure is a [`RoutingError`] the caller can fix, with its HTTP status and OpenAI error code.
//!
//! Bounded: [`Limits`] caps the models of a chain and the attempts of a request, and the work
//! done is linear in the (capped) chain, so a hostile `model` value costs little.
//!
//! Pure: no network, no database. Attempts borrow from the registry, the request and the
//! availability, so routing a request allocates little more than the attempt list.

mod attempts;
mod error;
mod lifecycle;
mod parse;

pub use attempts::{
    build_attempts, build_attempts_with, Attempt, AttemptPlan, Availability, Billing, ProviderKey,
    Route,
};
pub use error::RoutingError;
pub use parse::{
    parse_model_string, parse_model_string_with, Limits, ModelRequest, ModelSpec, SpecModel,
    MAX_ENTRY_BYTES, MAX_EXCLUSIONS,
};
