//! Lifecycle in routing: a retired endpoint is never an attempt, and a request that only a
//! retired model or endpoint could serve is answered with [`RoutingError::ModelRetired`].
//! The date is the caller's (the server passes today's UTC date); nothing here reads a clock.

use crate::RoutingError;
use switchyard_registry::{Endpoint, Registry};
use time::Date;

/// Whether routing may use `e` on `today`. Deprecated endpoints still route.
pub(crate) fn routable(e: &Endpoint, today: Date) -> bool {
    !e.is_retired_at(today)
}

/// Whether a chain entry for `model` has nothing to route because of retirement: the model is
/// retired, or every endpoint it has (on `provider`, when named) is.
pub(crate) fn retired(
    registry: &Registry,
    model: &str,
    provider: Option<&str>,
    today: Date,
) -> Option<RoutingError> {
    let r = registry.retirement(model, provider, today)?;
    // Retired only on the named provider: say where, since other providers may still serve it.
    let on = provider.filter(|_| registry.retirement(model, None, today).is_none());
    Some(RoutingError::ModelRetired {
        model: r.model,
        on: on.map(str::to_owned),
        retired: r.retired,
        successor: r.successor,
    })
}

/// The error for a caller who named one deployment that is retired.
pub(crate) fn retired_deployment(e: &Endpoint) -> RoutingError {
    RoutingError::ModelRetired {
        model: e.model.clone(),
        on: Some(format!("{}/{}", e.provider, e.deployment)),
        retired: e.lifecycle.retired.unwrap_or(Date::MIN),
        successor: e.lifecycle.successor.clone(),
    }
}
