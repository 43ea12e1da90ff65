//! The payee's payment request: what its QR code carries.

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
    /// After this instant the payee refuses payments for this request.
    pub expires_at: UnixTime,
    /// Name shown to the payer (at most [`MAX_NAME_LEN`] bytes).
    pub payee_name: String,
    /// City (at most [`MAX_CITY_LEN`] bytes; EMVCo requires one).
    pub city: String,
    /// Free reference such as an invoice number (at most [`MAX_REFERENCE_LEN`] bytes; may be empty).
    pub reference: String,
}

impl PaymentRequest {
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
