//! An account's statement for a period (the merchant's end of day) on embedded SQLite and on
//! PostgreSQL (with `FERRY_TEST_DATABASE_URL`): the balance before the period, the transfers
//! that moved the account inside it (not before, not after, not in another currency), what
//! each paid in fees, and the half-open day boundaries.

use ferry_ledger::store::StatementRow;
use ferry_ledger::{LedgerAccount, Posting, Transfer};
use ferry_proto::{AccountId, Currency, TaId, UnixTime};

mod common;
use common::stores;

/// 2026-11-28 00:00:00 UTC.
const DAY: UnixTime = UnixTime(1_795_824_000);
const NEXT: UnixTime = UnixTime(1_795_824_000 + 86_400);

fn shop() -> LedgerAccount {
    LedgerAccount::Online(AccountId([7; 16]))
}

fn transfer(reference: &str, kind: &'static str, postings: Vec<Posting>) -> Transfer {
    Transfer {
        reference: reference.into(),
        kind,
        currency: Currency::BRL,
        postings,
    }
}

#[tokio::test]
async fn a_day_holds_the_transfers_booked_in_it_with_their_fees() {
    for (name, store, _dir) in stores().await {
        let float = LedgerAccount::Float(TaId([1; 16]));
        let post = |t: Transfer, at: UnixTime| {
            let store = store.clone();
            async move { store.post(&t, at).await.expect("post") }
        };
        post(
            transfer(
                "fund",
                "fund",
                vec![
                    Posting::debit(LedgerAccount::Issuance, 1_000_00),
                    Posting::credit(float.clone(), 1_000_00),
                ],
            ),
            UnixTime(DAY.0 - 100),
        )
        .await;
        // The day before: opening balance.
        post(
            transfer(
                "payment:a/1",
                "payment",
                vec![
                    Posting::debit(float.clone(), 50_00),
                    Posting::credit(shop(), 50_00),
                ],
            ),
            UnixTime(DAY.0 - 1),
        )
        .await;
        // The first second of the day, with a fee the payee bears.
        post(
            transfer(
                "payment:a/2",
                "payment",
                vec![
                    Posting::debit(float.clone(), 100_00),
                    Posting::credit(shop(), 99_00),
                    Posting::credit(LedgerAccount::Fees, 1_00),
                ],
            ),
            DAY,
        )
        .await;
        // A transfer that does not touch the shop.
        post(
            transfer(
                "other",
                "payment",
                vec![
                    Posting::debit(float.clone(), 1_00),
                    Posting::credit(LedgerAccount::Online(AccountId([8; 16])), 1_00),
                ],
            ),
            UnixTime(DAY.0 + 10),
        )
        .await;
        // The shop pays out, in the last second of the day.
        post(
            transfer(
                "ussd:1",
                "ussd_send",
                vec![
                    Posting::debit(shop(), 20_00),
                    Posting::credit(LedgerAccount::Online(AccountId([9; 16])), 19_90),
                    Posting::credit(LedgerAccount::Fees, 10),
                ],
            ),
            UnixTime(NEXT.0 - 1),
        )
        .await;
        // The next day.
        post(
            transfer(
                "payment:a/3",
                "payment",
                vec![
                    Posting::debit(float.clone(), 5_00),
                    Posting::credit(shop(), 5_00),
                ],
            ),
            NEXT,
        )
        .await;

        let opening = store
            .balance_before(&shop(), Currency::BRL, DAY)
            .await
            .expect("opening");
        assert_eq!(opening, 50_00, "{name}");
        let closing = store
            .balance_before(&shop(), Currency::BRL, NEXT)
            .await
            .expect("closing");
        assert_eq!(closing, 50_00 + 99_00 - 20_00, "{name}");
        let rows = store
            .statement_rows(&shop(), Currency::BRL, DAY, NEXT)
            .await
            .expect("rows");
        let got: Vec<(&str, &str, u64, i64, i64)> = rows
            .iter()
            .map(|r: &StatementRow| {
                (
                    r.reference.as_str(),
                    r.kind.as_str(),
                    r.posted_at.0,
                    r.amount,
                    r.fees,
                )
            })
            .collect();
        assert_eq!(
            got,
            [
                ("payment:a/2", "payment", DAY.0, 99_00, 1_00),
                ("ussd:1", "ussd_send", NEXT.0 - 1, -20_00, 10),
            ],
            "{name}"
        );
        assert!(rows[0].id < rows[1].id, "{name}");
        // Another currency has nothing.
        let none = store
            .statement_rows(&shop(), Currency::EUR, DAY, NEXT)
            .await
            .expect("eur");
        assert!(none.is_empty(), "{name}");
        assert_eq!(
            store
                .balance_before(&shop(), Currency::EUR, NEXT)
                .await
                .expect("eur balance"),
            0,
            "{name}"
        );
    }
}
