//! # ferry-pay
//!
//! The face-to-face payment protocol (DESIGN §4), sans IO, in one place:
//!
//! - [`rules`] — whether a request may be paid, and how: [`rules::plan`] is the one decision
//!   every payer makes before anything is signed (sign a new payment, or deliver again the
//!   one already signed for this request). The request's own terms (amount due, expiry) are
//!   `ferry_proto::PaymentRequest::amount_due` and `accepts`, which the payee checks too.
//! - [`messages`] — the two messages: the payer's [`Offer`] and the payee's [`Reply`].
//! - [`payer`] and [`payee`] — the session machines. The payer opens a Noise `NK` handshake
//!   (`ferry_link::noise`) to the payee's link key from the QR code, with the hash of the
//!   exact QR text as prologue ([`prologue`]), and sends its payment and TA certificate in the
//!   first message; the payee runs PayVerify and answers with a signed receipt (or a refusal)
//!   in the second. One round trip.
//!
//! The machines take and return bytes. Moving them over a link (`ferry_link::Link`: memory,
//! TCP, the BLE model), timeouts, and keeping both sides' records are the caller's — the
//! device wallet (`ferry_wallet::wallet`).

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod messages;
pub mod payee;
pub mod payer;
pub mod rules;

use ferry_link::LinkError;
use ferry_link::noise::NoiseError;
use ferry_proto::qr::QrError;
use ferry_proto::verify::{PayVerifyError, ReceiptError};
use ferry_proto::{DecodeError, Hash32};
use thiserror::Error;

pub use messages::{Offer, Refusal, Reply};
pub use rules::{PayPlan, PayerState, PlanError, SignedPayment, plan};

/// The Noise prologue for a request: the hash of the exact QR text the payer read.
pub fn prologue(request_text: &str) -> Hash32 {
    Hash32::of("request-qr", &[request_text.as_bytes()])
}

/// Why a session ended without a receipt.
#[derive(Debug, Error)]
pub enum SessionError {
    /// The request text is not a Ferry payment request.
    #[error("not a payment request: {0}")]
    Request(#[from] QrError),
    /// The handshake failed: wrong payee key, another request, or a tampered frame.
    #[error("secure channel: {0}")]
    Noise(#[from] NoiseError),
    /// The link failed or dropped (reported by the caller that moves the bytes).
    #[error("link: {0}")]
    Link(#[from] LinkError),
    /// The other side did not answer in time (reported by the caller that keeps the time).
    #[error("timed out waiting for the other device")]
    Timeout,
    /// A message inside the channel does not decode.
    #[error("malformed message: {0}")]
    Malformed(#[from] DecodeError),
    /// The payee refused the payment.
    #[error("the payee refused the payment: {0}")]
    Refused(Refusal),
    /// The payee's receipt does not verify.
    #[error("receipt: {0}")]
    Receipt(#[from] ReceiptError),
    /// The payment does not pass PayVerify (payee side).
    #[error("payment refused: {0}")]
    Verify(#[from] PayVerifyError),
}
