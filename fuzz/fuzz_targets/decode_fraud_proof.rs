#![no_main]
//! Fraud proofs.
use ferry_proto::Message;
use ferry_proto::fraud::FraudProof;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(p) = FraudProof::from_bytes(data) {
        assert_eq!(p.to_bytes(), data);
    }
});
