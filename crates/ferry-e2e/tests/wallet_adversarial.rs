//! Device wallets against a real server, under attack and failure: a replayed first frame, a
//! payment that reaches the wrong device, amounts and counts over the wallet's limits, a cloned
//! (forked) wallet that gets revoked, a secure-wallet state rolled back to an older copy, and a
//! crash or a dropped link at every step of a payment, with the payer retrying.
//!
//! Every test ends on the money: what the server settled (payment statuses, floats, online
//! balances, payment transfers counted in the ledger) and a clean audit — not only on the
//! error a device saw.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use ferry_api::Outcome;
use ferry_ledger::LedgerAccount;
use ferry_ledger::engine::DebitState;
use ferry_link::ble::{self, BleParams};
use ferry_link::fragment::AttMtu;
use ferry_link::memory;
use ferry_link::noise::NoiseError;
use ferry_link::{Link, LinkError};
use ferry_pay::{Refusal, SessionError};
use ferry_proto::{Currency, PaymentId};
use ferry_testkit::devices::Device;
use ferry_testkit::{Agent, TestServer, brl, payment_transfers, transfers_of_kind};
use ferry_wallet::secure::{CrashPoint, SecureWallet, SecureWalletError};
use ferry_wallet::store::{Direction, Disposition, PaymentStatus};
use ferry_wallet::wallet::{PaidOutcome, ReceivedOutcome, Wallet, WalletError};

/// How long a device waits for the other in these tests (a failing test must not hang).
const TIMEOUT: Duration = Duration::from_secs(5);

/// A link that keeps a copy of every message sent through it (what an eavesdropper records).
struct Recording<L> {
    inner: L,
    sent: Arc<Mutex<Vec<Vec<u8>>>>,
}

impl<L: Link> Recording<L> {
    fn new(inner: L) -> (Self, Arc<Mutex<Vec<Vec<u8>>>>) {
        let sent = Arc::new(Mutex::new(Vec::new()));
        (
            Recording {
                inner,
                sent: Arc::clone(&sent),
            },
            sent,
        )
    }
}

impl<L: Link> Link for Recording<L> {
    async fn send(&mut self, msg: &[u8]) -> Result<(), LinkError> {
        self.sent.lock().expect("recording").push(msg.to_vec());
        self.inner.send(msg).await
    }

    async fn recv(&mut self) -> Result<Vec<u8>, LinkError> {
        self.inner.recv().await
    }
}

/// A server, a cash agent, and a funded payer.
async fn setup(deposit: i64) -> (TestServer, Agent, Device) {
    let server = TestServer::sqlite().await;
    let agent = server.agent(2_000_00).await;
    let mut payer = Device::register(&server.base_url, "Ana").await;
    payer.wallet.session_timeout = TIMEOUT;
    payer.fund(&server.client, &agent, deposit).await;
    assert_eq!(payer.offline(), deposit);
    (server, agent, payer)
}

async fn payee(server: &TestServer, name: &str) -> Device {
    let mut d = Device::register(&server.base_url, name).await;
    d.wallet.session_timeout = TIMEOUT;
    d
}

/// One face-to-face payment over an in-memory link; both sides' results.
async fn face_to_face(
    payer: &mut Device,
    payee: &mut Device,
    text: &str,
) -> (
    Result<PaidOutcome, WalletError>,
    Result<ReceivedOutcome, WalletError>,
) {
    let (mut a, mut b) = memory::pair();
    let (paid, received) = tokio::join!(
        payer.wallet.pay(text, None, &mut a),
        payee.wallet.receive(text, &mut b)
    );
    (paid, received)
}

/// An honest payment that must go through.
async fn pay_ok(payer: &mut Device, payee: &mut Device, minor: i64) -> PaymentId {
    let request = payee.request(Some(minor)).await;
    let (paid, received) = face_to_face(payer, payee, &request.text).await;
    let id = paid.expect("paid").id;
    assert_eq!(received.expect("received").id, id);
    id
}

/// The journal position the server expects next from `d`'s wallet (one past every entry it
/// accepted).
async fn server_next_j(server: &TestServer, d: &Device) -> u32 {
    let ta = d.ta();
    server
        .engine()
        .account_view(d.account().await)
        .await
        .expect("account view")
        .expect("account")
        .wallets
        .iter()
        .find(|w| w.ta == ta)
        .expect("wallet")
        .next_j
}

/// The server's status of `id`: `(status, payee, credited ledger account, amount)`.
async fn status_of(
    server: &TestServer,
    id: PaymentId,
) -> Option<(DebitState, String, String, i64)> {
    server
        .engine()
        .payment_status(id)
        .await
        .expect("payment status")
        .map(|s| (s.status, s.payee.to_hex(), s.credited, s.amount.minor()))
}

fn is_interrupted(r: &Result<PaidOutcome, WalletError>) -> Option<(PaymentId, &SessionError)> {
    match r {
        Err(WalletError::Interrupted { payment, error }) => Some((*payment, error)),
        _ => None,
    }
}

/// The books after everyone synced: every payment `payer` signed (its store's sent records)
/// settled exactly once at the server, to the payee named in it; the payer's float is its
/// offline balance, which with those payments makes `deposits`; each payee's online balance is
/// the sum of what was settled to it; one payment transfer per payment; the audit is clean.
async fn assert_books(server: &TestServer, payer: &Device, deposits: i64, payees: &[&Device]) {
    let sent: Vec<_> = payer
        .wallet
        .store()
        .payments()
        .await
        .unwrap()
        .into_iter()
        .filter(|p| p.direction == Direction::Sent)
        .collect();
    let mut settled_total = 0;
    let mut per_payee = std::collections::BTreeMap::<String, i64>::new();
    for p in &sent {
        assert_eq!(
            p.status,
            PaymentStatus::Settled,
            "the payer's record of {}",
            p.id
        );
        let (status, to, credited, amount) = status_of(server, p.id)
            .await
            .unwrap_or_else(|| panic!("the server does not know {}", p.id));
        assert_eq!(status, DebitState::Settled, "{}", p.id);
        assert_eq!(
            to, p.counterparty,
            "{} settled to the payee named in it",
            p.id
        );
        assert_eq!(credited, format!("online:{to}"), "{}", p.id);
        assert_eq!(amount, p.amount.minor(), "{}", p.id);
        settled_total += amount;
        *per_payee.entry(to).or_default() += amount;
    }
    assert_eq!(
        payer.offline() + settled_total,
        deposits,
        "no lost debit: offline balance + settled payments = deposits"
    );
    assert_eq!(
        payer.float(server).await,
        payer.offline(),
        "float = offline balance"
    );
    // The server accepted exactly the deposit(s) and these payments from the payer's journal.
    let journal = payer.wallet.secure().status().point.next_j;
    assert_eq!(server_next_j(server, payer).await, journal);
    for d in payees {
        let account = d.account().await.to_hex();
        let expected = per_payee.get(&account).copied().unwrap_or(0);
        assert_eq!(d.online(server).await, expected, "payee {account}");
        for p in d.wallet.store().payments().await.unwrap() {
            assert_eq!(
                p.status,
                PaymentStatus::Settled,
                "the payee's record of {}",
                p.id
            );
        }
    }
    let transfers = payment_transfers(server.store()).await;
    assert_eq!(
        transfers.rows, transfers.distinct_references,
        "posted twice"
    );
    assert_eq!(
        transfers.rows,
        sent.len() as i64,
        "one transfer per payment"
    );
    server.assert_audit_clean().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replayed_first_frame_is_refused_and_the_payment_settles_once() {
    let (server, _agent, mut payer) = setup(100_00).await;
    let mut bia = payee(&server, "Bia").await;
    let request = bia.request(Some(25_00)).await;

    // The honest payment, over a link an eavesdropper records.
    let (a, mut b) = memory::pair();
    let (mut a, sent) = Recording::new(a);
    let (paid, received) = tokio::join!(
        payer.wallet.pay(&request.text, None, &mut a),
        bia.wallet.receive(&request.text, &mut b)
    );
    let id = paid.expect("paid").id;
    assert_eq!(received.expect("received").id, id);
    let frames = sent.lock().unwrap().clone();
    assert_eq!(
        frames.len(),
        1,
        "one message from the payer: one round trip"
    );
    let first = &frames[0];

    // Replayed to the same request: the payee opens it, and refuses it.
    let (mut x, mut y) = memory::pair();
    x.send(first).await.unwrap();
    let replay = bia.wallet.receive(&request.text, &mut y).await;
    assert!(
        matches!(
            replay,
            Err(WalletError::Session(SessionError::Refused(
                Refusal::AlreadyReceived
            )))
        ),
        "{replay:?}"
    );
    let held = bia.wallet.store().payments().await.unwrap();
    assert_eq!(held.len(), 1);
    assert_eq!(held[0].id, id);
    assert_eq!(bia.wallet.balances().await.unwrap().held, 25_00);

    // Replayed to a new request of the same payee: another prologue, the frame does not open.
    let fresh = bia.request(Some(25_00)).await;
    let (mut x, mut y) = memory::pair();
    x.send(first).await.unwrap();
    let replay = bia.wallet.receive(&fresh.text, &mut y).await;
    assert!(
        matches!(
            replay,
            Err(WalletError::Session(SessionError::Noise(
                NoiseError::Decrypt
            )))
        ),
        "{replay:?}"
    );
    assert_eq!(bia.wallet.store().payments().await.unwrap().len(), 1);
    assert!(
        !bia.wallet
            .store()
            .request_paid(&fresh.request.nonce.to_hex())
            .await
            .unwrap()
    );

    // Everyone syncs (the payee twice around the payer): settled once.
    let report = bia.sync().await;
    assert_eq!((report.claimed, report.settled), (1, 1), "{report:?}");
    assert_eq!(report.online_balance, Some(25_00));
    let report = payer.sync().await;
    assert_eq!(report.settled, 1, "{report:?}");
    let report = bia.sync().await;
    assert_eq!(report.online_balance, Some(25_00), "{report:?}");
    assert_eq!(payer.offline(), 75_00);
    assert_books(&server, &payer, 100_00, &[&bia]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_payment_that_reaches_the_wrong_device_settles_to_the_payee_named_in_it() {
    let (server, _agent, mut payer) = setup(100_00).await;
    let mut bia = payee(&server, "Bia").await;
    let mut dan = payee(&server, "Dan").await;
    let for_bia = bia.request(Some(30_00)).await;
    let for_dan = dan.request(Some(30_00)).await;

    // The payer read Bia's request, but its link reaches Dan, who waits for his own.
    let (mut a, b) = memory::pair();
    let at_dan = async {
        let mut link = b;
        dan.wallet.receive(&for_dan.text, &mut link).await
        // Dan's end closes here: the payer hears the link drop.
    };
    let (paid, received) = tokio::join!(payer.wallet.pay(&for_bia.text, None, &mut a), at_dan);
    assert!(
        matches!(
            received,
            Err(WalletError::Session(SessionError::Noise(
                NoiseError::Decrypt
            )))
        ),
        "{received:?}"
    );
    let (id, error) = is_interrupted(&paid).unwrap_or_else(|| panic!("{paid:?}"));
    assert!(
        matches!(error, SessionError::Link(LinkError::Closed)),
        "{error:?}"
    );
    assert!(dan.wallet.store().payments().await.unwrap().is_empty());
    assert_eq!(
        dan.wallet.open_request().await.unwrap().as_deref(),
        Some(for_dan.text.as_str()),
        "Dan's request is still open"
    );
    assert_eq!(
        payer.offline(),
        70_00,
        "signed: the payer's balance is down"
    );

    // The payer syncs: the payment settles to Bia, named in it, though she never saw it.
    let report = payer.sync().await;
    assert_eq!(report.settled, 1, "{report:?}");
    let bia_account = bia.account().await.to_hex();
    let (status, to, credited, amount) = status_of(&server, id).await.expect("known");
    assert_eq!(
        (status, to.as_str(), amount),
        (DebitState::Settled, bia_account.as_str(), 30_00)
    );
    assert_eq!(credited, format!("online:{bia_account}"));
    assert_eq!(dan.sync().await.online_balance, Some(0));
    assert_eq!(bia.sync().await.online_balance, Some(30_00));

    // Later the payer meets Bia and tries again: the same payment is delivered (it is already
    // settled; Bia's claim of it is a duplicate), never a second one.
    let (paid, received) = face_to_face(&mut payer, &mut bia, &for_bia.text).await;
    assert_eq!(paid.expect("paid").id, id);
    assert_eq!(received.expect("received").id, id);
    let report = bia.sync().await;
    assert_eq!(report.online_balance, Some(30_00), "{report:?}");
    let record = bia
        .wallet
        .store()
        .payment(&id)
        .await
        .unwrap()
        .expect("held");
    assert_eq!(record.status, PaymentStatus::Settled);
    payer.sync().await;
    assert_eq!(payer.offline(), 70_00);
    assert_books(&server, &payer, 100_00, &[&bia, &dan]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn payments_and_deposits_over_the_limits_are_refused_before_anything_moves() {
    let (server, agent, mut payer) = setup(200_00).await;
    let mut bia = payee(&server, "Bia").await;
    let limits = server.params().await.software_limits;
    assert_eq!(
        (
            limits.max_payment,
            limits.max_balance,
            limits.max_payments_between_syncs
        ),
        (100_00, 500_00, 50)
    );
    let certified = payer
        .wallet
        .secure()
        .status()
        .certificate
        .expect("certified")
        .unverified()
        .limits;
    assert_eq!(
        (certified.max_payment, certified.max_balance),
        (limits.max_payment, limits.max_balance)
    );

    // One cent over the per-payment limit, on an open request and on a request naming it.
    let open = bia.request(None).await;
    let named = bia.request(Some(limits.max_payment + 1)).await;
    for (text, amount) in [
        (&open.text, Some(brl(limits.max_payment + 1))),
        (&named.text, None),
    ] {
        let before = payer.wallet.secure().status();
        let (mut a, mut b) = memory::pair();
        let r = payer.wallet.pay(text, amount, &mut a).await;
        assert!(
            matches!(r, Err(WalletError::Secure(SecureWalletError::Refused(_)))),
            "{r:?}"
        );
        drop(a);
        assert_eq!(b.recv().await, Err(LinkError::Closed), "nothing was sent");
        assert_eq!(payer.wallet.secure().status(), before, "nothing signed");
        assert!(payer.wallet.store().payments().await.unwrap().is_empty());
    }
    // At the limit exactly: paid.
    pay_ok(&mut payer, &mut bia, limits.max_payment).await;
    assert_eq!(payer.offline(), 100_00);

    // A deposit that would take the wallet over its balance limit is refused, and costs the
    // holder nothing: the online balance stays where it was.
    let account = payer.account().await;
    let cashed = server
        .client
        .cash_in(&agent.token, account, brl(450_00), "over-the-cap")
        .await
        .unwrap();
    assert_eq!(cashed, Outcome::Settled);
    let float_before = payer.float(&server).await;
    for amount in [limits.max_balance - 100_00 + 1, limits.max_balance + 1] {
        let before = payer.wallet.secure().status();
        let r = payer.wallet.deposit(brl(amount)).await;
        assert!(r.is_err(), "a deposit of {amount}: {r:?}");
        assert_eq!(payer.wallet.secure().status(), before, "nothing applied");
        assert_eq!(payer.online(&server).await, 450_00, "deposit of {amount}");
        assert_eq!(payer.float(&server).await, float_before);
    }
    // Up to the limit: fine.
    payer
        .wallet
        .deposit(brl(limits.max_balance - 100_00))
        .await
        .expect("deposit up to the limit");
    assert_eq!(payer.offline(), limits.max_balance);
    payer.wallet.withdraw(brl(400_00)).await.expect("withdraw");
    assert_eq!(payer.offline(), 100_00);

    // Payments between syncs: the certificate allows 50; the 51st waits for a sync.
    let report = payer.sync().await;
    assert!(report.renewed, "{report:?}");
    assert_eq!(payer.wallet.secure().status().payments_since_sync, 0);
    let max = limits.max_payments_between_syncs;
    for _ in 0..max {
        pay_ok(&mut payer, &mut bia, 1_00).await;
    }
    let request = bia.request(Some(1_00)).await;
    let before = payer.wallet.secure().status();
    let (mut a, mut b) = memory::pair();
    let r = payer.wallet.pay(&request.text, None, &mut a).await;
    assert!(
        matches!(
            r,
            Err(WalletError::Secure(SecureWalletError::TooManyPayments { max: m })) if m == max
        ),
        "{r:?}"
    );
    drop(a);
    assert_eq!(b.recv().await, Err(LinkError::Closed), "nothing was sent");
    assert_eq!(payer.wallet.secure().status(), before, "nothing signed");
    let report = payer.sync().await;
    assert!(report.renewed, "{report:?}");
    assert_eq!(report.settled, max as usize, "{report:?}");
    let (paid, received) = face_to_face(&mut payer, &mut bia, &request.text).await;
    assert_eq!(paid.expect("paid after the sync").id, received.unwrap().id);

    bia.sync().await;
    payer.sync().await;
    assert_eq!(payer.offline(), 100_00 - (i64::from(max) + 1) * 1_00);
    assert_eq!(payer.online(&server).await, 450_00);
    // Deposits 200 + 400, withdrawn 400: 200 in the wallet's books.
    assert_books(&server, &payer, 200_00, &[&bia]).await;
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ForkOrder {
    /// Both copies upload their journals before the second receiver claims.
    JournalsFirst,
    /// The second receiver claims before anyone uploads a journal.
    ClaimFirst,
}

async fn forked_wallet(order: ForkOrder) {
    let (server, _agent, mut payer) = setup(100_00).await;
    let funded = server
        .client
        .fund(
            &server.admin_token,
            "insurance",
            brl(1_000_00),
            "insurance-1",
        )
        .await
        .unwrap();
    assert_eq!(funded, Outcome::Settled);
    let mut bia = payee(&server, "Bia").await;
    let mut caio = payee(&server, "Caio").await;
    let mut dora = payee(&server, "Dora").await;
    // A cloned phone: the same secure wallet (state and counter) in a second directory.
    let mut copy = payer.clone_device().await;
    copy.wallet.session_timeout = TIMEOUT;
    let ta = payer.ta();
    assert_eq!(copy.ta(), ta);
    assert_eq!(copy.offline(), 100_00);

    // Offline, each copy spends the same 100.00 at a different payee: position 2 twice.
    let to_bia = pay_ok(&mut payer, &mut bia, 60_00).await;
    let to_caio = pay_ok(&mut copy, &mut caio, 70_00).await;
    assert_eq!(to_bia, to_caio, "both copies signed the same position");

    let fork_seen = |r: Result<_, WalletError>| match r {
        Err(WalletError::Untrusted(m)) if m.contains("fork") => {}
        other => panic!("expected the fork to stop the sync: {other:?}"),
    };
    match order {
        ForkOrder::JournalsFirst => {
            assert_eq!(payer.sync().await.settled, 1);
            fork_seen(copy.wallet.sync(|_| {}).await);
            bia.sync().await;
            caio.sync().await;
        }
        ForkOrder::ClaimFirst => {
            caio.sync().await;
            fork_seen(payer.wallet.sync(|_| {}).await);
            // The copy's branch is the one the server holds (Caio's claim recorded it): its
            // journal goes through, with no renewed certificate.
            let report = copy.sync().await;
            assert!(!report.renewed, "{report:?}");
            bia.sync().await;
        }
    }
    // Which copy still holds a revocation list without itself (it fetched the list before
    // its upload opened the case), and which knows.
    let (mut stale, knows) = match order {
        ForkOrder::JournalsFirst => (copy, payer),
        ForkOrder::ClaimFirst => (payer, copy),
    };

    // The server holds the proof, opened a case and revoked the wallet.
    let cases = server.engine().fraud_cases().await.unwrap();
    assert_eq!(cases.len(), 1, "{cases:?}");
    assert_eq!((cases[0].ta, cases[0].kind.as_str()), (ta, "fork"));
    assert!(cases[0].evidence.is_some());
    let list = server.client.revocations().await.unwrap();
    assert!(list.unverified().revoked.contains(&ta));

    // Both honest receivers are paid in full: one from the float, the other from the case
    // (bond, then insurance), never both from the same 100.00.
    assert_eq!(bia.online(&server).await, 60_00);
    assert_eq!(caio.online(&server).await, 70_00);
    for (d, id) in [(&bia, to_bia), (&caio, to_caio)] {
        let rec = d.wallet.store().payment(&id).await.unwrap().expect("held");
        assert_eq!(rec.status, PaymentStatus::Settled, "{rec:?}");
    }
    let (from_case, from_float) = match order {
        ForkOrder::JournalsFirst => (70_00, 60_00),
        ForkOrder::ClaimFirst => (60_00, 70_00),
    };
    assert_eq!(cases[0].covered.minor(), from_case);
    assert_eq!(knows.float(&server).await, 100_00 - from_float);
    let insurance = server
        .store()
        .balance(&LedgerAccount::Insurance, Currency::BRL)
        .await
        .unwrap();
    assert_eq!(insurance, 1_000_00 - from_case, "no bond: insurance paid");
    assert_eq!(payment_transfers(server.store()).await.rows, 1);
    assert_eq!(
        transfers_of_kind(server.store(), "fraud_payout").await.rows,
        1
    );

    // Dora refreshed her revocation list (a sync): the wallet's next payment is refused.
    dora.sync().await;
    let request = dora.request(Some(10_00)).await;
    let (paid, received) = face_to_face(&mut stale, &mut dora, &request.text).await;
    assert!(
        matches!(
            received,
            Err(WalletError::Session(SessionError::Refused(
                Refusal::Revoked
            )))
        ),
        "{received:?}"
    );
    let (_, error) = is_interrupted(&paid).unwrap_or_else(|| panic!("{paid:?}"));
    assert!(
        matches!(error, SessionError::Refused(Refusal::Revoked)),
        "{error:?}"
    );
    assert!(dora.wallet.store().payments().await.unwrap().is_empty());
    // A copy that learns it is revoked stops paying by itself: nothing signed.
    let mut knows = knows;
    if order == ForkOrder::JournalsFirst {
        knows.sync().await;
    }
    let request = dora.request(Some(10_00)).await;
    let before = knows.wallet.secure().status();
    let (mut a, _b) = memory::pair();
    let r = knows.wallet.pay(&request.text, None, &mut a).await;
    assert!(matches!(r, Err(WalletError::NotReady(_))), "{r:?}");
    assert_eq!(knows.wallet.secure().status(), before);
    // Nor can it take in more money.
    let r = knows.wallet.deposit(brl(1_00)).await;
    assert!(r.is_err(), "{r:?}");
    assert_eq!(dora.sync().await.online_balance, Some(0));
    assert_eq!(
        bia.online(&server).await + caio.online(&server).await,
        130_00
    );
    server.assert_audit_clean().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forked_wallet_is_revoked_and_both_receivers_are_paid_journals_first() {
    forked_wallet(ForkOrder::JournalsFirst).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forked_wallet_is_revoked_and_both_receivers_are_paid_claim_first() {
    forked_wallet(ForkOrder::ClaimFirst).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_secure_wallet_state_rolled_back_to_an_older_copy_is_refused() {
    let (server, _agent, mut payer) = setup(100_00).await;
    let mut bia = payee(&server, "Bia").await;
    let state = payer.dir.path().join("secure-wallet.state");
    let counter = payer.dir.path().join("secure-wallet.counter");
    let old = std::fs::read(&state).unwrap();

    pay_ok(&mut payer, &mut bia, 40_00).await;
    assert_eq!(payer.offline(), 60_00);
    let current = std::fs::read(&state).unwrap();
    let counter_now = std::fs::read(&counter).unwrap();

    // The holder puts the copy taken when the wallet held 100.00 back.
    std::fs::write(&state, &old).unwrap();
    let opened = Wallet::open(payer.dir.path(), Arc::new(ferry_proto::SystemClock), None).await;
    match opened {
        Err(WalletError::Secure(SecureWalletError::RolledBack { state, counter })) => {
            assert!(state < counter, "{state} < {counter}");
        }
        other => panic!("expected RolledBack: {other:?}"),
    }
    // Nothing was signed or committed by the refused open.
    assert_eq!(std::fs::read(&state).unwrap(), old);
    assert_eq!(std::fs::read(&counter).unwrap(), counter_now);

    // With the real state back, the wallet opens; the books show one payment.
    std::fs::write(&state, &current).unwrap();
    payer.reopen().await;
    assert_eq!(payer.offline(), 60_00);
    bia.sync().await;
    payer.sync().await;
    bia.sync().await;
    assert_eq!(server_next_j(&server, &payer).await, 3);
    assert_books(&server, &payer, 100_00, &[&bia]).await;
}

/// The secure wallet's commit points, in order.
const CRASH_POINTS: [CrashPoint; 4] = [
    CrashPoint::BeforeWrite,
    CrashPoint::AfterTempWrite,
    CrashPoint::AfterRename,
    CrashPoint::AfterCounter,
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crashes_and_dropped_links_at_every_step_of_a_payment_lose_nothing_and_pay_once() {
    let (server, _agent, mut payer) = setup(100_00).await;
    let mut bia = payee(&server, "Bia").await;
    let ta = payer.ta();
    let mut amount = 1_00;
    let mut next_amount = || {
        amount += 1_00;
        amount
    };

    // (a) A power cut at each point of the secure wallet's commit during `pay`, then the app
    // restarts and the holder tries again.
    for point in CRASH_POINTS {
        let minor = next_amount();
        let request = bia.request(Some(minor)).await;
        let before = payer.wallet.secure().status();
        let expected = PaymentId {
            ta,
            j: before.point.next_j,
        };
        payer.wallet.secure_mut().inject_crash(Some(point));
        let (mut a, mut b) = memory::pair();
        let r = payer.wallet.pay(&request.text, None, &mut a).await;
        assert!(
            matches!(r, Err(WalletError::Secure(SecureWalletError::Crashed(p))) if p == point),
            "{point:?}: {r:?}"
        );
        drop(a);
        assert_eq!(b.recv().await, Err(LinkError::Closed), "{point:?}: sent");
        payer.reopen().await;
        payer.wallet.session_timeout = TIMEOUT;
        let after = payer.wallet.secure().status();
        let record = payer.wallet.store().payment(&expected).await.unwrap();
        match point {
            CrashPoint::BeforeWrite | CrashPoint::AfterTempWrite => {
                assert_eq!(after.point, before.point, "{point:?}: no payment");
                assert!(record.is_none(), "{point:?}: {record:?}");
            }
            CrashPoint::AfterRename | CrashPoint::AfterCounter => {
                assert_eq!(after.point.next_j, before.point.next_j + 1, "{point:?}");
                assert_eq!(after.point.balance, before.point.balance - minor);
                let record = record.unwrap_or_else(|| panic!("{point:?}: reconciled"));
                assert_eq!(
                    (record.direction, record.disposition, record.status.as_str()),
                    (Direction::Sent, Disposition::Sent, "pending"),
                    "{point:?}"
                );
                assert_eq!(record.amount.minor(), minor);
            }
        }
        // The retry pays this request once: the payment signed before the crash, if any.
        let (paid, received) = face_to_face(&mut payer, &mut bia, &request.text).await;
        assert_eq!(paid.expect("retry paid").id, expected, "{point:?}");
        assert_eq!(received.expect("received").id, expected);
        assert_eq!(
            payer.wallet.secure().status().point.next_j,
            before.point.next_j + 1,
            "{point:?}: one payment for one request"
        );
    }

    // The offer is 2 ATT packets or more at MTU 247; measure it on an honest payment.
    let request = bia.request(Some(next_amount())).await;
    let (a, mut b) = ble::pair(BleParams::default()).unwrap();
    let (mut a, sent) = Recording::new(a);
    let (paid, received) = tokio::join!(
        payer.wallet.pay(&request.text, None, &mut a),
        bia.wallet.receive(&request.text, &mut b)
    );
    assert_eq!(paid.unwrap().id, received.unwrap().id);
    let offer_len = sent.lock().unwrap()[0].len();
    let offer_packets = AttMtu::new(247).unwrap().fragment_count(offer_len) as u64;
    assert!(offer_packets >= 2, "{offer_len} bytes");

    // (b1) The radio link drops in the middle of the offer: the payee records nothing; the
    // payer's payment is signed. The retry delivers that same payment.
    let request = bia.request(Some(next_amount())).await;
    let (mut a, mut b) = ble::pair(BleParams {
        drop_after_packets: Some(1),
        ..BleParams::default()
    })
    .unwrap();
    let (paid, received) = tokio::join!(
        payer.wallet.pay(&request.text, None, &mut a),
        bia.wallet.receive(&request.text, &mut b)
    );
    let (cut, error) = is_interrupted(&paid).unwrap_or_else(|| panic!("{paid:?}"));
    assert!(
        matches!(error, SessionError::Link(LinkError::Closed)),
        "{error:?}"
    );
    assert!(
        matches!(
            received,
            Err(WalletError::Session(SessionError::Link(LinkError::Closed)))
        ),
        "{received:?}"
    );
    assert!(!bia.wallet.store().has_payment(&cut).await.unwrap());
    let j = payer.wallet.secure().status().point.next_j;
    let (paid, received) = face_to_face(&mut payer, &mut bia, &request.text).await;
    assert_eq!(paid.expect("retry paid").id, cut);
    assert_eq!(received.expect("received").id, cut);
    assert_eq!(
        payer.wallet.secure().status().point.next_j,
        j,
        "no new entry"
    );

    // (b2) The offer is delivered to the link, but the payee's phone goes away before reading
    // it: the payee never sees it, the payer cannot know. Nobody retries: the payer's sync
    // settles it to the payee.
    let request = bia.request(Some(next_amount())).await;
    let (mut a, b) = memory::pair();
    let pay = payer.wallet.pay(&request.text, None, &mut a);
    let gone = async {
        tokio::time::sleep(Duration::from_millis(50)).await;
        drop(b);
    };
    let (paid, ()) = tokio::join!(pay, gone);
    let (unseen, error) = is_interrupted(&paid).unwrap_or_else(|| panic!("{paid:?}"));
    assert!(
        matches!(error, SessionError::Link(LinkError::Closed)),
        "{error:?}"
    );
    assert!(!bia.wallet.store().has_payment(&unseen).await.unwrap());

    // (c) The payee records the payment, then the link drops before its receipt gets through.
    let minor = next_amount();
    let request = bia.request(Some(minor)).await;
    let (mut a, mut b) = ble::pair(BleParams {
        drop_after_packets: Some(offer_packets),
        ..BleParams::default()
    })
    .unwrap();
    let (paid, received) = tokio::join!(
        payer.wallet.pay(&request.text, None, &mut a),
        bia.wallet.receive(&request.text, &mut b)
    );
    let received = received.expect("the payee recorded it");
    let (lost, error) = is_interrupted(&paid).unwrap_or_else(|| panic!("{paid:?}"));
    assert_eq!(lost, received.id);
    assert!(
        matches!(error, SessionError::Link(LinkError::Closed)),
        "{error:?}"
    );
    let record = payer.wallet.store().payment(&lost).await.unwrap().unwrap();
    assert!(record.receipt.is_none());
    // The retry: the payee already has it and says so; still one payment.
    let j = payer.wallet.secure().status().point.next_j;
    let (paid, received) = face_to_face(&mut payer, &mut bia, &request.text).await;
    assert!(
        matches!(
            received,
            Err(WalletError::Session(SessionError::Refused(
                Refusal::AlreadyReceived
            )))
        ),
        "{received:?}"
    );
    let (again, error) = is_interrupted(&paid).unwrap_or_else(|| panic!("{paid:?}"));
    assert_eq!(again, lost);
    assert!(
        matches!(error, SessionError::Refused(Refusal::AlreadyReceived)),
        "{error:?}"
    );
    assert_eq!(
        payer.wallet.secure().status().point.next_j,
        j,
        "no new entry"
    );

    // Everyone syncs, the payee first and last.
    bia.sync().await;
    payer.sync().await;
    bia.sync().await;
    let sent = payer.wallet.store().payments().await.unwrap();
    // 4 crash rounds + the measured payment + b1 + b2 + c.
    assert_eq!(sent.len(), 8);
    // The payee saw all but (b2) face to face, and learned of (b2) at its sync (the server
    // lists the payments made to an account).
    assert_eq!(
        bia.wallet.store().payments().await.unwrap().len(),
        8,
        "the payee knows every payment made to it"
    );
    assert_books(&server, &payer, 100_00, &[&bia]).await;
}
