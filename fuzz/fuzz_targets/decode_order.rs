#![no_main]
//! Deferred orders (`Signed<DeferredOrder>`): strict decode, canonical re-encoding, and the
//! decoded body obeys the order rules.
use ferry_proto::order::SignedOrder;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(o) = SignedOrder::from_bytes(data) {
        assert_eq!(o.to_bytes(), data);
        assert_eq!(o.encoded_len(), data.len());
        let body = o.unverified();
        assert!(body.amount.is_positive());
        assert_ne!(body.from, body.to);
    }
});
