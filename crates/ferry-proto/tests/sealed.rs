//! Tests of `ferry_proto::sealed` that use the test issuer and wallets of `ferry-testkit`.

#[allow(unused_imports)]
use ferry_proto::cert::*;
use ferry_proto::envelope::Envelope;
use ferry_proto::journal::ReceiptBody;
use ferry_proto::money::Currency;
use ferry_proto::sealed::*;
#[allow(unused_imports)]
use ferry_proto::*;
use ferry_testkit::{T0, TestIssuer, TestWallet};

#[test]
fn a_payment_bundle_survives_sealing_and_tampering_is_caught() {
    let issuer = TestIssuer::new();
    let params = issuer.network_params(Currency::BRL);
    let mut payer = TestWallet::new(&issuer, Currency::BRL);
    let deposit = payer.fund(&issuer, 50_00);
    let payee = TestWallet::new(&issuer, Currency::BRL);
    let req = payee.request(None);
    let payment = payer.pay(&req, 12_00);
    let receipt = Receipt::sign(
        ReceiptBody {
            payment_hash: payment.hash(),
            payee: payee.account_id,
            received_at: T0,
        },
        &payee.account_key,
    )
    .unwrap();
    let contents = [
        SealedContent::Payment {
            ta_cert: payer.ta_cert.clone(),
            payment: payment.clone(),
            receipt: Some(receipt),
        },
        SealedContent::Payment {
            ta_cert: payer.ta_cert.clone(),
            payment: payment.clone(),
            receipt: None,
        },
        SealedContent::JournalSegment {
            ta_cert: payer.ta_cert.clone(),
            entries: vec![deposit, payment.entry().clone()],
        },
    ];
    for content in contents {
        let env = seal(params.unverified(), &content, T0.plus_secs(3600), 8).unwrap();
        assert_eq!(open(&env, &issuer.sealing, T0).unwrap(), content);
        let mut bytes = env.to_bytes();
        let last = bytes.len() - 1;
        bytes[last] ^= 0x40;
        let tampered = Envelope::from_bytes(&bytes).unwrap();
        assert!(matches!(
            open(&tampered, &issuer.sealing, T0),
            Err(OpenError::Envelope(_))
        ));
        assert_ne!(tampered.id(), env.id());
    }
}

#[test]
fn an_empty_segment_is_refused() {
    let issuer = TestIssuer::new();
    let params = issuer.network_params(Currency::BRL);
    let w = TestWallet::new(&issuer, Currency::BRL);
    let content = SealedContent::JournalSegment {
        ta_cert: w.ta_cert.clone(),
        entries: vec![],
    };
    assert_eq!(
        seal(params.unverified(), &content, T0, 1),
        Err(SealError::SegmentLength(0))
    );
    // And a hand-made one does not decode.
    let mut hand_made = Writer::versioned();
    hand_made.u8(2);
    w.ta_cert.encode(&mut hand_made);
    hand_made.u16(0);
    assert_eq!(
        SealedContent::from_bytes(hand_made.as_slice()),
        Err(DecodeError::invalid("entry_count", "out of range"))
    );
}
