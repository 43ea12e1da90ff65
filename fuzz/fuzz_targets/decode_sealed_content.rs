#![no_main]
//! What travels inside an envelope (payment bundle, journal segment, deferred order): strict
//! decode and canonical re-encoding.
use ferry_proto::Message;
use ferry_proto::sealed::SealedContent;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(c) = SealedContent::from_bytes(data) {
        assert_eq!(c.to_bytes(), data);
    }
});
