//! Tests of `ferry_proto::verify` that use the test issuer and wallets of `ferry-testkit`.

#[allow(unused_imports)]
use ferry_proto::cert::*;
use ferry_proto::journal::{ReceiptBody, genesis_hash};
use ferry_proto::journal_writer::{JournalWriter, WriterError};
use ferry_proto::keys::SigningKey;
use ferry_proto::money::Currency;
use ferry_proto::verify::*;
#[allow(unused_imports)]
use ferry_proto::*;
use ferry_testkit::{T0, TestIssuer, TestWallet, limits};

struct Scene {
    issuer: TestIssuer,
    payer: TestWallet,
    payee: TestWallet,
    empty_revocations: RevocationBody,
}

fn scene() -> Scene {
    let issuer = TestIssuer::new();
    let mut payer = TestWallet::new(&issuer, Currency::BRL);
    let _ = payer.fund(&issuer, 100_00);
    let payee = TestWallet::new(&issuer, Currency::BRL);
    let empty_revocations = issuer.revocations(1, vec![]).unverified().clone();
    Scene {
        issuer,
        payer,
        payee,
        empty_revocations,
    }
}

fn check(
    s: &Scene,
    req: &PaymentRequest,
    p: &Payment,
    now: UnixTime,
) -> Result<VerifiedPayment, PayVerifyError> {
    let issuers = s.issuer.issuers();
    let view = PayeeView {
        issuers: &issuers,
        revocations: &s.empty_revocations,
        me: s.payee.account_id,
        request: req,
        now,
    };
    pay_verify(&view, &s.payer.ta_cert, p, |_| false)
}

#[test]
fn pay_verify_accepts_an_honest_payment() {
    let mut s = scene();
    let req = s.payee.request(Some(30_00));
    let p = s.payer.pay(&req, 30_00);
    let v = check(&s, &req, &p, T0).unwrap();
    assert_eq!(
        v.id,
        PaymentId {
            ta: s.payer.ta_id(),
            j: 2
        }
    );
    assert_eq!(v.amount.minor(), 30_00);
    assert_eq!(v.payer_account, s.payer.account_id);
    assert_eq!(p.to_bytes().len(), 148);
}

#[test]
fn pay_verify_refuses_what_it_must() {
    let mut s = scene();
    let req = s.payee.request(Some(30_00));
    let p = s.payer.pay(&req, 30_00);

    let other = s.payee.request(Some(30_00));
    assert_eq!(check(&s, &other, &p, T0), Err(PayVerifyError::WrongNonce));
    assert_eq!(
        check(&s, &req, &p, req.expires_at),
        Err(PayVerifyError::RequestExpired)
    );

    let mut open = req.clone();
    open.amount = Some(ferry_proto::Money::new(31_00, Currency::BRL));
    assert_eq!(
        check(&s, &open, &p, T0),
        Err(PayVerifyError::AmountMismatch)
    );

    let mut elsewhere = req.clone();
    elsewhere.payee = AccountId::random();
    assert_eq!(
        check(&s, &elsewhere, &p, T0),
        Err(PayVerifyError::WrongPayee)
    );

    let sync_by = s.payer.ta_cert.unverified().limits.sync_by;
    assert_eq!(
        check(&s, &req, &p, sync_by),
        Err(PayVerifyError::SyncOverdue)
    );

    // Already in the payee's log.
    let issuers = s.issuer.issuers();
    let view = PayeeView {
        issuers: &issuers,
        revocations: &s.empty_revocations,
        me: s.payee.account_id,
        request: &req,
        now: T0,
    };
    assert_eq!(
        pay_verify(&view, &s.payer.ta_cert, &p, |_| true),
        Err(PayVerifyError::AlreadyReceived)
    );

    // Revoked wallet.
    let revoked = s.issuer.revocations(2, vec![s.payer.ta_id()]);
    let view = PayeeView {
        revocations: revoked.unverified(),
        ..view
    };
    assert_eq!(
        pay_verify(&view, &s.payer.ta_cert, &p, |_| false),
        Err(PayVerifyError::Certificate(CertError::Revoked))
    );

    // A certificate from an issuer the payee does not trust.
    let stranger = TestIssuer::new();
    let view = PayeeView {
        issuers: &stranger.issuers(),
        revocations: &s.empty_revocations,
        ..view
    };
    assert_eq!(
        pay_verify(&view, &s.payer.ta_cert, &p, |_| false),
        Err(PayVerifyError::Certificate(CertError::UnknownIssuer))
    );
}

#[test]
fn pay_verify_refuses_another_wallets_certificate_and_overlimit_payments() {
    let mut s = scene();
    let req = s.payee.request(None);
    let p = s.payer.pay(&req, 10_00);
    let issuers = s.issuer.issuers();
    let view = PayeeView {
        issuers: &issuers,
        revocations: &s.empty_revocations,
        me: s.payee.account_id,
        request: &req,
        now: T0,
    };
    // The payee's own certificate does not match the payer's signature.
    assert_eq!(
        pay_verify(&view, &s.payee.ta_cert, &p, |_| false),
        Err(PayVerifyError::BadSignature)
    );

    // A compromised wallet signs above its certified per-payment limit.
    let ta_key = SigningKey::generate();
    let real = s
        .issuer
        .ta_cert(&ta_key, s.payer.account_id, limits(Currency::BRL));
    let mut loose = real.unverified().clone();
    loose.limits.max_payment = loose.limits.max_balance;
    let mut rogue = JournalWriter::fresh(SigningKey::from_seed(&ta_key.to_seed()), loose);
    let auth = s.issuer.deposit_auth(
        TaId::of(&ta_key.public()),
        1,
        ferry_proto::Money::new(900_000, Currency::BRL),
    );
    rogue.deposit(&auth, &s.issuer.key.public(), T0).unwrap();
    let big = rogue
        .pay(
            req.payee,
            req.nonce,
            ferry_proto::Money::new(800_000, Currency::BRL),
            T0,
        )
        .unwrap();
    assert_eq!(
        pay_verify(&view, &real, &big, |_| false),
        Err(PayVerifyError::OverPaymentLimit)
    );
}

#[test]
fn receipts_bind_payee_and_payment() {
    let mut s = scene();
    let req = s.payee.request(Some(5_00));
    let p = s.payer.pay(&req, 5_00);
    let body = ReceiptBody {
        payment_hash: p.hash(),
        payee: s.payee.account_id,
        received_at: T0,
    };
    let receipt = Receipt::sign(body.clone(), &s.payee.account_key).unwrap();
    let issuers = s.issuer.issuers();
    assert!(verify_receipt(&receipt, &p, &s.payee.client_cert, &issuers).is_ok());

    let other = s.payer.pay(&req, 1_00);
    assert_eq!(
        verify_receipt(&receipt, &other, &s.payee.client_cert, &issuers),
        Err(ReceiptError::WrongPayment)
    );
    let forged = Receipt::sign(body, &s.payer.account_key).unwrap();
    assert_eq!(
        verify_receipt(&forged, &p, &s.payee.client_cert, &issuers),
        Err(ReceiptError::BadSignature)
    );
    assert_eq!(
        verify_receipt(&receipt, &p, &s.payer.client_cert, &issuers),
        Err(ReceiptError::BadSignature)
    );
}

#[test]
fn segments_must_chain_sign_and_stay_funded() {
    let s = scene();
    let mut w = TestWallet::new(&s.issuer, Currency::BRL);
    let _ = w.fund(&s.issuer, 100_00);
    let after_first_sync = w.journal.point();
    let req = s.payee.request(None);
    let auth = s
        .issuer
        .deposit_auth(w.ta_id(), 2, ferry_proto::Money::new(10_00, Currency::BRL));
    let d = w
        .journal
        .deposit(&auth, &s.issuer.key.public(), T0)
        .unwrap();
    let a = w.pay(&req, 5_00);
    let b = w.pay(&req, 7_00);
    let cert = w.ta_cert.unverified().clone();
    let entries = vec![d.clone(), a.entry().clone(), b.entry().clone()];

    let end = verify_segment(&cert, after_first_sync, &entries).unwrap();
    assert_eq!(end.balance, 100_00 + 10_00 - 5_00 - 7_00);
    assert_eq!(end, w.journal.point());

    // A gap.
    let err = verify_segment(&cert, after_first_sync, &[d.clone(), b.entry().clone()]).unwrap_err();
    assert_eq!(
        err,
        SegmentError {
            index: 1,
            rule: JournalRule::Gap {
                expected: 3,
                got: 4
            }
        }
    );
    // Checked against another wallet's key.
    let err = verify_segment(s.payer.ta_cert.unverified(), after_first_sync, &entries).unwrap_err();
    assert_eq!(
        err,
        SegmentError {
            index: 0,
            rule: JournalRule::BadSignature
        }
    );
    // Replayed from a lower balance, the same entries overdraw.
    let poor = ChainPoint {
        balance: 0,
        ..after_first_sync
    };
    assert_eq!(
        verify_segment(&cert, poor, &entries).unwrap_err(),
        SegmentError {
            index: 2,
            rule: JournalRule::Overdraft
        }
    );
    // A wrong predecessor.
    let broken = ChainPoint {
        prev_hash: genesis_hash(&w.ta_id()),
        ..after_first_sync
    };
    assert_eq!(
        verify_segment(&cert, broken, &entries).unwrap_err().rule,
        JournalRule::BrokenChain
    );
    // A replayed deposit serial.
    let stale = ChainPoint {
        last_serial: 0,
        ..after_first_sync
    };
    assert_eq!(
        verify_segment(&cert, stale, &entries).unwrap_err().rule,
        JournalRule::SerialOutOfOrder {
            expected: 1,
            got: 2
        }
    );
}

#[test]
fn writer_refuses_overdraft_limits_and_bad_serials() {
    let issuer = TestIssuer::new();
    let mut w = TestWallet::new(&issuer, Currency::BRL);
    let req = w.request(None);
    let cur = Currency::BRL;
    assert_eq!(
        w.journal
            .pay(req.payee, req.nonce, ferry_proto::Money::new(1, cur), T0),
        Err(WriterError::Rule(JournalRule::Overdraft))
    );
    // Serial 2 before serial 1.
    let auth = issuer.deposit_auth(w.ta_id(), 2, ferry_proto::Money::new(100, cur));
    assert_eq!(
        w.journal
            .deposit(&auth, &issuer.key.public(), T0)
            .unwrap_err(),
        WriterError::Rule(JournalRule::SerialOutOfOrder {
            expected: 1,
            got: 2
        })
    );
    // Over the balance cap.
    let auth = issuer.deposit_auth(w.ta_id(), 1, ferry_proto::Money::new(1_000_001, cur));
    assert_eq!(
        w.journal
            .deposit(&auth, &issuer.key.public(), T0)
            .unwrap_err(),
        WriterError::Rule(JournalRule::OverBalanceLimit)
    );
    // Someone else's authorization.
    let auth = issuer.deposit_auth(TaId([9; 16]), 1, ferry_proto::Money::new(100, cur));
    assert_eq!(
        w.journal
            .deposit(&auth, &issuer.key.public(), T0)
            .unwrap_err(),
        WriterError::BadAuthorization
    );
    // Nothing was signed by the refusals.
    assert_eq!(w.journal.point(), ChainPoint::genesis(&w.ta_id()));
}

#[test]
fn certificates_respect_their_validity_window() {
    let s = scene();
    let issuers = s.issuer.issuers();
    let body = s.payer.ta_cert.unverified();
    assert!(verify_ta_cert(&s.payer.ta_cert, &issuers, None, T0).is_ok());
    assert_eq!(
        verify_ta_cert(&s.payer.ta_cert, &issuers, None, body.expires_at),
        Err(CertError::Expired)
    );
    assert_eq!(
        verify_ta_cert(
            &s.payer.ta_cert,
            &issuers,
            None,
            body.issued_at.minus_secs(1)
        ),
        Err(CertError::NotYetValid)
    );
    assert!(verify_client_cert(&s.payer.client_cert, &issuers, T0).is_ok());
    let params = s.issuer.network_params(Currency::BRL);
    assert!(verify_network_params(&params, &s.issuer.key.public(), T0).is_ok());
    assert_eq!(
        verify_network_params(&params, &SigningKey::generate().public(), T0),
        Err(CertError::UnknownIssuer)
    );
}

#[test]
fn attestation_roots_are_per_tier() {
    use ferry_proto::cert::{AttestationBody, AttestationStatement};
    let oem = SigningKey::generate();
    let soft = SigningKey::generate();
    let roots = AttestationRoots {
        hardware: vec![oem.public()],
        software: vec![soft.public()],
    };
    let stmt = |tier, root: &SigningKey| {
        AttestationStatement::sign(
            AttestationBody {
                ta_key: SigningKey::generate().public(),
                tier,
                device_model: "ref".into(),
                issued_at: T0,
            },
            root,
        )
        .unwrap()
    };
    assert!(verify_attestation(&stmt(Tier::Hardware, &oem), &roots).is_ok());
    assert!(verify_attestation(&stmt(Tier::Software, &soft), &roots).is_ok());
    // The software root cannot vouch for hardware.
    assert_eq!(
        verify_attestation(&stmt(Tier::Hardware, &soft), &roots),
        Err(CertError::UntrustedAttestation)
    );
}
