//! Tests of `ferry_proto::sealed` that use the test issuer and wallets of `ferry-testkit`.

#[allow(unused_imports)]
use ferry_proto::cert::*;
use ferry_proto::codec::WIRE_VERSION;
use ferry_proto::envelope::Envelope;
use ferry_proto::journal::{self, ReceiptBody};
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

/// A remote payment: the payer's TA id and a real payment of `minor`.
fn remote(minor: i64) -> (TestIssuer, TestWallet, SealedContent) {
    let issuer = TestIssuer::new();
    let mut payer = TestWallet::new(&issuer, Currency::BRL);
    payer.fund(&issuer, 1_000_000);
    let payee = TestWallet::new(&issuer, Currency::BRL);
    let payment = payer.pay(&payee.request(None), minor);
    let content = SealedContent::RemotePayment {
        ta: payer.ta_id(),
        payment,
    };
    (issuer, payer, content)
}

#[test]
fn a_remote_payment_envelope_is_within_its_budget_and_opens() {
    let (issuer, payer, content) = remote(50_00);
    assert_eq!(content.kind(), "remote_payment");
    assert_eq!(
        content.to_bytes().len(),
        1 + 1 + 16 + 2 + journal::PAYMENT_LEN
    );
    let params = issuer.network_params(Currency::BRL);
    let env = seal(params.unverified(), &content, T0.plus_secs(3600), 16).unwrap();
    assert_eq!(env.to_bytes().len(), REMOTE_PAYMENT_ENVELOPE_LEN);
    assert!(env.to_bytes().len() <= REMOTE_PAYMENT_ENVELOPE_BUDGET);
    assert_eq!(REMOTE_PAYMENT_ENVELOPE_LEN, 238);
    let opened = open(&env, &issuer.sealing, T0).unwrap();
    assert_eq!(opened, content);
    let SealedContent::RemotePayment { ta, payment } = opened else {
        unreachable!()
    };
    assert_eq!(ta, payer.ta_id());
    // The TA id names the certificate; the signature still binds the payment to its key.
    payment.verify(&payer.ta_cert.unverified().ta_key).unwrap();
}

#[test]
fn a_remote_payment_decodes_strictly() {
    let (_, _, content) = remote(1);
    let bytes = content.to_bytes();
    // Trailing, truncated, and a non-payment entry in its place are refused.
    let mut longer = bytes.clone();
    longer.push(0);
    assert!(SealedContent::from_bytes(&longer).is_err());
    for cut in 0..bytes.len() {
        assert!(
            SealedContent::from_bytes(&bytes[..cut]).is_err(),
            "cut {cut}"
        );
    }
    let issuer = TestIssuer::new();
    let mut w = TestWallet::new(&issuer, Currency::BRL);
    let deposit = w.fund(&issuer, 10_00);
    let mut hand_made = Writer::versioned();
    hand_made.u8(4);
    w.ta_id().encode(&mut hand_made);
    deposit.encode(&mut hand_made);
    assert!(SealedContent::from_bytes(hand_made.as_slice()).is_err());
    // An unknown kind is refused.
    let mut unknown = bytes.clone();
    unknown[1] = 5;
    assert!(SealedContent::from_bytes(&unknown).is_err());
}

mod remote_props {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]

        /// One byte form: a remote payment round-trips, and every single-byte change either
        /// fails to decode or decodes to a value whose encoding is exactly the changed bytes
        /// (then the payment's signature or the TA id no longer match, which the server checks).
        #[test]
        fn remote_payments_round_trip_and_mutations_are_caught(
            minor in 1i64..=50_000,
            ta in any::<[u8; 16]>(),
            position in any::<proptest::sample::Index>(),
            flip in 1u8..=255,
        ) {
            let (issuer, payer, content) = remote(minor);
            let SealedContent::RemotePayment { payment, .. } = content else { unreachable!() };
            let content = SealedContent::RemotePayment { ta: TaId(ta), payment };
            let bytes = content.to_bytes();
            prop_assert_eq!(SealedContent::from_bytes(&bytes).unwrap(), content.clone());
            let i = position.index(bytes.len());
            let mut mutated = bytes.clone();
            mutated[i] ^= flip;
            match SealedContent::from_bytes(&mutated) {
                Err(_) => {}
                Ok(other) => {
                    prop_assert_eq!(other.to_bytes(), mutated);
                    let SealedContent::RemotePayment { ta: t, payment: p } = other else {
                        return Err(TestCaseError::fail("kind changed"));
                    };
                    let key = payer.ta_cert.unverified().ta_key;
                    prop_assert!(t != TaId(ta) || p.verify(&key).is_err());
                }
            }
            // Sealed, it opens to the same content; a changed ciphertext does not open.
            let params = issuer.network_params(Currency::BRL);
            let env = seal(params.unverified(), &content, T0.plus_secs(60), 3).unwrap();
            prop_assert_eq!(env.to_bytes().len(), REMOTE_PAYMENT_ENVELOPE_LEN);
            prop_assert_eq!(open(&env, &issuer.sealing, T0).unwrap(), content);
        }

        #[test]
        fn arbitrary_remote_payment_bytes_never_panic(
            body in proptest::collection::vec(any::<u8>(), 0..200),
        ) {
            let mut bytes = vec![WIRE_VERSION, 4];
            bytes.extend_from_slice(&body);
            let _ = SealedContent::from_bytes(&bytes);
        }
    }
}
