//! The sans-IO payment session: codecs, the one-round-trip handshake, and every way it must
//! fail — another payee's key, another request, a tampered frame, a bad receipt, a refusal.

use ferry_pay::payee::PayeeSession;
use ferry_pay::payer::PayerSession;
use ferry_pay::{Offer, Refusal, Reply, SessionError};
use ferry_proto::journal::ReceiptBody;
use ferry_proto::qr::request_to_emv;
use ferry_proto::verify::{PayeeView, verify_receipt};
use ferry_proto::{
    AccountId, Currency, Money, PaymentRequest, Receipt, RequestNonce, SigningKey, X25519Secret,
};
use ferry_testkit::{T0, TestIssuer, TestWallet};
use proptest::prelude::*;

struct Scene {
    issuer: TestIssuer,
    payer: TestWallet,
    payee_key: SigningKey,
    payee_cert: ferry_proto::ClientCertificate,
    link: X25519Secret,
    request: PaymentRequest,
    text: String,
}

fn scene() -> Scene {
    let issuer = TestIssuer::new();
    let mut payer = TestWallet::new(&issuer, Currency::BRL);
    payer.fund(&issuer, 100_00);
    let payee_key = SigningKey::generate();
    let payee = AccountId::random();
    let payee_cert = issuer.client_cert(payee, &payee_key);
    let link = X25519Secret::generate();
    let request = PaymentRequest {
        payee,
        currency: Currency::BRL,
        amount: Some(Money::new(30_00, Currency::BRL)),
        nonce: RequestNonce::random(),
        link_key: link.public(),
        expires_at: T0.plus_secs(600),
        payee_name: "Bia Frutas".into(),
        city: "Recife".into(),
        reference: "INV-1".into(),
    };
    let text = request_to_emv(&request).unwrap();
    Scene {
        issuer,
        payer,
        payee_key,
        payee_cert,
        link,
        request,
        text,
    }
}

impl Scene {
    fn offer(&mut self) -> Offer {
        let payment = self.payer.pay(&self.request, 30_00);
        Offer {
            ta_cert: self.payer.ta_cert.clone(),
            payment,
        }
    }

    fn receipt(&self, offer: &Offer) -> Receipt {
        Receipt::sign(
            ReceiptBody {
                payment_hash: offer.payment.hash(),
                payee: self.request.payee,
                received_at: T0,
            },
            &self.payee_key,
        )
        .unwrap()
    }
}

#[test]
fn one_round_trip_delivers_a_verified_payment_and_receipt() {
    let mut s = scene();
    let offer = s.offer();
    let (payer, first) = PayerSession::start(&s.text, &s.request, &offer).unwrap();
    let payee = PayeeSession::new(&s.link, &s.text).unwrap();
    let received = payee.on_offer(&first).unwrap();
    assert_eq!(received.offer, offer);
    let revocations = s.issuer.revocations(1, vec![]);
    let issuers = s.issuer.issuers();
    let view = PayeeView {
        issuers: &issuers,
        revocations: revocations.unverified(),
        me: s.request.payee,
        request: &s.request,
        now: T0,
    };
    let verified = received.verify(&view, false).unwrap();
    assert_eq!(verified.amount.minor(), 30_00);
    let receipt = s.receipt(&offer);
    let reply = received.accept(&receipt, &s.payee_cert).unwrap();
    let accepted = payer.on_reply(&reply, &issuers).unwrap();
    verify_receipt(
        &accepted.receipt,
        &offer.payment,
        &accepted.payee_cert,
        &issuers,
    )
    .unwrap();
    // The first frame carries the payment and certificate, sealed: ~ 440 bytes.
    assert!(first.len() < 600, "first frame {} bytes", first.len());
}

#[test]
fn another_payee_key_or_another_request_cannot_open_the_offer() {
    let mut s = scene();
    let offer = s.offer();
    let (_, first) = PayerSession::start(&s.text, &s.request, &offer).unwrap();
    // A device with another link key, showing a request with its own key.
    let other_link = X25519Secret::generate();
    let mut other_req = s.request.clone();
    other_req.link_key = other_link.public();
    let other_text = request_to_emv(&other_req).unwrap();
    let other = PayeeSession::new(&other_link, &other_text).unwrap();
    assert!(matches!(
        other.on_offer(&first),
        Err(SessionError::Noise(_))
    ));
    // The right key, but another request (another prologue).
    let mut req2 = s.request.clone();
    req2.nonce = RequestNonce::random();
    let text2 = request_to_emv(&req2).unwrap();
    let same_key = PayeeSession::new(&s.link, &text2).unwrap();
    assert!(matches!(
        same_key.on_offer(&first),
        Err(SessionError::Noise(_))
    ));
    // A request text whose link key is not this device's is refused up front.
    assert!(PayeeSession::new(&other_link, &s.text).is_err());
}

#[test]
fn a_refusal_reaches_the_payer_as_a_typed_error() {
    let mut s = scene();
    let offer = s.offer();
    let (payer, first) = PayerSession::start(&s.text, &s.request, &offer).unwrap();
    let received = PayeeSession::new(&s.link, &s.text)
        .unwrap()
        .on_offer(&first)
        .unwrap();
    let reply = received.refuse(Refusal::Revoked).unwrap();
    assert!(matches!(
        payer.on_reply(&reply, &s.issuer.issuers()),
        Err(SessionError::Refused(Refusal::Revoked))
    ));
}

#[test]
fn a_receipt_for_another_payment_or_from_another_key_is_refused() {
    let mut s = scene();
    let offer = s.offer();
    let issuers = s.issuer.issuers();
    // Receipt over another payment's hash.
    let (payer, first) = PayerSession::start(&s.text, &s.request, &offer).unwrap();
    let received = PayeeSession::new(&s.link, &s.text)
        .unwrap()
        .on_offer(&first)
        .unwrap();
    let mut other = s.offer();
    other.payment = s.payer.pay(&s.request, 30_00);
    let wrong = s.receipt(&other);
    let reply = received.accept(&wrong, &s.payee_cert).unwrap();
    assert!(matches!(
        payer.on_reply(&reply, &issuers),
        Err(SessionError::Receipt(_))
    ));
    // Receipt signed by a key that is not the payee's certificate key.
    let (payer, first) = PayerSession::start(&s.text, &s.request, &offer).unwrap();
    let received = PayeeSession::new(&s.link, &s.text)
        .unwrap()
        .on_offer(&first)
        .unwrap();
    let stranger = SigningKey::generate();
    let forged = Receipt::sign(
        ReceiptBody {
            payment_hash: offer.payment.hash(),
            payee: s.request.payee,
            received_at: T0,
        },
        &stranger,
    )
    .unwrap();
    let reply = received.accept(&forged, &s.payee_cert).unwrap();
    assert!(matches!(
        payer.on_reply(&reply, &issuers),
        Err(SessionError::Receipt(_))
    ));
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// Any single changed byte of either frame ends the session with an error.
    #[test]
    fn a_tampered_frame_ends_the_session(pos in any::<prop::sample::Index>(), flip in 1u8..=255, second in any::<bool>()) {
        let mut s = scene();
        let offer = s.offer();
        let (payer, mut first) = PayerSession::start(&s.text, &s.request, &offer).unwrap();
        if !second {
            let i = pos.index(first.len());
            first[i] ^= flip;
            let r = PayeeSession::new(&s.link, &s.text).unwrap().on_offer(&first);
            prop_assert!(r.is_err());
        } else {
            let received = PayeeSession::new(&s.link, &s.text).unwrap().on_offer(&first).unwrap();
            let receipt = s.receipt(&offer);
            let mut reply = received.accept(&receipt, &s.payee_cert).unwrap();
            let i = pos.index(reply.len());
            reply[i] ^= flip;
            prop_assert!(payer.on_reply(&reply, &s.issuer.issuers()).is_err());
        }
    }

    /// The session messages round-trip, and decoding rejects every truncation.
    #[test]
    fn session_messages_round_trip_and_reject_truncation(cut in any::<prop::sample::Index>(), code in 0u8..10) {
        let mut s = scene();
        let offer = s.offer();
        let bytes = offer.to_bytes();
        prop_assert_eq!(Offer::from_bytes(&bytes).unwrap(), offer.clone());
        let n = cut.index(bytes.len());
        prop_assert!(Offer::from_bytes(&bytes[..n]).is_err());
        let mut longer = bytes.clone();
        longer.push(0);
        prop_assert!(Offer::from_bytes(&longer).is_err());
        let accepted = Reply::Accepted { receipt: s.receipt(&offer), payee_cert: s.payee_cert.clone() };
        let all = [
            Refusal::BadCertificate, Refusal::Revoked, Refusal::BadSignature, Refusal::WrongPayee,
            Refusal::RequestExpired, Refusal::WrongAmount, Refusal::OverLimit, Refusal::SyncOverdue,
            Refusal::AlreadyReceived, Refusal::PayeeError,
        ];
        for reply in [accepted, Reply::Refused(all[usize::from(code)])] {
            let b = reply.to_bytes();
            prop_assert_eq!(Reply::from_bytes(&b).unwrap(), reply);
            prop_assert!(Reply::from_bytes(&b[..b.len() - 1]).is_err());
        }
    }
}
