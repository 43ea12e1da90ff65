//! Phone numbers in E.164 form: `+`, a country calling code, the subscriber number; 8 to 15
//! digits in all, the first not `0`.
//!
//! Parsing is strict on purpose, because a phone number is where money goes:
//! * spaces and `-` are removed (people and aggregators write `+55 11 91234-5678`); nothing
//!   else is: no brackets, dots, letters, or a second `+`;
//! * an international number starts with `+`; the `00` international prefix is refused (it is
//!   not the prefix everywhere, e.g. `011` in North America, so it is ambiguous);
//! * a national number (trunk prefix `0` then the national number) is accepted only when the
//!   caller passes a default [`CallingCode`], normally the country of the USSD service, and
//!   becomes `+<code><national number>`; one without the trunk `0` is refused;
//! * the result has 8 to 15 digits (E.164 allows at most 15; no country's numbers are shorter
//!   than 8 with their code).
//!
//! It does not check numbering plans (which prefixes a country has allocated): an unknown but
//! well-formed number is the backend's "unknown recipient", not a format error.

use std::fmt;

use thiserror::Error;

/// Most characters accepted before normalising (a formatted number with spaces and dashes).
pub const MAX_RAW_LEN: usize = 32;
/// Fewest digits of a normalised number.
pub const MIN_DIGITS: usize = 8;
/// Most digits of a normalised number (E.164).
pub const MAX_DIGITS: usize = 15;

/// Why a text is not a phone number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum PhoneError {
    /// Nothing but spaces and dashes.
    #[error("empty phone number")]
    Empty,
    /// Longer than [`MAX_RAW_LEN`] characters.
    #[error("phone number too long")]
    TooLong,
    /// A character other than digits, a leading `+`, spaces and dashes.
    #[error("phone number may contain only digits, a leading '+', spaces and dashes")]
    InvalidCharacter,
    /// `00` used as the international prefix.
    #[error("write the international number with '+' instead of '00'")]
    InternationalPrefix,
    /// A national number without a default country, or without the trunk prefix `0`.
    #[error("national number without a country: start with '+' and the country code")]
    NoCountry,
    /// The country code would start with `0`.
    #[error("country code cannot start with 0")]
    LeadingZero,
    /// Fewer than [`MIN_DIGITS`] or more than [`MAX_DIGITS`] digits.
    #[error("a phone number has 8 to 15 digits")]
    Length,
}

/// An ITU-T E.164 country calling code (1 to 3 digits, not starting with 0), e.g. 55 (Brazil),
/// 254 (Kenya).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CallingCode(u16);

impl CallingCode {
    /// `code` if it is 1 to 999.
    pub fn new(code: u16) -> Option<Self> {
        (1..=999).contains(&code).then_some(CallingCode(code))
    }

    /// The code as a number.
    pub fn get(self) -> u16 {
        self.0
    }
}

/// A normalised E.164 phone number, e.g. `+5511912345678`.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Phone(String);

impl Phone {
    /// Parses and normalises `raw` (see the module docs); `default` is the country of national
    /// numbers.
    pub fn parse(raw: &str, default: Option<CallingCode>) -> Result<Phone, PhoneError> {
        if raw.chars().count() > MAX_RAW_LEN {
            return Err(PhoneError::TooLong);
        }
        let compact: String = raw.chars().filter(|c| *c != ' ' && *c != '-').collect();
        if compact.is_empty() {
            return Err(PhoneError::Empty);
        }
        let (international, digits) = match compact.strip_prefix('+') {
            Some(rest) => (true, rest),
            None => (false, compact.as_str()),
        };
        if !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(PhoneError::InvalidCharacter);
        }
        let full = if international {
            if digits.starts_with('0') {
                return Err(PhoneError::LeadingZero);
            }
            digits.to_owned()
        } else if digits.starts_with("00") {
            return Err(PhoneError::InternationalPrefix);
        } else {
            match (default, digits.strip_prefix('0')) {
                (Some(code), Some(national)) if !national.is_empty() => {
                    format!("{}{national}", code.get())
                }
                _ => return Err(PhoneError::NoCountry),
            }
        };
        if !(MIN_DIGITS..=MAX_DIGITS).contains(&full.len()) {
            return Err(PhoneError::Length);
        }
        Ok(Phone(format!("+{full}")))
    }

    /// The number, `+` and digits.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The last four digits behind a `*`, e.g. `*5678`, for lists where the full number is
    /// too long.
    pub fn tail(&self) -> String {
        let n = self.0.len();
        format!("*{}", &self.0[n.saturating_sub(4)..])
    }
}

impl fmt::Display for Phone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Phone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Phone({})", self.0)
    }
}

impl std::str::FromStr for Phone {
    type Err = PhoneError;

    /// Parses an international number (no default country).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Phone::parse(s, None)
    }
}

impl serde::Serialize for Phone {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> serde::Deserialize<'de> for Phone {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Phone::parse(&s, None).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const BR: Option<CallingCode> = Some(CallingCode(55));

    #[test]
    fn normalises() {
        let ok = |raw: &str, d| Phone::parse(raw, d).map(|p| p.0);
        assert_eq!(ok("+5511912345678", None).unwrap(), "+5511912345678");
        assert_eq!(ok("+55 11 91234-5678", None).unwrap(), "+5511912345678");
        assert_eq!(ok("011 91234 5678", BR).unwrap(), "+5511912345678");
        assert_eq!(
            ok("0712345678", CallingCode::new(254)).unwrap(),
            "+254712345678"
        );
        assert_eq!(ok("+12025550123", BR).unwrap(), "+12025550123");
    }

    #[test]
    fn refuses() {
        let err = |raw: &str, d| Phone::parse(raw, d).unwrap_err();
        assert_eq!(err("", None), PhoneError::Empty);
        assert_eq!(err(" - ", None), PhoneError::Empty);
        assert_eq!(
            err("+55 (11) 91234-5678", None),
            PhoneError::InvalidCharacter
        );
        assert_eq!(err("+55.11.912345678", None), PhoneError::InvalidCharacter);
        assert_eq!(err("+55+11912345678", None), PhoneError::InvalidCharacter);
        assert_eq!(err("abc", None), PhoneError::InvalidCharacter);
        assert_eq!(err("+٥٥١١٩١٢٣٤٥٦٧٨", None), PhoneError::InvalidCharacter);
        assert_eq!(err("005511912345678", BR), PhoneError::InternationalPrefix);
        assert_eq!(err("0712345678", None), PhoneError::NoCountry);
        assert_eq!(err("11912345678", BR), PhoneError::NoCountry);
        assert_eq!(err("0", BR), PhoneError::NoCountry);
        assert_eq!(err("+0711234567", None), PhoneError::LeadingZero);
        assert_eq!(err("+5511", None), PhoneError::Length);
        assert_eq!(err("+1234567890123456", None), PhoneError::Length);
        assert_eq!(err(&"1".repeat(33), None), PhoneError::TooLong);
        assert!(CallingCode::new(0).is_none() && CallingCode::new(1000).is_none());
    }

    #[test]
    fn tail_and_serde() {
        let p: Phone = "+5511912345678".parse().unwrap();
        assert_eq!(p.tail(), "*5678");
        let json = serde_json::to_string(&p).unwrap();
        assert_eq!(json, "\"+5511912345678\"");
        assert_eq!(serde_json::from_str::<Phone>(&json).unwrap(), p);
        assert!(serde_json::from_str::<Phone>("\"5511\"").is_err());
    }

    proptest! {
        #[test]
        fn parse_never_panics_and_output_is_e164(s in "\\PC{0,40}", cc in 1u16..1000) {
            if let Ok(p) = Phone::parse(&s, CallingCode::new(cc)) {
                let d = &p.as_str()[1..];
                prop_assert!(p.as_str().starts_with('+'));
                prop_assert!(d.bytes().all(|b| b.is_ascii_digit()));
                prop_assert!((MIN_DIGITS..=MAX_DIGITS).contains(&d.len()));
                prop_assert!(!d.starts_with('0'));
                // Normal form is a fixed point.
                prop_assert_eq!(Phone::parse(p.as_str(), None), Ok(p.clone()));
            }
        }
    }
}
