//! The settlement engine on SQLite and PostgreSQL: claims, sync, deposits and withdrawals,
//! collects and re-spends, forks and payouts, orders, agents, envelopes.

mod common;

use common::kit::{Kit, brl};
use common::stores;
use ferry_ledger::engine::{DebitState, SealedKind};
use ferry_ledger::engine::{DepositError, PaymentSubmission};
use ferry_ledger::{LedgerAccount, Outcome, Reason};
use ferry_proto::cert::FeeSchedule;
use ferry_proto::envelope::Envelope;
use ferry_proto::order::{DeferredOrder, OrderNonce, SignedOrder};
use ferry_proto::sealed::{REMOTE_PAYMENT_ENVELOPE_BUDGET, SealedContent, seal};
use ferry_proto::{Currency, Message, Payment, TaId};
use ferry_testkit::T0;

#[tokio::test]
async fn a_claimed_payment_settles_once_and_both_sides_see_it() {
    for (name, store, _dir) in stores().await {
        let kit = Kit::new(store);
        let mut payer = kit.holder().await;
        let (_, payee, _) = kit.account().await;
        kit.fund(&mut payer, 100_00).await;
        let p = payer.pay(payee, 30_00);
        let sub = payer.submission(&p);
        let out = kit
            .engine
            .claim(vec![sub.clone(), sub.clone()], T0)
            .await
            .unwrap();
        assert_eq!(out, vec![Outcome::Settled, Outcome::Duplicate], "{name}");
        let again = kit.engine.claim(vec![sub], T0).await.unwrap();
        assert_eq!(again, vec![Outcome::Duplicate], "{name}");
        assert_eq!(kit.online(payee).await, 30_00, "{name}");
        assert_eq!(kit.float(&payer).await, 70_00, "{name}");
        let status = kit
            .engine
            .payment_status(p.id(payer.ta()))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            (status.status.as_str(), status.amount),
            ("settled", brl(30_00))
        );
        // The payer's sync later carries the same entry: no second settlement.
        let report = kit
            .engine
            .sync_and_renew(payer.upload(vec![]), T0)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(report.stopped, None, "{name}");
        assert_eq!(report.balance, brl(70_00), "{name}");
        assert!(report.certificate.is_some(), "{name}: renewed certificate");
        assert_eq!(kit.online(payee).await, 30_00, "{name}");
        kit.assert_clean(name).await;
    }
}

#[tokio::test]
async fn invalid_payments_change_nothing() {
    for (name, store, _dir) in stores().await {
        let kit = Kit::new(store);
        let mut payer = kit.holder().await;
        let other = kit.holder().await;
        let (_, payee, _) = kit.account().await;
        kit.fund(&mut payer, 100_00).await;
        let p = payer.pay(payee, 10_00);
        // The right payment under another wallet's certificate.
        let wrong_cert = PaymentSubmission {
            ta_cert: other.ta_cert.clone(),
            ..payer.submission(&p)
        };
        // A certificate from a stranger issuer.
        let stranger = Kit::new(kit.engine.store().clone());
        let mut foreign = stranger.holder().await;
        stranger.fund(&mut foreign, 50_00).await;
        let fp = foreign.pay(payee, 5_00);
        let out = kit
            .engine
            .claim(vec![wrong_cert, foreign.submission(&fp)], T0)
            .await
            .unwrap();
        assert_eq!(
            out,
            vec![
                Outcome::Invalid(Reason::BadSignature),
                Outcome::Invalid(Reason::BadCertificate)
            ],
            "{name}"
        );
        assert_eq!(kit.online(payee).await, 0, "{name}");
        // The genuine payment still settles afterwards: nothing was burned.
        let out = kit
            .engine
            .claim(vec![payer.submission(&p)], T0)
            .await
            .unwrap();
        assert_eq!(out, vec![Outcome::Settled], "{name}");
    }
}

#[tokio::test]
async fn deposit_serials_are_strict_and_retries_return_the_same_authorization() {
    for (name, store, _dir) in stores().await {
        let kit = Kit::new(store);
        let mut h = kit.holder().await;
        kit.cash_in(h.account, 300_00).await;
        let ta = h.ta();
        let first = kit
            .engine
            .deposit(h.account, ta, 1, brl(100_00), T0)
            .await
            .unwrap();
        let retry = kit
            .engine
            .deposit(h.account, ta, 1, brl(100_00), T0)
            .await
            .unwrap();
        assert_eq!(first.to_bytes(), retry.to_bytes(), "{name}");
        assert_eq!(kit.online(h.account).await, 200_00, "{name}: debited once");
        assert!(matches!(
            kit.engine.deposit(h.account, ta, 1, brl(50_00), T0).await,
            Err(DepositError::SerialUsed(1))
        ));
        assert!(matches!(
            kit.engine.deposit(h.account, ta, 3, brl(50_00), T0).await,
            Err(DepositError::SerialOutOfOrder {
                expected: 2,
                got: 3
            })
        ));
        assert!(matches!(
            kit.engine.deposit(h.account, ta, 2, brl(900_00), T0).await,
            Err(DepositError::InsufficientFunds)
        ));
        let (_, stranger, _) = kit.account().await;
        assert!(matches!(
            kit.engine.deposit(stranger, ta, 2, brl(1_00), T0).await,
            Err(DepositError::NotYourWallet)
        ));
        // The wallet applies serial 1, then withdraws with serial 2 while the server has
        // issued deposit 2: that authorization can never be applied and is refunded.
        let e = h.journal.deposit(&first, &kit.issuer_public, T0).unwrap();
        h.unsynced.push(e);
        kit.engine
            .deposit(h.account, ta, 2, brl(50_00), T0)
            .await
            .unwrap();
        assert_eq!(kit.online(h.account).await, 150_00, "{name}");
        let w = h.journal.withdraw(brl(40_00), T0).unwrap();
        h.unsynced.push(w);
        let report = kit
            .engine
            .sync_journal(h.upload(vec![]), T0)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(report.stopped, None, "{name}");
        assert_eq!(report.entries.len(), 2);
        // 150 + 50 refunded + 40 withdrawn; the float keeps the 60 the wallet holds.
        assert_eq!(kit.online(h.account).await, 240_00, "{name}");
        assert_eq!(kit.float(&h).await, 60_00, "{name}");
        assert!(matches!(
            kit.engine.deposit(h.account, ta, 2, brl(50_00), T0).await,
            Err(DepositError::SerialUsed(2))
        ));
        kit.engine
            .deposit(h.account, ta, 3, brl(10_00), T0)
            .await
            .unwrap();
        kit.assert_clean(name).await;
    }
}

#[tokio::test]
async fn a_collected_payment_is_re_spent_offline_and_everything_settles() {
    for (name, store, _dir) in stores().await {
        let kit = Kit::new(store);
        let mut alice = kit.holder().await;
        let mut bob = kit.holder().await;
        let (_, carol, _) = kit.account().await;
        kit.fund(&mut alice, 100_00).await;
        // Alice pays Bob 60; Bob's wallet collects it and pays Carol 50, all offline.
        let p1 = alice.pay(bob.account, 60_00);
        let c = bob
            .journal
            .collect(p1.id(alice.ta()), p1.hash(), p1.amount(), T0)
            .unwrap();
        bob.unsynced.push(c);
        let p2 = bob.pay(carol, 50_00);
        // Carol claims first: Bob's float is empty until Bob syncs.
        let out = kit
            .engine
            .claim(vec![bob.submission(&p2)], T0)
            .await
            .unwrap();
        assert_eq!(
            out,
            vec![Outcome::Pending(Reason::PayerNotSynced)],
            "{name}"
        );
        assert_eq!(kit.online(carol).await, 0);
        // Bob syncs with the collected payment: it settles into his float, which funds Carol.
        let sub = alice.submission(&p1);
        let report = kit
            .engine
            .sync_journal(bob.upload(vec![sub]), T0)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(report.stopped, None, "{name}");
        assert_eq!(kit.online(carol).await, 50_00, "{name}");
        assert_eq!(kit.float(&bob).await, 10_00, "{name}");
        assert_eq!(kit.float(&alice).await, 40_00, "{name}");
        let st = kit
            .engine
            .payment_status(p2.id(bob.ta()))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(st.status, DebitState::Settled);
        // Alice's sync afterwards changes nothing.
        let r = kit
            .engine
            .sync_journal(alice.upload(vec![]), T0)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(r.stopped, None);
        assert_eq!(kit.float(&alice).await, 40_00, "{name}");
        kit.assert_clean(name).await;
    }
}

#[tokio::test]
async fn a_fork_revokes_the_wallet_and_receivers_are_paid_from_bond_then_insurance() {
    for (name, store, _dir) in stores().await {
        let kit = Kit::new(store);
        let mut mallory = kit.holder().await;
        let (_, shop1, _) = kit.account().await;
        let (_, shop2, _) = kit.account().await;
        kit.fund(&mut mallory, 100_00).await;
        kit.cash_in(mallory.account, 30_00).await;
        kit.engine
            .post_bond(mallory.account, brl(30_00), "bond-1", T0)
            .await
            .unwrap();
        kit.engine
            .fund(LedgerAccount::Insurance, brl(1_000_00), "ins-1", T0)
            .await
            .unwrap();
        // A cloned secure element spends the same 100 twice at the same position.
        let mut clone = mallory.clone_secure_element();
        let p1 = mallory.pay(shop1, 100_00);
        let p2 = clone
            .pay(shop2, ferry_proto::RequestNonce::random(), brl(100_00), T0)
            .unwrap();
        let s2 = mallory.submission(&p2);
        let out = kit
            .engine
            .claim(vec![mallory.submission(&p1), s2.clone()], T0)
            .await
            .unwrap();
        // Both shops accepted valid-looking payments: the first settles from the float, the
        // other branch of the fork is paid from Mallory's bond (30) and then insurance (70).
        assert_eq!(out, vec![Outcome::Settled, Outcome::Settled], "{name}");
        let again = kit.engine.claim(vec![s2], T0).await.unwrap();
        assert_eq!(again, vec![Outcome::Duplicate], "{name}: paid out once");
        let cases = kit.engine.fraud_cases().await.unwrap();
        assert_eq!(cases.len(), 1, "{name}");
        assert_eq!(
            (cases[0].ta, cases[0].kind.as_str()),
            (mallory.ta(), "fork")
        );
        let proof = ferry_proto::fraud::FraudProof::from_bytes(cases[0].evidence.as_ref().unwrap())
            .unwrap();
        assert!(
            proof.verify(kit.engine.issuers()).is_ok(),
            "{name}: evidence verifies"
        );
        let revoked = kit.engine.revocation_list(T0).await.unwrap();
        assert!(revoked.unverified().is_revoked(&mallory.ta()), "{name}");
        // An overspend past the fork: still a valid-looking payment, paid from insurance.
        let (_, shop3, _) = kit.account().await;
        let p3 = mallory.forge_pay(shop3, 50_00);
        let out = kit
            .engine
            .claim(vec![mallory.submission(&p3)], T0)
            .await
            .unwrap();
        assert_eq!(out, vec![Outcome::Settled], "{name}");
        for (shop, paid) in [(shop1, 100_00), (shop2, 100_00), (shop3, 50_00)] {
            assert_eq!(kit.online(shop).await, paid, "{name}");
        }
        let c = &kit.engine.fraud_cases().await.unwrap()[0];
        assert_eq!(c.covered, brl(150_00), "{name}");
        let bond = kit
            .engine
            .store()
            .balance(&LedgerAccount::Bond(mallory.account), Currency::BRL)
            .await
            .unwrap();
        let insurance = kit
            .engine
            .store()
            .balance(&LedgerAccount::Insurance, Currency::BRL)
            .await
            .unwrap();
        assert_eq!((bond, insurance), (0, 1_000_00 - 120_00), "{name}");
        // The revoked wallet can neither deposit nor withdraw.
        assert!(matches!(
            kit.engine
                .deposit(mallory.account, mallory.ta(), 2, brl(1_00), T0)
                .await,
            Err(DepositError::Revoked)
        ));
        kit.assert_clean(name).await;
    }
}

/// Seals `content` to the engine's sealing key, valid for a day.
fn sealed(kit: &Kit, content: &SealedContent) -> Envelope {
    let params = kit.engine.network_parameters(T0).unwrap();
    seal(params.unverified(), content, T0.plus_secs(86_400), 8).unwrap()
}

#[tokio::test]
async fn envelopes_settle_once_whatever_the_copies_and_tampering() {
    for (name, store, _dir) in stores().await {
        let kit = Kit::new(store);
        let mut payer = kit.holder().await;
        let (_, payee, _) = kit.account().await;
        kit.fund(&mut payer, 100_00).await;
        let p = payer.pay(payee, 25_00);
        let content = SealedContent::Payment {
            ta_cert: payer.ta_cert.clone(),
            payment: p.clone(),
            receipt: None,
        };
        let env = sealed(&kit, &content);
        let bytes = env.to_bytes();
        // A tampered ciphertext, and a forged copy with the same ciphertext (and so the same
        // id) but an altered expiry: neither opens, and neither may burn the real one's id.
        let mut tampered = bytes.clone();
        let last = tampered.len() - 1;
        tampered[last] ^= 1;
        let mut forged = bytes.clone();
        forged[1 + 8 + 7] ^= 1;
        let tampered = Envelope::from_bytes(&tampered).unwrap();
        let forged = Envelope::from_bytes(&forged).unwrap();
        assert_eq!(forged.id(), env.id());
        let resealed = sealed(&kit, &content);
        let out = kit
            .engine
            .ingest_envelopes(
                vec![tampered, forged, env.clone(), env.clone(), resealed],
                T0,
            )
            .await
            .unwrap();
        let got: Vec<_> = out.iter().map(|o| o.outcome).collect();
        assert_eq!(
            got,
            vec![
                Outcome::Invalid(Reason::Tampered),
                Outcome::Invalid(Reason::Tampered),
                Outcome::Settled,
                Outcome::Duplicate,
                Outcome::Duplicate,
            ],
            "{name}"
        );
        assert_eq!(kit.online(payee).await, 25_00, "{name}");
        // Known ids are answered before opening; an expired envelope is refused.
        let again = kit.engine.ingest_envelopes(vec![env], T0).await.unwrap();
        assert_eq!(again[0].outcome, Outcome::Duplicate, "{name}");
        let late = kit
            .engine
            .ingest_envelopes(vec![sealed(&kit, &content)], T0.plus_secs(86_400))
            .await
            .unwrap();
        assert_eq!(late[0].outcome, Outcome::Invalid(Reason::Expired), "{name}");
        assert_eq!(kit.online(payee).await, 25_00, "{name}");
        kit.assert_clean(name).await;
    }
}

/// A remote payment (the mesh's compact form: the payer's TA id instead of its certificate,
/// no receipt) settles like any payment, once, whatever else carries the same payment.
#[tokio::test]
async fn remote_payments_name_their_wallet_and_settle_once() {
    for (name, store, _dir) in stores().await {
        let kit = Kit::new(store);
        let mut payer = kit.holder().await;
        let other = kit.holder().await;
        let (_, payee, _) = kit.account().await;
        kit.fund(&mut payer, 100_00).await;
        let p = payer.pay(payee, 20_00);
        let remote = |ta: TaId, p: &Payment| SealedContent::RemotePayment {
            ta,
            payment: p.clone(),
        };
        let env = sealed(&kit, &remote(payer.ta(), &p));
        assert!(env.to_bytes().len() <= REMOTE_PAYMENT_ENVELOPE_BUDGET);
        let resealed = sealed(&kit, &remote(payer.ta(), &p));
        let full = sealed(
            &kit,
            &SealedContent::Payment {
                ta_cert: payer.ta_cert.clone(),
                payment: p.clone(),
                receipt: None,
            },
        );
        // Naming another registered wallet: its key did not sign the payment.
        let wrong_ta = sealed(&kit, &remote(other.ta(), &p));
        // Naming a wallet the server never registered.
        let unknown = sealed(&kit, &remote(TaId([7; 16]), &p));
        let mut tampered = env.to_bytes();
        let last = tampered.len() - 1;
        tampered[last] ^= 1;
        let tampered = Envelope::from_bytes(&tampered).unwrap();
        let out = kit
            .engine
            .ingest_envelopes(
                vec![
                    wrong_ta,
                    unknown,
                    tampered,
                    env.clone(),
                    env.clone(),
                    resealed,
                    full,
                ],
                T0,
            )
            .await
            .unwrap();
        let got: Vec<_> = out.iter().map(|o| o.outcome).collect();
        assert_eq!(
            got,
            vec![
                Outcome::Invalid(Reason::BadSignature),
                Outcome::Invalid(Reason::BadCertificate),
                Outcome::Invalid(Reason::Tampered),
                Outcome::Settled,
                Outcome::Duplicate,
                Outcome::Duplicate,
                Outcome::Duplicate,
            ],
            "{name}"
        );
        assert_eq!(out[3].kind, Some(SealedKind::Payment), "{name}");
        assert_eq!(kit.online(payee).await, 20_00, "{name}");
        // A claim of the same payment, and the payer's journal upload, settle nothing more.
        let again = kit
            .engine
            .claim(vec![payer.submission(&p)], T0)
            .await
            .unwrap();
        assert_eq!(again, vec![Outcome::Duplicate], "{name}");

        // A payment signed under the first certificate reaches the server after the wallet
        // synced (without it) and got a renewed certificate: it is checked against the
        // certificate valid when it was signed, and settles.
        let q = payer.pay(payee, 5_00);
        let held_back = payer.unsynced.pop().unwrap();
        assert_eq!(&held_back, q.entry());
        let later = T0.plus_secs(3 * 3600);
        let report = kit
            .engine
            .sync_and_renew(payer.upload(vec![]), later)
            .await
            .unwrap()
            .unwrap();
        let renewed = report.certificate.expect("renewed");
        assert!(renewed.unverified().issued_at > q.body().time, "{name}");
        let out = kit
            .engine
            .ingest_envelopes(vec![sealed(&kit, &remote(payer.ta(), &q))], later)
            .await
            .unwrap();
        assert_eq!(out[0].outcome, Outcome::Settled, "{name}");
        assert_eq!(kit.online(payee).await, 25_00, "{name}");
        assert_eq!(kit.float(&payer).await, 75_00, "{name}");
        kit.assert_clean(name).await;
    }
}

#[tokio::test]
async fn a_duplicate_storm_from_concurrent_bridges_settles_exactly_once() {
    for (name, store, _dir) in stores().await {
        let kit = Kit::new(store);
        let mut payer = kit.holder().await;
        let (_, payee, _) = kit.account().await;
        kit.fund(&mut payer, 500_00).await;
        let envs: Vec<Envelope> = (0..20)
            .map(|_| {
                let p = payer.pay(payee, 10_00);
                sealed(
                    &kit,
                    &SealedContent::Payment {
                        ta_cert: payer.ta_cert.clone(),
                        payment: p,
                        receipt: None,
                    },
                )
            })
            .collect();
        let mut tasks = Vec::new();
        for bridge in 0..8 {
            let engine = kit.engine.clone();
            let mut batch = envs.clone();
            batch.rotate_left(bridge * 3 % envs.len());
            tasks.push(tokio::spawn(async move {
                engine.ingest_envelopes(batch, T0).await.unwrap()
            }));
        }
        let mut settled = 0;
        for t in tasks {
            for o in t.await.unwrap() {
                match o.outcome {
                    Outcome::Settled => settled += 1,
                    Outcome::Duplicate => {}
                    other => panic!("{name}: unexpected {other:?}"),
                }
            }
        }
        assert_eq!(settled, 20, "{name}: each payment settled exactly once");
        assert_eq!(kit.online(payee).await, 200_00, "{name}");
        assert_eq!(kit.float(&payer).await, 300_00, "{name}");
        kit.assert_clean(name).await;
    }
}

fn order(
    from: &common::kit::Holder,
    to: ferry_proto::AccountId,
    minor: i64,
    at: ferry_proto::UnixTime,
) -> SignedOrder {
    SignedOrder::sign(
        DeferredOrder {
            from: from.account,
            to,
            amount: brl(minor),
            nonce: OrderNonce::random(),
            signed_at: at,
        },
        &from.account_key,
    )
    .unwrap()
}

#[tokio::test]
async fn deferred_orders_settle_only_when_funded_and_only_once() {
    for (name, store, _dir) in stores().await {
        let kit = Kit::new(store);
        let payer = kit.holder().await;
        let (_, payee, _) = kit.account().await;
        kit.cash_in(payer.account, 50_00).await;
        let ok = order(&payer, payee, 30_00, T0);
        let big = order(&payer, payee, 40_00, T0);
        let stale = order(&payer, payee, 1_00, T0.minus_secs(86_401));
        let future = order(&payer, payee, 1_00, T0.plus_secs(301));
        let stranger = order(&payer, ferry_proto::AccountId::random(), 1_00, T0);
        let out = kit
            .engine
            .submit_orders(
                vec![ok.clone(), big.clone(), ok, stale, future, stranger],
                T0,
            )
            .await
            .unwrap();
        assert_eq!(
            out,
            vec![
                Outcome::Settled,
                Outcome::Rejected(Reason::InsufficientFunds),
                Outcome::Duplicate,
                Outcome::Invalid(Reason::Expired),
                Outcome::Invalid(Reason::FromFuture),
                Outcome::Rejected(Reason::UnknownPayee),
            ],
            "{name}"
        );
        // The bounced order did not burn its identity: funded later, it settles.
        kit.cash_in(payer.account, 20_00).await;
        let out = kit.engine.submit_orders(vec![big], T0).await.unwrap();
        assert_eq!(out, vec![Outcome::Settled], "{name}");
        assert_eq!(kit.online(payee).await, 70_00, "{name}");
        assert_eq!(kit.online(payer.account).await, 0, "{name}");
        kit.assert_clean(name).await;
    }
}

#[tokio::test]
async fn fees_are_posted_to_the_fee_account() {
    for (name, store, _dir) in stores().await {
        let fees = FeeSchedule {
            payment_bps: 100,
            deposit_bps: 50,
            cash_in_bps: 0,
            ..FeeSchedule::default()
        };
        let kit = Kit::with_fees(store, fees);
        let mut payer = kit.holder().await;
        let (_, payee, _) = kit.account().await;
        kit.cash_in(payer.account, 100_50).await;
        let auth = kit
            .engine
            .deposit(payer.account, payer.ta(), 1, brl(100_00), T0)
            .await
            .unwrap();
        payer
            .journal
            .deposit(&auth, &kit.issuer_public, T0)
            .unwrap();
        assert_eq!(
            kit.online(payer.account).await,
            0,
            "{name}: 0.5% deposit fee"
        );
        let p = payer.pay(payee, 80_00);
        kit.engine
            .claim(vec![payer.submission(&p)], T0)
            .await
            .unwrap();
        assert_eq!(kit.online(payee).await, 79_20, "{name}: 1% payment fee");
        let fees = kit
            .engine
            .store()
            .balance(&LedgerAccount::Fees, Currency::BRL)
            .await
            .unwrap();
        assert_eq!(fees, 50 + 80, "{name}");
        kit.assert_clean(name).await;
    }
}

#[tokio::test]
async fn an_overspending_journal_opens_a_case_and_unfunded_payments_are_paid_after_the_deadline() {
    for (name, store, _dir) in stores().await {
        let kit = Kit::new(store);
        kit.engine
            .fund(LedgerAccount::Insurance, brl(500_00), "ins", T0)
            .await
            .unwrap();
        // A wallet signs beyond its balance; its journal sync exposes it.
        let mut eve = kit.holder().await;
        let (_, shop, _) = kit.account().await;
        kit.fund(&mut eve, 20_00).await;
        let forged = eve.forge_pay(shop, 50_00);
        eve.unsynced.push(forged.entry().clone());
        let report = kit
            .engine
            .sync_journal(eve.upload(vec![]), T0)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            report.stopped.map(|s| s.1),
            Some(Reason::JournalRule),
            "{name}"
        );
        assert!(report.fraud_case.is_some(), "{name}");
        // The shop claims the payment: 20 from the float, 30 from insurance.
        let out = kit
            .engine
            .claim(vec![eve.submission(&forged)], T0)
            .await
            .unwrap();
        assert_eq!(out, vec![Outcome::Settled], "{name}");
        assert_eq!(kit.online(shop).await, 50_00, "{name}");

        // Another wallet's payment waits for a collect that never comes; after the sync
        // deadline and grace, the sweep opens a case and the receiver is paid.
        let mut frank = kit.holder().await;
        let (_, shop2, _) = kit.account().await;
        let p = frank.forge_pay(shop2, 15_00);
        let out = kit
            .engine
            .claim(vec![frank.submission(&p)], T0)
            .await
            .unwrap();
        assert_eq!(
            out,
            vec![Outcome::Pending(Reason::PayerNotSynced)],
            "{name}"
        );
        assert!(
            kit.engine
                .sweep(T0.plus_secs(86_400))
                .await
                .unwrap()
                .is_empty()
        );
        let deadline = frank.ta_cert.unverified().limits.sync_by;
        let opened = kit.engine.sweep(deadline.plus_secs(86_400)).await.unwrap();
        assert_eq!(opened.len(), 1, "{name}");
        assert_eq!(kit.online(shop2).await, 15_00, "{name}");
        let st = kit
            .engine
            .payment_status(p.id(frank.ta()))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(st.status, DebitState::Settled, "{name}");
        kit.assert_clean(name).await;
    }
}

#[tokio::test]
async fn cash_out_needs_the_holders_consent_once() {
    for (name, store, _dir) in stores().await {
        let kit = Kit::new(store);
        let h = kit.holder().await;
        kit.cash_in(h.account, 80_00).await;
        let consent = |agent: &str, minor: i64| {
            ferry_proto::cash::CashOut::sign(
                ferry_proto::cash::CashOutBody {
                    account: h.account,
                    agent: agent.into(),
                    amount: brl(minor),
                    nonce: OrderNonce::random(),
                    signed_at: T0,
                },
                &h.account_key,
            )
            .unwrap()
        };
        let c = consent("kiosk", 50_00);
        assert_eq!(
            kit.engine.cash_out("kiosk", &c, T0).await.unwrap(),
            Outcome::Settled
        );
        assert_eq!(
            kit.engine.cash_out("kiosk", &c, T0).await.unwrap(),
            Outcome::Duplicate
        );
        assert!(
            kit.engine.cash_out("other", &c, T0).await.is_err(),
            "{name}"
        );
        let big = consent("kiosk", 50_00);
        assert_eq!(
            kit.engine.cash_out("kiosk", &big, T0).await.unwrap(),
            Outcome::Rejected(Reason::InsufficientFunds)
        );
        let forged = ferry_proto::cash::CashOut::sign(
            big.unverified().clone(),
            &ferry_proto::SigningKey::generate(),
        )
        .unwrap();
        assert!(
            kit.engine.cash_out("kiosk", &forged, T0).await.is_err(),
            "{name}"
        );
        assert_eq!(kit.online(h.account).await, 30_00, "{name}");
        kit.assert_clean(name).await;
    }
}

#[tokio::test]
async fn a_pending_payment_collected_later_settles_into_the_collectors_float() {
    for (name, store, _dir) in stores().await {
        let kit = Kit::new(store);
        let mut zoe = kit.holder().await;
        let mut xav = kit.holder().await;
        let mut yan = kit.holder().await;
        kit.fund(&mut zoe, 50_00).await;
        kit.fund(&mut xav, 10_00).await;
        // Zoe pays Xav 40 (collected); Xav pays Yan 45 (collected) — more than Xav's float.
        let p1 = zoe.pay(xav.account, 40_00);
        let c1 = xav
            .journal
            .collect(p1.id(zoe.ta()), p1.hash(), p1.amount(), T0)
            .unwrap();
        xav.unsynced.push(c1);
        let p2 = xav.pay(yan.account, 45_00);
        let c2 = yan
            .journal
            .collect(p2.id(xav.ta()), p2.hash(), p2.amount(), T0)
            .unwrap();
        yan.unsynced.push(c2);
        // Someone claims p2 first: pending, to Yan's online balance for now.
        let out = kit
            .engine
            .claim(vec![xav.submission(&p2)], T0)
            .await
            .unwrap();
        assert_eq!(
            out,
            vec![Outcome::Pending(Reason::PayerNotSynced)],
            "{name}"
        );
        // Yan's sync shows the collect: Yan's wallet is credited now (it may re-spend the
        // value), against Xav's in-transit account; Yan's online balance is not.
        let y = kit
            .engine
            .sync_journal(yan.upload(vec![xav.submission(&p2)]), T0)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(y.stopped, None, "{name}");
        assert_eq!(kit.float(&yan).await, 45_00, "{name}");
        // Xav's sync funds his float with p1, which settles p2 into Yan's float.
        let x = kit
            .engine
            .sync_journal(xav.upload(vec![zoe.submission(&p1)]), T0)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(x.stopped, None, "{name}");
        assert_eq!(kit.float(&yan).await, 45_00, "{name}");
        assert_eq!(kit.online(yan.account).await, 0, "{name}");
        assert_eq!(kit.float(&xav).await, 5_00, "{name}");
        assert_eq!(kit.float(&zoe).await, 10_00, "{name}");
        let st = kit
            .engine
            .payment_status(p2.id(xav.ta()))
            .await
            .unwrap()
            .unwrap();
        // It repaid the advance Yan's wallet received when its collect was synced.
        assert_eq!(
            (st.status.as_str(), st.credited),
            ("settled", LedgerAccount::InTransit(xav.ta()).key()),
            "{name}"
        );
        kit.assert_clean(name).await;
    }
}

#[tokio::test]
async fn deposits_refuse_unknown_wallets_other_currencies_and_amounts_over_the_balance_cap() {
    for (name, store, _dir) in stores().await {
        let kit = Kit::new(store);
        let h = kit.holder().await;
        kit.cash_in(h.account, 2_000_00).await;
        let unknown = ferry_proto::TaId([9; 16]);
        assert!(
            matches!(
                kit.engine
                    .deposit(h.account, unknown, 1, brl(1_00), T0)
                    .await,
                Err(DepositError::UnknownWallet)
            ),
            "{name}"
        );
        let usd = ferry_proto::Money::new(1_00, Currency::USD);
        assert!(matches!(
            kit.engine.deposit(h.account, h.ta(), 1, usd, T0).await,
            Err(DepositError::CurrencyMismatch)
        ));
        // The kit's software limit is a 1 000.00 balance.
        assert!(matches!(
            kit.engine
                .deposit(h.account, h.ta(), 1, brl(1_000_01), T0)
                .await,
            Err(DepositError::OverBalanceLimit)
        ));
        assert_eq!(
            kit.online(h.account).await,
            2_000_00,
            "{name}: nothing moved"
        );
    }
}

#[tokio::test]
async fn mesh_postage_is_one_signed_key_per_account_and_day() {
    use ferry_proto::postage::{self, POSTAGE_VALIDITY_SECS, day_start, postmark};
    let (_, store, _dir) = stores().await.remove(0);
    let kit = Kit::new(store);
    let (_, a, _) = kit.account().await;
    let (_, b, _) = kit.account().await;
    let g = kit.engine.mesh_postage(a, T0).unwrap();
    // Asking again the same day gives the same key and bytes; another account or day another.
    let again = kit.engine.mesh_postage(a, T0.plus_secs(60)).unwrap();
    assert_eq!(again.postage, g.postage);
    assert_eq!(again.key.public(), g.key.public());
    let gb = kit.engine.mesh_postage(b, T0).unwrap();
    let tomorrow = kit.engine.mesh_postage(a, T0.plus_secs(86_400)).unwrap();
    assert_ne!(gb.key.public(), g.key.public());
    assert_ne!(tomorrow.key.public(), g.key.public());
    assert_eq!(g.postage.unverified().key, g.key.public());
    assert_eq!(
        g.postage.unverified().valid_until,
        day_start(T0).plus_secs(POSTAGE_VALIDITY_SECS)
    );
    // Relays accept an envelope postmarked with it, using the issuer key from the parameters.
    let params = kit.engine.network_parameters(T0).unwrap();
    let issuer = params.unverified().issuer_key;
    let id = ferry_proto::envelope::EnvelopeId(ferry_proto::Hash32::of("t", &[b"x"]));
    let mark = postmark(&g.key, &id);
    assert_eq!(
        postage::check(&g.postage, &mark, &id, &issuer, T0),
        Ok(g.key.public())
    );
}
