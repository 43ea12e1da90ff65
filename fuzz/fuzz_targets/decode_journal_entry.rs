#![no_main]
//! Journal entries and payments: strict decode, and a decoded value re-encodes to the same bytes.
use ferry_proto::{Payment, SignedEntry};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(e) = SignedEntry::from_bytes(data) {
        assert_eq!(e.to_bytes(), data);
    }
    if let Ok(p) = Payment::from_bytes(data) {
        assert_eq!(p.to_bytes(), data);
    }
});
