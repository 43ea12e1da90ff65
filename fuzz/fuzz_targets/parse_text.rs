#![no_main]
//! The FERRY:<KIND>:<BASE32> text form and decimal money parsing.
use ferry_proto::text::{decode_any, encode};
use ferry_proto::{Currency, Money};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(s) = std::str::from_utf8(data) {
        if let Ok((kind, bytes)) = decode_any(s) {
            assert_eq!(encode(kind, &bytes), s);
        }
        for c in [Currency::BRL, Currency::XOF, Currency::BHD] {
            if let Ok(m) = Money::parse(s, c) {
                assert_eq!(Money::parse(&m.to_decimal_string(), c), Ok(m));
            }
        }
    }
});
