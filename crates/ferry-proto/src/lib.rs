//! # ferry-proto
//!
//! Ferry's protocol core, sans IO: money, identifiers, keys, certificates and signed documents,
//! the secure-wallet journal, payments and receipts, sealed envelopes, deferred orders,
//! vouchers, and every codec (canonical binary, text, EMVCo/Pix/UPI QR). Verification rules are
//! pure functions that take the current time as an argument and return typed errors.
//!
//! Start with [`journal`] (what a payment is) and [`verify`] (when one is accepted).

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod cash;
pub mod cert;
pub mod codec;
pub mod delivery;
pub mod envelope;
pub mod fraud;
pub mod hash;
pub mod ids;
pub mod journal;
pub mod journal_writer;
pub mod keys;
pub mod money;
pub mod order;
pub mod outcome;
pub mod postage;
pub mod qr;
pub mod request;
pub mod sealed;
pub mod secret_hash;
pub mod signed;
pub mod text;
pub mod time;
pub mod verify;
pub mod voucher;

pub use cert::{
    AttestationStatement, ClientCertificate, FeeSchedule, Limits, NetworkParameters,
    RevocationList, TaCertificate, Tier,
};
pub use codec::{DecodeError, Message, Reader, Wire, Writer};
pub use hash::Hash32;
pub use ids::{AccountId, KeyId, PaymentId, RequestNonce, TaId};
pub use journal::{DepositAuthorization, EntryKind, JournalEntry, Payment, Receipt, SignedEntry};
pub use keys::{
    BadSignature, Ed25519Signer, PublicKey, Signature, SignerError, SigningKey, X25519Public,
    X25519Secret,
};
pub use money::{Currency, Money, MoneyError};
pub use outcome::{Outcome, Reason};
pub use request::{PaymentRequest, TermsError};
pub use signed::{Document, SignWithError, Signed};
pub use time::{Clock, ManualClock, SystemClock, UnixTime};

/// `N` bytes from the operating system's random source.
///
/// # Panics
/// If the operating system cannot supply randomness, there is no safe way to continue making keys
/// or nonces, so this panics rather than return predictable bytes.
pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut out = [0u8; N];
    getrandom::fill(&mut out).expect("operating system random source unavailable");
    out
}
