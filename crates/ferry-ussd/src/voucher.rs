//! Offline Pix vouchers from a feature phone (the Pix RFC): the password the emitter types,
//! and what the backend answers when the menu asks it to quote, create, list or invalidate a
//! voucher. The backend creates the voucher through the same engine path as the API; a
//! feature phone cannot show a QR code, so the voucher's text form goes out by SMS and the
//! screen shows a short reference.

use std::fmt;

use ferry_proto::{Money, UnixTime};
use serde::{Deserialize, Serialize};
use thiserror::Error;
use zeroize::Zeroizing;

use crate::backend::{serde_money, serde_time};
use crate::phone::Phone;

/// Shortest voucher password (the API's rule).
pub const MIN_PASSWORD_LEN: usize = 6;
/// Longest voucher password typed on a keypad (one USSD input).
pub const MAX_PASSWORD_LEN: usize = crate::menu::MAX_INPUT_LEN;
/// Longest voucher lifetime offered, hours (the Pix RFC's 12 hours).
pub const MAX_VOUCHER_HOURS: u8 = 12;
/// How many of the account's vouchers the list screen shows.
pub const LISTED_VOUCHERS: usize = 4;

/// A voucher password as typed: 6 to [`MAX_PASSWORD_LEN`] characters without control
/// characters. Its `Debug` never shows it; its memory is wiped on drop.
#[derive(Clone)]
pub struct VoucherPassword(Zeroizing<String>);

/// A text that is not an acceptable voucher password.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[error("a voucher password is 6 to 24 characters")]
pub struct BadVoucherPassword;

impl VoucherPassword {
    /// Parses a password as typed.
    pub fn parse(text: &str) -> Result<VoucherPassword, BadVoucherPassword> {
        let n = text.chars().count();
        if !(MIN_PASSWORD_LEN..=MAX_PASSWORD_LEN).contains(&n) || text.chars().any(char::is_control)
        {
            return Err(BadVoucherPassword);
        }
        Ok(VoucherPassword(Zeroizing::new(text.to_owned())))
    }

    /// The password, for sealing.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Equality in constant time (for "enter it again").
    pub fn ct_eq(&self, other: &VoucherPassword) -> bool {
        use subtle::ConstantTimeEq;
        self.0.len() == other.0.len() && bool::from(self.0.as_bytes().ct_eq(other.0.as_bytes()))
    }
}

impl fmt::Debug for VoucherPassword {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("VoucherPassword(<redacted>)")
    }
}

/// Parses a lifetime typed in whole hours: 1 to [`MAX_VOUCHER_HOURS`].
pub fn parse_hours(text: &str) -> Option<u8> {
    if text.is_empty() || text.len() > 2 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse::<u8>()
        .ok()
        .filter(|h| (1..=MAX_VOUCHER_HOURS).contains(h))
}

/// The short reference shown for a voucher: the first 8 hex digits of its id, upper case.
pub fn short_reference(voucher_id: &str) -> String {
    voucher_id
        .chars()
        .filter(char::is_ascii_hexdigit)
        .take(8)
        .collect::<String>()
        .to_ascii_uppercase()
}

/// A voucher to create for a phone account.
#[derive(Debug, Clone)]
pub struct VoucherOrder {
    /// The emitter.
    pub emitter: Phone,
    /// What receivers may take in all.
    pub amount: Money,
    /// Lifetime, hours (1 to 12).
    pub hours: u8,
    /// The password receivers must be told.
    pub password: VoucherPassword,
}

/// What a voucher of some amount costs, before anything is done ([`crate::backend::Backend::voucher_quote`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "quote", rename_all = "snake_case")]
pub enum VoucherQuote {
    /// The creation fee, and everything the voucher takes from the balance (amount, creation
    /// fee and the reserve for its transfer fees, whose unused part comes back).
    Costs {
        /// Creation fee.
        #[serde(with = "serde_money")]
        fee: Money,
        /// Taken from the balance in all.
        #[serde(with = "serde_money")]
        total: Money,
    },
    /// Not the account's currency, not positive, or too large to add its fees.
    InvalidAmount,
    /// This server does not issue vouchers.
    Unavailable,
}

/// Result of [`crate::backend::Backend::create_voucher`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "voucher", rename_all = "snake_case")]
pub enum VoucherOutcome {
    /// Created; its text form was queued by SMS to the emitter.
    Created {
        /// The short reference ([`short_reference`]).
        reference: String,
        /// Creation fee.
        #[serde(with = "serde_money")]
        fee: Money,
        /// Taken from the balance in all.
        #[serde(with = "serde_money")]
        total: Money,
        /// When it lapses.
        #[serde(with = "serde_time")]
        expires_at: UnixTime,
    },
    /// Amount and fees exceed the balance.
    InsufficientFunds {
        /// The balance.
        #[serde(with = "serde_money")]
        balance: Money,
    },
    /// The per-day limit would be exceeded.
    OverLimit {
        /// How much could still go out today.
        #[serde(with = "serde_money")]
        remaining: Money,
    },
    /// Not the account's currency, not positive, or too large.
    InvalidAmount,
    /// The emitter blocked voucher creation on its account.
    Blocked,
    /// The channel is locked.
    Locked {
        /// Until when.
        #[serde(with = "serde_time")]
        until: UnixTime,
    },
    /// A risk rule (velocity) held it; an alert was recorded for the operator.
    RiskHold,
    /// This server does not issue vouchers.
    Unavailable,
}

/// One of the account's open vouchers, as the list screen shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VoucherLine {
    /// The voucher id (canonical UUID text).
    pub id: String,
    /// What receivers may still take.
    #[serde(with = "serde_money")]
    pub remaining: Money,
    /// When it lapses.
    #[serde(with = "serde_time")]
    pub expires_at: UnixTime,
}

/// Result of [`crate::backend::Backend::invalidate_voucher`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "invalidate", rename_all = "snake_case")]
pub enum InvalidateOutcome {
    /// Closed now; what was left went back to the balance.
    Invalidated {
        /// Returned to the balance (the rest of the value and of the fee reserve).
        #[serde(with = "serde_money")]
        returned: Money,
    },
    /// It was closed already (used up, expired or invalidated); nothing changed.
    AlreadyClosed,
    /// No such voucher of this account.
    NotFound,
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn passwords() {
        assert!(VoucherPassword::parse("abc123").is_ok());
        assert!(VoucherPassword::parse(&"7".repeat(24)).is_ok());
        for bad in ["", "12345", &"7".repeat(25), "abc\n123"] {
            assert_eq!(VoucherPassword::parse(bad).err(), Some(BadVoucherPassword));
        }
        let p = VoucherPassword::parse("secret77").expect("ok");
        assert!(!format!("{p:?}").contains("secret77"));
        assert!(p.ct_eq(&VoucherPassword::parse("secret77").expect("ok")));
        assert!(!p.ct_eq(&VoucherPassword::parse("secret78").expect("ok")));
        assert!(!p.ct_eq(&VoucherPassword::parse("secret777").expect("ok")));
    }

    #[test]
    fn hours_and_references() {
        assert_eq!(parse_hours("1"), Some(1));
        assert_eq!(parse_hours("12"), Some(12));
        assert_eq!(parse_hours("06"), Some(6));
        for bad in ["", "0", "13", "1.5", "-1", "+3", "100", "a"] {
            assert_eq!(parse_hours(bad), None, "{bad}");
        }
        assert_eq!(
            short_reference("1a2b3c4d-0000-4000-8000-000000000000"),
            "1A2B3C4D"
        );
    }

    proptest! {
        #[test]
        fn any_hours_text_parses_only_within_range(s in "\\PC{0,4}") {
            if let Some(h) = parse_hours(&s) {
                prop_assert!((1..=MAX_VOUCHER_HOURS).contains(&h));
            }
        }
    }
}
