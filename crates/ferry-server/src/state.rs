//! What every handler shares: the engine, metrics, the admin token, the clock, and the cache of
//! decoded TA certificates.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::http::HeaderMap;
use ferry_api::ErrorCode;
use ferry_ledger::Engine;
use ferry_proto::{Clock, Currency, DecodeError, Money, TaCertificate, UnixTime};

use crate::api::auth;
use crate::api::error::ApiError;
use crate::error_map::engine_error;
use crate::metrics::Metrics;

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
    /// The USSD gateway and phone accounts.
    pub ussd: Arc<crate::ussd::UssdService>,
    /// The demo mesh, with `ferry serve --demo` only.
    pub demo: Option<Arc<crate::demo::DemoMesh>>,
    /// Offline Pix vouchers.
    pub vouchers: ferry_ledger::engine::vouchers::Vouchers,
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
                ErrorCode::CurrencyMismatch,
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

#[cfg(test)]
mod tests {
    use ferry_proto::cert::{Limits, TaCertBody, Tier};
    use ferry_proto::{AccountId, SigningKey};

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
