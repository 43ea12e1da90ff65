#![no_main]
//! Sealed envelopes: strict decode, canonical re-encoding, and opening with a fixed key never
//! panics (whatever the header, `enc` or ciphertext hold). An envelope that does open must carry
//! a plaintext that either is not a sealed content or is one in canonical form.
use ferry_proto::envelope::Envelope;
use ferry_proto::sealed::SealedContent;
use ferry_proto::{Message, UnixTime, X25519Secret};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(e) = Envelope::from_bytes(data) {
        assert_eq!(e.to_bytes(), data);
        assert_eq!(e.encoded_len(), data.len());
        let secret = X25519Secret::from_bytes(&[7; 32]);
        if let Ok(plaintext) = e.open(&secret, UnixTime(0))
            && let Ok(c) = SealedContent::from_bytes(&plaintext)
        {
            assert_eq!(c.to_bytes(), plaintext);
        }
    }
});
