#![no_main]
//! Merchant QR codes a wallet scans: `detect`, Ferry requests (canonical: the text is exactly
//! what `request_to_emv` emits), Pix static BR Codes and UPI links. Pix and UPI parsing is
//! lenient (field order, GUI case, amount format), so for those the check is that the canonical
//! re-emission parses back to the same value and is a fixed point.
//!
//! As in `parse_emv`, an input ending in an EMVCo CRC data object is also tried with its CRC
//! recomputed, so that mutations get past the CRC check into the scheme parsers.
use ferry_proto::qr::emv::crc16;
use ferry_proto::qr::{
    PixStaticCode, ScannedCode, UpiPayLink, detect, request_from_emv, request_to_emv,
};
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

fn check_pix(code: &PixStaticCode) {
    let text = code.to_emv().expect("a parsed Pix code re-emits");
    assert_eq!(PixStaticCode::parse(&text).as_ref(), Ok(code));
    assert_eq!(code.to_emv().as_deref(), Ok(text.as_str()));
}

fn check_upi(link: &UpiPayLink) {
    let text = link.to_link().expect("a parsed UPI link re-emits");
    let back = UpiPayLink::parse(&text);
    assert_eq!(back.as_ref(), Ok(link));
    assert_eq!(back.unwrap().to_link(), Ok(text));
}

fn check(s: &str) {
    let ferry = request_from_emv(s);
    if let Ok(req) = &ferry {
        assert_eq!(request_to_emv(req).as_deref(), Ok(s));
    }
    let pix = PixStaticCode::parse(s);
    if let Ok(code) = &pix {
        check_pix(code);
    }
    let upi = UpiPayLink::parse(s);
    if let Ok(link) = &upi {
        check_upi(link);
    }
    // `detect` dispatches on the scheme, so it finds exactly what the scheme parsers accept.
    match detect(s) {
        Ok(ScannedCode::Ferry(req)) => assert_eq!(ferry, Ok(req)),
        Ok(ScannedCode::Pix(code)) => assert_eq!(pix, Ok(code)),
        Ok(ScannedCode::Upi(link)) => assert_eq!(upi, Ok(link)),
        Err(_) => assert!(ferry.is_err() && pix.is_err() && upi.is_err()),
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    check(s);
    if let Some(fixed) = with_fixed_crc(s) {
        check(&fixed);
    }
});
