//! Registration: an account key becomes a client certificate; an attested secure wallet becomes
//! a TA certificate with limits from policy. A key registered twice is refused.
//!
//! Proof that the caller holds the account key (a request signed with it) is checked by the API
//! layer before these functions run; the attestation itself proves where the TA key lives.

use ferry_proto::cert::{ClientCertBody, Limits, TaCertBody, Tier};
use ferry_proto::verify::{AttestationRoots, CertError, verify_attestation};
use ferry_proto::{
    AccountId, AttestationStatement, ClientCertificate, DecodeError, Document, PublicKey, Signed,
    SigningKey, TaCertificate, TaId, UnixTime,
};
use sqlx::Row;
use thiserror::Error;

use crate::store::{Store, StoreError};

/// What the issuer grants on registration.
#[derive(Debug, Clone)]
pub struct RegistrationPolicy {
    /// How long a client certificate lasts.
    pub client_cert_validity_secs: u64,
    /// How long a TA certificate lasts.
    pub ta_cert_validity_secs: u64,
    /// Limits for software-tier wallets; `sync_by` is a duration in seconds from issuance.
    pub software_limits: Limits,
    /// Limits for hardware-tier wallets; `sync_by` is a duration in seconds from issuance.
    pub hardware_limits: Limits,
    /// Trusted attestation roots.
    pub attestation_roots: AttestationRoots,
}

/// Why a registration was refused.
#[derive(Debug, Error)]
pub enum RegistryError {
    /// This key is registered already.
    #[error("{0} key is already registered")]
    AlreadyRegistered(&'static str),
    /// The account does not exist.
    #[error("unknown account")]
    UnknownAccount,
    /// The attestation is not acceptable.
    #[error("attestation: {0}")]
    Attestation(#[from] CertError),
    /// A stored document no longer decodes (database damage).
    #[error("stored document does not decode: {0}")]
    Corrupt(#[from] DecodeError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<sqlx::Error> for RegistryError {
    fn from(e: sqlx::Error) -> Self {
        RegistryError::Store(StoreError::Database(e))
    }
}

fn secs(t: UnixTime) -> i64 {
    i64::try_from(t.secs()).unwrap_or(i64::MAX)
}

/// Registers `account_key` under a fresh account id and returns its client certificate.
pub async fn register_account(
    store: &Store,
    issuer: &SigningKey,
    policy: &RegistrationPolicy,
    account_key: PublicKey,
    now: UnixTime,
) -> Result<ClientCertificate, RegistryError> {
    let body = ClientCertBody {
        account_id: AccountId::random(),
        account_key,
        issuer: issuer.public().key_id(),
        issued_at: now.minus_secs(ferry_proto::time::CLOCK_SKEW_SECS),
        expires_at: now.plus_secs(policy.client_cert_validity_secs),
    };
    let cert = ClientCertificate::sign(body, issuer)?;
    let inserted = sqlx::query(
        "INSERT INTO accounts (account_id, account_key, certificate, registered_at)
         VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING RETURNING account_id",
    )
    .bind(cert.unverified().account_id.as_bytes().to_vec())
    .bind(account_key.as_bytes().to_vec())
    .bind(cert.to_bytes())
    .bind(secs(now))
    .fetch_optional(store.pool())
    .await?;
    first_registration(inserted, cert, "account")
}

/// Registers the secure wallet that `attestation` vouches for, for `account`, and returns its
/// TA certificate with the limits of its tier.
pub async fn register_wallet(
    store: &Store,
    issuer: &SigningKey,
    policy: &RegistrationPolicy,
    account: AccountId,
    attestation: &AttestationStatement,
    now: UnixTime,
) -> Result<TaCertificate, RegistryError> {
    let att = verify_attestation(attestation, &policy.attestation_roots)?;
    if client_certificate(store, account).await?.is_none() {
        return Err(RegistryError::UnknownAccount);
    }
    let template = match att.tier {
        Tier::Software => policy.software_limits,
        Tier::Hardware => policy.hardware_limits,
    };
    let limits = Limits {
        sync_by: now.plus_secs(template.sync_by.secs()),
        ..template
    };
    let body = TaCertBody {
        ta_key: att.ta_key,
        account_id: account,
        tier: att.tier,
        limits,
        issuer: issuer.public().key_id(),
        issued_at: now.minus_secs(ferry_proto::time::CLOCK_SKEW_SECS),
        expires_at: now.plus_secs(policy.ta_cert_validity_secs),
    };
    let cert = TaCertificate::sign(body, issuer)?;
    let inserted = sqlx::query(
        "INSERT INTO wallets (ta_id, ta_key, account_id, tier, certificate, registered_at)
         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING RETURNING ta_id",
    )
    .bind(TaId::of(&att.ta_key).as_bytes().to_vec())
    .bind(att.ta_key.as_bytes().to_vec())
    .bind(account.as_bytes().to_vec())
    .bind(att.tier.as_str())
    .bind(cert.to_bytes())
    .bind(secs(now))
    .fetch_optional(store.pool())
    .await?;
    first_registration(inserted, cert, "secure wallet")
}

/// `cert` when the `INSERT … ON CONFLICT DO NOTHING RETURNING` wrote a row; otherwise the key
/// was registered before.
fn first_registration<T>(
    inserted: Option<sqlx::any::AnyRow>,
    cert: T,
    what: &'static str,
) -> Result<T, RegistryError> {
    match inserted {
        Some(_) => Ok(cert),
        None => Err(RegistryError::AlreadyRegistered(what)),
    }
}

/// The client certificate of `account`, if registered.
pub async fn client_certificate(
    store: &Store,
    account: AccountId,
) -> Result<Option<ClientCertificate>, RegistryError> {
    stored(
        store,
        "SELECT certificate FROM accounts WHERE account_id = $1",
        account.as_bytes(),
    )
    .await
}

/// The TA certificate of wallet `ta`, if registered.
pub async fn wallet_certificate(
    store: &Store,
    ta: TaId,
) -> Result<Option<TaCertificate>, RegistryError> {
    stored(
        store,
        "SELECT certificate FROM wallets WHERE ta_id = $1",
        ta.as_bytes(),
    )
    .await
}

/// Loads and strictly decodes the signed document that `sql` selects by `key`.
async fn stored<T: Document>(
    store: &Store,
    sql: &'static str,
    key: &[u8],
) -> Result<Option<Signed<T>>, RegistryError> {
    let row = sqlx::query(sql)
        .bind(key.to_vec())
        .fetch_optional(store.pool())
        .await?;
    Ok(match row {
        Some(r) => Some(Signed::<T>::from_bytes(&r.try_get::<Vec<u8>, _>(0)?)?),
        None => None,
    })
}
