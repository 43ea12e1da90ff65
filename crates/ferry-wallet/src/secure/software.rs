//! The reference secure wallet: journal rules from `ferry_proto::journal_writer`, state sealed
//! on disk ([`super::state_file`]), signing key sealed in that state or held by an external
//! signer such as a PKCS#11 token.
//!
//! Every change is computed on a copy of the state, committed durably, and only then made
//! current and returned: a signed entry never leaves before the state that records it is on
//! disk, so a power cut can never let the same `j` be signed twice or lose a debit.

use std::path::Path;

use ferry_proto::cert::{AttestationBody, Tier, software_attestation_key};
use ferry_proto::journal_writer::{JournalWriter, WriterError};
use ferry_proto::verify::{ChainPoint, IssuerKeys, PayVerifyError, verify_ta_cert};
use ferry_proto::{
    AttestationStatement, DepositAuthorization, Ed25519Signer, EntryKind, Money, Payment,
    PaymentRequest, PublicKey, SignedEntry, SigningKey, TaCertificate, TaId, TermsError, UnixTime,
};
use std::collections::BTreeSet;
use zeroize::Zeroizing;

use super::state::{MAX_UNSYNCED_ENTRIES, State, StoredKey};
use super::state_file::{DeviceKey, StateFile};
use super::{CollectContext, CrashPoint, SecureStatus, SecureWallet, SecureWalletError};

/// Device model reported in attestations.
const DEVICE_MODEL: &str = "ferry-software-wallet";

/// Any signer the wallet can hold.
pub type BoxedSigner = Box<dyn Ed25519Signer + Send + Sync>;

/// The software secure wallet.
pub struct SoftwareSecureWallet {
    file: StateFile,
    state: State,
    signer: BoxedSigner,
}

impl std::fmt::Debug for SoftwareSecureWallet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SoftwareSecureWallet")
            .field("ta_id", &TaId::of(&self.signer.public_key()))
            .field("point", &self.state.point)
            .finish_non_exhaustive()
    }
}

fn fresh_state(key: StoredKey, public: &PublicKey) -> State {
    State {
        key,
        issuer: None,
        cert: None,
        point: ChainPoint::genesis(&TaId::of(public)),
        synced_through: 0,
        payments_since_sync: 0,
        journal: Vec::new(),
        collected: BTreeSet::new(),
    }
}

impl SoftwareSecureWallet {
    /// True when `dir` holds a secure wallet.
    pub fn exists(dir: &Path) -> bool {
        StateFile::exists(dir)
    }

    /// Creates a wallet in `dir` with a key generated here and sealed in its state.
    pub fn create(dir: &Path, device_key: &DeviceKey) -> Result<Self, SecureWalletError> {
        let key = SigningKey::generate();
        let public = key.public();
        let state = fresh_state(StoredKey::Sealed(key.to_seed()), &public);
        let file = StateFile::create(dir, device_key, &state.encode())?;
        Ok(SoftwareSecureWallet {
            file,
            state,
            signer: Box::new(key),
        })
    }

    /// Creates a wallet in `dir` whose key lives in `signer` (a PKCS#11 token) under `label`.
    pub fn create_with_signer(
        dir: &Path,
        device_key: &DeviceKey,
        signer: BoxedSigner,
        label: &str,
    ) -> Result<Self, SecureWalletError> {
        let public = signer.public_key();
        let key = StoredKey::External {
            public,
            label: label.to_owned(),
        };
        let state = fresh_state(key, &public);
        let file = StateFile::create(dir, device_key, &state.encode())?;
        Ok(SoftwareSecureWallet {
            file,
            state,
            signer,
        })
    }

    /// Opens the wallet in `dir`. A wallet whose key is external needs
    /// [`SoftwareSecureWallet::open_with_signer`].
    pub fn open(dir: &Path, device_key: &DeviceKey) -> Result<Self, SecureWalletError> {
        let (file, plaintext) = StateFile::open(dir, device_key)?;
        let state = State::decode(&plaintext)
            .map_err(|e| SecureWalletError::Corrupt(format!("state: {e}")))?;
        let signer: BoxedSigner = match &state.key {
            StoredKey::Sealed(seed) => Box::new(SigningKey::from_seed(seed)),
            StoredKey::External { label, .. } => {
                return Err(SecureWalletError::Corrupt(format!(
                    "the signing key is in a token (label {label}); open it with its signer"
                )));
            }
        };
        Ok(SoftwareSecureWallet {
            file,
            state,
            signer,
        })
    }

    /// Opens the wallet in `dir` with the external signer that holds its key.
    pub fn open_with_signer(
        dir: &Path,
        device_key: &DeviceKey,
        signer: BoxedSigner,
    ) -> Result<Self, SecureWalletError> {
        let (file, plaintext) = StateFile::open(dir, device_key)?;
        let state = State::decode(&plaintext)
            .map_err(|e| SecureWalletError::Corrupt(format!("state: {e}")))?;
        match &state.key {
            StoredKey::External { public, .. } if *public == signer.public_key() => {}
            _ => return Err(SecureWalletError::WrongKey),
        }
        Ok(SoftwareSecureWallet {
            file,
            state,
            signer,
        })
    }

    /// The token key label recorded in the state in `dir` (for opening its signer).
    pub fn key_label(dir: &Path, device_key: &DeviceKey) -> Result<String, SecureWalletError> {
        let (_, plaintext) = StateFile::open(dir, device_key)?;
        let state = State::decode(&plaintext)
            .map_err(|e| SecureWalletError::Corrupt(format!("state: {e}")))?;
        match state.key {
            StoredKey::External { label, .. } => Ok(label),
            StoredKey::Sealed(_) => Err(SecureWalletError::WrongKey),
        }
    }

    /// The label of the token key, when the key is external.
    pub fn external_key_label(&self) -> Option<&str> {
        match &self.state.key {
            StoredKey::External { label, .. } => Some(label),
            StoredKey::Sealed(_) => None,
        }
    }

    /// Arms a simulated power cut at `point` during the next commit (tests). After it fires the
    /// wallet refuses everything; reopen it from disk.
    #[doc(hidden)]
    pub fn inject_crash(&mut self, point: Option<CrashPoint>) {
        self.file.crash_at(point);
    }

    /// Computes a change on a copy of the state, commits it, then makes it current.
    fn change<T>(
        &mut self,
        f: impl FnOnce(&mut State, &dyn Ed25519Signer) -> Result<T, SecureWalletError>,
    ) -> Result<T, SecureWalletError> {
        if let Some(p) = self.file.crashed() {
            return Err(SecureWalletError::Crashed(p));
        }
        let mut next = self.state.clone();
        let out = f(&mut next, self.signer.as_ref())?;
        self.file.commit(&next.encode())?;
        self.state = next;
        Ok(out)
    }

    fn cert_of(state: &State) -> Result<&TaCertificate, SecureWalletError> {
        state.cert.as_ref().ok_or(SecureWalletError::NoCertificate)
    }

    /// Appends one entry through the journal rules and records it.
    fn append(
        state: &mut State,
        signer: &dyn Ed25519Signer,
        op: impl FnOnce(&mut JournalWriter<&dyn Ed25519Signer>) -> Result<SignedEntry, WriterError>,
    ) -> Result<SignedEntry, SecureWalletError> {
        if state.journal.len() >= MAX_UNSYNCED_ENTRIES {
            return Err(SecureWalletError::Io(
                "the journal is full; sync before anything else".into(),
            ));
        }
        let cert = Self::cert_of(state)?.unverified().clone();
        let mut writer = JournalWriter::new(signer, cert, state.point);
        let entry = op(&mut writer)?;
        state.point = writer.point();
        state.journal.push(entry.clone());
        Ok(entry)
    }
}

impl SecureWallet for SoftwareSecureWallet {
    fn ta_key(&self) -> PublicKey {
        self.signer.public_key()
    }

    fn attest(&self, now: UnixTime) -> Result<AttestationStatement, SecureWalletError> {
        let body = AttestationBody {
            ta_key: self.ta_key(),
            tier: Tier::Software,
            device_model: DEVICE_MODEL.into(),
            issued_at: now,
        };
        AttestationStatement::sign(body, &software_attestation_key())
            .map_err(|e| SecureWalletError::Io(e.to_string()))
    }

    fn install_certificate(
        &mut self,
        cert: &TaCertificate,
        issuer: &PublicKey,
        now: UnixTime,
    ) -> Result<(), SecureWalletError> {
        let me = self.ta_key();
        self.change(|state, _| {
            if state.issuer.is_some_and(|pinned| pinned != *issuer) {
                return Err(ferry_proto::verify::CertError::UnknownIssuer.into());
            }
            let body = verify_ta_cert(cert, &IssuerKeys::new([*issuer]), None, now)?;
            if body.ta_key != me {
                return Err(SecureWalletError::CertificateForAnotherKey);
            }
            if let Some(old) = &state.cert {
                let old = old.unverified();
                if old.limits.currency != body.limits.currency || old.account_id != body.account_id
                {
                    return Err(SecureWalletError::Mismatch(
                        "a new certificate must keep the account and currency",
                    ));
                }
                if body.issued_at < old.issued_at {
                    return Err(SecureWalletError::Mismatch(
                        "the certificate is older than the installed one",
                    ));
                }
            }
            state.issuer = Some(*issuer);
            state.cert = Some(cert.clone());
            Ok(())
        })
    }

    fn status(&self) -> SecureStatus {
        let s = &self.state;
        let ta_key = self.ta_key();
        SecureStatus {
            ta_id: TaId::of(&ta_key),
            ta_key,
            certificate: s.cert.clone(),
            point: s.point,
            balance: s
                .cert
                .as_ref()
                .map(|c| Money::new(s.point.balance, c.unverified().limits.currency)),
            synced_through: s.synced_through,
            payments_since_sync: s.payments_since_sync,
        }
    }

    fn deposit(
        &mut self,
        auth: &DepositAuthorization,
        now: UnixTime,
    ) -> Result<SignedEntry, SecureWalletError> {
        self.change(|state, signer| {
            let issuer = state.issuer.ok_or(SecureWalletError::NoCertificate)?;
            Self::append(state, signer, |w| w.deposit(auth, &issuer, now))
        })
    }

    fn withdraw(&mut self, amount: Money, now: UnixTime) -> Result<SignedEntry, SecureWalletError> {
        self.change(|state, signer| Self::append(state, signer, |w| w.withdraw(amount, now)))
    }

    fn pay(
        &mut self,
        request: &PaymentRequest,
        amount: Money,
        now: UnixTime,
    ) -> Result<Payment, SecureWalletError> {
        self.change(|state, signer| {
            let cert = Self::cert_of(state)?;
            let issuer = state.issuer.ok_or(SecureWalletError::NoCertificate)?;
            let body = verify_ta_cert(cert, &IssuerKeys::new([issuer]), None, now)?;
            let limits = body.limits;
            if now >= limits.sync_by {
                return Err(SecureWalletError::SyncOverdue);
            }
            if state.payments_since_sync >= limits.max_payments_between_syncs {
                return Err(SecureWalletError::TooManyPayments {
                    max: limits.max_payments_between_syncs,
                });
            }
            request
                .check()
                .map_err(|_| SecureWalletError::Mismatch("the request is malformed"))?;
            const OTHER_CURRENCY: &str = "currency differs from the request or the wallet";
            request.accepts(amount, now).map_err(|e| match e {
                TermsError::Expired(_) => SecureWalletError::RequestExpired,
                TermsError::WrongCurrency { .. } => SecureWalletError::Mismatch(OTHER_CURRENCY),
                TermsError::NotPositive(_) => WriterError::NotPositive.into(),
                TermsError::AmountMismatch { .. } | TermsError::NoAmount => {
                    SecureWalletError::Mismatch("amount differs from the amount requested")
                }
            })?;
            if amount.currency() != limits.currency {
                return Err(SecureWalletError::Mismatch(OTHER_CURRENCY));
            }
            let entry = Self::append(state, signer, |w| {
                w.pay(request.payee, request.nonce, amount, now)
                    .map(|p| p.entry().clone())
            })?;
            state.payments_since_sync += 1;
            Payment::from_entry(entry).map_err(|e| SecureWalletError::Io(e.to_string()))
        })
    }

    fn collect(
        &mut self,
        payer_cert: &TaCertificate,
        payment: &Payment,
        ctx: &CollectContext<'_>,
    ) -> Result<SignedEntry, SecureWalletError> {
        self.change(|state, signer| {
            let mine = Self::cert_of(state)?.unverified().clone();
            let payer = verify_ta_cert(payer_cert, ctx.issuers, Some(ctx.revocations), ctx.now)
                .map_err(PayVerifyError::Certificate)?;
            let entry = payment
                .verify(&payer.ta_key)
                .map_err(|_| PayVerifyError::BadSignature)?;
            let EntryKind::Pay { payee, .. } = entry.kind else {
                return Err(PayVerifyError::NotAPayment.into());
            };
            if payee != mine.account_id {
                return Err(PayVerifyError::WrongPayee.into());
            }
            if entry.amount.currency() != mine.limits.currency
                || entry.amount.currency() != payer.limits.currency
            {
                return Err(PayVerifyError::CurrencyMismatch.into());
            }
            let id = payment.id(payer.ta_id());
            if state.collected.contains(&id) {
                return Err(SecureWalletError::AlreadyCollected);
            }
            let amount = entry.amount;
            let hash = payment.hash();
            let out = Self::append(state, signer, |w| w.collect(id, hash, amount, ctx.now))?;
            state.collected.insert(id);
            Ok(out)
        })
    }

    fn journal_since(&self, after_j: u32) -> Vec<SignedEntry> {
        self.state
            .journal
            .iter()
            .filter(|e| e.unverified().j > after_j)
            .cloned()
            .collect()
    }

    fn finish_sync(
        &mut self,
        through_j: u32,
        renewed: Option<&TaCertificate>,
        now: UnixTime,
    ) -> Result<(), SecureWalletError> {
        if let Some(cert) = renewed {
            let issuer = self.state.issuer.ok_or(SecureWalletError::NoCertificate)?;
            self.install_certificate(cert, &issuer, now)?;
        }
        self.change(|state, _| {
            let last = state.point.next_j.saturating_sub(1);
            if through_j > last {
                return Err(SecureWalletError::Mismatch(
                    "the server reports entries this wallet never wrote",
                ));
            }
            if through_j > state.synced_through {
                state.synced_through = through_j;
                state.journal.retain(|e| e.unverified().j > through_j);
            }
            if renewed.is_some() && state.synced_through == last {
                state.payments_since_sync = 0;
            }
            Ok(())
        })
    }
}

/// A fresh random device key.
pub fn new_device_key() -> Result<DeviceKey, SecureWalletError> {
    let mut k = Zeroizing::new([0u8; 32]);
    getrandom::fill(&mut k[..]).map_err(|e| SecureWalletError::Io(e.to_string()))?;
    Ok(k)
}
