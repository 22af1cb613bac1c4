//! `[server]`: timeouts and limits of the HTTP edge, and the bounds on the work of one request.
//! Environment: `SWITCHYARD_SERVER_<FIELD>` (upper case), e.g.
//! `SWITCHYARD_SERVER_HEADER_READ_TIMEOUT_SECS=5`.

use serde::Deserialize;
use std::time::Duration;

use crate::config::ConfigError;

/// The HTTP edge's limits. Defaults are safe for a gateway on the internet; each is in README.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// From a new connection, or the first byte of a request on a kept-alive one, until the
    /// request head is complete. Past it the connection is closed (there is no request to
    /// answer yet).
    pub header_read_timeout_secs: u64,
    /// Longest wait for the next chunk of a request body: 408 and close.
    pub body_idle_timeout_secs: u64,
    /// Longest time to receive a whole request body, from the end of its head: 408 and close.
    pub body_read_timeout_secs: u64,
    /// A connection with no request in progress is closed after this long. Above the 60 s of
    /// common load balancers, so they close first and never reuse a connection being closed.
    pub idle_timeout_secs: u64,
    /// Connections served at once. A new one beyond it gets a 503 and is closed; the others are
    /// not affected. Lowered at start to fit the file-descriptor limit.
    pub max_connections: usize,
    /// Largest request head (request line and headers) answered normally; larger is 431.
    pub max_header_bytes: usize,
    /// Requests in flight on one HTTP/2 connection.
    pub http2_max_concurrent_streams: u32,
    /// HTTP/2 keep-alive pings on busy connections to find dead peers; 0 turns them off.
    pub http2_keepalive_interval_secs: u64,
    /// Models in one fallback chain (`a,b,c`); more is a 400.
    pub max_models_per_chain: usize,
    /// Upstream calls for one request; the plan is cut to this many, keeping every chain entry's
    /// first choice.
    pub max_attempts_per_request: usize,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            header_read_timeout_secs: 10,
            body_idle_timeout_secs: 30,
            body_read_timeout_secs: 60,
            idle_timeout_secs: 75,
            max_connections: 10_000,
            max_header_bytes: 32 * 1024,
            http2_max_concurrent_streams: 128,
            http2_keepalive_interval_secs: 20,
            max_models_per_chain: 10,
            max_attempts_per_request: switchyard_routing::Limits::default().max_attempts,
        }
    }
}

fn invalid(field: &str, message: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        field: format!("server.{field}"),
        message: message.into(),
    }
}

impl ServerConfig {
    /// Applies one `SWITCHYARD_SERVER_<FIELD>` variable; `field` is what follows the prefix.
    /// Returns whether the name was one of ours.
    pub fn apply_env(&mut self, field: &str, value: &str) -> Result<bool, ConfigError> {
        let name = field.to_ascii_lowercase();
        let n = || {
            value
                .trim()
                .parse::<u64>()
                .map_err(|_| invalid(&name, format!("`{value}` is not a whole number")))
        };
        match name.as_str() {
            "header_read_timeout_secs" => self.header_read_timeout_secs = n()?,
            "body_idle_timeout_secs" => self.body_idle_timeout_secs = n()?,
            "body_read_timeout_secs" => self.body_read_timeout_secs = n()?,
            "idle_timeout_secs" => self.idle_timeout_secs = n()?,
            "max_connections" => self.max_connections = n()? as usize,
            "max_header_bytes" => self.max_header_bytes = n()? as usize,
            "http2_max_concurrent_streams" => {
                self.http2_max_concurrent_streams =
                    u32::try_from(n()?).map_err(|_| invalid(&name, "must be at most 4294967295"))?
            }
            "http2_keepalive_interval_secs" => self.http2_keepalive_interval_secs = n()?,
            "max_models_per_chain" => self.max_models_per_chain = n()? as usize,
            "max_attempts_per_request" => self.max_attempts_per_request = n()? as usize,
            _ => return Ok(false),
        }
        Ok(true)
    }

    pub fn validate(&self) -> Result<(), ConfigError> {
        for (field, v) in [
            ("header_read_timeout_secs", self.header_read_timeout_secs),
            ("body_idle_timeout_secs", self.body_idle_timeout_secs),
            ("body_read_timeout_secs", self.body_read_timeout_secs),
            ("idle_timeout_secs", self.idle_timeout_secs),
        ] {
            if v == 0 {
                return Err(invalid(field, "must be greater than 0"));
            }
        }
        if !(1..=1_000_000).contains(&self.max_connections) {
            return Err(invalid("max_connections", "must be 1-1000000"));
        }
        if !(1024..=1024 * 1024).contains(&self.max_header_bytes) {
            return Err(invalid("max_header_bytes", "must be 1024-1048576"));
        }
        if self.http2_max_concurrent_streams == 0 {
            return Err(invalid(
                "http2_max_concurrent_streams",
                "must be greater than 0",
            ));
        }
        if !(1..=1000).contains(&self.max_models_per_chain) {
            return Err(invalid("max_models_per_chain", "must be 1-1000"));
        }
        if !(1..=1000).contains(&self.max_attempts_per_request) {
            return Err(invalid("max_attempts_per_request", "must be 1-1000"));
        }
        Ok(())
    }

    pub fn header_read_timeout(&self) -> Duration {
        Duration::from_secs(self.header_read_timeout_secs)
    }

    pub fn body_idle_timeout(&self) -> Duration {
        Duration::from_secs(self.body_idle_timeout_secs)
    }

    pub fn body_read_timeout(&self) -> Duration {
        Duration::from_secs(self.body_read_timeout_secs)
    }

    pub fn idle_timeout(&self) -> Duration {
        Duration::from_secs(self.idle_timeout_secs)
    }

    /// The routing bounds these settings give.
    pub fn routing_limits(&self) -> switchyard_routing::Limits {
        switchyard_routing::Limits {
            max_models: self.max_models_per_chain,
            max_attempts: self.max_attempts_per_request,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use std::path::Path;

    #[test]
    fn the_section_round_trips_through_toml_and_env_overrides_it() {
        let text = "[server]\nheader_read_timeout_secs = 3\nmax_connections = 50\nmax_models_per_chain = 4\n";
        let mut c = Config::from_toml(text, Path::new("c.toml")).unwrap();
        assert_eq!(c.server.header_read_timeout_secs, 3);
        assert_eq!(c.server.max_connections, 50);
        assert_eq!(
            c.server.idle_timeout_secs,
            ServerConfig::default().idle_timeout_secs,
            "unset fields keep defaults"
        );
        c.apply_env(vec![
            (
                "SWITCHYARD_SERVER_BODY_IDLE_TIMEOUT_SECS".to_owned(),
                "7".to_owned(),
            ),
            (
                "SWITCHYARD_SERVER_MAX_ATTEMPTS_PER_REQUEST".to_owned(),
                "3".to_owned(),
            ),
        ])
        .unwrap();
        assert_eq!(c.server.body_idle_timeout_secs, 7);
        assert_eq!(c.server.routing_limits().max_attempts, 3);
        assert_eq!(c.server.routing_limits().max_models, 4);
    }

    #[test]
    fn bad_values_name_the_field() {
        let err = Config::load(
            None,
            vec![(
                "SWITCHYARD_SERVER_MAX_CONNECTIONS".to_owned(),
                "0".to_owned(),
            )],
        )
        .unwrap_err();
        assert!(err.to_string().contains("server.max_connections"), "{err}");
        let err = Config::load(
            None,
            vec![(
                "SWITCHYARD_SERVER_IDLE_TIMEOUT_SECS".to_owned(),
                "soon".to_owned(),
            )],
        )
        .unwrap_err();
        assert!(
            err.to_string().contains("server.idle_timeout_secs"),
            "{err}"
        );
        let err =
            Config::from_toml("[server]\nheader_timeout = 1\n", Path::new("c.toml")).unwrap_err();
        assert!(err.to_string().contains("header_timeout"), "{err}");
    }
}
