//! The secure wallet (OPS "trusted application"): the only place that holds the offline balance,
//! the counters `i` and `j`, and the key that signs journal entries.
//!
//! [`SecureWallet`] is what the rest of the wallet sees. [`software::SoftwareSecureWallet`] is
//! the reference implementation: its state is sealed on disk under a device key and committed
//! crash-safely with an anti-rollback counter; its signing key is either sealed in that state
//! or kept in a PKCS#11 token ([`pkcs11`]).

pub mod pkcs11;
pub mod software;
mod state;
mod state_file;

use ferry_proto::cert::RevocationBody;
use ferry_proto::journal_writer::WriterError;
use ferry_proto::verify::{CertError, ChainPoint, IssuerKeys, PayVerifyError};
use ferry_proto::{
    AttestationStatement, Currency, DepositAuthorization, Money, Payment, PaymentRequest,
    PublicKey, SignedEntry, TaCertificate, TaId, UnixTime,
};
use thiserror::Error;

pub use state_file::{CrashPoint, DeviceKey};

/// Why the secure wallet refused or failed. A refusal changes nothing.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum SecureWalletError {
    /// No TA certificate is installed yet (register the wallet first).
    #[error("the secure wallet has no certificate yet; register it first")]
    NoCertificate,
    /// The certificate is for another key.
    #[error("the certificate is for another wallet key")]
    CertificateForAnotherKey,
    /// The certificate does not verify, has expired or is revoked.
    #[error("certificate: {0}")]
    Certificate(#[from] CertError),
    /// The journal rules or the signer refused the entry (limits, overdraft, serial order).
    #[error("{0}")]
    Refused(#[from] WriterError),
    /// The wallet must sync before it pays again: its sync-by deadline has passed.
    #[error("the wallet must sync first: its sync-by deadline has passed")]
    SyncOverdue,
    /// The wallet made the most payments its certificate allows between two syncs.
    #[error("the wallet must sync first: {max} payments made since the last sync")]
    TooManyPayments {
        /// The certificate's limit.
        max: u32,
    },
    /// The payment request has expired.
    #[error("the payment request has expired")]
    RequestExpired,
    /// The amount or currency does not match the request or the wallet.
    #[error("{0}")]
    Mismatch(&'static str),
    /// A received payment does not verify (collect).
    #[error("payment refused: {0}")]
    Payment(#[from] PayVerifyError),
    /// This payment was already collected.
    #[error("payment already collected")]
    AlreadyCollected,
    /// The state on disk is older than the wallet's anti-rollback counter.
    #[error(
        "the secure wallet state was rolled back (state generation {state}, counter {counter}); refusing to use it"
    )]
    RolledBack {
        /// Generation found in the state file.
        state: u64,
        /// Generation the counter requires.
        counter: u64,
    },
    /// The state on disk cannot be read or opened with this device key.
    #[error("secure wallet state unreadable: {0}")]
    Corrupt(String),
    /// The signing key does not match the state (wrong token or key label).
    #[error("the signing key does not match this secure wallet")]
    WrongKey,
    /// Storage failed; nothing was committed.
    #[error("secure wallet storage: {0}")]
    Io(String),
    /// A crash was injected (tests); reopen the wallet from disk.
    #[error("injected crash at {0:?}")]
    Crashed(CrashPoint),
}

/// A snapshot of what the secure wallet holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecureStatus {
    /// The wallet's id.
    pub ta_id: TaId,
    /// Its public key.
    pub ta_key: PublicKey,
    /// The installed certificate.
    pub certificate: Option<TaCertificate>,
    /// Where the journal stands (balance, next j, last serial i).
    pub point: ChainPoint,
    /// The offline balance, once a certificate names the currency.
    pub balance: Option<Money>,
    /// Entries up to this position were accepted by the server.
    pub synced_through: u32,
    /// Pay entries since the last completed sync.
    pub payments_since_sync: u32,
}

impl SecureStatus {
    /// The currency of the offline balance, once certified.
    pub fn currency(&self) -> Option<Currency> {
        self.balance.map(|b| b.currency())
    }
}

/// What a payee's secure wallet checks against when it collects a payment.
#[derive(Debug, Clone, Copy)]
pub struct CollectContext<'a> {
    /// Issuer keys trusted for the payer's certificate.
    pub issuers: &'a IssuerKeys,
    /// The latest revocation list the device holds.
    pub revocations: &'a RevocationBody,
    /// The device clock.
    pub now: UnixTime,
}

/// The OPS trusted application. Every method that changes state commits it durably before it
/// returns anything signed; an error means nothing changed.
pub trait SecureWallet {
    /// The wallet's public key (generated inside it; the secret never leaves).
    fn ta_key(&self) -> PublicKey;

    /// An attestation statement for registration.
    fn attest(&self, now: UnixTime) -> Result<AttestationStatement, SecureWalletError>;

    /// Accepts a TA certificate for this wallet's key signed by `issuer`; `now` must fall in its
    /// validity window. The issuer key is pinned for later checks.
    fn install_certificate(
        &mut self,
        cert: &TaCertificate,
        issuer: &PublicKey,
        now: UnixTime,
    ) -> Result<(), SecureWalletError>;

    /// What it holds.
    fn status(&self) -> SecureStatus;

    /// Applies a deposit authorization (serial `i + 1` only).
    fn deposit(
        &mut self,
        auth: &DepositAuthorization,
        now: UnixTime,
    ) -> Result<SignedEntry, SecureWalletError>;

    /// Moves `amount` back to the online balance (the server applies the entry once).
    fn withdraw(&mut self, amount: Money, now: UnixTime) -> Result<SignedEntry, SecureWalletError>;

    /// Pays `amount` for `request`, checking the request and every offline limit.
    fn pay(
        &mut self,
        request: &PaymentRequest,
        amount: Money,
        now: UnixTime,
    ) -> Result<Payment, SecureWalletError>;

    /// Collects a payment to this wallet's account received from another wallet (OPS
    /// Collect); never the same payment twice.
    fn collect(
        &mut self,
        payer_cert: &TaCertificate,
        payment: &Payment,
        ctx: &CollectContext<'_>,
    ) -> Result<SignedEntry, SecureWalletError>;

    /// Journal entries after position `after_j` that it still holds (everything not yet synced).
    fn journal_since(&self, after_j: u32) -> Vec<SignedEntry>;

    /// Records that the server accepted the journal through `through_j`; with a renewed
    /// certificate and every entry synced, the payments-between-syncs count starts again.
    fn finish_sync(
        &mut self,
        through_j: u32,
        renewed: Option<&TaCertificate>,
        now: UnixTime,
    ) -> Result<(), SecureWalletError>;
}
