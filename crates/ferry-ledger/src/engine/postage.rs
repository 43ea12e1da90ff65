//! Mesh postage ([`ferry_proto::postage`]): one issuer-signed postage key per account and UTC
//! day.
//!
//! The postage key's seed is `HMAC-SHA-256(k, account ‖ day)` with `k` derived from the
//! issuer's signing seed, so nothing is stored, asking again the same day gives the same key and
//! postage (Ed25519 signatures are deterministic: one key per account-day however often it
//! asks), and no one without the issuer's key can link a postage key to an account or to the
//! same account's key on another day. The seed goes to the account holder, who postmarks its
//! envelopes with it; the issuer knowing it costs nothing (it opens the envelopes anyway).

use ferry_proto::postage::{MeshPostage, POSTAGE_VALIDITY_SECS, PostageBody, day_start};
use ferry_proto::{AccountId, Hash32, Signed, SigningKey, UnixTime};
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use zeroize::Zeroizing;

use super::{Engine, EngineError};

/// An account's postage for one day: the postage key (secret) and the issuer's postage over
/// its public half.
#[derive(Debug)]
pub struct PostageGrant {
    /// Signs the postmark of each envelope the account puts into the mesh.
    pub key: SigningKey,
    /// The issuer-signed postage naming `key`.
    pub postage: MeshPostage,
}

impl Engine {
    /// The issuer's delivery acknowledgement of envelope `id` ([`ferry_proto::delivery`]):
    /// give it only once the envelope is decided.
    pub fn delivery_ack(&self, id: &ferry_proto::envelope::EnvelopeId) -> ferry_proto::Signature {
        ferry_proto::delivery::acknowledge(&self.inner.issuer, id)
    }

    /// The mesh postage of `account` for the UTC day of `now`. The caller has authenticated
    /// the account.
    pub fn mesh_postage(
        &self,
        account: AccountId,
        now: UnixTime,
    ) -> Result<PostageGrant, EngineError> {
        let day = day_start(now);
        let issuer_seed = self.inner.issuer.to_seed();
        let k =
            Zeroizing::new(*Hash32::of("mesh-postage-key", &[issuer_seed.as_slice()]).as_bytes());
        let mut mac = Hmac::<Sha256>::new_from_slice(k.as_slice())
            .map_err(|_| EngineError::Corrupt("postage key length".into()))?;
        mac.update(account.as_bytes());
        mac.update(&day.secs().to_be_bytes());
        let mut seed = Zeroizing::new([0u8; 32]);
        seed.copy_from_slice(&mac.finalize().into_bytes());
        let key = SigningKey::from_seed(&seed);
        let body = PostageBody {
            key: key.public(),
            valid_until: day.plus_secs(POSTAGE_VALIDITY_SECS),
        };
        let postage = Signed::sign(body, &self.inner.issuer).map_err(EngineError::Signing)?;
        Ok(PostageGrant { key, postage })
    }
}
