//! QR payloads: Ferry's payee request as an EMVCo merchant-presented code, and readers for the
//! merchant codes a wallet meets in the field (Pix static BR Codes, UPI `upi://pay` links).
//!
//! - [`emv`]: generic EMVCo Merchant-Presented Mode ID-length-value text with its CRC-16.
//! - [`ferry`]: [`PaymentRequest`] to and from EMVCo text ([`request_to_emv`],
//!   [`request_from_emv`]).
//! - [`pix`]: Pix static BR Codes ([`PixStaticCode`]).
//! - [`upi`]: UPI deep links ([`UpiPayLink`]).
//! - [`detect`]: tells these apart when a wallet scans an unknown code.
//!
//! Everything is text in, text out: rendering and scanning the QR symbol is the caller's job.
//! Parsers are strict and never panic; errors are typed ([`QrError`], [`EmvError`]) and never
//! carry the scanned text.

pub mod emv;
pub mod ferry;
pub mod pix;
pub mod upi;

use thiserror::Error;

use crate::codec::DecodeError;
use crate::money::MoneyError;
use crate::request::PaymentRequest;

pub use emv::{EmvError, EmvField, EmvPayload, EmvValue};
pub use ferry::{FERRY_GUI, request_from_emv, request_to_emv};
pub use pix::{PIX_GUI, PixStaticCode};
pub use upi::UpiPayLink;

/// Why a QR payload could not be read or written.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum QrError {
    /// The EMVCo structure or CRC is wrong.
    #[error("malformed EMVCo payload: {0}")]
    Emv(#[from] EmvError),
    /// A required field is absent.
    #[error("missing {0}")]
    Missing(&'static str),
    /// A field holds a value outside its allowed set.
    #[error("invalid {field}: {reason}")]
    Invalid {
        /// The field at fault.
        field: &'static str,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A data object that this scheme does not define.
    #[error("unexpected data object {id} in {place}")]
    Unexpected {
        /// Where it was found, e.g. `"Pix payload"` or `"Ferry template 26"`.
        place: &'static str,
        /// Its ID.
        id: u8,
    },
    /// An amount that is not a strictly formatted positive decimal of the right currency.
    #[error("invalid {field}: {source}")]
    Amount {
        /// The field at fault.
        field: &'static str,
        /// What is wrong with the amount.
        source: MoneyError,
    },
    /// The decoded payment request breaks [`PaymentRequest::check`].
    #[error("invalid payment request: {0}")]
    Request(#[from] DecodeError),
    /// The text decodes, but is not the exact text this library emits for the decoded value
    /// (fields out of order, or a non-canonical number). Ferry requests must be canonical because
    /// the hash of the QR text is the payment channel's prologue.
    #[error("payload is not in canonical form")]
    NotCanonical,
    /// A well-formed code of a kind this library deliberately does not handle.
    #[error("unsupported code: {0}")]
    Unsupported(&'static str),
    /// Not a Ferry request, Pix static code or UPI link.
    #[error("not a Ferry, Pix or UPI payment code")]
    Unrecognised,
}

impl QrError {
    pub(crate) fn invalid(field: &'static str, reason: &'static str) -> Self {
        QrError::Invalid { field, reason }
    }

    pub(crate) fn amount(field: &'static str) -> impl FnOnce(MoneyError) -> Self {
        move |source| QrError::Amount { field, source }
    }
}

/// What a wallet found in a scanned QR code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScannedCode {
    /// A Ferry payee request (EMVCo with the [`FERRY_GUI`] merchant account).
    Ferry(PaymentRequest),
    /// A Pix static BR Code (EMVCo with the [`PIX_GUI`] merchant account).
    Pix(PixStaticCode),
    /// A UPI `upi://pay` link.
    Upi(UpiPayLink),
}

/// Reads a scanned QR text as a Ferry request, a Pix static code or a UPI link.
///
/// Text starting with the `upi:` scheme (any case) is read as a UPI link. Otherwise the text is
/// parsed as an EMVCo payload and dispatched on the globally unique identifier in merchant
/// account template 26: [`FERRY_GUI`] for Ferry, [`PIX_GUI`] (compared ignoring ASCII case) for
/// Pix. An EMVCo code for any other network is [`QrError::Unsupported`]; anything else is
/// [`QrError::Unrecognised`]. The chosen scheme's own errors are returned as they are.
pub fn detect(text: &str) -> Result<ScannedCode, QrError> {
    if text
        .get(..4)
        .is_some_and(|s| s.eq_ignore_ascii_case("upi:"))
    {
        return UpiPayLink::parse(text).map(ScannedCode::Upi);
    }
    if !text.starts_with("00") {
        return Err(QrError::Unrecognised);
    }
    let payload = EmvPayload::parse(text)?;
    let gui = payload
        .template(26)
        .and_then(|t| emv::find_text(t, 0))
        .unwrap_or("");
    if gui == FERRY_GUI {
        ferry::request_from_payload(text, &payload).map(ScannedCode::Ferry)
    } else if gui.eq_ignore_ascii_case(PIX_GUI) {
        PixStaticCode::from_payload(&payload).map(ScannedCode::Pix)
    } else {
        Err(QrError::Unsupported(
            "EMVCo code without a Ferry or Pix merchant account in ID 26",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::{AccountId, RequestNonce};
    use crate::keys::X25519Public;
    use crate::money::{Currency, Money};
    use crate::time::UnixTime;

    #[test]
    fn detects_each_kind() {
        let pix = "00020126580014br.gov.bcb.pix0136123e4567-e12b-12d1-a456-4266554400005204000053039865802BR5913Fulano de Tal6008BRASILIA62070503***63041D3D";
        assert!(matches!(detect(pix), Ok(ScannedCode::Pix(_))));

        let upi = "upi://pay?pa=shop@okbank&pn=Shop&am=10.00&cu=INR";
        assert!(matches!(detect(upi), Ok(ScannedCode::Upi(_))));
        assert!(matches!(
            detect("UPI://pay?pa=shop@okbank"),
            Ok(ScannedCode::Upi(_))
        ));

        let req = PaymentRequest {
            payee: AccountId([7; 16]),
            currency: Currency::KES,
            amount: Some(Money::new(12_345, Currency::KES)),
            nonce: RequestNonce([9; 12]),
            link_key: X25519Public([3; 32]),
            expires_at: UnixTime(1_800_000_000),
            payee_name: "Mama Mboga".into(),
            city: "Nairobi".into(),
            reference: String::new(),
        };
        let text = request_to_emv(&req).unwrap();
        assert_eq!(detect(&text), Ok(ScannedCode::Ferry(req)));
    }

    #[test]
    fn rejects_other_codes() {
        assert_eq!(detect(""), Err(QrError::Unrecognised));
        assert_eq!(detect("https://example.com"), Err(QrError::Unrecognised));
        assert_eq!(detect("upi"), Err(QrError::Unrecognised));
        // The EMVCo specification's own sample is a valid payload for other networks.
        let emvco = "00020101021229300012D156000000000510A93FO3230Q31280012D15600000001030812345678520441115802CN5914BEST TRANSPORT6007BEIJING64200002ZH0104最佳运输0202北京540523.7253031565502016233030412340603***0708A60086670902ME91320016A0112233449988770708123456786304A13A";
        assert!(matches!(detect(emvco), Err(QrError::Unsupported(_))));
        assert!(matches!(detect("000201"), Err(QrError::Emv(_))));
    }

    proptest::proptest! {
        #[test]
        fn detect_never_panics(s in ".{0,300}") {
            let _ = detect(&s);
        }
    }
}
