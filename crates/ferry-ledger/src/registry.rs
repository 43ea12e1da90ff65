//! Registration: an account key becomes a client certificate; an attested secure wallet becomes
//! a TA certificate with limits from policy. A key registered twice is refused.
//!
//! Proof that the caller holds the account key (a request signed with it) is checked by the API
//! layer before these functions run; the attestation itself proves where the TA key lives.

use ferry_proto::cert::{ClientCertBody, Limits, TaCertBody, Tier};
use ferry_proto::verify::{AttestationRoots, CertError, verify_attestation};
use ferry_proto::{
    AccountId, AttestationStatement, ClientCertificate, DecodeError, PublicKey, SigningKey,
    TaCertificate, UnixTime,
};
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
    /// The issuer could not sign the certificate it built: the registration policy breaks a
    /// protocol rule (a configuration error).
    #[error("cannot sign the certificate: {0}")]
    Signing(DecodeError),
    /// The store failed (including stored data that no longer decodes).
    #[error(transparent)]
    Store(#[from] StoreError),
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
    let cert = ClientCertificate::sign(body, issuer).map_err(RegistryError::Signing)?;
    if store.insert_account(&cert, &account_key, now).await? {
        Ok(cert)
    } else {
        Err(RegistryError::AlreadyRegistered("account"))
    }
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
    if store.client_certificate(account).await?.is_none() {
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
    let cert = TaCertificate::sign(body, issuer).map_err(RegistryError::Signing)?;
    if store.insert_wallet(&cert, att.tier, now).await? {
        Ok(cert)
    } else {
        Err(RegistryError::AlreadyRegistered("secure wallet"))
    }
}
