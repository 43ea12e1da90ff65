//! The sans-IO heart of a secure wallet: it checks each new entry against the journal rules
//! ([`ChainPoint::apply`]) *before* signing it, so an honest wallet can never sign an entry that
//! a verifier would reject. Persistence, sealing and crash safety belong to `ferry-wallet`.

use crate::cert::TaCertBody;
use crate::hash::Hash32;
use crate::ids::{AccountId, PaymentId, RequestNonce, TaId};
use crate::journal::{DepositAuthorization, EntryKind, JournalEntry, Payment, SignedEntry};
use crate::keys::{Ed25519Signer, SignerError, SigningKey};
use crate::money::Money;
use crate::signed::SignWithError;
use crate::time::UnixTime;
use crate::verify::{ChainPoint, JournalRule};

use thiserror::Error;

/// Why the writer refused to sign.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum WriterError {
    /// The entry would break a journal rule.
    #[error("{0}")]
    Rule(#[from] JournalRule),
    /// The deposit authorization is for another wallet or does not verify.
    #[error("deposit authorization is not valid for this wallet")]
    BadAuthorization,
    /// The amount is not positive.
    #[error("amount must be positive")]
    NotPositive,
    /// The entry breaks an encoding rule (e.g. a zero serial).
    #[error("{0}")]
    Invalid(#[from] crate::codec::DecodeError),
    /// The signing key (e.g. a PKCS#11 token) failed.
    #[error("{0}")]
    Signer(#[from] SignerError),
}

impl From<SignWithError> for WriterError {
    fn from(e: SignWithError) -> Self {
        match e {
            SignWithError::Invalid(e) => WriterError::Invalid(e),
            SignWithError::Signer(e) => WriterError::Signer(e),
        }
    }
}

/// Signs journal entries for one secure wallet, with a software key (the default) or any other
/// [`Ed25519Signer`] such as a PKCS#11 token.
#[derive(Debug)]
pub struct JournalWriter<S: Ed25519Signer = SigningKey> {
    key: S,
    cert: TaCertBody,
    point: ChainPoint,
}

impl<S: Ed25519Signer> JournalWriter<S> {
    /// A writer for a wallet whose journal stands at `point`.
    pub fn new(key: S, cert: TaCertBody, point: ChainPoint) -> Self {
        JournalWriter { key, cert, point }
    }

    /// A writer for a fresh wallet.
    pub fn fresh(key: S, cert: TaCertBody) -> Self {
        let point = ChainPoint::genesis(&cert.ta_id());
        Self::new(key, cert, point)
    }

    /// Where the journal stands.
    pub fn point(&self) -> ChainPoint {
        self.point
    }

    /// The wallet's id.
    pub fn ta_id(&self) -> TaId {
        self.cert.ta_id()
    }

    /// The wallet's certificate body.
    pub fn cert(&self) -> &TaCertBody {
        &self.cert
    }

    /// Replaces the certificate (after a sync brings a new one for the same key).
    pub fn set_cert(&mut self, cert: TaCertBody) {
        self.cert = cert;
    }

    /// The balance.
    pub fn balance(&self) -> Money {
        Money::new(self.point.balance, self.cert.limits.currency)
    }

    /// Checks, signs and appends one entry.
    pub fn append(
        &mut self,
        kind: EntryKind,
        amount: Money,
        time: UnixTime,
    ) -> Result<SignedEntry, WriterError> {
        if !amount.is_positive() {
            return Err(WriterError::NotPositive);
        }
        let body = JournalEntry {
            j: self.point.next_j,
            time,
            prev_hash: self.point.prev_hash,
            amount,
            kind,
        };
        // Check the rules on the body first; the hash needs the signed bytes.
        self.point
            .apply(&self.cert.limits, &body, Hash32([0; 32]))?;
        let signed = SignedEntry::sign_with(body, &self.key)?;
        self.point = self
            .point
            .apply(&self.cert.limits, signed.unverified(), signed.hash())?;
        Ok(signed)
    }

    /// Applies an issuer deposit authorization (only serial `i + 1`).
    pub fn deposit(
        &mut self,
        auth: &DepositAuthorization,
        issuer: &crate::keys::PublicKey,
        time: UnixTime,
    ) -> Result<SignedEntry, WriterError> {
        let body = auth
            .verify(issuer)
            .map_err(|_| WriterError::BadAuthorization)?;
        if body.ta != self.ta_id() {
            return Err(WriterError::BadAuthorization);
        }
        self.append(
            EntryKind::Deposit {
                serial: body.serial,
            },
            body.amount,
            time,
        )
    }

    /// Moves `amount` back online with the next serial.
    pub fn withdraw(&mut self, amount: Money, time: UnixTime) -> Result<SignedEntry, WriterError> {
        let serial = self
            .point
            .last_serial
            .checked_add(1)
            .ok_or(JournalRule::Overflow)?;
        self.append(EntryKind::Withdraw { serial }, amount, time)
    }

    /// Pays `amount` to `payee` for the request with `nonce`.
    pub fn pay(
        &mut self,
        payee: AccountId,
        nonce: RequestNonce,
        amount: Money,
        time: UnixTime,
    ) -> Result<Payment, WriterError> {
        let entry = self.append(EntryKind::Pay { payee, nonce }, amount, time)?;
        Ok(Payment::from_entry(entry).expect("a Pay entry was just written"))
    }

    /// Collects a payment received from another wallet (the caller has run PayVerify on it).
    pub fn collect(
        &mut self,
        payment: PaymentId,
        payment_hash: Hash32,
        amount: Money,
        time: UnixTime,
    ) -> Result<SignedEntry, WriterError> {
        self.append(
            EntryKind::Collect {
                payment,
                payment_hash,
            },
            amount,
            time,
        )
    }
}
