//! Hashcash postage for relays: proof of work over an envelope's id and expiry.
//!
//! A relay cannot open an envelope, so it cannot tell a payment from random bytes with a valid
//! header. What it can check cheaply is that whoever made the envelope paid for it: the stamp is
//! a nonce such that `SHA-256("ferry/v1/mesh-stamp" 0 ‖ id ‖ expires_at ‖ nonce)` starts with
//! `bits` zero bits. Honest payers mint one stamp per payment (about `2^bits` hashes); a junk
//! flooder pays the same for every junk envelope, and because the stamp covers the expiry and
//! relays refuse envelopes that expire too far ahead, stamps cannot be stockpiled: the junk a
//! flooder can keep alive is bounded by its hash rate times the longest lifetime. Checking costs
//! one hash.

use ferry_proto::envelope::EnvelopeId;
use ferry_proto::hash::Hash32;
use ferry_proto::time::UnixTime;

/// The hash domain of stamps.
pub const DOMAIN: &str = "mesh-stamp";

/// Leading zero bits of the stamp hash for this nonce.
pub fn work(id: &EnvelopeId, expires_at: UnixTime, nonce: u64) -> u32 {
    let h = Hash32::of(
        DOMAIN,
        &[
            id.as_bytes(),
            &expires_at.secs().to_be_bytes(),
            &nonce.to_be_bytes(),
        ],
    );
    let mut zeros = 0;
    for b in h.as_bytes() {
        if *b == 0 {
            zeros += 8;
        } else {
            zeros += b.leading_zeros();
            break;
        }
    }
    zeros
}

/// True when `nonce` is a stamp of at least `bits` bits for this envelope.
pub fn check(id: &EnvelopeId, expires_at: UnixTime, nonce: u64, bits: u8) -> bool {
    bits == 0 || work(id, expires_at, nonce) >= u32::from(bits)
}

/// Searches nonces from `start` for a stamp of `bits` bits, trying at most `max_tries`.
pub fn mint(
    id: &EnvelopeId,
    expires_at: UnixTime,
    bits: u8,
    start: u64,
    max_tries: u64,
) -> Option<u64> {
    (0..max_tries)
        .map(|i| start.wrapping_add(i))
        .find(|n| check(id, expires_at, *n, bits))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::test_envelope;

    #[test]
    fn minted_stamps_check_and_bind_the_expiry() {
        let env = test_envelope(3, 165);
        let id = env.id();
        let nonce = mint(&id, env.expires_at(), 12, 0, 1 << 24).expect("a 12-bit stamp exists");
        assert!(check(&id, env.expires_at(), nonce, 12));
        // The same nonce for another expiry is (almost surely) not a stamp.
        let other = (1..50u64)
            .filter(|d| check(&id, env.expires_at().plus_secs(*d), nonce, 12))
            .count();
        assert!(other < 3);
        assert!(check(&id, env.expires_at(), 12345, 0));
    }
}
