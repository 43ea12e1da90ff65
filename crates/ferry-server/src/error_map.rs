//! How engine errors become API errors. Database failures are logged and answered `503`
//! without detail; stored data that no longer decodes is a `500`; everything a client can fix is
//! a typed 4xx.

use ferry_api::ErrorCode;
use ferry_ledger::engine::{AgentError, DepositError, PhoneError};
use ferry_ledger::registry::RegistryError;
use ferry_ledger::{EngineError, StoreError};

use crate::api::error::ApiError;

/// Maps an engine failure: what the client can fix is a typed 4xx; a database that failed is
/// `503` (retry later); damaged data or an inconsistent configuration is `500`. Server-side
/// causes are logged, never sent.
pub fn engine_error(e: EngineError) -> ApiError {
    match e {
        EngineError::Store(e) => store_error(e),
        EngineError::Registry(e) => registry_error(e),
        EngineError::Corrupt(what) => {
            tracing::error!(%what, "stored data does not decode");
            ApiError::internal()
        }
        EngineError::Signing(e) => {
            tracing::error!(error = %e, "cannot sign a document the server built: check the configuration");
            ApiError::internal()
        }
        EngineError::Stopped => {
            tracing::warn!("settlement committer stopped before answering (shutting down)");
            ApiError::unavailable()
        }
    }
}

/// Maps a store failure. Only a database that failed invites a retry (`503`); an amount that
/// would overflow a balance can never succeed (`422 amount_too_large`).
pub fn store_error(e: StoreError) -> ApiError {
    match e {
        StoreError::Overflow { .. } => ApiError::unprocessable(
            ErrorCode::AmountTooLarge,
            "the amount would take a balance beyond what can be held",
        )
        .with_field("amount"),
        StoreError::InsufficientFunds { .. } => ApiError::unprocessable(
            ErrorCode::InsufficientFunds,
            "the balance does not cover the amount",
        ),
        StoreError::Database(_) | StoreError::Migrate(_) | StoreError::NotDurable(_) => {
            tracing::error!(error = %e, "database failure");
            ApiError::unavailable()
        }
        StoreError::Transfer(_)
        | StoreError::DuplicateReference(_)
        | StoreError::UnsupportedUrl
        | StoreError::Corrupt(_) => {
            tracing::error!(error = %e, "settlement failed on the server's side");
            ApiError::internal()
        }
    }
}

/// Registration errors.
pub fn registry_error(e: RegistryError) -> ApiError {
    match e {
        RegistryError::AlreadyRegistered(what) => ApiError::conflict(
            ErrorCode::AlreadyRegistered,
            format!("this {what} key is already registered"),
        ),
        RegistryError::UnknownAccount => ApiError::not_found("account"),
        RegistryError::Attestation(e) => {
            ApiError::unprocessable(ErrorCode::InvalidAttestation, e.to_string())
                .with_field("attestation")
        }
        RegistryError::Signing(e) => {
            tracing::error!(error = %e, "cannot sign a certificate: check the registration policy");
            ApiError::internal()
        }
        RegistryError::Store(e) => engine_error(EngineError::Store(e)),
    }
}

/// Deposit errors.
pub fn deposit_error(e: DepositError) -> ApiError {
    use DepositError as D;
    let msg = e.to_string();
    match e {
        D::UnknownWallet => ApiError::not_found("secure wallet"),
        D::NotYourWallet => ApiError::forbidden(msg),
        D::Revoked => ApiError::conflict(ErrorCode::Revoked, msg),
        D::CurrencyMismatch => ApiError::unprocessable(ErrorCode::CurrencyMismatch, msg),
        D::NotPositive => ApiError::invalid_field("amount", msg),
        D::OverBalanceLimit => ApiError::unprocessable(ErrorCode::OverBalanceLimit, msg),
        D::SerialOutOfOrder { .. } => {
            ApiError::unprocessable(ErrorCode::SerialOutOfOrder, msg).with_field("serial")
        }
        D::SerialUsed(_) => ApiError::conflict(ErrorCode::SerialUsed, msg).with_field("serial"),
        D::InsufficientFunds => ApiError::unprocessable(ErrorCode::InsufficientFunds, msg),
        D::Engine(e) => engine_error(e),
    }
}

/// Agent and funding errors.
pub fn agent_error(e: AgentError) -> ApiError {
    use AgentError as A;
    let msg = e.to_string();
    match e {
        A::BadName => ApiError::invalid_field("name", msg),
        A::AgentExists => ApiError::conflict(ErrorCode::AgentExists, msg),
        A::UnknownAccount => {
            ApiError::unprocessable(ErrorCode::UnknownAccount, msg).with_field("account_id")
        }
        A::UnknownAgent => {
            ApiError::unprocessable(ErrorCode::UnknownAccount, msg).with_field("account")
        }
        A::CurrencyMismatch => ApiError::unprocessable(ErrorCode::CurrencyMismatch, msg),
        A::NotPositive => ApiError::invalid_field("amount", msg),
        A::BadReference => ApiError::invalid_field("reference", msg),
        A::BadSignature => {
            ApiError::unprocessable(ErrorCode::BadSignature, msg).with_field("consent")
        }
        A::WrongAgent => ApiError::forbidden(msg),
        A::Stale => ApiError::unprocessable(ErrorCode::Stale, msg).with_field("consent"),
        A::NotFundable => ApiError::invalid_field("account", msg),
        A::OverBalanceLimit { .. } => {
            ApiError::unprocessable(ErrorCode::OverBalanceLimit, msg).with_field("amount")
        }
        A::Engine(e) => engine_error(e),
    }
}

/// Phone-account errors (agents, phone links; the USSD menus answer their own screens).
pub fn phone_error(e: PhoneError) -> ApiError {
    use PhoneError as P;
    let msg = e.to_string();
    match e {
        P::Engine(e) => engine_error(e),
        P::Hash => {
            tracing::error!("PIN hashing failed: check the Argon2 parameters");
            ApiError::internal()
        }
        P::NoAccount => ApiError::not_found("phone account"),
        P::PhoneTaken => ApiError::conflict(ErrorCode::PhoneTaken, msg).with_field("phone"),
        P::AccountHasPhone => ApiError::conflict(ErrorCode::AccountHasPhone, msg),
        P::BadName => ApiError::invalid_field("name", msg),
        P::NoPendingLink => ApiError::unprocessable(ErrorCode::NoPendingLink, msg),
        P::LinkExpired => ApiError::unprocessable(ErrorCode::LinkExpired, msg).with_field("code"),
        P::WrongLinkCode { .. } => {
            ApiError::unprocessable(ErrorCode::WrongCode, msg).with_field("code")
        }
        P::TooManyAttempts {
            retry_after_secs, ..
        } => ApiError::too_many_attempts(msg, retry_after_secs),
    }
}
