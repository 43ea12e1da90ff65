//! Deterministic test envelopes: real HPKE seals to a fixed, publicly known test key, for the
//! simulator, tests and benchmarks. Never use the key for anything else.

use ferry_proto::envelope::Envelope;
use ferry_proto::hash::Hash32;
use ferry_proto::keys::{X25519Public, X25519Secret};
use ferry_proto::time::UnixTime;

/// Plaintext length that makes a remote-payment-sized envelope: the plaintext of a real
/// `SealedContent::RemotePayment` (168 bytes, sealed to
/// [`ferry_proto::sealed::REMOTE_PAYMENT_ENVELOPE_LEN`] = 238 bytes).
pub const PAYMENT_PLAINTEXT_LEN: usize = ferry_proto::sealed::REMOTE_PAYMENT_ENVELOPE_LEN
    - ferry_proto::envelope::HEADER_LEN
    - ferry_proto::envelope::TAG_LEN;

/// The fixed test sealing secret (all bytes 0x5e).
pub fn test_issuer_secret() -> X25519Secret {
    X25519Secret::from_bytes(&[0x5e; 32])
}

/// The fixed test sealing key.
pub fn test_issuer_key() -> X25519Public {
    test_issuer_secret().public()
}

/// Seals envelope number `n` of stream `seed` deterministically: the plaintext and the ephemeral
/// key material are hashes of `(seed, n)`, so the same inputs give the same bytes.
pub fn seal_numbered(
    recipient: &X25519Public,
    seed: u64,
    n: u64,
    plaintext_len: usize,
    expires_at: UnixTime,
    ttl: u8,
) -> Envelope {
    let s = seed.to_be_bytes();
    let k = n.to_be_bytes();
    let ikm = Hash32::of("mesh-sim-ikm", &[&s, &k]).0;
    let mut plaintext = Vec::with_capacity(plaintext_len);
    let mut block = 0u32;
    while plaintext.len() < plaintext_len {
        let h = Hash32::of("mesh-sim-plaintext", &[&s, &k, &block.to_be_bytes()]);
        let take = (plaintext_len - plaintext.len()).min(32);
        plaintext.extend_from_slice(&h.0[..take]);
        block += 1;
    }
    match Envelope::seal_with_ikm(recipient, expires_at, ttl, &plaintext, &ikm) {
        Ok(env) => env,
        // The test key is a valid X25519 key and the plaintext is far below the limit.
        Err(e) => unreachable!("sealing a test envelope failed: {e}"),
    }
}

/// The fixed test postage issuer (seed all 0x5f). Never use it for anything else.
pub fn test_postage_issuer() -> ferry_proto::SigningKey {
    ferry_proto::SigningKey::from_seed(&[0x5f; 32])
}

/// Test payer `n`'s postage key and the test issuer's postage for it, valid until `valid_until`.
pub fn test_postage(
    n: u64,
    valid_until: UnixTime,
) -> (ferry_proto::SigningKey, ferry_proto::postage::MeshPostage) {
    let key = ferry_proto::SigningKey::from_seed(
        Hash32::of("mesh-test-postage", &[&n.to_be_bytes()]).as_bytes(),
    );
    let body = ferry_proto::postage::PostageBody {
        key: key.public(),
        valid_until,
    };
    match ferry_proto::Signed::sign(body, &test_postage_issuer()) {
        Ok(p) => (key, p),
        // The body has no rules beyond its encoding.
        Err(e) => unreachable!("signing test postage failed: {e}"),
    }
}

/// `envelope`'s postage and postmark under `key`.
pub fn post(
    key: &ferry_proto::SigningKey,
    postage: &ferry_proto::postage::MeshPostage,
    envelope: &Envelope,
) -> crate::wire::Posted {
    crate::wire::Posted {
        postage: postage.clone(),
        postmark: ferry_proto::postage::postmark(key, &envelope.id()),
    }
}
