//! Property: whatever order claims, collects and syncs arrive in, every payment settles
//! exactly once, money is conserved, and each wallet's float ends equal to its journal balance.

mod common;

use common::kit::{Holder, Kit, brl};
use ferry_ledger::engine::DebitState;
use ferry_ledger::engine::PaymentSubmission;
use ferry_ledger::{LedgerAccount, Outcome, Store};
use ferry_proto::{AccountId, Currency, Payment};
use ferry_testkit::T0;
use proptest::prelude::*;

#[derive(Debug, Clone)]
enum Op {
    /// Holder `from` pays `pct` % of its offline balance to holder `to` (who collects it into
    /// its wallet when `collect`) or, when `to` is out of range, to a plain account.
    Pay {
        from: usize,
        to: usize,
        pct: i64,
        collect: bool,
    },
    /// The receiver of payment `index` claims it now.
    Claim { index: usize },
    /// Holder `who` syncs its journal now.
    Sync { who: usize },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0..3usize, 0..4usize, 1..=100i64, prop::bool::weighted(0.8))
            .prop_map(|(from, to, pct, collect)| Op::Pay { from, to, pct, collect }),
        1 => (0..12usize).prop_map(|index| Op::Claim { index }),
        1 => (0..3usize).prop_map(|who| Op::Sync { who }),
    ]
}

struct Made {
    payer: usize,
    payment: Payment,
    collected_by: Option<usize>,
}

async fn run(ops: Vec<Op>) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_sqlite_dir(dir.path()).await.unwrap();
    let kit = Kit::new(store);
    let mut holders: Vec<Holder> = Vec::new();
    for _ in 0..3 {
        let mut h = kit.holder().await;
        kit.fund(&mut h, 50_00).await;
        holders.push(h);
    }
    let plain: Vec<AccountId> = vec![kit.account().await.1, kit.account().await.1];
    let mut made: Vec<Made> = Vec::new();
    let mut collected: Vec<Vec<PaymentSubmission>> = vec![Vec::new(); 3];
    for op in ops {
        match op {
            Op::Pay {
                from,
                to,
                pct,
                collect,
            } => {
                let to_holder = (to < 3 && to != from).then_some(to);
                let payee = to_holder.map_or(plain[to % 2], |t| holders[t].account);
                let amount = (holders[from].journal.balance().minor() * pct / 100).min(200_00);
                if amount == 0 {
                    continue;
                }
                let p = holders[from].pay(payee, amount);
                let sub = holders[from].submission(&p);
                let mut collected_by = None;
                if let (Some(t), true) = (to_holder, collect) {
                    let h = &mut holders[t];
                    if let Ok(e) = h.journal.collect(
                        p.id(sub.ta_cert.unverified().ta_id()),
                        p.hash(),
                        p.amount(),
                        T0,
                    ) {
                        h.unsynced.push(e);
                        collected[t].push(sub);
                        collected_by = Some(t);
                    }
                }
                made.push(Made {
                    payer: from,
                    payment: p,
                    collected_by,
                });
            }
            Op::Claim { index } => {
                if let Some(m) = made.get(index) {
                    let sub = holders[m.payer].submission(&m.payment);
                    let out = kit.engine.claim(vec![sub], T0).await.unwrap();
                    assert!(
                        matches!(
                            out[0],
                            Outcome::Settled | Outcome::Duplicate | Outcome::Pending(_)
                        ),
                        "{out:?}"
                    );
                }
            }
            Op::Sync { who } => {
                let upload = holders[who].upload(std::mem::take(&mut collected[who]));
                let r = kit.engine.sync_journal(upload, T0).await.unwrap().unwrap();
                assert_eq!(r.stopped, None);
            }
        }
    }
    // Everyone syncs (twice: a payer's float may be funded by a later sync), then every
    // receiver claims.
    for _ in 0..2 {
        for who in 0..3 {
            let upload = holders[who].upload(std::mem::take(&mut collected[who]));
            let r = kit.engine.sync_journal(upload, T0).await.unwrap().unwrap();
            assert_eq!(r.stopped, None);
        }
    }
    let subs: Vec<_> = made
        .iter()
        .map(|m| holders[m.payer].submission(&m.payment))
        .collect();
    if !subs.is_empty() {
        for o in kit.engine.claim(subs, T0).await.unwrap() {
            assert!(matches!(o, Outcome::Settled | Outcome::Duplicate), "{o:?}");
        }
    }
    // Every payment settled, to the right place, once.
    let mut expected_plain = [0i64; 2];
    for m in &made {
        let id = m.payment.id(holders[m.payer].ta());
        let st = kit.engine.payment_status(id).await.unwrap().unwrap();
        assert_eq!(st.status, DebitState::Settled, "{id}");
        match m.collected_by {
            Some(t) => assert!(
                st.credited == LedgerAccount::Float(holders[t].ta()).key()
                    || st.credited == LedgerAccount::InTransit(holders[m.payer].ta()).key(),
                "{id} credited {}",
                st.credited
            ),
            None => {
                if let Some(k) = plain.iter().position(|a| *a == m.payment.payee()) {
                    expected_plain[k] += m.payment.amount().minor();
                }
            }
        }
    }
    for (k, a) in plain.iter().enumerate() {
        assert_eq!(kit.online(*a).await, expected_plain[k]);
    }
    // Each float equals its wallet's journal balance; money is conserved.
    let mut total = 0;
    for h in &holders {
        assert_eq!(
            kit.float(h).await,
            h.journal.balance().minor(),
            "float of {}",
            h.ta()
        );
        let in_transit = kit
            .engine
            .store()
            .balance(&LedgerAccount::InTransit(h.ta()), Currency::BRL)
            .await
            .unwrap();
        assert_eq!(in_transit, 0, "every advance repaid for {}", h.ta());
        total += kit.float(h).await + kit.online(h.account).await;
    }
    total += plain.iter().map(|_| 0).sum::<i64>() + expected_plain.iter().sum::<i64>();
    assert_eq!(total, 3 * 50_00, "conservation");
    let fees = kit
        .engine
        .store()
        .balance(&LedgerAccount::Fees, Currency::BRL)
        .await
        .unwrap();
    assert_eq!(fees, 0);
    kit.assert_clean("sqlite").await;
    let _ = brl(0);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn every_payment_settles_once_and_floats_match_journals(ops in proptest::collection::vec(op(), 1..60)) {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(run(ops));
    }
}
