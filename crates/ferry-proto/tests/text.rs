//! Tests of `ferry_proto::text` that use the test issuer and wallets of `ferry-testkit`.

#[allow(unused_imports)]
use ferry_proto::cert::*;
use ferry_proto::codec::Message;
use ferry_proto::text::*;
#[allow(unused_imports)]
use ferry_proto::*;
use ferry_testkit::{TestIssuer, TestWallet};
use proptest::prelude::*;

#[test]
fn request_text_round_trips_and_rejects_typos() {
    let issuer = TestIssuer::new();
    let w = TestWallet::new(&issuer, ferry_proto::Currency::BRL);
    let req = w.request(Some(12_34));
    let text = encode(TextKind::Request, &req.to_bytes());
    assert!(text.starts_with("FERRY:REQ:"));
    let bytes = decode(TextKind::Request, &text).unwrap();
    assert_eq!(
        ferry_proto::PaymentRequest::from_bytes(&bytes).unwrap(),
        req
    );
    assert!(matches!(
        decode(TextKind::Payment, &text),
        Err(TextError::WrongKind { .. })
    ));
    assert_eq!(decode_any(&text.to_lowercase()), Err(TextError::NotFerry));
    assert_eq!(decode_any("FERRY:REQ:abc"), Err(TextError::BadEncoding));
    assert_eq!(decode_any("FERRY:XYZ:AAAA"), Err(TextError::UnknownKind));
}

proptest! {
    #[test]
    fn round_trips(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        let text = encode(TextKind::Payment, &bytes);
        prop_assert_eq!(decode(TextKind::Payment, &text), Ok(bytes));
    }

    #[test]
    fn any_single_character_change_is_caught(
        bytes in proptest::collection::vec(any::<u8>(), 1..200),
        idx in any::<proptest::sample::Index>(),
        repl in proptest::sample::select(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567".to_vec()),
    ) {
        let text = encode(TextKind::Payment, &bytes);
        let prefix = "FERRY:PAY:".len();
        let mut chars = text.into_bytes();
        let i = prefix + idx.index(chars.len() - prefix);
        prop_assume!(chars[i] != repl);
        chars[i] = repl;
        let changed = String::from_utf8(chars).unwrap();
        // CRC-16 detects every single-symbol error in a message this short.
        prop_assert!(decode(TextKind::Payment, &changed).is_err());
    }

    #[test]
    fn decode_never_panics(s in ".{0,200}") {
        let _ = decode_any(&s);
    }
}
