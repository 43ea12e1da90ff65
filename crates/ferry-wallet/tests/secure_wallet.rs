//! The software secure wallet: OPS rules, offline limits, sealing, anti-rollback and crash
//! safety (a power cut injected at every step of every operation).

use ferry_proto::verify::{CertError, ChainPoint, PayVerifyError, verify_segment};
use ferry_proto::{
    AccountId, Currency, Money, PaymentRequest, RequestNonce, SignedEntry, UnixTime, X25519Secret,
};
use ferry_testkit::{DAY, T0, TestIssuer, TestWallet, limits};
use ferry_wallet::secure::software::{SoftwareSecureWallet, new_device_key};
use ferry_wallet::secure::{
    CollectContext, CrashPoint, DeviceKey, SecureWallet, SecureWalletError,
};
use proptest::prelude::*;

const BRL: Currency = Currency::BRL;

fn brl(minor: i64) -> Money {
    Money::new(minor, BRL)
}

struct Scene {
    issuer: TestIssuer,
    account: AccountId,
    dir: tempfile::TempDir,
    device_key: DeviceKey,
    wallet: SoftwareSecureWallet,
}

fn scene_with(l: ferry_proto::cert::Limits) -> Scene {
    let issuer = TestIssuer::new();
    let account = AccountId::random();
    let dir = tempfile::tempdir().unwrap();
    let device_key = new_device_key().unwrap();
    let mut wallet = SoftwareSecureWallet::create(dir.path(), &device_key).unwrap();
    let cert = issuer.ta_cert_for(wallet.ta_key(), account, l);
    wallet
        .install_certificate(&cert, &issuer.key.public(), T0)
        .unwrap();
    Scene {
        issuer,
        account,
        dir,
        device_key,
        wallet,
    }
}

fn scene() -> Scene {
    scene_with(limits(BRL))
}

impl Scene {
    fn fund(&mut self, minor: i64) -> SignedEntry {
        let serial = self.wallet.status().point.last_serial + 1;
        let auth = self
            .issuer
            .deposit_auth(self.wallet.status().ta_id, serial, brl(minor));
        self.wallet.deposit(&auth, T0).unwrap()
    }

    fn reopen(&mut self) -> Result<(), SecureWalletError> {
        self.wallet = SoftwareSecureWallet::open(self.dir.path(), &self.device_key)?;
        Ok(())
    }

    fn balance(&self) -> i64 {
        self.wallet.status().point.balance
    }
}

fn request(payee: AccountId, amount: Option<i64>) -> PaymentRequest {
    PaymentRequest {
        payee,
        currency: BRL,
        amount: amount.map(brl),
        nonce: RequestNonce::random(),
        link_key: X25519Secret::generate().public(),
        expires_at: T0.plus_secs(600),
        payee_name: "Stall".into(),
        city: "Recife".into(),
        reference: String::new(),
    }
}

/// Every entry the wallet ever exported forms one valid chain from genesis.
fn assert_one_chain(s: &Scene, entries: &[SignedEntry]) {
    let cert = s.wallet.status().certificate.unwrap();
    let start = ChainPoint::genesis(&s.wallet.status().ta_id);
    let end = verify_segment(cert.unverified(), start, entries).expect("one valid chain");
    assert_eq!(end, s.wallet.status().point);
}

#[test]
fn deposit_pay_withdraw_and_reopen() {
    let mut s = scene();
    s.fund(100_00);
    let payee = AccountId::random();
    let p = s
        .wallet
        .pay(&request(payee, Some(30_00)), brl(30_00), T0)
        .unwrap();
    assert_eq!(p.amount(), brl(30_00));
    assert_eq!(p.payee(), payee);
    s.wallet.withdraw(brl(10_00), T0).unwrap();
    assert_eq!(s.balance(), 60_00);
    let journal = s.wallet.journal_since(0);
    assert_eq!(journal.len(), 3);
    s.reopen().unwrap();
    assert_eq!(s.balance(), 60_00);
    assert_eq!(s.wallet.journal_since(0), journal);
    assert_eq!(s.wallet.status().payments_since_sync, 1);
    assert_one_chain(&s, &journal);
}

#[test]
fn deposit_authorizations_apply_once_and_in_order() {
    let mut s = scene();
    let ta = s.wallet.status().ta_id;
    let first = s.issuer.deposit_auth(ta, 1, brl(10_00));
    s.wallet.deposit(&first, T0).unwrap();
    // Replay of serial 1, and a jump to serial 3.
    for auth in [first, s.issuer.deposit_auth(ta, 3, brl(10_00))] {
        assert!(matches!(
            s.wallet.deposit(&auth, T0),
            Err(SecureWalletError::Refused(_))
        ));
    }
    // An authorization for another wallet, or signed by someone else.
    let other = TestWallet::new(&s.issuer, BRL).ta_id();
    let rogue = TestIssuer::new().deposit_auth(ta, 2, brl(10_00));
    for auth in [s.issuer.deposit_auth(other, 2, brl(10_00)), rogue] {
        assert!(matches!(
            s.wallet.deposit(&auth, T0),
            Err(SecureWalletError::Refused(_))
        ));
    }
    assert_eq!(s.balance(), 10_00);
    assert_eq!(s.wallet.status().point.last_serial, 1);
}

#[test]
fn every_offline_limit_is_enforced_and_a_refusal_changes_nothing() {
    let mut l = limits(BRL);
    l.max_payments_between_syncs = 2;
    l.max_payment = 50_00;
    l.max_balance = 200_00;
    let mut s = scene_with(l);
    s.fund(200_00);
    let payee = AccountId::random();
    let before = s.wallet.status();
    let over_cap = s.issuer.deposit_auth(before.ta_id, 2, brl(1));
    let mut expired = request(payee, None);
    expired.expires_at = T0;
    let cases: Vec<(&str, Result<_, SecureWalletError>)> = vec![
        (
            "per-payment cap",
            s.wallet
                .pay(&request(payee, None), brl(50_01), T0)
                .map(|_| ()),
        ),
        (
            "expired request",
            s.wallet.pay(&expired, brl(1_00), T0).map(|_| ()),
        ),
        (
            "amount differs from request",
            s.wallet
                .pay(&request(payee, Some(5_00)), brl(6_00), T0)
                .map(|_| ()),
        ),
        (
            "wrong currency",
            s.wallet
                .pay(&request(payee, None), Money::new(1_00, Currency::EUR), T0)
                .map(|_| ()),
        ),
        (
            "sync-by deadline passed",
            s.wallet
                .pay(&request(payee, None), brl(1_00), l.sync_by)
                .map(|_| ()),
        ),
        (
            "balance cap on deposit",
            s.wallet.deposit(&over_cap, T0).map(|_| ()),
        ),
        (
            "withdraw more than held",
            s.wallet.withdraw(brl(200_01), T0).map(|_| ()),
        ),
    ];
    for (what, r) in cases {
        assert!(r.is_err(), "{what} was accepted");
        assert_eq!(s.wallet.status(), before, "{what} changed the wallet");
    }
    s.wallet.pay(&request(payee, None), brl(1_00), T0).unwrap();
    s.wallet.pay(&request(payee, None), brl(1_00), T0).unwrap();
    assert_eq!(
        s.wallet
            .pay(&request(payee, None), brl(1_00), T0)
            .unwrap_err(),
        SecureWalletError::TooManyPayments { max: 2 }
    );
    // A sync that covers everything, with a renewed certificate, opens the count again.
    let last = s.wallet.status().point.next_j - 1;
    let mut renewed_limits = l;
    renewed_limits.sync_by = l.sync_by.plus_secs(DAY);
    let renewed = s
        .issuer
        .ta_cert_for(s.wallet.ta_key(), s.account, renewed_limits);
    s.wallet.finish_sync(last, Some(&renewed), T0).unwrap();
    assert!(s.wallet.journal_since(0).is_empty());
    s.wallet.pay(&request(payee, None), brl(1_00), T0).unwrap();
    assert_eq!(s.balance(), 197_00);
}

#[test]
fn a_payment_needs_a_valid_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let key = new_device_key().unwrap();
    let mut w = SoftwareSecureWallet::create(dir.path(), &key).unwrap();
    let payee = AccountId::random();
    assert_eq!(
        w.pay(&request(payee, None), brl(1), T0).unwrap_err(),
        SecureWalletError::NoCertificate
    );
    let issuer = TestIssuer::new();
    // A certificate for another key, and one signed by an unknown issuer.
    let other = issuer.ta_cert_for(
        ferry_proto::SigningKey::generate().public(),
        payee,
        limits(BRL),
    );
    assert_eq!(
        w.install_certificate(&other, &issuer.key.public(), T0),
        Err(SecureWalletError::CertificateForAnotherKey)
    );
    let mine = issuer.ta_cert_for(w.ta_key(), payee, limits(BRL));
    assert_eq!(
        w.install_certificate(&mine, &TestIssuer::new().key.public(), T0),
        Err(SecureWalletError::Certificate(CertError::UnknownIssuer))
    );
    w.install_certificate(&mine, &issuer.key.public(), T0)
        .unwrap();
    // Expired certificate: no payment.
    let late = T0.plus_secs(31 * DAY);
    assert!(matches!(
        w.pay(&request(payee, None), brl(1), late),
        Err(SecureWalletError::Certificate(CertError::Expired))
    ));
}

#[test]
fn collect_verifies_and_never_takes_a_payment_twice() {
    let mut s = scene();
    let mut payer = TestWallet::new(&s.issuer, BRL);
    payer.fund(&s.issuer, 100_00);
    let req = request(s.account, Some(20_00));
    let p = payer.pay(&req, 20_00);
    let issuers = s.issuer.issuers();
    let clean = s.issuer.revocations(1, vec![]);
    let ctx = CollectContext {
        issuers: &issuers,
        revocations: clean.unverified(),
        now: T0,
    };
    s.wallet.collect(&payer.ta_cert, &p, &ctx).unwrap();
    assert_eq!(s.balance(), 20_00);
    assert_eq!(
        s.wallet.collect(&payer.ta_cert, &p, &ctx).unwrap_err(),
        SecureWalletError::AlreadyCollected
    );
    s.reopen().unwrap();
    assert_eq!(
        s.wallet.collect(&payer.ta_cert, &p, &ctx).unwrap_err(),
        SecureWalletError::AlreadyCollected,
        "the collected set survives a restart"
    );
    // A payment to someone else; a revoked payer.
    let elsewhere = payer.pay(&request(AccountId::random(), None), 1_00);
    assert_eq!(
        s.wallet
            .collect(&payer.ta_cert, &elsewhere, &ctx)
            .unwrap_err(),
        SecureWalletError::Payment(PayVerifyError::WrongPayee)
    );
    let p2 = payer.pay(&request(s.account, None), 5_00);
    let revoked = s.issuer.revocations(2, vec![payer.ta_id()]);
    let ctx_revoked = CollectContext {
        revocations: revoked.unverified(),
        ..ctx
    };
    assert_eq!(
        s.wallet
            .collect(&payer.ta_cert, &p2, &ctx_revoked)
            .unwrap_err(),
        SecureWalletError::Payment(PayVerifyError::Certificate(CertError::Revoked))
    );
    // The collected value can be re-spent offline.
    s.wallet
        .pay(&request(AccountId::random(), None), brl(15_00), T0)
        .unwrap();
    assert_eq!(s.balance(), 5_00);
}

#[test]
fn an_older_copy_of_the_state_file_is_refused() {
    let mut s = scene();
    s.fund(100_00);
    let old_state = std::fs::read(s.dir.path().join("secure-wallet.state")).unwrap();
    s.wallet
        .pay(&request(AccountId::random(), None), brl(40_00), T0)
        .unwrap();
    std::fs::write(s.dir.path().join("secure-wallet.state"), &old_state).unwrap();
    assert!(matches!(
        s.reopen(),
        Err(SecureWalletError::RolledBack { .. })
    ));
    // A state from another wallet directory (another device key) does not open either.
    let other = scene();
    std::fs::write(
        s.dir.path().join("secure-wallet.state"),
        std::fs::read(other.dir.path().join("secure-wallet.state")).unwrap(),
    )
    .unwrap();
    assert!(matches!(s.reopen(), Err(SecureWalletError::Corrupt(_))));
}

/// One operation of the secure wallet, for the crash tests.
#[derive(Debug, Clone, Copy)]
enum Op {
    Deposit(i64),
    Pay(i64),
    Collect(i64),
    Withdraw(i64),
}

fn run(
    s: &mut Scene,
    payer: &mut TestWallet,
    op: Op,
) -> Result<Option<SignedEntry>, SecureWalletError> {
    match op {
        Op::Deposit(m) => {
            let serial = s.wallet.status().point.last_serial + 1;
            let auth = s
                .issuer
                .deposit_auth(s.wallet.status().ta_id, serial, brl(m));
            s.wallet.deposit(&auth, T0).map(Some)
        }
        Op::Pay(m) => s
            .wallet
            .pay(&request(AccountId::random(), None), brl(m), T0)
            .map(|p| Some(p.entry().clone())),
        Op::Collect(m) => {
            let p = payer.pay(&request(s.account, None), m);
            let issuers = s.issuer.issuers();
            let rl = s.issuer.revocations(1, vec![]);
            let ctx = CollectContext {
                issuers: &issuers,
                revocations: rl.unverified(),
                now: T0,
            };
            s.wallet.collect(&payer.ta_cert, &p, &ctx).map(Some)
        }
        Op::Withdraw(m) => s.wallet.withdraw(brl(m), T0).map(Some),
    }
}

const CRASH_POINTS: [CrashPoint; 4] = [
    CrashPoint::BeforeWrite,
    CrashPoint::AfterTempWrite,
    CrashPoint::AfterRename,
    CrashPoint::AfterCounter,
];

#[test]
fn a_crash_at_every_step_of_every_operation_leaves_the_old_or_the_new_state() {
    for op in [
        Op::Deposit(10_00),
        Op::Pay(10_00),
        Op::Collect(10_00),
        Op::Withdraw(10_00),
    ] {
        for point in CRASH_POINTS {
            let mut s = scene();
            let mut payer = TestWallet::new(&s.issuer, BRL);
            payer.fund(&s.issuer, 1_000_00);
            s.fund(50_00);
            let before = s.wallet.status();
            s.wallet.inject_crash(Some(point));
            let r = run(&mut s, &mut payer, op);
            assert_eq!(r.unwrap_err(), SecureWalletError::Crashed(point));
            // A crashed wallet signs nothing more until reopened.
            assert!(run(&mut s, &mut payer, Op::Pay(1)).is_err());
            s.reopen().unwrap();
            let after = s.wallet.status();
            let committed = matches!(point, CrashPoint::AfterRename | CrashPoint::AfterCounter);
            if committed {
                assert_eq!(
                    after.point.next_j,
                    before.point.next_j + 1,
                    "{op:?} {point:?}"
                );
                let delta = after.point.balance - before.point.balance;
                let expect = match op {
                    Op::Deposit(m) | Op::Collect(m) => m,
                    Op::Pay(m) | Op::Withdraw(m) => -m,
                };
                assert_eq!(
                    delta, expect,
                    "{op:?} {point:?}: the debit or credit is kept"
                );
            } else {
                assert_eq!(after, before, "{op:?} {point:?}: nothing committed");
            }
            // Whatever happened, the journal is one chain and the wallet goes on.
            run(&mut s, &mut payer, Op::Pay(1_00)).unwrap();
            let journal = s.wallet.journal_since(0);
            assert_one_chain(&s, &journal);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    /// Random operations with random power cuts: every entry ever handed out is in the journal
    /// exactly once, the journal is one chain (no position signed twice), and the balance is
    /// the sum of the committed movements.
    #[test]
    fn random_operations_and_power_cuts_never_fork_or_lose_money(
        ops in proptest::collection::vec(
            (0u8..4, 1i64..40_00, proptest::option::weighted(0.3, 0usize..4)),
            1..14,
        )
    ) {
        let mut s = scene();
        let mut payer = TestWallet::new(&s.issuer, BRL);
        payer.fund(&s.issuer, 10_000_00);
        let mut handed_out: Vec<SignedEntry> = Vec::new();
        for (kind, amount, crash) in ops {
            let op = match kind {
                0 => Op::Deposit(amount),
                1 => Op::Pay(amount),
                2 => Op::Collect(amount),
                _ => Op::Withdraw(amount),
            };
            s.wallet.inject_crash(crash.map(|i| CRASH_POINTS[i]));
            match run(&mut s, &mut payer, op) {
                Ok(Some(e)) => handed_out.push(e),
                Ok(None) => {}
                Err(SecureWalletError::Crashed(_)) => s.reopen().unwrap(),
                Err(_) => {}
            }
        }
        let journal = s.wallet.journal_since(0);
        for e in &handed_out {
            prop_assert_eq!(journal.iter().filter(|x| x.unverified().j == e.unverified().j).count(), 1);
            prop_assert!(journal.contains(e), "an entry handed out is missing from the journal");
        }
        assert_one_chain(&s, &journal);
        let sum: i64 = journal
            .iter()
            .map(|e| i64::from(e.unverified().kind.direction()) * e.unverified().amount.minor())
            .sum();
        prop_assert_eq!(sum, s.balance());
    }
}

#[test]
fn time_is_passed_in_not_read() {
    // The same operations at two different clock values give entries stamped with those values.
    let mut s = scene();
    s.fund(10_00);
    let e = s
        .wallet
        .pay(
            &request(AccountId::random(), None),
            brl(1_00),
            UnixTime(T0.0 + 5),
        )
        .unwrap();
    assert_eq!(e.body().time, UnixTime(T0.0 + 5));
}

#[test]
fn a_new_certificate_must_keep_account_currency_and_issuer() {
    let mut s = scene();
    let before = s.wallet.status();
    let issuer_key = s.issuer.key.public();
    let other_account = s
        .issuer
        .ta_cert_for(s.wallet.ta_key(), AccountId::random(), limits(BRL));
    let other_currency = s
        .issuer
        .ta_cert_for(s.wallet.ta_key(), s.account, limits(Currency::EUR));
    for cert in [other_account, other_currency] {
        assert!(matches!(
            s.wallet.install_certificate(&cert, &issuer_key, T0),
            Err(SecureWalletError::Mismatch(_))
        ));
    }
    // Another issuer key than the one pinned.
    let rogue = TestIssuer::new();
    let foreign = rogue.ta_cert_for(s.wallet.ta_key(), s.account, limits(BRL));
    assert!(matches!(
        s.wallet
            .install_certificate(&foreign, &rogue.key.public(), T0),
        Err(SecureWalletError::Certificate(CertError::UnknownIssuer))
    ));
    assert_eq!(s.wallet.status(), before, "refusals change nothing");
}

#[test]
fn a_sync_naming_entries_the_wallet_never_wrote_is_refused() {
    let mut s = scene();
    s.fund(10_00);
    let before = s.wallet.status();
    assert!(matches!(
        s.wallet.finish_sync(2, None, T0),
        Err(SecureWalletError::Mismatch(_))
    ));
    assert_eq!(s.wallet.status(), before);
    // Syncing only part of the journal with a renewed certificate keeps the payment count.
    s.wallet
        .pay(&request(AccountId::random(), None), brl(1_00), T0)
        .unwrap();
    let renewed = s
        .issuer
        .ta_cert_for(s.wallet.ta_key(), s.account, limits(BRL));
    s.wallet.finish_sync(1, Some(&renewed), T0).unwrap();
    assert_eq!(s.wallet.status().payments_since_sync, 1);
    assert_eq!(s.wallet.journal_since(0).len(), 1);
}
