#![no_main]
//! Generic EMVCo merchant-presented payloads. The format is documented as canonical
//! (`crates/ferry-proto/src/qr/emv.rs`): a parsed payload re-emits exactly the parsed text.
//!
//! Almost every mutation breaks the CRC trailer, which would keep the fuzzer in front of the CRC
//! check. So an input ending in a CRC data object (`6304` and four characters) is also tried with
//! its CRC recomputed, which lets mutations reach everything after the check.
use ferry_proto::qr::emv::{EmvPayload, crc16};
use libfuzzer_sys::fuzz_target;

/// `s` with the value of its final `6304` data object replaced by the correct CRC, if `s` ends in
/// such an object and the CRC was wrong.
fn with_fixed_crc(s: &str) -> Option<String> {
    let head = s.get(..s.len().checked_sub(4)?)?;
    if !head.ends_with("6304") {
        return None;
    }
    let fixed = format!("{head}{:04X}", crc16(head.as_bytes()));
    (fixed != s).then_some(fixed)
}

fn check(s: &str) {
    if let Ok(p) = EmvPayload::parse(s) {
        assert_eq!(p.to_text().as_deref(), Ok(s));
    }
}

fuzz_target!(|data: &[u8]| {
    if let Ok(s) = std::str::from_utf8(data) {
        check(s);
        if let Some(fixed) = with_fixed_crc(s) {
            check(&fixed);
        }
    }
});
