//! The admin surface, written once. [`service`] holds every operation ([`Admin`]) with its own
//! error type ([`AdminError`]); [`http`] is the `/admin` JSON API over it; [`views`] are the
//! answers, shared by the JSON API, the `switchyard admin` CLI and the dashboard's pages.

pub mod http;
pub mod limits;
mod provider_keys;
pub mod service;
pub mod views;

pub use http::{router, tokens_match, AdminAuth};
pub use service::{
    parse_usd_amount, Admin, AdminError, LogsParams, ProviderKeyInput, DEFAULT_LIST_LIMIT,
    DEFAULT_SPEND_DAYS, MAX_CREDIT_USD, MAX_LIST_LIMIT, MAX_SPEND_DAYS,
};
pub use views::*;
