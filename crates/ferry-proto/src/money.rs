//! Money: `i64` minor units with an ISO 4217 currency. No floats anywhere.
//!
//! Text amounts are parsed strictly: an optional `-`, a whole part without leading zeros, and at
//! most as many decimals as the currency has (`"12.34"`, `"12.3"`, `"12"` for BRL; never `"12.345"`,
//! `"+1"`, `" 1"`, `"1e3"` or `"01"`). Arithmetic is checked: overflow and currency mismatches are
//! errors, not wraps.

use std::fmt;

use thiserror::Error;

use crate::codec::{DecodeError, Reader, Wire, Writer};

/// An ISO 4217 currency that Ferry knows, identified on the wire by its numeric code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Currency {
    numeric: u16,
}

/// (alphabetic code, numeric code, minor-unit exponent) of every supported currency.
const CURRENCIES: &[(&str, u16, u8)] = &[
    ("BDT", 50, 2),
    ("BHD", 48, 3),
    ("BRL", 986, 2),
    ("CLP", 152, 0),
    ("CNY", 156, 2),
    ("EGP", 818, 2),
    ("ETB", 230, 2),
    ("EUR", 978, 2),
    ("GBP", 826, 2),
    ("GHS", 936, 2),
    ("IDR", 360, 2),
    ("INR", 356, 2),
    ("JPY", 392, 0),
    ("KES", 404, 2),
    ("KRW", 410, 0),
    ("KWD", 414, 3),
    ("MXN", 484, 2),
    ("NGN", 566, 2),
    ("PHP", 608, 2),
    ("PKR", 586, 2),
    ("RWF", 646, 0),
    ("TZS", 834, 2),
    ("UGX", 800, 0),
    ("USD", 840, 2),
    ("XAF", 950, 0),
    ("XOF", 952, 0),
    ("ZAR", 710, 2),
];

impl Currency {
    /// Brazilian real.
    pub const BRL: Currency = Currency { numeric: 986 };
    /// Indian rupee.
    pub const INR: Currency = Currency { numeric: 356 };
    /// Kenyan shilling.
    pub const KES: Currency = Currency { numeric: 404 };
    /// US dollar.
    pub const USD: Currency = Currency { numeric: 840 };
    /// Euro.
    pub const EUR: Currency = Currency { numeric: 978 };
    /// West African CFA franc (no minor unit).
    pub const XOF: Currency = Currency { numeric: 952 };
    /// Bahraini dinar (three decimals).
    pub const BHD: Currency = Currency { numeric: 48 };

    fn entry(self) -> &'static (&'static str, u16, u8) {
        CURRENCIES
            .iter()
            .find(|c| c.1 == self.numeric)
            .expect("Currency values are only built from the table")
    }

    /// Every supported currency.
    pub fn all() -> impl Iterator<Item = Currency> {
        CURRENCIES.iter().map(|c| Currency { numeric: c.1 })
    }

    /// Looks up a currency by its ISO 4217 numeric code.
    pub fn from_numeric(numeric: u16) -> Result<Self, MoneyError> {
        CURRENCIES
            .iter()
            .find(|c| c.1 == numeric)
            .map(|c| Currency { numeric: c.1 })
            .ok_or(MoneyError::UnknownCurrency)
    }

    /// Looks up a currency by its alphabetic code (upper case, as ISO 4217 writes it).
    pub fn from_code(code: &str) -> Result<Self, MoneyError> {
        CURRENCIES
            .iter()
            .find(|c| c.0 == code)
            .map(|c| Currency { numeric: c.1 })
            .ok_or(MoneyError::UnknownCurrency)
    }

    /// The alphabetic code, e.g. `"BRL"`.
    pub fn code(self) -> &'static str {
        self.entry().0
    }

    /// The numeric code, e.g. 986.
    pub fn numeric(self) -> u16 {
        self.numeric
    }

    /// How many decimals the minor unit has.
    pub fn exponent(self) -> u8 {
        self.entry().2
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

impl Wire for Currency {
    fn encode(&self, w: &mut Writer) {
        w.u16(self.numeric);
    }
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Currency::from_numeric(r.u16("currency")?)
            .map_err(|_| DecodeError::invalid("currency", "unknown ISO 4217 numeric code"))
    }
}

/// What can go wrong with money.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum MoneyError {
    /// Not a currency Ferry supports.
    #[error("unknown currency")]
    UnknownCurrency,
    /// The text is not a plain decimal amount.
    #[error("malformed amount: expected digits with an optional '-' and '.'")]
    Malformed,
    /// More decimals than the currency's minor unit allows.
    #[error("too many decimal places for this currency")]
    TooManyDecimals,
    /// The amount does not fit in 64 bits of minor units.
    #[error("amount out of range")]
    Overflow,
    /// Two amounts in different currencies were combined.
    #[error("currency mismatch")]
    CurrencyMismatch,
    /// A positive amount was required.
    #[error("amount must be positive")]
    NotPositive,
}

/// An amount of money: signed minor units of one currency.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Money {
    minor: i64,
    currency: Currency,
}

impl Money {
    /// `minor` units of `currency` (e.g. 1234 BRL = R$ 12.34).
    pub const fn new(minor: i64, currency: Currency) -> Self {
        Self { minor, currency }
    }

    /// Zero in `currency`.
    pub const fn zero(currency: Currency) -> Self {
        Self::new(0, currency)
    }

    /// The amount in minor units.
    pub const fn minor(self) -> i64 {
        self.minor
    }

    /// The currency.
    pub const fn currency(self) -> Currency {
        self.currency
    }

    /// True when strictly above zero.
    pub const fn is_positive(self) -> bool {
        self.minor > 0
    }

    /// Fails unless the amount is strictly positive.
    pub fn require_positive(self) -> Result<Self, MoneyError> {
        if self.is_positive() {
            Ok(self)
        } else {
            Err(MoneyError::NotPositive)
        }
    }

    /// Parses a decimal amount such as `"12.34"` strictly (see the module docs).
    pub fn parse(text: &str, currency: Currency) -> Result<Self, MoneyError> {
        let (negative, body) = match text.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, text),
        };
        let (whole, frac) = match body.split_once('.') {
            Some((w, f)) => (w, Some(f)),
            None => (body, None),
        };
        let digits_only = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
        if !digits_only(whole) || (whole.len() > 1 && whole.starts_with('0')) {
            return Err(MoneyError::Malformed);
        }
        let exp = currency.exponent() as usize;
        let frac = match frac {
            None => "",
            Some(f) if !digits_only(f) => return Err(MoneyError::Malformed),
            Some(f) if f.len() > exp => return Err(MoneyError::TooManyDecimals),
            Some(f) => f,
        };
        let mut minor: i64 = 0;
        for b in whole.bytes().chain(frac.bytes()) {
            minor = minor
                .checked_mul(10)
                .and_then(|m| m.checked_add(i64::from(b - b'0')))
                .ok_or(MoneyError::Overflow)?;
        }
        for _ in frac.len()..exp {
            minor = minor.checked_mul(10).ok_or(MoneyError::Overflow)?;
        }
        if negative {
            if minor == 0 {
                return Err(MoneyError::Malformed);
            }
            minor = -minor;
        }
        Ok(Self::new(minor, currency))
    }

    /// Formats the amount as a plain decimal with exactly the currency's decimals (`"12.30"`).
    pub fn to_decimal_string(self) -> String {
        let exp = u32::from(self.currency.exponent());
        let abs = self.minor.unsigned_abs();
        let sign = if self.minor < 0 { "-" } else { "" };
        if exp == 0 {
            return format!("{sign}{abs}");
        }
        let scale = 10u64.pow(exp);
        format!(
            "{sign}{}.{:0width$}",
            abs / scale,
            abs % scale,
            width = exp as usize
        )
    }

    fn same_currency(self, other: Money) -> Result<(), MoneyError> {
        if self.currency == other.currency {
            Ok(())
        } else {
            Err(MoneyError::CurrencyMismatch)
        }
    }

    /// `self + other`, checked.
    pub fn checked_add(self, other: Money) -> Result<Money, MoneyError> {
        self.same_currency(other)?;
        let minor = self
            .minor
            .checked_add(other.minor)
            .ok_or(MoneyError::Overflow)?;
        Ok(Money::new(minor, self.currency))
    }

    /// `self - other`, checked.
    pub fn checked_sub(self, other: Money) -> Result<Money, MoneyError> {
        self.same_currency(other)?;
        let minor = self
            .minor
            .checked_sub(other.minor)
            .ok_or(MoneyError::Overflow)?;
        Ok(Money::new(minor, self.currency))
    }

    /// The fee of `bps` basis points on this amount, rounded down to the minor unit.
    pub fn basis_points(self, bps: u16) -> Result<Money, MoneyError> {
        let fee = i128::from(self.minor) * i128::from(bps) / 10_000;
        let fee = i64::try_from(fee).map_err(|_| MoneyError::Overflow)?;
        Ok(Money::new(fee, self.currency))
    }
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.to_decimal_string(), self.currency)
    }
}

impl Wire for Money {
    fn encode(&self, w: &mut Writer) {
        self.currency.encode(w);
        w.i64(self.minor);
    }
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let currency = Currency::decode(r)?;
        let minor = r.i64("amount")?;
        Ok(Money::new(minor, currency))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_strictly() {
        let brl = Currency::BRL;
        assert_eq!(Money::parse("12.34", brl).unwrap().minor(), 1234);
        assert_eq!(Money::parse("12.3", brl).unwrap().minor(), 1230);
        assert_eq!(Money::parse("12", brl).unwrap().minor(), 1200);
        assert_eq!(Money::parse("0.05", brl).unwrap().minor(), 5);
        assert_eq!(Money::parse("-1.50", brl).unwrap().minor(), -150);
        for bad in [
            "", "-", ".5", "1.", "+1", " 1", "1 ", "01", "1e3", "1,00", "1.2.3", "-0", "１",
        ] {
            assert_eq!(
                Money::parse(bad, brl),
                Err(MoneyError::Malformed),
                "{bad:?}"
            );
        }
        assert_eq!(
            Money::parse("12.345", brl),
            Err(MoneyError::TooManyDecimals)
        );
        assert_eq!(
            Money::parse("1.5", Currency::XOF),
            Err(MoneyError::TooManyDecimals)
        );
        assert_eq!(Money::parse("1.234", Currency::BHD).unwrap().minor(), 1234);
        assert_eq!(
            Money::parse("92233720368547758.08", brl),
            Err(MoneyError::Overflow)
        );
        assert_eq!(
            Money::parse("92233720368547758.07", brl).unwrap().minor(),
            i64::MAX
        );
    }

    #[test]
    fn formats_with_exact_decimals() {
        assert_eq!(Money::new(1230, Currency::BRL).to_decimal_string(), "12.30");
        assert_eq!(Money::new(-5, Currency::BRL).to_decimal_string(), "-0.05");
        assert_eq!(Money::new(500, Currency::XOF).to_decimal_string(), "500");
        assert_eq!(Money::new(1, Currency::BHD).to_string(), "0.001 BHD");
        assert_eq!(
            Money::new(i64::MIN, Currency::USD).to_decimal_string(),
            "-92233720368547758.08"
        );
    }

    #[test]
    fn arithmetic_is_checked() {
        let a = Money::new(i64::MAX, Currency::BRL);
        assert_eq!(
            a.checked_add(Money::new(1, Currency::BRL)),
            Err(MoneyError::Overflow)
        );
        assert_eq!(
            a.checked_add(Money::new(1, Currency::INR)),
            Err(MoneyError::CurrencyMismatch)
        );
        assert_eq!(
            Money::new(10_000, Currency::BRL)
                .basis_points(150)
                .unwrap()
                .minor(),
            150
        );
    }

    #[test]
    fn currency_lookup() {
        assert_eq!(Currency::from_code("BRL").unwrap(), Currency::BRL);
        assert_eq!(Currency::from_numeric(356).unwrap().code(), "INR");
        assert!(Currency::from_code("brl").is_err());
        assert!(Currency::from_numeric(999).is_err());
    }

    fn any_currency() -> impl Strategy<Value = Currency> {
        proptest::sample::select(Currency::all().collect::<Vec<_>>())
    }

    proptest! {
        #[test]
        fn decimal_text_round_trips(minor in any::<i64>(), cur in any_currency()) {
            let m = Money::new(minor, cur);
            prop_assert_eq!(Money::parse(&m.to_decimal_string(), cur), Ok(m));
        }

        #[test]
        fn wire_round_trips(minor in any::<i64>(), cur in any_currency()) {
            let m = Money::new(minor, cur);
            let mut w = Writer::new();
            m.encode(&mut w);
            let bytes = w.into_bytes();
            let mut r = Reader::new(&bytes);
            prop_assert_eq!(Money::decode(&mut r), Ok(m));
            prop_assert!(r.finish().is_ok());
        }

        #[test]
        fn parse_never_panics(s in ".{0,30}") {
            let _ = Money::parse(&s, Currency::BRL);
        }
    }
}
