//! The dashboard's read queries on embedded SQLite and on PostgreSQL (with
//! `FERRY_TEST_DATABASE_URL`): balances of every account, the latest transfers with their
//! postings filtered by kind and account, and the totals by kind of account.

use ferry_ledger::engine::dashboard::{AccountKind, totals};
use ferry_ledger::store::TransferFilter;
use ferry_ledger::{LedgerAccount, Posting, Transfer};
use ferry_proto::{AccountId, Currency, UnixTime};

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
