//! Verification rules as pure functions: certificate chains, OPS PayVerify, receipts, and
//! journal segments. Each takes the current time explicitly and returns a typed error.

use thiserror::Error;

use crate::cert::{
    AttestationBody, AttestationStatement, ClientCertBody, ClientCertificate, Limits,
    NetworkParameters, NetworkParamsBody, RevocationBody, RevocationList, TaCertBody,
    TaCertificate, Tier,
};
use crate::hash::Hash32;
use crate::ids::{AccountId, KeyId, PaymentId, TaId};
use crate::journal::{
    EntryKind, JournalEntry, Payment, Receipt, ReceiptBody, SignedEntry, genesis_hash,
};
use crate::keys::PublicKey;
use crate::money::Money;
use crate::request::{PaymentRequest, TermsError};
use crate::signed::{Document, Signed};
use crate::time::UnixTime;

/// The issuer's signing keys a verifier trusts, looked up by key id (rotation keeps old keys
/// here until everything they signed has expired).
#[derive(Debug, Clone, Default)]
pub struct IssuerKeys {
    keys: Vec<PublicKey>,
}

impl IssuerKeys {
    /// Trusts exactly these keys.
    pub fn new(keys: impl IntoIterator<Item = PublicKey>) -> Self {
        IssuerKeys {
            keys: keys.into_iter().collect(),
        }
    }

    /// The key with id `id`.
    pub fn get(&self, id: &KeyId) -> Option<&PublicKey> {
        self.keys.iter().find(|k| &k.key_id() == id)
    }
}

/// The attestation roots a server trusts: OEM roots for hardware, one software root.
#[derive(Debug, Clone, Default)]
pub struct AttestationRoots {
    /// Roots allowed to vouch for hardware-tier wallets.
    pub hardware: Vec<PublicKey>,
    /// Roots allowed to vouch for software-tier wallets.
    pub software: Vec<PublicKey>,
}

/// Why a certificate or issuer document was not accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum CertError {
    /// Signed by a key the verifier does not trust.
    #[error("signed by an unknown issuer key")]
    UnknownIssuer,
    /// The signature does not verify.
    #[error("certificate signature does not verify")]
    BadSignature,
    /// Used before its validity period.
    #[error("certificate not yet valid")]
    NotYetValid,
    /// Used after its validity period.
    #[error("certificate expired")]
    Expired,
    /// The secure wallet is on the revocation list.
    #[error("secure wallet is revoked")]
    Revoked,
    /// The attestation is not signed by a root trusted for its tier.
    #[error("attestation not signed by a trusted root for its tier")]
    UntrustedAttestation,
}

fn check_window(issued_at: UnixTime, expires_at: UnixTime, now: UnixTime) -> Result<(), CertError> {
    if now < issued_at {
        Err(CertError::NotYetValid)
    } else if now >= expires_at {
        Err(CertError::Expired)
    } else {
        Ok(())
    }
}

/// Checks `doc`'s signature by the trusted issuer key with id `issuer`.
fn issuer_signed<'a, T: Document>(
    doc: &'a Signed<T>,
    issuer: &KeyId,
    issuers: &IssuerKeys,
) -> Result<&'a T, CertError> {
    let key = issuers.get(issuer).ok_or(CertError::UnknownIssuer)?;
    doc.verify(key).map_err(|_| CertError::BadSignature)
}

/// Verifies a client certificate at `now`.
pub fn verify_client_cert<'a>(
    cert: &'a ClientCertificate,
    issuers: &IssuerKeys,
    now: UnixTime,
) -> Result<&'a ClientCertBody, CertError> {
    let body = issuer_signed(cert, &cert.unverified().issuer, issuers)?;
    check_window(body.issued_at, body.expires_at, now)?;
    Ok(body)
}

/// Verifies a TA certificate at `now`, and that the wallet is not on `revocations`.
pub fn verify_ta_cert<'a>(
    cert: &'a TaCertificate,
    issuers: &IssuerKeys,
    revocations: Option<&RevocationBody>,
    now: UnixTime,
) -> Result<&'a TaCertBody, CertError> {
    let body = verify_ta_cert_signature(cert, issuers)?;
    check_window(body.issued_at, body.expires_at, now)?;
    if revocations.is_some_and(|r| r.is_revoked(&body.ta_id())) {
        return Err(CertError::Revoked);
    }
    Ok(body)
}

/// Checks only the issuer's signature on a TA certificate, whatever the time: used for fraud
/// proofs and for settling payments made while the certificate was valid.
pub fn verify_ta_cert_signature<'a>(
    cert: &'a TaCertificate,
    issuers: &IssuerKeys,
) -> Result<&'a TaCertBody, CertError> {
    issuer_signed(cert, &cert.unverified().issuer, issuers)
}

/// Verifies an attestation statement against the roots trusted for its tier.
pub fn verify_attestation<'a>(
    statement: &'a AttestationStatement,
    roots: &AttestationRoots,
) -> Result<&'a AttestationBody, CertError> {
    let candidates = match statement.unverified().tier {
        Tier::Hardware => &roots.hardware,
        Tier::Software => &roots.software,
    };
    candidates
        .iter()
        .find_map(|root| statement.verify(root).ok())
        .ok_or(CertError::UntrustedAttestation)
}

/// Verifies a revocation list's signature.
pub fn verify_revocation_list<'a>(
    list: &'a RevocationList,
    issuers: &IssuerKeys,
) -> Result<&'a RevocationBody, CertError> {
    issuer_signed(list, &list.unverified().issuer, issuers)
}

/// Verifies network parameters against the issuer key a device pinned, at `now`.
pub fn verify_network_params<'a>(
    params: &'a NetworkParameters,
    pinned_issuer: &PublicKey,
    now: UnixTime,
) -> Result<&'a NetworkParamsBody, CertError> {
    if &params.unverified().issuer_key != pinned_issuer {
        return Err(CertError::UnknownIssuer);
    }
    let body = params
        .verify(pinned_issuer)
        .map_err(|_| CertError::BadSignature)?;
    check_window(body.valid_from, body.valid_until, now)?;
    Ok(body)
}

/// What the payee knows when a payment arrives.
#[derive(Debug, Clone, Copy)]
pub struct PayeeView<'a> {
    /// Issuer keys the payee trusts.
    pub issuers: &'a IssuerKeys,
    /// The payee's cached revocation list.
    pub revocations: &'a RevocationBody,
    /// The payee's own account.
    pub me: AccountId,
    /// The request the payee showed.
    pub request: &'a PaymentRequest,
    /// The payee's clock.
    pub now: UnixTime,
}

/// Why a payee refuses a payment (OPS PayVerify).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum PayVerifyError {
    /// The payer's certificate is not acceptable.
    #[error("payer certificate: {0}")]
    Certificate(#[from] CertError),
    /// The payer wallet's signature does not verify.
    #[error("payment signature does not verify")]
    BadSignature,
    /// The entry is not a payment.
    #[error("not a payment")]
    NotAPayment,
    /// The payment is to someone else.
    #[error("payment is for another payee")]
    WrongPayee,
    /// The payment does not carry this request's nonce.
    #[error("payment does not answer this request")]
    WrongNonce,
    /// The request has expired.
    #[error("payment request expired")]
    RequestExpired,
    /// The currency differs from the request's or the wallet's.
    #[error("currency mismatch")]
    CurrencyMismatch,
    /// The amount differs from the fixed amount requested (or is not positive).
    #[error("amount differs from the amount requested")]
    AmountMismatch,
    /// The amount is above the payer wallet's per-payment limit.
    #[error("amount above the payer's per-payment limit")]
    OverPaymentLimit,
    /// The payer wallet has not synced by its deadline.
    #[error("payer wallet is past its sync deadline")]
    SyncOverdue,
    /// This payment was already received.
    #[error("payment already received")]
    AlreadyReceived,
}

/// A payment the payee has accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VerifiedPayment {
    /// Its identity.
    pub id: PaymentId,
    /// Amount received.
    pub amount: Money,
    /// Hash of its bytes (what the receipt signs).
    pub hash: Hash32,
    /// The payer's account.
    pub payer_account: AccountId,
}

/// OPS PayVerify: everything a payee without a secure wallet checks before it accepts a payment.
/// `already_received` answers from the payee's own log.
pub fn pay_verify(
    view: &PayeeView<'_>,
    ta_cert: &TaCertificate,
    payment: &Payment,
    already_received: impl FnOnce(&PaymentId) -> bool,
) -> Result<VerifiedPayment, PayVerifyError> {
    let cert = verify_ta_cert(ta_cert, view.issuers, Some(view.revocations), view.now)?;
    if view.now >= cert.limits.sync_by {
        return Err(PayVerifyError::SyncOverdue);
    }
    let entry = payment
        .verify(&cert.ta_key)
        .map_err(|_| PayVerifyError::BadSignature)?;
    let EntryKind::Pay { payee, nonce } = entry.kind else {
        return Err(PayVerifyError::NotAPayment);
    };
    let req = view.request;
    if payee != view.me || req.payee != view.me {
        return Err(PayVerifyError::WrongPayee);
    }
    if nonce != req.nonce {
        return Err(PayVerifyError::WrongNonce);
    }
    req.accepts(entry.amount, view.now).map_err(|e| match e {
        TermsError::Expired(_) => PayVerifyError::RequestExpired,
        TermsError::WrongCurrency { .. } => PayVerifyError::CurrencyMismatch,
        TermsError::AmountMismatch { .. } | TermsError::NotPositive(_) | TermsError::NoAmount => {
            PayVerifyError::AmountMismatch
        }
    })?;
    if entry.amount.currency() != cert.limits.currency {
        return Err(PayVerifyError::CurrencyMismatch);
    }
    if entry.amount.minor() > cert.limits.max_payment {
        return Err(PayVerifyError::OverPaymentLimit);
    }
    let id = payment.id(cert.ta_id());
    if already_received(&id) {
        return Err(PayVerifyError::AlreadyReceived);
    }
    Ok(VerifiedPayment {
        id,
        amount: entry.amount,
        hash: payment.hash(),
        payer_account: cert.account_id,
    })
}

/// Why a receipt is not accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum ReceiptError {
    /// The payee's certificate is not acceptable.
    #[error("payee certificate: {0}")]
    Certificate(#[from] CertError),
    /// The receipt names a different account than the certificate or the payment.
    #[error("receipt payee does not match")]
    WrongPayee,
    /// The receipt is for a different payment.
    #[error("receipt is for another payment")]
    WrongPayment,
    /// The receipt signature does not verify.
    #[error("receipt signature does not verify")]
    BadSignature,
}

/// Verifies a payee's receipt for `payment`. The payee's certificate must have been valid when
/// the receipt says the payment was received.
pub fn verify_receipt<'a>(
    receipt: &'a Receipt,
    payment: &Payment,
    payee_cert: &ClientCertificate,
    issuers: &IssuerKeys,
) -> Result<&'a ReceiptBody, ReceiptError> {
    let claimed = receipt.unverified();
    let cert = verify_client_cert(payee_cert, issuers, claimed.received_at)?;
    let body = receipt
        .verify(&cert.account_key)
        .map_err(|_| ReceiptError::BadSignature)?;
    if body.payee != cert.account_id || body.payee != payment.payee() {
        return Err(ReceiptError::WrongPayee);
    }
    if body.payment_hash != payment.hash() {
        return Err(ReceiptError::WrongPayment);
    }
    Ok(body)
}

/// Where a journal stands: the next position, the hash it must name, the balance and the last
/// OPS serial `i`. Both the wallet that writes a journal and the server that replays it move
/// from point to point with [`ChainPoint::apply`], so they cannot disagree on the rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChainPoint {
    /// The position the next entry must have.
    pub next_j: u32,
    /// The hash the next entry must name.
    pub prev_hash: Hash32,
    /// Offline balance in minor units.
    pub balance: i64,
    /// Last deposit/withdraw serial applied.
    pub last_serial: u32,
}

/// Why a journal entry breaks the rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum JournalRule {
    /// Position is not the next one.
    #[error("expected entry {expected}, got {got}")]
    Gap {
        /// The expected position.
        expected: u32,
        /// The position found.
        got: u32,
    },
    /// `prev_hash` does not name the previous entry.
    #[error("entry does not chain to the previous one")]
    BrokenChain,
    /// Signature does not verify under the wallet's key.
    #[error("entry signature does not verify")]
    BadSignature,
    /// Not in the wallet's currency.
    #[error("entry currency differs from the wallet's")]
    CurrencyMismatch,
    /// The balance would go below zero.
    #[error("balance would go negative")]
    Overdraft,
    /// A payment above the per-payment limit.
    #[error("payment above the per-payment limit")]
    OverPaymentLimit,
    /// The balance would exceed the certificate's cap.
    #[error("balance above the certificate's cap")]
    OverBalanceLimit,
    /// A deposit or withdraw serial out of order.
    #[error("expected serial {expected}, got {got}")]
    SerialOutOfOrder {
        /// The expected serial.
        expected: u32,
        /// The serial found.
        got: u32,
    },
    /// A counter would overflow.
    #[error("counter overflow")]
    Overflow,
}

impl ChainPoint {
    /// The start of the journal of wallet `ta`.
    pub fn genesis(ta: &TaId) -> Self {
        ChainPoint {
            next_j: 1,
            prev_hash: genesis_hash(ta),
            balance: 0,
            last_serial: 0,
        }
    }

    /// The point after `entry` (whose encoded form hashes to `entry_hash`), or the rule it breaks.
    pub fn apply(
        &self,
        limits: &Limits,
        entry: &JournalEntry,
        entry_hash: Hash32,
    ) -> Result<ChainPoint, JournalRule> {
        if entry.j != self.next_j {
            return Err(JournalRule::Gap {
                expected: self.next_j,
                got: entry.j,
            });
        }
        if entry.prev_hash != self.prev_hash {
            return Err(JournalRule::BrokenChain);
        }
        if entry.amount.currency() != limits.currency {
            return Err(JournalRule::CurrencyMismatch);
        }
        let amount = entry.amount.minor();
        let mut last_serial = self.last_serial;
        if let EntryKind::Deposit { serial } | EntryKind::Withdraw { serial } = entry.kind {
            let expected = self
                .last_serial
                .checked_add(1)
                .ok_or(JournalRule::Overflow)?;
            if serial != expected {
                return Err(JournalRule::SerialOutOfOrder {
                    expected,
                    got: serial,
                });
            }
            last_serial = serial;
        }
        if matches!(entry.kind, EntryKind::Pay { .. }) && amount > limits.max_payment {
            return Err(JournalRule::OverPaymentLimit);
        }
        let balance = if entry.kind.direction() > 0 {
            let b = self
                .balance
                .checked_add(amount)
                .ok_or(JournalRule::Overflow)?;
            if b > limits.max_balance {
                return Err(JournalRule::OverBalanceLimit);
            }
            b
        } else {
            let b = self
                .balance
                .checked_sub(amount)
                .ok_or(JournalRule::Overflow)?;
            if b < 0 {
                return Err(JournalRule::Overdraft);
            }
            b
        };
        Ok(ChainPoint {
            next_j: self.next_j.checked_add(1).ok_or(JournalRule::Overflow)?,
            prev_hash: entry_hash,
            balance,
            last_serial,
        })
    }
}

/// A journal entry at `index` of a segment breaks a rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[error("journal entry {index} of the segment: {rule}")]
pub struct SegmentError {
    /// Index in the segment (0-based).
    pub index: usize,
    /// The rule broken.
    pub rule: JournalRule,
}

/// Verifies a journal segment that continues from `start`: continuity, signatures, serials,
/// limits, and a balance that never goes negative. Returns the point after the last entry.
pub fn verify_segment(
    cert: &TaCertBody,
    start: ChainPoint,
    entries: &[SignedEntry],
) -> Result<ChainPoint, SegmentError> {
    entries
        .iter()
        .enumerate()
        .try_fold(start, |point, (index, signed)| {
            let entry = signed.verify(&cert.ta_key).map_err(|_| SegmentError {
                index,
                rule: JournalRule::BadSignature,
            })?;
            point
                .apply(&cert.limits, entry, signed.hash())
                .map_err(|rule| SegmentError { index, rule })
        })
}
