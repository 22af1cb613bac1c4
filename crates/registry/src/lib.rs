//! Switchyard's model registry: providers, authors, models and their endpoints, as data.
//!
//! The data lives in the repository's `registry/` folder (format: `registry/README.md`), is
//! embedded at build time ([`Registry::embedded`]) and can be loaded from a folder at run time
//! ([`Registry::load_dir`]). Loading validates everything and reports every problem with its
//! file, entry and field; then indexes are built once, so every lookup is a hash-map get.
//!
//! Pure: no network, no database.

pub mod check;
pub mod diff;
mod lifecycle;
mod load;
mod registry;
pub mod secret;
mod spec;
mod types;

pub use lifecycle::{parse_date, Lifecycle, LifecycleStatus, Retirement};
pub use load::{RegistryErrors, RegistryIssue};
pub use registry::{Registry, Unpriced};
pub use secret::Secret;

/// A file of the embedded registry folder by its relative path (e.g. `acknowledged.toml`).
pub fn embedded_file(path: &str) -> Option<&'static str> {
    EMBEDDED.iter().find(|(p, _)| *p == path).map(|(_, t)| *t)
}

/// Every embedded file holding check-prices acknowledgements, as (path, text).
pub fn embedded_acknowledgements() -> impl Iterator<Item = (&'static str, &'static str)> {
    EMBEDDED
        .iter()
        .filter(|(p, _)| load::is_acknowledged_file(p))
        .copied()
}
pub use types::{
    AuthStyle, Author, ConfigField, DeploymentConfig, Endpoint, Modality, Model,
    ModelProviderConfig, Parameter, Provider, ProviderUi, Quantization, RateLimits, ResponseFormat,
    StreamUsage, WireFormat, DEFAULT_PRIORITY,
};

/// The files of the workspace's `registry/` folder, embedded by `build.rs`.
const EMBEDDED: &[(&str, &str)] = include!(concat!(env!("OUT_DIR"), "/embedded_registry.rs"));
