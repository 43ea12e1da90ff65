//! The payee's payment request: what its QR code carries, and its terms — which amount it
//! asks for and until when — checked the same way by the payer before signing
//! ([`PaymentRequest::amount_due`], [`PaymentRequest::accepts`]) and by the payee before
//! accepting (`verify::pay_verify`).

use thiserror::Error;

use crate::codec::{DecodeError, Message, Reader, Wire, Writer};
use crate::ids::{AccountId, RequestNonce};
use crate::keys::X25519Public;
use crate::money::{Currency, Money};
use crate::time::UnixTime;

/// Longest payee name, in bytes (EMVCo ID 59 allows 25).
pub const MAX_NAME_LEN: usize = 25;
/// Longest city, in bytes (EMVCo ID 60 allows 15).
pub const MAX_CITY_LEN: usize = 15;
/// Longest reference, in bytes. EMVCo ID 62 sub-ID 05 allows 25; Ferry allows 12 so that the
/// largest request still fits a version-10 QR code at ECC level M (DESIGN §7).
pub const MAX_REFERENCE_LEN: usize = 12;
/// Largest fixed amount a request may ask for, in minor units: its decimal text fits EMVCo ID 54
/// (13 characters) in every supported currency.
pub const MAX_AMOUNT_MINOR: i64 = 999_999_999_999;
/// Latest expiry a request may carry (ten decimal digits, year 2286).
pub const MAX_EXPIRES_AT: UnixTime = UnixTime(9_999_999_999);

/// A payee's request to be paid, shown as a QR code. It is not signed: the Noise channel to
/// `link_key`, with the hash of the QR text as prologue, is what binds the payer to this payee.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaymentRequest {
    /// Who is to be paid.
    pub payee: AccountId,
    /// The currency asked for.
    pub currency: Currency,
    /// A fixed amount, or `None` to let the payer enter one.
    pub amount: Option<Money>,
    /// One-time nonce the payment must carry.
    pub nonce: RequestNonce,
    /// The payee device's Noise static key.
    pub link_key: X25519Public,
    /// The request is valid strictly before this instant; from it on, it is expired.
    pub expires_at: UnixTime,
    /// Name shown to the payer (at most [`MAX_NAME_LEN`] bytes).
    pub payee_name: String,
    /// City (at most [`MAX_CITY_LEN`] bytes; EMVCo requires one).
    pub city: String,
    /// Free reference such as an invoice number (at most [`MAX_REFERENCE_LEN`] bytes; may be empty).
    pub reference: String,
}

/// Why a request's terms refuse an amount or a moment. The messages are for people: the
/// wallet CLI shows them as they are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum TermsError {
    /// The request names an amount and another one was given.
    #[error("the request asks for {asked}, not {offered}")]
    AmountMismatch {
        /// The request's fixed amount.
        asked: Money,
        /// The amount given.
        offered: Money,
    },
    /// The request names no amount and none was given.
    #[error("the request names no amount: give the amount to pay")]
    NoAmount,
    /// The amount is zero or negative.
    #[error("the amount must be positive, not {0}")]
    NotPositive(Money),
    /// The amount is in another currency than the request's.
    #[error("the request is in {request}, not {offered}")]
    WrongCurrency {
        /// The request's currency.
        request: Currency,
        /// The currency of the amount given.
        offered: Currency,
    },
    /// The request has expired (it is valid strictly before this instant).
    #[error("the request expired at {}: ask the payee for a new one", .0.utc())]
    Expired(UnixTime),
}

impl PaymentRequest {
    /// The amount paying this request moves: its fixed amount, or `offered` when it names
    /// none. An offered amount must equal the fixed one, be in the request's currency and be
    /// positive.
    pub fn amount_due(&self, offered: Option<Money>) -> Result<Money, TermsError> {
        let amount = offered.or(self.amount).ok_or(TermsError::NoAmount)?;
        self.check_amount(amount)?;
        Ok(amount)
    }

    /// Whether a payment of `amount` at `now` meets this request's terms: the request has not
    /// expired (`now` strictly before [`PaymentRequest::expires_at`], like every expiry in
    /// Ferry), and the amount is in its currency, positive, and its fixed amount if it names
    /// one.
    pub fn accepts(&self, amount: Money, now: UnixTime) -> Result<(), TermsError> {
        if now >= self.expires_at {
            return Err(TermsError::Expired(self.expires_at));
        }
        self.check_amount(amount)
    }

    fn check_amount(&self, amount: Money) -> Result<(), TermsError> {
        if amount.currency() != self.currency {
            return Err(TermsError::WrongCurrency {
                request: self.currency,
                offered: amount.currency(),
            });
        }
        if !amount.is_positive() {
            return Err(TermsError::NotPositive(amount));
        }
        match self.amount {
            Some(asked) if asked != amount => Err(TermsError::AmountMismatch {
                asked,
                offered: amount,
            }),
            _ => Ok(()),
        }
    }

    /// Checks the rules the encoding cannot express: amount positive and in the request's
    /// currency, text fields within their limits and free of control characters.
    pub fn check(&self) -> Result<(), DecodeError> {
        if let Some(a) = self.amount {
            if a.currency() != self.currency {
                return Err(DecodeError::invalid(
                    "amount",
                    "currency differs from request",
                ));
            }
            if !a.is_positive() {
                return Err(DecodeError::invalid("amount", "must be positive"));
            }
            if a.minor() > MAX_AMOUNT_MINOR {
                return Err(DecodeError::invalid("amount", "too large for a request"));
            }
        }
        if self.expires_at > MAX_EXPIRES_AT {
            return Err(DecodeError::invalid("expires_at", "too far in the future"));
        }
        for (field, value, max) in [
            ("payee_name", &self.payee_name, MAX_NAME_LEN),
            ("city", &self.city, MAX_CITY_LEN),
            ("reference", &self.reference, MAX_REFERENCE_LEN),
        ] {
            if value.len() > max {
                return Err(DecodeError::invalid(field, "longer than allowed"));
            }
            if value.chars().any(char::is_control) {
                return Err(DecodeError::invalid(field, "contains control characters"));
            }
        }
        Ok(())
    }
}

impl Wire for PaymentRequest {
    fn encode(&self, w: &mut Writer) {
        self.payee.encode(w);
        self.currency.encode(w);
        match self.amount {
            Some(a) => {
                w.bool(true);
                w.i64(a.minor());
            }
            None => w.bool(false),
        }
        self.nonce.encode(w);
        self.link_key.encode(w);
        self.expires_at.encode(w);
        w.str_u8(&self.payee_name);
        w.str_u8(&self.city);
        w.str_u8(&self.reference);
    }

    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let payee = AccountId::decode(r)?;
        let currency = Currency::decode(r)?;
        let amount = if r.bool("has_amount")? {
            Some(Money::new(r.i64("amount")?, currency))
        } else {
            None
        };
        let req = PaymentRequest {
            payee,
            currency,
            amount,
            nonce: RequestNonce::decode(r)?,
            link_key: X25519Public::decode(r)?,
            expires_at: UnixTime::decode(r)?,
            payee_name: r.str_u8(MAX_NAME_LEN, "payee_name")?,
            city: r.str_u8(MAX_CITY_LEN, "city")?,
            reference: r.str_u8(MAX_REFERENCE_LEN, "reference")?,
        };
        req.check()?;
        Ok(req)
    }
}

impl Message for PaymentRequest {}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    const BRL: Currency = Currency::BRL;
    const T: UnixTime = UnixTime(1_700_000_000);

    fn brl(minor: i64) -> Money {
        Money::new(minor, BRL)
    }

    fn request(amount: Option<i64>) -> PaymentRequest {
        PaymentRequest {
            payee: AccountId::random(),
            currency: BRL,
            amount: amount.map(brl),
            nonce: RequestNonce::random(),
            link_key: crate::keys::X25519Secret::generate().public(),
            expires_at: T.plus_secs(600),
            payee_name: "Bia".into(),
            city: "Recife".into(),
            reference: String::new(),
        }
    }

    #[test]
    fn the_amount_due_is_the_fixed_one_or_the_one_given() {
        assert_eq!(request(Some(30_00)).amount_due(None), Ok(brl(30_00)));
        assert_eq!(
            request(Some(30_00)).amount_due(Some(brl(30_00))),
            Ok(brl(30_00))
        );
        assert_eq!(request(None).amount_due(Some(brl(7_50))), Ok(brl(7_50)));
    }

    #[test]
    fn the_amount_due_refuses_each_bad_amount_with_its_reason() {
        assert_eq!(
            request(Some(30_00)).amount_due(Some(brl(31_00))),
            Err(TermsError::AmountMismatch {
                asked: brl(30_00),
                offered: brl(31_00)
            })
        );
        assert_eq!(request(None).amount_due(None), Err(TermsError::NoAmount));
        for bad in [0, -1, i64::MIN] {
            assert_eq!(
                request(None).amount_due(Some(brl(bad))),
                Err(TermsError::NotPositive(brl(bad)))
            );
        }
        let eur = Money::new(30_00, Currency::EUR);
        for r in [request(None), request(Some(30_00))] {
            assert_eq!(
                r.amount_due(Some(eur)),
                Err(TermsError::WrongCurrency {
                    request: BRL,
                    offered: Currency::EUR
                })
            );
        }
    }

    #[test]
    fn a_request_is_valid_strictly_before_it_expires() {
        let r = request(Some(30_00));
        assert_eq!(r.accepts(brl(30_00), T), Ok(()));
        assert_eq!(r.accepts(brl(30_00), r.expires_at.minus_secs(1)), Ok(()));
        assert_eq!(
            r.accepts(brl(30_00), r.expires_at),
            Err(TermsError::Expired(r.expires_at))
        );
        assert_eq!(
            r.accepts(brl(30_00), r.expires_at.plus_secs(1)),
            Err(TermsError::Expired(r.expires_at))
        );
        assert_eq!(
            r.accepts(brl(29_99), T),
            Err(TermsError::AmountMismatch {
                asked: brl(30_00),
                offered: brl(29_99)
            })
        );
    }

    #[test]
    fn terms_errors_say_what_to_do() {
        let e = request(Some(30_00))
            .amount_due(Some(brl(31_00)))
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "the request asks for 30.00 BRL, not 31.00 BRL"
        );
        let r = request(None);
        let e = r.accepts(brl(1), r.expires_at).unwrap_err();
        assert_eq!(
            e.to_string(),
            "the request expired at 2023-11-14 22:23:20 UTC: ask the payee for a new one"
        );
    }

    fn currency() -> impl Strategy<Value = Currency> {
        prop::sample::select(vec![Currency::BRL, Currency::EUR])
    }

    proptest! {
        #[test]
        fn accepts_is_exactly_its_four_rules(
            fixed in prop::option::of(-5i64..5),
            minor in -5i64..5,
            cur in currency(),
            now_off in 0u64..1200,
        ) {
            let r = request(fixed);
            let amount = Money::new(minor, cur);
            let now = T.plus_secs(now_off);
            let expected = now < r.expires_at
                && cur == r.currency
                && minor > 0
                && fixed.is_none_or(|f| f == minor);
            prop_assert_eq!(r.accepts(amount, now).is_ok(), expected);
        }

        #[test]
        fn the_amount_due_is_always_acceptable_before_expiry(
            fixed in prop::option::of(1i64..1_000),
            offered in prop::option::of((-5i64..1_000, currency())),
            now_off in 0u64..600,
        ) {
            let r = request(fixed);
            let offered = offered.map(|(m, c)| Money::new(m, c));
            match r.amount_due(offered) {
                Ok(due) => {
                    prop_assert!(r.accepts(due, T.plus_secs(now_off)).is_ok());
                    prop_assert!(offered.is_none_or(|o| o == due));
                    prop_assert!(r.amount.is_none_or(|f| f == due));
                }
                Err(TermsError::NoAmount) => {
                    prop_assert!(offered.is_none() && r.amount.is_none());
                }
                Err(_) => prop_assert!(offered.is_some_and(|o| r.accepts(o, T).is_err())),
            }
        }
    }
}
