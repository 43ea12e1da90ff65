//! The dashboard's read queries on embedded SQLite and on PostgreSQL (with
//! `FERRY_TEST_DATABASE_URL`): balances of every account, the latest transfers with their
//! postings filtered by kind and account, the totals by kind of account, and payments counted
//! by channel and status.

use ferry_ledger::engine::dashboard::{AccountKind, totals};
use ferry_ledger::kinds::{DebitKind, DebitState, SealedKind};
use ferry_ledger::store::{
    Channel, ChannelCount, Debit, RedemptionRow, TransferFilter, VoucherRow, VoucherState,
};
use ferry_ledger::{LedgerAccount, Posting, Transfer};
use ferry_proto::envelope::EnvelopeId;
use ferry_proto::voucher::VoucherId;
use ferry_proto::{AccountId, Currency, Hash32, Money, PaymentId, TaId, UnixTime};

mod common;
use common::stores;

const T: UnixTime = UnixTime(1_800_000_000);

fn online(n: u8) -> LedgerAccount {
    LedgerAccount::Online(AccountId([n; 16]))
}

fn transfer(
    reference: &str,
    kind: &'static str,
    from: LedgerAccount,
    to: LedgerAccount,
    amount: i64,
) -> Transfer {
    Transfer {
        reference: reference.into(),
        kind,
        currency: Currency::BRL,
        postings: vec![Posting::debit(from, amount), Posting::credit(to, amount)],
    }
}

#[tokio::test]
async fn latest_transfers_come_newest_first_with_postings_and_filters() {
    for (name, store, _dir) in stores().await {
        let kiosk = LedgerAccount::Agent("kiosk".into());
        store
            .post(
                &transfer(
                    "fund-1",
                    "fund",
                    LedgerAccount::Issuance,
                    kiosk.clone(),
                    500_00,
                ),
                T,
            )
            .await
            .expect("fund");
        store
            .post(
                &transfer("in-1", "cash_in", kiosk.clone(), online(1), 100_00),
                T,
            )
            .await
            .expect("cash in 1");
        store
            .post(
                &transfer("in-2", "cash_in", kiosk.clone(), online(2), 40_00),
                T,
            )
            .await
            .expect("cash in 2");
        store
            .post(&transfer("pay-1", "order", online(1), online(2), 25_00), T)
            .await
            .expect("order");

        let all = store
            .latest_transfers(&TransferFilter {
                limit: 10,
                ..TransferFilter::default()
            })
            .await
            .expect("all");
        let refs: Vec<&str> = all.iter().map(|t| t.reference.as_str()).collect();
        assert_eq!(refs, ["pay-1", "in-2", "in-1", "fund-1"], "{name}");
        let pay = &all[0];
        assert_eq!(pay.kind, "order", "{name}");
        assert_eq!(pay.posted_at, T, "{name}");
        assert_eq!(pay.postings.len(), 2, "{name}");
        assert_eq!(
            pay.postings.iter().map(|p| p.amount).sum::<i64>(),
            0,
            "{name}"
        );
        assert!(
            pay.postings
                .iter()
                .any(|p| p.account == online(2).key() && p.amount == 25_00),
            "{name}: {pay:?}"
        );

        let two = store
            .latest_transfers(&TransferFilter {
                limit: 2,
                ..TransferFilter::default()
            })
            .await
            .expect("two");
        assert_eq!(two.len(), 2, "{name}");

        let cash_ins = store
            .latest_transfers(&TransferFilter {
                kind: Some("cash_in".into()),
                limit: 10,
                ..TransferFilter::default()
            })
            .await
            .expect("by kind");
        assert_eq!(cash_ins.len(), 2, "{name}");
        assert!(cash_ins.iter().all(|t| t.kind == "cash_in"), "{name}");

        let of_two = store
            .latest_transfers(&TransferFilter {
                account: Some(online(2).key()),
                limit: 10,
                ..TransferFilter::default()
            })
            .await
            .expect("by account");
        let refs: Vec<&str> = of_two.iter().map(|t| t.reference.as_str()).collect();
        assert_eq!(refs, ["pay-1", "in-2"], "{name}");
        // A transfer listed by account still carries all of its postings.
        assert!(of_two.iter().all(|t| t.postings.len() == 2), "{name}");

        let both = store
            .latest_transfers(&TransferFilter {
                kind: Some("cash_in".into()),
                account: Some(online(2).key()),
                limit: 10,
            })
            .await
            .expect("both");
        assert_eq!(both.len(), 1, "{name}");
        assert_eq!(both[0].reference, "in-2", "{name}");

        assert_eq!(store.transfer_total().await.expect("total"), 4, "{name}");
        assert_eq!(
            store.transfer_kind_counts().await.expect("kinds"),
            [
                ("cash_in".to_owned(), 2),
                ("fund".to_owned(), 1),
                ("order".to_owned(), 1)
            ],
            "{name}"
        );
        assert!(
            store.debit_counts().await.expect("debits").is_empty(),
            "{name}"
        );

        let balances = store
            .account_balances_in(Currency::BRL)
            .await
            .expect("balances");
        let (by_kind, issued, accounted) = totals(&balances).expect("totals");
        assert_eq!((issued, accounted), (500_00, 500_00), "{name}");
        let total = |k: AccountKind| {
            by_kind
                .iter()
                .find(|t| t.kind == k)
                .map(|t| (t.accounts, t.balance))
        };
        assert_eq!(total(AccountKind::Online), Some((2, 140_00)), "{name}");
        assert_eq!(total(AccountKind::Agent), Some((1, 360_00)), "{name}");
        assert!(
            store
                .account_balances_in(Currency::USD)
                .await
                .expect("usd")
                .is_empty(),
            "{name}"
        );
    }
}

fn debit(ta: u8, j: u32, amount: i64) -> Debit {
    Debit {
        id: PaymentId {
            ta: TaId([ta; 16]),
            j,
        },
        kind: DebitKind::Payment,
        payer_account: AccountId([ta; 16]),
        payee_account: AccountId([9; 16]),
        amount: Money::new(amount, Currency::BRL),
        hash: Hash32([j as u8; 32]),
        credit_to: online(9),
    }
}

#[tokio::test]
async fn payments_are_counted_by_channel_and_status_with_their_amounts() {
    for (name, store, _dir) in stores().await {
        assert_eq!(
            store.payment_channels(Currency::BRL).await.expect("empty"),
            vec![],
            "{name}"
        );
        let mut tx = store.begin().await.expect("begin");
        // Wallet payments: two settled face to face, one pending, two brought by envelopes, one
        // of which another envelope carried again (a duplicate names no payment), and a
        // withdrawal (not a payment).
        let mut withdrawal = debit(3, 1, 7_00);
        withdrawal.kind = DebitKind::Withdrawal;
        tx.insert_debits(
            &[
                (debit(1, 1, 10_00), DebitState::Settled),
                (debit(1, 2, 5_00), DebitState::Settled),
                (debit(1, 3, 2_00), DebitState::Pending),
                (debit(2, 1, 3_00), DebitState::Settled),
                (debit(2, 2, 4_00), DebitState::Settled),
                (withdrawal, DebitState::Settled),
            ],
            T,
        )
        .await
        .expect("debits");
        let remote = |j| Some(debit(2, j, 0).id);
        tx.record_envelopes(
            &[
                (
                    EnvelopeId(Hash32([1; 32])),
                    Some(SealedKind::Payment),
                    remote(1),
                ),
                (
                    EnvelopeId(Hash32([2; 32])),
                    Some(SealedKind::Payment),
                    remote(2),
                ),
                (EnvelopeId(Hash32([3; 32])), Some(SealedKind::Payment), None),
                (EnvelopeId(Hash32([4; 32])), Some(SealedKind::Order), None),
            ],
            T,
        )
        .await
        .expect("envelopes");
        // A voucher redeemed twice.
        let voucher = VoucherId([5; 16]);
        assert!(
            tx.insert_voucher(&VoucherRow {
                id: voucher,
                emitter: AccountId([5; 16]),
                initial_amount: Money::new(50_00, Currency::BRL),
                remaining: 20_00,
                creation_fee: 50,
                fee_reserve: 15,
                created_at: T,
                expires_at: UnixTime(T.0 + 3600),
                sealed_hash: Hash32([5; 32]),
                verifier: vec![0; 16],
                state: VoucherState::Active,
                state_reason: None,
                failures: 0,
                created_place: None,
                last_place: None,
                returned: None,
                closed_at: None,
            })
            .await
            .expect("voucher")
        );
        for (id, amount) in [("r1", 20_00), ("r2", 10_00)] {
            tx.insert_voucher_redemption(&RedemptionRow {
                id: id.into(),
                voucher,
                receiver: AccountId([6; 16]),
                amount,
                fee: 3,
                place: None,
                at: T,
            })
            .await
            .expect("redemption");
        }
        tx.commit().await.expect("commit");
        let listed = store.latest_vouchers(10).await.expect("vouchers");
        assert_eq!(listed.len(), 1, "{name}");
        assert_eq!(
            (listed[0].id, listed[0].remaining, listed[0].state),
            (voucher, 20_00, VoucherState::Active),
            "{name}"
        );
        assert!(store.latest_vouchers(0).await.expect("none").is_empty());
        // A USSD send: the payee's credit counts, not the fee.
        store
            .post(
                &Transfer {
                    reference: "ussd-send:1".into(),
                    kind: "ussd_send",
                    currency: Currency::BRL,
                    postings: vec![
                        Posting::debit(online(7), 8_40),
                        Posting::credit(online(8), 8_00),
                        Posting::credit(LedgerAccount::Fees, 40),
                    ],
                },
                T,
            )
            .await
            .expect_err("online:7 has no money");
        store
            .post(
                &transfer("fund-7", "fund", LedgerAccount::Issuance, online(7), 100_00),
                T,
            )
            .await
            .expect("fund");
        store
            .post(
                &Transfer {
                    reference: "ussd-send:1".into(),
                    kind: "ussd_send",
                    currency: Currency::BRL,
                    postings: vec![
                        Posting::debit(online(7), 8_40),
                        Posting::credit(online(8), 8_00),
                        Posting::credit(LedgerAccount::Fees, 40),
                    ],
                },
                T,
            )
            .await
            .expect("ussd send");

        let count = |channel, status, count, amount| ChannelCount {
            channel,
            status,
            count,
            amount,
        };
        assert_eq!(
            store
                .payment_channels(Currency::BRL)
                .await
                .expect("channels"),
            vec![
                count(Channel::FaceToFace, DebitState::Pending, 1, 2_00),
                count(Channel::FaceToFace, DebitState::Settled, 2, 15_00),
                count(Channel::Mesh, DebitState::Settled, 2, 7_00),
                count(Channel::Ussd, DebitState::Settled, 1, 8_00),
                count(Channel::Voucher, DebitState::Settled, 2, 30_00),
            ],
            "{name}"
        );
        // Another currency has none of them.
        assert_eq!(
            store.payment_channels(Currency::EUR).await.expect("EUR"),
            vec![],
            "{name}"
        );
    }
}

#[tokio::test]
async fn the_newest_ussd_sessions_come_first() {
    for (name, store, _dir) in stores().await {
        assert!(
            store
                .latest_ussd_sessions(5)
                .await
                .expect("none")
                .is_empty()
        );
        for (id, kept_until) in [("old", 100), ("new", 300), ("mid", 200)] {
            store
                .put_ussd_session(id, &format!("{{\"id\":\"{id}\"}}"), UnixTime(kept_until))
                .await
                .expect("put");
        }
        let latest = store.latest_ussd_sessions(2).await.expect("latest");
        assert_eq!(
            latest,
            vec![
                ("new".to_owned(), "{\"id\":\"new\"}".to_owned()),
                ("mid".to_owned(), "{\"id\":\"mid\"}".to_owned()),
            ],
            "{name}"
        );
    }
}
