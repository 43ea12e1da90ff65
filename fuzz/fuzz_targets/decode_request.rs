#![no_main]
//! Payee requests in binary form.
use ferry_proto::{Message, PaymentRequest};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(r) = PaymentRequest::from_bytes(data) {
        assert_eq!(r.to_bytes(), data);
    }
});
