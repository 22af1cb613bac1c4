//! The one credential type of the workspace: provider keys in the registry's deployments, in the
//! store (decrypted BYOK keys) and in the providers' request builders are all a [`Secret`].

use std::fmt;

use serde::{Deserialize, Serialize, Serializer};

/// A credential. `Debug`, `Display` and `Serialize` never show it; only [`Secret::expose`] does,
/// at the one place a header or a ciphertext is made.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl From<String> for Secret {
    fn from(s: String) -> Secret {
        Secret(s)
    }
}

impl From<&str> for Secret {
    fn from(s: &str) -> Secret {
        Secret(s.to_owned())
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret([REDACTED])")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[REDACTED]")
    }
}

impl Serialize for Secret {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str("[REDACTED]")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_shows_its_value() {
        let s = Secret::new("sk-live-0123456789");
        assert_eq!(format!("{s:?} {s}"), "Secret([REDACTED]) [REDACTED]");
        assert_eq!(serde_json::to_string(&s).unwrap(), "\"[REDACTED]\"");
        let back: Secret = serde_json::from_str("\"sk-live-0123456789\"").unwrap();
        assert_eq!(back.expose(), "sk-live-0123456789");
    }
}
