//! The two messages of a face-to-face payment, carried as Noise handshake payloads.
//!
//! - Offer (payer → payee): `version ‖ ta_certificate (u16 len) ‖ payment (u16 len)`.
//! - Reply (payee → payer): `version ‖ 0 ‖ receipt (u16) ‖ payee client certificate (u16)` when
//!   accepted, `version ‖ 1 ‖ reason code (u8)` when refused.

use ferry_proto::verify::{CertError, PayVerifyError};
use ferry_proto::{
    ClientCertificate, DecodeError, Payment, Reader, Receipt, TaCertificate, Writer,
};

/// Largest encoded document inside a session message.
const MAX_DOC: usize = 4096;

/// What the payer sends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Offer {
    /// The payer wallet's certificate.
    pub ta_cert: TaCertificate,
    /// The signed payment.
    pub payment: Payment,
}

impl Offer {
    /// Canonical bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut w = Writer::versioned();
        w.bytes_u16(&self.ta_cert.to_bytes());
        w.bytes_u16(&self.payment.to_bytes());
        w.into_bytes()
    }

    /// Strict decoding.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::versioned(bytes)?;
        let ta_cert = TaCertificate::from_bytes(r.bytes_u16(MAX_DOC, "ta_certificate")?)?;
        let payment = Payment::from_bytes(r.bytes_u16(MAX_DOC, "payment")?)?;
        r.finish()?;
        Ok(Offer { ta_cert, payment })
    }
}

/// Why a payee refused a payment, as told to the payer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The payer's certificate is unknown, expired or bad.
    BadCertificate,
    /// The payer wallet is on the payee's revocation list.
    Revoked,
    /// The payment signature does not verify.
    BadSignature,
    /// The payment is for someone else or does not answer this request.
    WrongPayee,
    /// The request has expired.
    RequestExpired,
    /// Wrong amount or currency.
    WrongAmount,
    /// Over the payer wallet's per-payment limit.
    OverLimit,
    /// The payer wallet is past its sync deadline.
    SyncOverdue,
    /// This payment was already received, or the request was already paid.
    AlreadyReceived,
    /// The payee could not record the payment.
    PayeeError,
}

impl Refusal {
    /// Stable snake_case name.
    pub fn name(self) -> &'static str {
        match self {
            Refusal::BadCertificate => "bad_certificate",
            Refusal::Revoked => "revoked",
            Refusal::BadSignature => "bad_signature",
            Refusal::WrongPayee => "wrong_payee",
            Refusal::RequestExpired => "request_expired",
            Refusal::WrongAmount => "wrong_amount",
            Refusal::OverLimit => "over_limit",
            Refusal::SyncOverdue => "sync_overdue",
            Refusal::AlreadyReceived => "already_received",
            Refusal::PayeeError => "payee_error",
        }
    }

    fn code(self) -> u8 {
        self as u8
    }

    fn from_code(code: u8) -> Result<Self, DecodeError> {
        const ALL: [Refusal; 10] = [
            Refusal::BadCertificate,
            Refusal::Revoked,
            Refusal::BadSignature,
            Refusal::WrongPayee,
            Refusal::RequestExpired,
            Refusal::WrongAmount,
            Refusal::OverLimit,
            Refusal::SyncOverdue,
            Refusal::AlreadyReceived,
            Refusal::PayeeError,
        ];
        ALL.get(usize::from(code))
            .copied()
            .ok_or(DecodeError::invalid("refusal", "unknown reason"))
    }
}

impl From<PayVerifyError> for Refusal {
    fn from(e: PayVerifyError) -> Self {
        match e {
            PayVerifyError::Certificate(CertError::Revoked) => Refusal::Revoked,
            PayVerifyError::Certificate(_) => Refusal::BadCertificate,
            PayVerifyError::BadSignature | PayVerifyError::NotAPayment => Refusal::BadSignature,
            PayVerifyError::WrongPayee | PayVerifyError::WrongNonce => Refusal::WrongPayee,
            PayVerifyError::RequestExpired => Refusal::RequestExpired,
            PayVerifyError::CurrencyMismatch | PayVerifyError::AmountMismatch => {
                Refusal::WrongAmount
            }
            PayVerifyError::OverPaymentLimit => Refusal::OverLimit,
            PayVerifyError::SyncOverdue => Refusal::SyncOverdue,
            PayVerifyError::AlreadyReceived => Refusal::AlreadyReceived,
        }
    }
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// What the payee answers.
// One short-lived value per session: boxing the accepted variant would buy nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// Accepted: the payee's signed receipt and its client certificate.
    Accepted {
        /// The receipt.
        receipt: Receipt,
        /// The payee's certificate (binds the receipt key to the payee account).
        payee_cert: ClientCertificate,
    },
    /// Refused, with a reason.
    Refused(Refusal),
}

impl Reply {
    /// Canonical bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut w = Writer::versioned();
        match self {
            Reply::Accepted {
                receipt,
                payee_cert,
            } => {
                w.u8(0);
                w.bytes_u16(&receipt.to_bytes());
                w.bytes_u16(&payee_cert.to_bytes());
            }
            Reply::Refused(r) => {
                w.u8(1);
                w.u8(r.code());
            }
        }
        w.into_bytes()
    }

    /// Strict decoding.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::versioned(bytes)?;
        let reply = match r.u8("reply")? {
            0 => Reply::Accepted {
                receipt: Receipt::from_bytes(r.bytes_u16(MAX_DOC, "receipt")?)?,
                payee_cert: ClientCertificate::from_bytes(r.bytes_u16(MAX_DOC, "payee_cert")?)?,
            },
            1 => Reply::Refused(Refusal::from_code(r.u8("reason")?)?),
            _ => return Err(DecodeError::invalid("reply", "unknown kind")),
        };
        r.finish()?;
        Ok(reply)
    }
}
