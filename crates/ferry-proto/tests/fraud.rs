//! Tests of `ferry_proto::fraud` that use the test issuer and wallets of `ferry-testkit`.

#[allow(unused_imports)]
use ferry_proto::cert::*;
use ferry_proto::fraud::*;
use ferry_proto::journal_writer::JournalWriter;
use ferry_proto::keys::SigningKey;
use ferry_proto::money::{Currency, Money};
#[allow(unused_imports)]
use ferry_proto::*;
use ferry_proto::{AccountId, RequestNonce};
use ferry_testkit::{T0, TestIssuer, limits};

/// A payment of `minor` BRL to a stranger.
fn pay_someone(w: &mut JournalWriter, minor: i64) -> ferry_proto::journal::Payment {
    w.pay(
        AccountId::random(),
        RequestNonce::random(),
        Money::new(minor, Currency::BRL),
        T0,
    )
    .unwrap()
}

/// A wallet and an exact clone of its secure element: what an attacker who extracted the
/// key holds.
fn cloned_wallet(issuer: &TestIssuer) -> (TaCertificate, JournalWriter, JournalWriter) {
    let key = SigningKey::generate();
    let cert = issuer.ta_cert(&key, AccountId::random(), limits(Currency::BRL));
    let mut a = JournalWriter::fresh(
        SigningKey::from_seed(&key.to_seed()),
        cert.unverified().clone(),
    );
    let auth = issuer.deposit_auth(a.ta_id(), 1, Money::new(100_00, Currency::BRL));
    a.deposit(&auth, &issuer.key.public(), T0).unwrap();
    let b = JournalWriter::new(key, cert.unverified().clone(), a.point());
    (cert, a, b)
}

#[test]
fn double_spend_from_a_cloned_wallet_is_proven() {
    let issuer = TestIssuer::new();
    let (cert, mut a, mut b) = cloned_wallet(&issuer);
    let pay = |w: &mut JournalWriter| {
        w.pay(
            AccountId::random(),
            RequestNonce::random(),
            Money::new(90_00, Currency::BRL),
            T0,
        )
        .unwrap()
    };
    let p1 = pay(&mut a);
    let p2 = pay(&mut b);
    let proof = FraudProof::detect(&cert, p1.entry(), p2.entry()).expect("fork");
    let (ta, kind) = proof.verify(&issuer.issuers()).unwrap();
    assert_eq!(ta, a.ta_id());
    assert_eq!(kind, ForkKind::SamePosition);
    // The order of discovery does not change the proof.
    assert_eq!(
        FraudProof::detect(&cert, p2.entry(), p1.entry()).unwrap(),
        proof
    );
    // The proof survives its own encoding.
    assert_eq!(FraudProof::from_bytes(&proof.to_bytes()).unwrap(), proof);
    // An untrusted issuer cannot be framed with.
    assert!(proof.verify(&TestIssuer::new().issuers()).is_err());
}

#[test]
fn identical_or_unrelated_entries_are_not_fraud() {
    let issuer = TestIssuer::new();
    let (cert, mut a, _) = cloned_wallet(&issuer);
    let p1 = pay_someone(&mut a, 1_00);
    let p2 = pay_someone(&mut a, 1_00);
    assert!(FraudProof::detect(&cert, p1.entry(), p1.entry()).is_none());
    assert!(FraudProof::detect(&cert, p1.entry(), p2.entry()).is_none());
    // A forged "proof" with the same entry twice, or swapped order, does not verify.
    let fake = FraudProof {
        ta_cert: cert.clone(),
        first: p1.entry().clone(),
        second: p1.entry().clone(),
    };
    assert_eq!(
        fake.verify(&issuer.issuers()),
        Err(FraudProofError::NoConflict)
    );
    let fake = FraudProof {
        ta_cert: cert,
        first: p1.entry().clone(),
        second: p2.entry().clone(),
    };
    assert!(fake.verify(&issuer.issuers()).is_err());
}

#[test]
fn detector_finds_branches_at_any_point() {
    let issuer = TestIssuer::new();
    let (cert, mut a, mut b) = cloned_wallet(&issuer);
    let mut det = ForkDetector::new(cert);
    let shared = pay_someone(&mut a, 1_00);
    // b continues from the same point as a did before `shared`.
    let alt = pay_someone(&mut b, 2_00);
    assert!(det.observe(shared.entry()).is_none());
    assert!(
        det.observe(shared.entry()).is_none(),
        "a duplicate is not a fork"
    );
    assert!(det.observe(alt.entry()).is_some());
}
