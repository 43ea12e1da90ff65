//! Integer fields that also accept an integral JSON float (`-109202.0`), which JSON Schema
//! counts as an integer. A float is accepted only when it is integral and exactly
//! representable (|x| ≤ 2^53), so no amount is ever rounded; anything else is refused.

use std::fmt;
use std::marker::PhantomData;

use serde::de::{self, Deserializer, Visitor};

/// Largest magnitude a float can carry exactly.
const EXACT: f64 = 9_007_199_254_740_992.0; // 2^53

struct Integral<T>(PhantomData<T>);

impl<'de, T> Visitor<'de> for Integral<T>
where
    T: TryFrom<i64> + TryFrom<u64>,
{
    type Value = T;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "an integer in range (an integral float is accepted)")
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<T, E> {
        T::try_from(v).map_err(|_| E::custom(format_args!("{v} is out of range")))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<T, E> {
        T::try_from(v).map_err(|_| E::custom(format_args!("{v} is out of range")))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<T, E> {
        if v.is_finite() && v.fract() == 0.0 && v.abs() <= EXACT {
            // Integral and exact: the conversion loses nothing.
            #[allow(clippy::cast_possible_truncation)]
            self.visit_i64(v as i64)
        } else {
            Err(E::custom(format_args!(
                "{v} is not an integer (or not exactly representable)"
            )))
        }
    }
}

/// Deserializes an `i64` field, accepting integral floats.
pub fn i64_field<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
    d.deserialize_any(Integral::<i64>(PhantomData))
}

/// Deserializes a `u32` field, accepting integral floats.
pub fn u32_field<'de, D: Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
    d.deserialize_any(Integral::<u32>(PhantomData))
}

/// Deserializes a `u64` field, accepting integral floats.
pub fn u64_field<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    d.deserialize_any(Integral::<u64>(PhantomData))
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    use super::*;

    #[derive(Debug, Deserialize)]
    struct Amount {
        #[serde(deserialize_with = "i64_field")]
        amount: i64,
        #[serde(deserialize_with = "u32_field")]
        serial: u32,
    }

    fn parse(json: &str) -> Result<(i64, u32), String> {
        serde_json::from_str::<Amount>(json)
            .map(|a| (a.amount, a.serial))
            .map_err(|e| e.to_string())
    }

    #[test]
    fn integers_and_integral_floats_are_accepted() {
        assert_eq!(parse(r#"{"amount":-109202,"serial":3}"#), Ok((-109202, 3)));
        assert_eq!(
            parse(r#"{"amount":-109202.0,"serial":3.0}"#),
            Ok((-109202, 3))
        );
        assert_eq!(
            parse(r#"{"amount":9223372036854775807,"serial":4294967295}"#),
            Ok((i64::MAX, u32::MAX))
        );
        assert_eq!(parse(r#"{"amount":1e3,"serial":1}"#), Ok((1000, 1)));
    }

    #[test]
    fn fractions_inexact_floats_and_out_of_range_values_are_refused() {
        for bad in [
            r#"{"amount":1.5,"serial":1}"#,
            r#"{"amount":1e19,"serial":1}"#,
            r#"{"amount":9007199254740993.0,"serial":1}"#,
            r#"{"amount":9223372036854775808,"serial":1}"#,
            r#"{"amount":1,"serial":-1}"#,
            r#"{"amount":1,"serial":4294967296}"#,
            r#"{"amount":"1","serial":1}"#,
            r#"{"amount":null,"serial":1}"#,
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }
}
