//! The store test suite, run on embedded SQLite and on PostgreSQL. PostgreSQL tests read
//! `FERRY_TEST_DATABASE_URL` (CI sets it); without it they say so and run on SQLite only.

use std::sync::Arc;

use ferry_ledger::{LedgerAccount, Posted, Posting, Store, StoreError, Transfer};
use ferry_proto::{AccountId, Currency, UnixTime};
use proptest::prelude::*;

mod common;
use common::stores;

const T: UnixTime = UnixTime(1_800_000_000);

fn online(n: u8) -> LedgerAccount {
    LedgerAccount::Online(AccountId([n; 16]))
}

fn move_money(reference: &str, from: LedgerAccount, to: LedgerAccount, amount: i64) -> Transfer {
    Transfer {
        reference: reference.into(),
        kind: "test",
        currency: Currency::BRL,
        postings: vec![Posting::debit(from, amount), Posting::credit(to, amount)],
    }
}

fn cash_in(reference: &str, to: LedgerAccount, amount: i64) -> Transfer {
    move_money(reference, LedgerAccount::Issuance, to, amount)
}

#[tokio::test]
async fn transfers_move_money_once_and_audit_clean() {
    for (name, store, _dir) in stores().await {
        let a = store
            .post(&cash_in("in-1", online(1), 100_00), T)
            .await
            .unwrap();
        assert!(matches!(a, Posted::New(_)), "{name}");
        let b = store
            .post(&move_money("pay-1", online(1), online(2), 30_00), T)
            .await
            .unwrap();
        // The same reference again: nothing moves, the first id comes back.
        let again = store
            .post(&move_money("pay-1", online(1), online(2), 30_00), T)
            .await
            .unwrap();
        assert_eq!(again, Posted::Duplicate(b.id()), "{name}");
        assert_eq!(
            store.balance(&online(1), Currency::BRL).await.unwrap(),
            70_00,
            "{name}"
        );
        assert_eq!(
            store.balance(&online(2), Currency::BRL).await.unwrap(),
            30_00,
            "{name}"
        );
        assert_eq!(
            store
                .balance(&LedgerAccount::Issuance, Currency::BRL)
                .await
                .unwrap(),
            -100_00,
            "{name}"
        );
        let audit = store.audit().await.unwrap();
        assert!(audit.is_clean(), "{name}: {audit:?}");
    }
}

#[tokio::test]
async fn an_overdraft_is_refused_changes_nothing_and_burns_no_reference() {
    for (name, store, _dir) in stores().await {
        store
            .post(&cash_in("in", online(1), 10_00), T)
            .await
            .unwrap();
        let err = store
            .post(&move_money("pay", online(1), online(2), 10_01), T)
            .await
            .unwrap_err();
        assert!(
            matches!(err, StoreError::InsufficientFunds { ref account } if account == &online(1).key()),
            "{name}: {err:?}"
        );
        assert_eq!(
            store.balance(&online(1), Currency::BRL).await.unwrap(),
            10_00,
            "{name}"
        );
        assert_eq!(
            store.balance(&online(2), Currency::BRL).await.unwrap(),
            0,
            "{name}"
        );
        // Once funded, the same reference settles: the refusal did not burn it.
        store.post(&cash_in("in-2", online(1), 1), T).await.unwrap();
        assert!(
            matches!(
                store
                    .post(&move_money("pay", online(1), online(2), 10_01), T)
                    .await
                    .unwrap(),
                Posted::New(_)
            ),
            "{name}"
        );
        assert!(store.audit().await.unwrap().is_clean(), "{name}");
    }
}

#[tokio::test]
async fn malformed_transfers_are_refused() {
    for (name, store, _dir) in stores().await {
        let mut t = cash_in("x", online(1), 5);
        t.postings[1].amount = 4;
        assert!(
            matches!(store.post(&t, T).await, Err(StoreError::Transfer(_))),
            "{name}"
        );
        assert_eq!(
            store.balance(&online(1), Currency::BRL).await.unwrap(),
            0,
            "{name}"
        );
    }
}

#[tokio::test]
async fn overflow_is_an_error_not_a_wrap() {
    for (name, store, _dir) in stores().await {
        store
            .post(&cash_in("a", online(1), i64::MAX), T)
            .await
            .unwrap();
        let err = store.post(&cash_in("b", online(1), i64::MAX), T).await;
        // Issuance would pass i64::MIN, or online would pass i64::MAX: refused either way.
        assert!(
            matches!(err, Err(StoreError::Overflow { .. })),
            "{name}: {err:?}"
        );
        assert!(store.audit().await.unwrap().is_clean(), "{name}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_duplicate_storm_from_many_tasks_posts_each_reference_once() {
    for (name, store, _dir) in stores().await {
        store
            .post(&cash_in("seed", online(1), 1_000_00), T)
            .await
            .unwrap();
        let store = Arc::new(store);
        let mut tasks = Vec::new();
        for worker in 0..8 {
            let store = store.clone();
            tasks.push(tokio::spawn(async move {
                let mut new = 0;
                for i in 0..40 {
                    // Every worker tries every payment, in a different order.
                    let k = (i * 7 + worker * 3) % 40;
                    let t = move_money(
                        &format!("p-{k}"),
                        online(1),
                        online(2 + (k % 3) as u8),
                        1_00 + k as i64,
                    );
                    if let Posted::New(_) = store.post(&t, T).await.unwrap() {
                        new += 1;
                    }
                }
                new
            }));
        }
        let mut total_new = 0;
        for t in tasks {
            total_new += t.await.unwrap();
        }
        assert_eq!(total_new, 40, "{name}");
        let paid: i64 = (0..40).map(|k| 1_00 + k).sum();
        assert_eq!(
            store.balance(&online(1), Currency::BRL).await.unwrap(),
            1_000_00 - paid,
            "{name}"
        );
        let audit = store.audit().await.unwrap();
        assert!(audit.is_clean(), "{name}: {audit:?}");
    }
}

#[tokio::test]
async fn sqlite_data_survives_reopening() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = Store::open_sqlite_dir(dir.path()).await.unwrap();
        store.post(&cash_in("in", online(1), 42), T).await.unwrap();
    }
    let store = Store::open_sqlite_dir(dir.path()).await.unwrap();
    assert_eq!(store.balance(&online(1), Currency::BRL).await.unwrap(), 42);
    assert!(matches!(
        store.post(&cash_in("in", online(1), 42), T).await.unwrap(),
        Posted::Duplicate(_)
    ));
}

#[derive(Debug, Clone)]
struct Step {
    reference: u8,
    from: u8,
    to: u8,
    amount: i64,
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    /// Whatever sequence of transfers is attempted — funded or not, repeated or not — money is
    /// conserved: the ledger sums to zero, no holder goes negative, and each holder's balance is
    /// exactly what an in-memory model of the accepted transfers says.
    #[test]
    fn money_is_conserved(steps in proptest::collection::vec(
        (0u8..20, 0u8..4, 0u8..4, 1i64..5_000).prop_map(|(reference, from, to, amount)| Step { reference, from, to, amount }),
        1..40,
    )) {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async {
            let dir = tempfile::tempdir().unwrap();
            let store = Store::open_sqlite_dir(dir.path()).await.unwrap();
            let mut model = [0i64; 4];
            let mut seen = std::collections::HashSet::new();
            store.post(&cash_in("seed", online(0), 10_000), T).await.unwrap();
            model[0] = 10_000;
            for s in steps {
                if s.from == s.to { continue; }
                let r = format!("r{}", s.reference);
                let t = move_money(&r, online(s.from), online(s.to), s.amount);
                match store.post(&t, T).await {
                    Ok(Posted::New(_)) => {
                        prop_assert!(seen.insert(r.clone()), "reference {} posted twice", r);
                        model[s.from as usize] -= s.amount;
                        model[s.to as usize] += s.amount;
                    }
                    Ok(Posted::Duplicate(_)) => prop_assert!(seen.contains(&r)),
                    Err(StoreError::InsufficientFunds { .. }) => {
                        prop_assert!(model[s.from as usize] < s.amount);
                    }
                    Err(e) => prop_assert!(false, "unexpected error {e}"),
                }
            }
            for (i, expected) in model.iter().enumerate() {
                prop_assert_eq!(store.balance(&online(i as u8), Currency::BRL).await.unwrap(), *expected);
            }
            let audit = store.audit().await.unwrap();
            prop_assert!(audit.is_clean(), "{:?}", audit);
            Ok(())
        })?;
    }
}
