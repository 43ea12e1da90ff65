//! Delivery acknowledgements for the relay mesh ("anti-packets"): the issuer's signature that
//! it has decided an envelope (settled, duplicate, pending or invalid), so that relays still
//! holding copies may drop them.
//!
//! An acknowledgement is the issuer's Ed25519 signature over the envelope id in the domain
//! [`DOMAIN`]. It must be the issuer's: an acknowledgement anyone could make would let a
//! hostile relay delete honest payments from the mesh.

use crate::envelope::EnvelopeId;
use crate::keys::{BadSignature, PublicKey, Signature, SigningKey};

/// Signature domain of delivery acknowledgements.
pub const DOMAIN: &str = "mesh-delivered";

/// Encoded length of an acknowledgement on the relay wire: envelope id and signature.
pub const ACK_LEN: usize = 32 + 64;

/// The issuer acknowledges that envelope `id` was decided.
pub fn acknowledge(issuer: &SigningKey, id: &EnvelopeId) -> Signature {
    issuer.sign(DOMAIN, id.as_bytes())
}

/// Checks an acknowledgement of `id` against the issuer key.
pub fn check(issuer: &PublicKey, id: &EnvelopeId, ack: &Signature) -> Result<(), BadSignature> {
    issuer.verify(DOMAIN, id.as_bytes(), ack)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hash::Hash32;

    #[test]
    fn an_ack_names_one_envelope_and_only_the_issuer_makes_it() {
        let issuer = SigningKey::from_seed(&[3; 32]);
        let id = EnvelopeId(Hash32::of("t", &[b"1"]));
        let other = EnvelopeId(Hash32::of("t", &[b"2"]));
        let ack = acknowledge(&issuer, &id);
        assert!(check(&issuer.public(), &id, &ack).is_ok());
        assert!(check(&issuer.public(), &other, &ack).is_err());
        let relay = SigningKey::from_seed(&[4; 32]);
        assert!(check(&issuer.public(), &id, &acknowledge(&relay, &id)).is_err());
        // Not a postmark or any other signature over the same bytes.
        let mark = crate::postage::postmark(&issuer, &id);
        assert!(check(&issuer.public(), &id, &mark).is_err());
    }
}
