//! The axum application: shared state, the router, request metrics, and the translation of
//! engine errors into API errors (database details are logged, never returned).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, FromRequest, MatchedPath, OriginalUri, Request, State};
use axum::http::{HeaderMap, Method};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{get, post};
use ferry_ledger::engine::{AgentError, DepositError};
use ferry_ledger::registry::RegistryError;
use ferry_ledger::{Engine, EngineError};
use ferry_proto::{AccountId, Clock, Currency, DecodeError, Money, TaCertificate, UnixTime};
use serde::de::DeserializeOwned;

use crate::api::auth;
use crate::api::error::ApiError;
use crate::api::json;
use crate::metrics::Metrics;
use crate::routes;

/// Largest request body: a batch of 1000 envelopes in base64 fits with room to spare.
pub const MAX_BODY_BYTES: usize = 16 * 1024 * 1024;

/// What every handler shares.
#[derive(Clone)]
pub struct AppState {
    /// The settlement engine.
    pub engine: Engine,
    /// Prometheus metrics.
    pub metrics: Arc<Metrics>,
    /// The admin bearer token.
    pub admin_token: Arc<String>,
    /// The clock (the system clock in production; tests may pass another).
    pub clock: Arc<dyn Clock>,
    /// TA certificates decoded from claims, by their bytes.
    pub certificates: Arc<CertificateCache>,
}

/// Most certificates [`CertificateCache`] keeps; it is emptied when full.
const CERTIFICATE_CACHE_MAX: usize = 10_000;

/// TA certificates already decoded, by their exact bytes. Every claim carries its payer's
/// certificate, so the same few certificates arrive again and again, and decoding one
/// decompresses its Ed25519 key (about a tenth of the cost of checking a signature). Decoding
/// is a function of the bytes alone, so a cached certificate is exactly what decoding the same
/// bytes again would give; nothing is trusted because it is cached (the engine still checks
/// the issuer's signature, through its own cache). Only certificates that decoded are kept.
#[derive(Debug, Default)]
pub struct CertificateCache {
    decoded: Mutex<HashMap<Vec<u8>, TaCertificate>>,
}

impl CertificateCache {
    /// Decodes `bytes` as a TA certificate, or returns the copy decoded before.
    pub fn decode(&self, bytes: &[u8]) -> Result<TaCertificate, DecodeError> {
        if let Ok(map) = self.decoded.lock()
            && let Some(cert) = map.get(bytes)
        {
            return Ok(cert.clone());
        }
        let cert = TaCertificate::from_bytes(bytes)?;
        if let Ok(mut map) = self.decoded.lock() {
            if map.len() >= CERTIFICATE_CACHE_MAX {
                map.clear();
            }
            map.insert(bytes.to_vec(), cert.clone());
        }
        Ok(cert)
    }
}

impl AppState {
    /// The current time.
    pub fn now(&self) -> UnixTime {
        self.clock.now()
    }

    /// Fails unless the request carries the admin token.
    pub fn require_admin(&self, headers: &HeaderMap) -> Result<(), ApiError> {
        let token = auth::bearer_token(headers)?;
        if auth::token_matches(token, &self.admin_token) {
            Ok(())
        } else {
            Err(ApiError::unauthorized("not the admin token"))
        }
    }

    /// The agent whose bearer token the request carries.
    pub async fn require_agent(&self, headers: &HeaderMap) -> Result<String, ApiError> {
        let token = auth::bearer_token(headers)?;
        self.engine
            .agent_by_token(auth::token_digest(token))
            .await
            .map_err(engine_error)?
            .ok_or_else(|| ApiError::unauthorized("unknown agent token"))
    }

    /// An amount in this server's currency from its JSON parts.
    pub fn money(&self, amount: i64, currency: &str) -> Result<Money, ApiError> {
        let c = Currency::from_code(currency)
            .map_err(|_| ApiError::invalid_field("currency", "not an ISO 4217 currency code"))?;
        if c != self.engine.config().currency {
            return Err(ApiError::unprocessable(
                "currency_mismatch",
                format!("this server settles {}", self.engine.config().currency),
            ));
        }
        if amount <= 0 {
            return Err(ApiError::invalid_field(
                "amount",
                "must be a positive integer of minor units",
            ));
        }
        Ok(Money::new(amount, c))
    }
}

/// A JSON body signed by a registered account's key (`ferry-account`, `ferry-time`,
/// `ferry-signature` headers): the account and the parsed body.
pub struct SignedJson<T> {
    /// The signing account.
    pub account: AccountId,
    /// The body.
    pub body: T,
}

impl<T: DeserializeOwned> FromRequest<AppState> for SignedJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, ApiError> {
        json::check_content_type(req.headers())?;
        let (account, bytes) = signed_body(req, state).await?;
        Ok(SignedJson {
            account,
            body: json::from_slice(&bytes)?,
        })
    }
}

/// A request with no body, signed by a registered account.
pub struct SignedBy(pub AccountId);

impl FromRequest<AppState> for SignedBy {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, ApiError> {
        Ok(SignedBy(signed_body(req, state).await?.0))
    }
}

async fn signed_body(req: Request, state: &AppState) -> Result<(AccountId, Bytes), ApiError> {
    let headers = req.headers().clone();
    let method = req.method().clone();
    let uri = req
        .extensions()
        .get::<OriginalUri>()
        .map_or_else(|| req.uri().clone(), |o| o.0.clone());
    let account = auth::account_header(&headers)?;
    let bytes = Bytes::from_request(req, state).await.map_err(|rejection| {
        if rejection.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::too_large()
        } else {
            ApiError::bad_request("unreadable_body", "could not read the request body")
        }
    })?;
    let cert = ferry_ledger::registry::client_certificate(state.engine.store(), account)
        .await
        .map_err(registry_error)?
        .ok_or_else(|| ApiError::unauthorized("unknown account"))?;
    let key = cert.unverified().account_key;
    auth::account_signature(&headers, &method, &uri, &bytes, &key, state.now())?;
    Ok((account, bytes))
}

/// The body of a request signed by the key it registers (`ferry-key` header).
pub async fn signed_by_new_key(
    state: &AppState,
    headers: &HeaderMap,
    method: &Method,
    uri: &OriginalUri,
    body: &Bytes,
) -> Result<ferry_proto::PublicKey, ApiError> {
    let key = auth::key_header(headers)?;
    auth::account_signature(headers, method, &uri.0, body, &key, state.now())?;
    Ok(key)
}

/// Logs a failure the client cannot fix and answers without details.
pub fn engine_error(e: EngineError) -> ApiError {
    match e {
        EngineError::Store(e) => {
            tracing::error!(error = %e, "database failure");
            ApiError::unavailable()
        }
        EngineError::Registry(e) => registry_error(e),
        EngineError::Corrupt(what) => {
            tracing::error!(%what, "stored data does not decode");
            ApiError::internal()
        }
    }
}

/// Registration errors.
pub fn registry_error(e: RegistryError) -> ApiError {
    match e {
        RegistryError::AlreadyRegistered(what) => ApiError::conflict(
            "already_registered",
            format!("this {what} key is already registered"),
        ),
        RegistryError::UnknownAccount => ApiError::not_found("account"),
        RegistryError::Attestation(e) => {
            ApiError::unprocessable("invalid_attestation", e.to_string()).with_field("attestation")
        }
        RegistryError::Corrupt(e) => {
            tracing::error!(error = %e, "stored certificate does not decode");
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
        D::Revoked => ApiError::conflict("revoked", msg),
        D::CurrencyMismatch => ApiError::unprocessable("currency_mismatch", msg),
        D::NotPositive => ApiError::invalid_field("amount", msg),
        D::OverBalanceLimit => ApiError::unprocessable("over_balance_limit", msg),
        D::SerialOutOfOrder { .. } => {
            ApiError::unprocessable("serial_out_of_order", msg).with_field("serial")
        }
        D::SerialUsed(_) => ApiError::conflict("serial_used", msg).with_field("serial"),
        D::InsufficientFunds => ApiError::unprocessable("insufficient_funds", msg),
        D::Engine(e) => engine_error(e),
    }
}

/// Agent and funding errors.
pub fn agent_error(e: AgentError) -> ApiError {
    use AgentError as A;
    let msg = e.to_string();
    match e {
        A::BadName => ApiError::invalid_field("name", msg),
        A::AgentExists => ApiError::conflict("agent_exists", msg),
        A::UnknownAccount => ApiError::not_found("account"),
        A::CurrencyMismatch => ApiError::unprocessable("currency_mismatch", msg),
        A::NotPositive => ApiError::invalid_field("amount", msg),
        A::BadReference => ApiError::invalid_field("reference", msg),
        A::BadSignature => ApiError::unprocessable("bad_signature", msg).with_field("consent"),
        A::WrongAgent => ApiError::forbidden(msg),
        A::Stale => ApiError::unprocessable("stale", msg).with_field("consent"),
        A::NotFundable => ApiError::invalid_field("account", msg),
        A::Engine(e) => engine_error(e),
    }
}

async fn record_metrics(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let started = Instant::now();
    let response = next.run(req).await;
    state.metrics.record_request(
        &route,
        response.status().as_u16(),
        started.elapsed().as_secs_f64(),
    );
    response
}

async fn not_found() -> ApiError {
    ApiError::not_found("route")
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(
        axum::http::StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "this route does not accept that method",
    )
}

/// The router with every route of the API.
pub fn router(state: AppState) -> Router {
    use routes::{admin, public, settlement, wallets};
    Router::new()
        .route("/healthz", get(public::healthz))
        .route("/metrics", get(public::metrics))
        .route("/openapi.json", get(public::openapi))
        .route("/v1/params", get(public::params))
        .route("/v1/revocations", get(public::revocations))
        .route("/v1/accounts", post(wallets::register_account))
        .route("/v1/accounts/{id}", get(wallets::account))
        .route("/v1/wallets", post(wallets::register_wallet))
        .route("/v1/deposits", post(wallets::deposit))
        .route("/v1/bonds", post(wallets::bond))
        .route("/v1/claims", post(settlement::claims))
        .route("/v1/journals", post(settlement::journals))
        .route("/v1/envelopes", post(settlement::envelopes))
        .route("/v1/orders", post(settlement::orders))
        .route("/v1/payments/{ta}/{j}", get(settlement::payment_status))
        .route("/v1/agents/cash-in", post(admin::cash_in))
        .route("/v1/agents/cash-out", post(admin::cash_out))
        .route("/v1/admin/agents", post(admin::create_agent))
        .route("/v1/admin/fund", post(admin::fund))
        .route("/v1/admin/sweep", post(admin::sweep))
        .route("/v1/audit", get(admin::audit))
        .route("/v1/fraud/cases", get(admin::fraud_cases))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(middleware::from_fn_with_state(
            state.clone(),
            record_metrics,
        ))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(state)
}

#[cfg(test)]
mod tests {
    use ferry_proto::SigningKey;
    use ferry_proto::cert::{Limits, TaCertBody, Tier};

    use super::*;

    fn certificate() -> TaCertificate {
        let issuer = SigningKey::generate();
        TaCertificate::sign(
            TaCertBody {
                ta_key: SigningKey::generate().public(),
                account_id: AccountId::random(),
                tier: Tier::Software,
                limits: Limits {
                    currency: Currency::BRL,
                    max_balance: 500_00,
                    max_payment: 100_00,
                    max_payments_between_syncs: 50,
                    sync_by: UnixTime(2_000_000_000),
                },
                issuer: issuer.public().key_id(),
                issued_at: UnixTime(1_700_000_000),
                expires_at: UnixTime(1_800_000_000),
            },
            &issuer,
        )
        .expect("certificate")
    }

    #[test]
    fn the_certificate_cache_gives_what_decoding_gives() {
        let cache = CertificateCache::default();
        let cert = certificate();
        let bytes = cert.to_bytes();
        let first = cache.decode(&bytes).expect("decodes");
        let again = cache.decode(&bytes).expect("cached");
        assert_eq!(first.to_bytes(), bytes);
        assert_eq!(again.to_bytes(), bytes);
        assert_eq!(again.unverified(), cert.unverified());
        // Bytes that do not decode are refused every time, and never cached.
        let mut bad = bytes.clone();
        bad.push(0);
        assert!(cache.decode(&bad).is_err());
        assert!(cache.decode(&bad).is_err());
        assert_eq!(cache.decoded.lock().expect("lock").len(), 1);
        // A different certificate is a different entry.
        let other = certificate();
        assert_eq!(
            cache.decode(&other.to_bytes()).expect("decodes").to_bytes(),
            other.to_bytes()
        );
    }
}
