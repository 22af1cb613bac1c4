//! Prices in registry files may be written as TOML numbers (`0.000003`) or strings
//! (`"0.000003"`). A number is converted through its shortest round-trip text, so what a person
//! wrote is what we get: `0.000003` becomes exactly 3e-6, never 2.9999999999999997e-6.

use rust_decimal::Decimal;
use serde::de::{self, Deserializer, Visitor};
use std::fmt;
use std::str::FromStr;

struct DecimalVisitor;

impl Visitor<'_> for DecimalVisitor {
    type Value = Decimal;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a decimal number (like 0.000003) or a decimal string (like \"0.000003\")")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Decimal, E> {
        let parsed = if v.contains(['e', 'E']) {
            Decimal::from_scientific(v)
        } else {
            Decimal::from_str(v)
        };
        parsed.map_err(|_| E::custom(format!("`{v}` is not a decimal number")))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Decimal, E> {
        if !v.is_finite() {
            return Err(E::custom(format!("`{v}` is not a finite number")));
        }
        // `{}` on f64 prints the shortest text that round-trips, without exponent.
        self.visit_str(&format!("{v}"))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Decimal, E> {
        Ok(Decimal::from(v))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Decimal, E> {
        Ok(Decimal::from(v))
    }
}

/// Deserializes a [`Decimal`] from a number or a string.
pub fn deserialize_decimal<'de, D: Deserializer<'de>>(d: D) -> Result<Decimal, D::Error> {
    d.deserialize_any(DecimalVisitor)
}

/// Deserializes an optional [`Decimal`] from a number or a string.
pub fn deserialize_opt_decimal<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<Decimal>, D::Error> {
    d.deserialize_any(DecimalVisitor).map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize)]
    struct P {
        #[serde(deserialize_with = "deserialize_decimal")]
        v: Decimal,
    }

    fn parse(json: &str) -> Result<Decimal, serde_json::Error> {
        serde_json::from_str::<P>(json).map(|p| p.v)
    }

    #[test]
    fn float_literals_are_exact() {
        assert_eq!(parse(r#"{"v": 0.000003}"#).unwrap().to_string(), "0.000003");
        assert_eq!(
            parse(r#"{"v": 0.00000633}"#).unwrap().to_string(),
            "0.00000633"
        );
        assert_eq!(parse(r#"{"v": 3e-7}"#).unwrap().to_string(), "0.0000003");
        assert_eq!(parse(r#"{"v": 0.1}"#).unwrap().to_string(), "0.1");
    }

    #[test]
    fn strings_and_integers() {
        assert_eq!(
            parse(r#"{"v": "0.0000225"}"#).unwrap().to_string(),
            "0.0000225"
        );
        assert_eq!(
            parse(r#"{"v": "1.5e-6"}"#).unwrap().to_string(),
            "0.0000015"
        );
        assert_eq!(parse(r#"{"v": 2}"#).unwrap(), Decimal::from(2));
    }

    #[test]
    fn rejects_non_numbers() {
        let err = parse(r#"{"v": "three dollars"}"#).unwrap_err().to_string();
        assert!(err.contains("not a decimal number"), "{err}");
        assert!(parse(r#"{"v": true}"#).is_err());
    }
}
