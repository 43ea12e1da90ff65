//! Mesh postage: the issuer's permission for a registered account to put envelopes into the
//! relay mesh under one key for a few days, and the postmark that binds an envelope to it.
//!
//! A relay cannot open an envelope, so it cannot tell a payment from junk. Proof of work
//! (the hashcash stamp in `ferry-mesh`) bounds how much junk a flooder can make, not how far
//! honest relays carry it. Postage gives relays something a flooder cannot make up: an
//! issuer-signed postage key. The issuer gives each registered account one postage key per UTC
//! day (derived from a secret, so it cannot be linked to the account by anyone but the issuer,
//! and asking twice gives the same one); the payer signs each envelope's id with it (the
//! *postmark*), so postage seen on one envelope cannot be moved to another. Relays hold only a
//! few envelopes per postage key and forward the first envelope of every key before anyone's
//! second, so a hostile account gets the same share of every relay's buffer and contacts as an
//! honest one however much it floods, and more keys mean more registered accounts.
//!
//! What carriers learn: that a few envelopes carry the same postage key (one payer on one day).
//! The issuer learns nothing new (it opens the envelopes anyway).
//!
//! Wire forms: postage is a [`Signed`] document of 105 bytes, `version ‖ key(32) ‖
//! valid_until u64 ‖ signature(64)` in the domain [`PostageBody::DOMAIN`]; a postmark is the
//! postage key's signature (64 bytes) over the envelope id in the domain [`POSTMARK_DOMAIN`].

use crate::codec::{DecodeError, Reader, Wire, Writer};
use crate::envelope::EnvelopeId;
use crate::keys::{BadSignature, PublicKey, Signature, SigningKey};
use crate::signed::{Document, Signed};
use crate::time::UnixTime;

/// Encoded length of [`MeshPostage`]: version, body, signature.
pub const POSTAGE_LEN: usize = 1 + 32 + 8 + 64;

/// Encoded length of a postmark (an Ed25519 signature).
pub const POSTMARK_LEN: usize = 64;

/// Signature domain of postmarks.
pub const POSTMARK_DOMAIN: &str = "mesh-postmark";

/// How long postage is valid after the start of the UTC day it was issued for: the day itself
/// and two more, so a payer who synced yesterday can still send today.
pub const POSTAGE_VALIDITY_SECS: u64 = 3 * 86_400;

/// Relays refuse postage valid further ahead than this (it cannot be stockpiled).
pub const MAX_POSTAGE_AHEAD_SECS: u64 = POSTAGE_VALIDITY_SECS + 86_400;

/// The signed part of postage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostageBody {
    /// The account's postage key for one day (only the issuer can link it to the account).
    pub key: PublicKey,
    /// Not valid from this instant on.
    pub valid_until: UnixTime,
}

impl Wire for PostageBody {
    fn encode(&self, w: &mut Writer) {
        self.key.encode(w);
        self.valid_until.encode(w);
    }
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(PostageBody {
            key: PublicKey::decode(r)?,
            valid_until: UnixTime::decode(r)?,
        })
    }
}

impl Document for PostageBody {
    const DOMAIN: &'static str = "mesh-postage";
}

/// Issuer-signed mesh postage.
pub type MeshPostage = Signed<PostageBody>;

/// Why a relay refuses postage or a postmark.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PostageError {
    /// The postage is not signed by the issuer.
    #[error("postage not signed by the issuer")]
    BadSignature,
    /// The postmark is not the postage key's signature over this envelope's id.
    #[error("postmark does not match the envelope")]
    BadPostmark,
    /// Its validity ended.
    #[error("postage expired")]
    Expired,
    /// Valid further ahead than any postage the issuer gives.
    #[error("postage valid too far ahead")]
    TooFarAhead,
}

impl From<BadSignature> for PostageError {
    fn from(_: BadSignature) -> Self {
        PostageError::BadSignature
    }
}

/// The start of the UTC day that `now` falls in.
pub fn day_start(now: UnixTime) -> UnixTime {
    UnixTime(now.secs() - now.secs() % 86_400)
}

/// The postmark of envelope `id`: the postage key's signature over it.
pub fn postmark(postage_key: &SigningKey, id: &EnvelopeId) -> Signature {
    postage_key.sign(POSTMARK_DOMAIN, id.as_bytes())
}

/// Checks postage as a relay does: the issuer's signature over the exact bytes received and its
/// validity at `now` ([`check_postage`]), then the postmark over `id` ([`check_postmark`]).
/// Returns the postage key.
pub fn check(
    postage: &MeshPostage,
    mark: &Signature,
    id: &EnvelopeId,
    issuer: &PublicKey,
    now: UnixTime,
) -> Result<PublicKey, PostageError> {
    let key = check_postage(postage, issuer, now)?;
    check_postmark(&key, mark, id)?;
    Ok(key)
}

/// The issuer's signature and the validity of postage at `now`; returns the postage key.
pub fn check_postage(
    postage: &MeshPostage,
    issuer: &PublicKey,
    now: UnixTime,
) -> Result<PublicKey, PostageError> {
    let body = postage.verify(issuer)?;
    check_validity(body.valid_until, now)?;
    Ok(body.key)
}

/// Whether postage valid until `valid_until` may be carried at `now`.
pub fn check_validity(valid_until: UnixTime, now: UnixTime) -> Result<(), PostageError> {
    if valid_until <= now {
        return Err(PostageError::Expired);
    }
    if valid_until > now.plus_secs(MAX_POSTAGE_AHEAD_SECS) {
        return Err(PostageError::TooFarAhead);
    }
    Ok(())
}

/// The postmark over `id` by `key`.
pub fn check_postmark(
    key: &PublicKey,
    mark: &Signature,
    id: &EnvelopeId,
) -> Result<(), PostageError> {
    key.verify(POSTMARK_DOMAIN, id.as_bytes(), mark)
        .map_err(|_| PostageError::BadPostmark)
}

/// An envelope with its postage and postmark, as one byte string (a mesh node's inbox file
/// `*.posted`): `postage(105) ‖ postmark(64) ‖ envelope`.
pub fn posted_envelope_bytes(
    postage: &MeshPostage,
    mark: &Signature,
    envelope: &crate::envelope::Envelope,
) -> Vec<u8> {
    let mut out = postage.to_bytes();
    out.extend_from_slice(&mark.to_bytes());
    out.extend_from_slice(&crate::Message::to_bytes(envelope));
    out
}

/// Reads [`posted_envelope_bytes`] strictly.
pub fn parse_posted_envelope(
    bytes: &[u8],
) -> Result<(MeshPostage, Signature, crate::envelope::Envelope), DecodeError> {
    if bytes.len() < POSTAGE_LEN + POSTMARK_LEN {
        return Err(DecodeError::Truncated { field: "postage" });
    }
    let (p, rest) = bytes.split_at(POSTAGE_LEN);
    let (m, env) = rest.split_at(POSTMARK_LEN);
    let postage = MeshPostage::from_bytes(p)?;
    let mark: [u8; 64] = m
        .try_into()
        .map_err(|_| DecodeError::Truncated { field: "postmark" })?;
    let envelope = <crate::envelope::Envelope as crate::Message>::from_bytes(env)?;
    Ok((postage, Signature::from_bytes(&mark), envelope))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hash::Hash32;
    use proptest::prelude::*;

    fn issue(issuer: &SigningKey, key: &SigningKey, until: u64) -> MeshPostage {
        Signed::sign(
            PostageBody {
                key: key.public(),
                valid_until: UnixTime(until),
            },
            issuer,
        )
        .unwrap()
    }

    fn id(n: u8) -> EnvelopeId {
        EnvelopeId(Hash32::of("test", &[&[n]]))
    }

    #[test]
    fn postage_and_postmark_check_signatures_and_validity() {
        let issuer = SigningKey::from_seed(&[7; 32]);
        let payer = SigningKey::from_seed(&[1; 32]);
        let now = UnixTime(1_800_000_000);
        let ok = issue(&issuer, &payer, now.secs() + 86_400);
        assert_eq!(ok.encoded_len(), POSTAGE_LEN);
        let mark = postmark(&payer, &id(1));
        let pk = issuer.public();
        assert_eq!(check(&ok, &mark, &id(1), &pk, now), Ok(payer.public()));
        // The postmark of one envelope does not carry another.
        assert_eq!(
            check(&ok, &mark, &id(2), &pk, now),
            Err(PostageError::BadPostmark)
        );
        let other = SigningKey::from_seed(&[8; 32]);
        assert_eq!(
            check(&ok, &mark, &id(1), &other.public(), now),
            Err(PostageError::BadSignature)
        );
        assert_eq!(
            check(&ok, &mark, &id(1), &pk, now.plus_secs(86_400)),
            Err(PostageError::Expired)
        );
        let ahead = issue(&issuer, &payer, now.secs() + MAX_POSTAGE_AHEAD_SECS + 1);
        assert_eq!(
            check(&ahead, &mark, &id(1), &pk, now),
            Err(PostageError::TooFarAhead)
        );
        // Postage a flooder signed for its own key is not the issuer's.
        let forged = issue(&payer, &payer, now.secs() + 86_400);
        assert_eq!(
            check(&forged, &mark, &id(1), &pk, now),
            Err(PostageError::BadSignature)
        );
    }

    #[test]
    fn day_start_is_midnight_utc() {
        assert_eq!(day_start(UnixTime(86_400 * 3 + 5)), UnixTime(86_400 * 3));
        assert_eq!(day_start(UnixTime(86_400 * 3)), UnixTime(86_400 * 3));
    }

    proptest! {
        #[test]
        fn postage_round_trips_and_is_strict(seed in any::<[u8; 32]>(), until in any::<u64>(), extra in any::<u8>(), flip in 0usize..POSTAGE_LEN) {
            let issuer = SigningKey::from_seed(&[9; 32]);
            let post = issue(&issuer, &SigningKey::from_seed(&seed), until);
            let bytes = post.to_bytes();
            prop_assert_eq!(bytes.len(), POSTAGE_LEN);
            prop_assert_eq!(MeshPostage::from_bytes(&bytes).unwrap(), post);
            let mut longer = bytes.clone();
            longer.push(extra);
            prop_assert!(MeshPostage::from_bytes(&longer).is_err());
            prop_assert!(MeshPostage::from_bytes(&bytes[..bytes.len() - 1]).is_err());
            // Any changed byte either fails to decode or fails the issuer's signature.
            let mut bent = bytes.clone();
            bent[flip] ^= 0x01;
            if let Ok(p) = MeshPostage::from_bytes(&bent) {
                prop_assert!(p.verify(&issuer.public()).is_err());
            }
        }
    }
}
