//! The settlement engine (DESIGN §5): decode strictly → verify → dedupe → post to the
//! double-entry ledger → one typed [`Outcome`] per item.
//!
//! Every operation runs in one database transaction ([`settler::Settler`]): semantic identities
//! (a journal entry's `(TA id, j)`, an order's `(account, nonce)`, an envelope id) are inserted
//! in the same transaction that moves the money, so a crash or a concurrent server can never
//! settle anything twice, and an item that fails leaves no identity behind.
//!
//! Start reading at [`Engine::claim`] (payments), then [`Engine::sync_journal`].

mod agents;
pub mod clone_eval;
pub mod dashboard;
mod deposits;
mod envelopes;
mod group;
mod journal_sync;
mod orders;
mod payments;
mod postage;
pub use postage::PostageGrant;
pub mod phones;
pub mod risk;
pub mod risk_eval;
mod settler;
pub mod statement;
mod views;
pub mod vouchers;

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};

use ferry_proto::cert::{FeeSchedule, NetworkParamsBody, RevocationBody};
use ferry_proto::envelope::EnvelopeOpener;
use ferry_proto::verify::{IssuerKeys, verify_ta_cert_signature};
use ferry_proto::{
    Currency, Hash32, NetworkParameters, RevocationList, SigningKey, TaCertificate, UnixTime,
    X25519Secret,
};
use thiserror::Error;

use crate::registry::{RegistrationPolicy, RegistryError};
use crate::store::{Store, StoreError};

pub use crate::kinds::{CaseKind, DebitKind, DebitState, SealedKind};
pub use agents::{AgentError, CashOut};
pub use deposits::DepositError;
pub use envelopes::EnvelopeOutcome;
pub use ferry_proto::outcome::{Outcome, Reason};
pub use group::GroupCommitStats;
pub use journal_sync::{JournalUpload, SyncReport};
pub use payments::PaymentSubmission;
pub use phones::{PhoneBackend, PhoneConfig, PhoneError};
pub use views::{AccountView, FraudCase, PaymentStatus, WalletView, audit};

/// How the engine is run: currency, fees, registration policy and time windows.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// The one currency this server settles.
    pub currency: Currency,
    /// Fees per kind of movement.
    pub fees: FeeSchedule,
    /// Certificates and limits granted on registration.
    pub registration: RegistrationPolicy,
    /// Oldest a deferred order may be when it arrives.
    pub order_max_age_secs: u64,
    /// Furthest in the future a deferred order's signing time may be.
    pub order_max_skew_secs: u64,
    /// Grace after a wallet's sync deadline before its unfunded payments open a fraud case.
    pub sync_grace_secs: u64,
    /// How long signed network parameters are valid.
    pub params_validity_secs: u64,
    /// Settle concurrent small requests together in one transaction (see `group`); off, each
    /// request has its own transaction.
    pub group_commit: bool,
}

/// An operation failed as a whole (nothing changed). Item-level failures are [`Outcome`]s.
#[derive(Debug, Error)]
pub enum EngineError {
    /// The database failed (details are logged, never shown to clients).
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Registration refused.
    #[error(transparent)]
    Registry(#[from] RegistryError),
    /// A stored document no longer decodes (database damage).
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    /// The issuer could not sign a document it built: the body breaks a protocol rule, which
    /// means the server's configuration (limits, validity periods) is inconsistent.
    #[error("cannot sign a document the server built: {0}")]
    Signing(ferry_proto::DecodeError),
    /// The engine's committer stopped before answering (the runtime is shutting down); the
    /// work may or may not have been committed, and a retry is safe.
    #[error("the settlement committer stopped before answering")]
    Stopped,
}

/// Most items (payments, envelopes, orders, journal entries) one request may carry.
pub const MAX_BATCH_ITEMS: usize = 1000;

/// Bound on the verified-certificate cache; it is cleared when full.
const CERT_CACHE_MAX: usize = 100_000;

struct Inner {
    store: Store,
    issuer: SigningKey,
    /// Opens envelopes sealed to the issuer's sealing key.
    opener: EnvelopeOpener,
    issuers: IssuerKeys,
    config: EngineConfig,
    /// TA certificates whose issuer signature verified, by hash of their bytes.
    cert_cache: Mutex<HashMap<Hash32, ferry_proto::cert::TaCertBody>>,
    /// The queue to the group committers.
    group: group::GroupCommit,
}

/// The settlement engine. Cheap to clone; share one per process.
#[derive(Clone)]
pub struct Engine {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("dialect", &self.inner.store.dialect())
            .field("issuer", &self.inner.issuer.public().key_id())
            .finish_non_exhaustive()
    }
}

impl Engine {
    /// An engine over `store`, signing with `issuer` and opening envelopes with `sealing`.
    pub fn new(
        store: Store,
        issuer: SigningKey,
        sealing: X25519Secret,
        config: EngineConfig,
    ) -> Self {
        let issuers = IssuerKeys::new([issuer.public()]);
        Engine {
            inner: Arc::new(Inner {
                store,
                issuer,
                opener: EnvelopeOpener::new(&sealing),
                issuers,
                config,
                cert_cache: Mutex::new(HashMap::new()),
                group: group::GroupCommit::default(),
            }),
        }
    }

    /// The store.
    pub fn store(&self) -> &Store {
        &self.inner.store
    }

    /// The configuration.
    pub fn config(&self) -> &EngineConfig {
        &self.inner.config
    }

    /// The issuer keys devices must trust.
    pub fn issuers(&self) -> &IssuerKeys {
        &self.inner.issuers
    }

    /// Registers an account key ([`crate::registry::register_account`]).
    pub async fn register_account(
        &self,
        key: ferry_proto::PublicKey,
        now: UnixTime,
    ) -> Result<ferry_proto::ClientCertificate, RegistryError> {
        let i = &self.inner;
        crate::registry::register_account(&i.store, &i.issuer, &i.config.registration, key, now)
            .await
    }

    /// Registers an attested secure wallet ([`crate::registry::register_wallet`]).
    pub async fn register_wallet(
        &self,
        account: ferry_proto::AccountId,
        attestation: &ferry_proto::AttestationStatement,
        now: UnixTime,
    ) -> Result<TaCertificate, RegistryError> {
        let i = &self.inner;
        crate::registry::register_wallet(
            &i.store,
            &i.issuer,
            &i.config.registration,
            account,
            attestation,
            now,
        )
        .await
    }

    /// Checks that the database answers (a read of one balance).
    pub async fn ping(&self) -> Result<(), EngineError> {
        self.inner
            .store
            .balance(&crate::LedgerAccount::Fees, self.inner.config.currency)
            .await?;
        Ok(())
    }

    /// The client certificate of a registered account, if it is one.
    pub async fn client_certificate(
        &self,
        account: ferry_proto::AccountId,
    ) -> Result<Option<ferry_proto::ClientCertificate>, RegistryError> {
        Ok(self.inner.store.client_certificate(account).await?)
    }

    /// The signed network parameters devices download: issuer key, sealing key, limits, fees.
    pub fn network_parameters(&self, now: UnixTime) -> Result<NetworkParameters, EngineError> {
        let c = &self.inner.config;
        let body = NetworkParamsBody {
            issuer_key: self.inner.issuer.public(),
            sealing_key: self.inner.opener.public(),
            currency: c.currency,
            software_limits: c.registration.software_limits,
            hardware_limits: c.registration.hardware_limits,
            fees: c.fees,
            valid_from: now.minus_secs(ferry_proto::time::CLOCK_SKEW_SECS),
            valid_until: now.plus_secs(c.params_validity_secs),
        };
        NetworkParameters::sign(body, &self.inner.issuer).map_err(EngineError::Signing)
    }

    /// The signed revocation list: every wallet with an open fraud case.
    pub async fn revocation_list(&self, now: UnixTime) -> Result<RevocationList, EngineError> {
        let mut revoked = self.inner.store.revoked_wallets().await?;
        revoked.sort();
        let body = RevocationBody {
            issuer: self.inner.issuer.public().key_id(),
            version: revoked.len() as u64,
            issued_at: now,
            revoked,
        };
        RevocationList::sign(body, &self.inner.issuer).map_err(EngineError::Signing)
    }

    /// Verifies the issuer's signature on a TA certificate (cached).
    fn verified_cert(&self, cert: &TaCertificate) -> Option<ferry_proto::cert::TaCertBody> {
        self.inner.verified_cert(cert)
    }

    /// Runs `f` over `items` on every core (signature checks and envelope opening dominate
    /// large batches), keeping the order. Small batches run inline.
    pub(crate) async fn parallel_map<T, R, F>(
        &self,
        items: Vec<T>,
        f: F,
    ) -> Result<Vec<R>, EngineError>
    where
        T: Send + 'static,
        R: Send + 'static,
        F: Fn(&Engine, T) -> R + Send + Sync + 'static,
    {
        if items.len() < 32 {
            return Ok(items.into_iter().map(|t| f(self, t)).collect());
        }
        let count = items.len();
        let engine = self.clone();
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
        let job = move || {
            let chunk = count.div_ceil(threads);
            let mut rest = items;
            let mut parts = Vec::new();
            while !rest.is_empty() {
                let tail = rest.split_off(chunk.min(rest.len()));
                parts.push(std::mem::replace(&mut rest, tail));
            }
            std::thread::scope(|s| {
                let handles: Vec<_> = parts
                    .into_iter()
                    .map(|part| {
                        let (engine, f) = (&engine, &f);
                        s.spawn(move || part.into_iter().map(|t| f(engine, t)).collect::<Vec<_>>())
                    })
                    .collect();
                handles
                    .into_iter()
                    .map(|h| h.join().ok())
                    .collect::<Option<Vec<_>>>()
                    .map(|v| v.into_iter().flatten().collect::<Vec<_>>())
            })
        };
        match tokio::task::spawn_blocking(job).await {
            Ok(Some(out)) if out.len() == count => Ok(out),
            // A worker panicked: refuse the batch rather than guess.
            _ => Err(EngineError::Corrupt("verification worker failed".into())),
        }
    }
}

impl Inner {
    /// Verifies the issuer's signature on a TA certificate, with a cache (the same wallet's
    /// certificate arrives with every one of its payments).
    fn verified_cert(&self, cert: &TaCertificate) -> Option<ferry_proto::cert::TaCertBody> {
        let key = cert.hash();
        if let Ok(cache) = self.cert_cache.lock()
            && let Some(body) = cache.get(&key)
        {
            return Some(body.clone());
        }
        let body = verify_ta_cert_signature(cert, &self.issuers).ok()?.clone();
        if let Ok(mut cache) = self.cert_cache.lock() {
            if cache.len() >= CERT_CACHE_MAX {
                cache.clear();
            }
            cache.insert(key, body.clone());
        }
        Some(body)
    }
}

/// The fee of `bps` basis points on `amount`, in minor units, rounded down.
fn fee(amount: ferry_proto::Money, bps: u16) -> i64 {
    amount.basis_points(bps).map_or(0, |m| m.minor())
}

/// Adds the fee account's posting to `postings`, when there is a fee.
fn push_fee(postings: &mut Vec<crate::transfer::Posting>, fee: i64) {
    if fee > 0 {
        postings.push(crate::transfer::Posting::credit(
            crate::accounts::LedgerAccount::Fees,
            fee,
        ));
    }
}

/// Runs `op` again when the database reports a transient conflict (a PostgreSQL deadlock or
/// serialization failure, or SQLite still busy after its timeout). Each attempt is a fresh
/// transaction, so retrying is safe.
async fn retry_transient<T, F, Fut>(mut op: F) -> Result<T, EngineError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, EngineError>>,
{
    let mut attempt = 0;
    loop {
        match op().await {
            Err(e) if attempt < 8 && is_transient(&e) => {
                attempt += 1;
                tokio::time::sleep(std::time::Duration::from_millis(5 << attempt.min(6))).await;
            }
            other => return other,
        }
    }
}

fn is_transient(e: &EngineError) -> bool {
    matches!(e, EngineError::Store(s) if s.is_transient())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_store_conflicts_are_retried() {
        assert!(!is_transient(&EngineError::Corrupt("x".into())));
        assert!(!is_transient(&EngineError::Store(StoreError::Corrupt(
            "x".into()
        ))));
    }
}
