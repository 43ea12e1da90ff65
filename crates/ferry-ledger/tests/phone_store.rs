//! The store functions of phone accounts, USSD operations, cash-out codes, phone links, USSD
//! session records and the SMS outbox, on embedded SQLite and on PostgreSQL (when
//! `FERRY_TEST_DATABASE_URL` is set).

use ferry_ledger::LedgerAccount;
use ferry_ledger::store::{CashOutRow, CashOutState, LinkRow, NewPhoneAccount};
use ferry_proto::{AccountId, Currency, Money, UnixTime};
use ferry_ussd::backend::Tier;
use ferry_ussd::i18n::Language;
use ferry_ussd::phone::Phone;
use ferry_ussd::pin::{PinHashParams, PinHasher};
use ferry_ussd::sms::{Notice, NoticeKind};

mod common;
use common::stores;

const T: UnixTime = UnixTime(1_800_000_000);

fn phone(n: u8) -> Phone {
    Phone::parse(&format!("+55819999900{n:02}"), None).expect("phone")
}

fn brl(minor: i64) -> Money {
    Money::new(minor, Currency::BRL)
}

#[tokio::test]
async fn phone_accounts_are_one_per_number_and_per_account() {
    let hasher = PinHasher::new(PinHashParams::TEST, b"pepper");
    let pin = hasher
        .hash(&ferry_ussd::Pin::parse("2580").expect("pin"))
        .expect("hash");
    for (name, store, _dir) in stores().await {
        let (a, b) = (AccountId::random(), AccountId::random());
        let mut tx = store.begin().await.expect("tx");
        let new = NewPhoneAccount {
            phone: &phone(1),
            account: a,
            tier: Tier::Tier0,
            language: Language::Pt,
            display_name: Some("Ana"),
            pin: Some(&pin),
        };
        assert!(
            tx.insert_phone_account(&new, T).await.expect("insert"),
            "{name}"
        );
        // The same number again, or the same account under another number: refused.
        assert!(
            !tx.insert_phone_account(&new, T).await.expect("insert"),
            "{name}"
        );
        let same_account = NewPhoneAccount {
            phone: &phone(2),
            ..new.clone()
        };
        assert!(
            !tx.insert_phone_account(&same_account, T)
                .await
                .expect("insert"),
            "{name}"
        );
        let other = NewPhoneAccount {
            phone: &phone(2),
            account: b,
            tier: Tier::Tier1,
            language: Language::En,
            display_name: None,
            pin: None,
        };
        assert!(
            tx.insert_phone_account(&other, T).await.expect("insert"),
            "{name}"
        );
        tx.commit().await.expect("commit");

        let row = store
            .phone_account(&phone(1))
            .await
            .expect("read")
            .expect("row");
        assert_eq!(row.account, a, "{name}");
        assert_eq!(row.tier, Tier::Tier0, "{name}");
        assert_eq!(row.language, Language::Pt, "{name}");
        assert_eq!(row.display_name.as_deref(), Some("Ana"), "{name}");
        assert_eq!(row.pin.as_ref(), Some(&pin), "{name}: the hash round-trips");
        assert_eq!(
            store
                .phone_of_account(b)
                .await
                .expect("read")
                .map(|r| r.phone),
            Some(phone(2)),
            "{name}"
        );
        assert!(
            store
                .phone_account(&phone(3))
                .await
                .expect("read")
                .is_none()
        );

        // Failures, lock, tier, language, PIN.
        let mut tx = store.begin().await.expect("tx");
        let locked = tx.lock_phone_account(&phone(1)).await.expect("lock");
        assert!(locked.is_some(), "{name}");
        tx.set_pin_failures(&phone(1), 2, Some(T.plus_secs(60)))
            .await
            .expect("failures");
        tx.set_phone_tier(&phone(1), Tier::Tier1, Some("Ana Souza"))
            .await
            .expect("tier");
        tx.set_phone_pin(&phone(2), &pin, Some(Language::Sw))
            .await
            .expect("pin");
        tx.commit().await.expect("commit");
        store
            .set_phone_language(&phone(1), Language::En)
            .await
            .expect("language");
        let row = store
            .phone_account(&phone(1))
            .await
            .expect("read")
            .expect("row");
        assert_eq!(row.pin_failures, 2, "{name}");
        assert_eq!(row.locked_until, Some(T.plus_secs(60)), "{name}");
        assert_eq!(row.tier, Tier::Tier1, "{name}");
        assert_eq!(row.display_name.as_deref(), Some("Ana Souza"), "{name}");
        assert_eq!(row.language, Language::En, "{name}");
        let row = store
            .phone_account(&phone(2))
            .await
            .expect("read")
            .expect("row");
        assert!(row.pin.is_some(), "{name}");
        assert_eq!(row.language, Language::Sw, "{name}");
    }
}

#[tokio::test]
async fn operation_keys_keep_their_first_answer_and_count_the_day() {
    for (name, store, _dir) in stores().await {
        let a = AccountId::random();
        let mut tx = store.begin().await.expect("tx");
        assert!(
            tx.insert_phone_op("ussd:k1", a, "send", r#"{"first":1}"#, 1_01, T)
                .await
                .expect("op"),
            "{name}"
        );
        assert!(
            !tx.insert_phone_op("ussd:k1", a, "send", r#"{"second":2}"#, 5_00, T)
                .await
                .expect("op"),
            "{name}: a key is answered once"
        );
        tx.insert_phone_op("ussd:k2", a, "cash_out", "{}", 2_00, T)
            .await
            .expect("op");
        // Another day does not count today.
        tx.insert_phone_op("ussd:k3", a, "send", "{}", 9_00, T.plus_secs(86_400))
            .await
            .expect("op");
        assert_eq!(
            tx.phone_spent_today(a, T).await.expect("sum"),
            3_01,
            "{name}"
        );
        tx.commit().await.expect("commit");
        let op = store.phone_op("ussd:k1").await.expect("read").expect("op");
        assert_eq!(op.answer, r#"{"first":1}"#, "{name}");
        assert_eq!(op.kind, "send", "{name}");
        assert!(store.phone_op("ussd:none").await.expect("read").is_none());
    }
}

#[tokio::test]
async fn an_open_code_is_unique_and_closes_once() {
    for (name, store, _dir) in stores().await {
        let a = AccountId::random();
        let row = |id: &str, code: &str| CashOutRow {
            id: id.into(),
            code: code.into(),
            account: a,
            phone: phone(1),
            op_key: format!("ussd:{id}"),
            amount: brl(20_00),
            fee: brl(40),
            state: CashOutState::Open,
            expires_at: T.plus_secs(600),
            agent: None,
        };
        let mut tx = store.begin().await.expect("tx");
        assert!(
            tx.insert_cash_out(&row("c1", "12345678"), T)
                .await
                .expect("insert")
        );
        assert!(
            !tx.insert_cash_out(&row("c2", "12345678"), T)
                .await
                .expect("insert"),
            "{name}: the code is open already"
        );
        assert!(
            !tx.insert_cash_out(&row("c1", "87654321"), T)
                .await
                .expect("insert")
        );
        let open = tx
            .lock_open_cash_out("12345678")
            .await
            .expect("lock")
            .expect("open");
        assert_eq!(open, row("c1", "12345678"), "{name}");
        assert!(
            tx.close_cash_out("c1", CashOutState::Paid, Some("kiosk"), T)
                .await
                .expect("close")
        );
        assert!(
            !tx.close_cash_out("c1", CashOutState::Expired, None, T)
                .await
                .expect("close"),
            "{name}: closed once"
        );
        // Once closed, the code may be issued again.
        assert!(
            tx.insert_cash_out(&row("c3", "12345678"), T)
                .await
                .expect("insert")
        );
        tx.commit().await.expect("commit");
        let paid = store
            .cash_out_paid_by("12345678", &phone(1), "kiosk")
            .await
            .expect("read")
            .expect("paid");
        assert_eq!(paid.id, "c1", "{name}");
        assert_eq!(paid.state, CashOutState::Paid, "{name}");
        assert!(
            store
                .cash_out_paid_by("12345678", &phone(1), "other")
                .await
                .expect("read")
                .is_none()
        );
        assert_eq!(
            store
                .lapsed_cash_outs(T.plus_secs(601), 10)
                .await
                .expect("lapsed"),
            vec!["c3".to_owned()],
            "{name}"
        );
        assert!(
            store
                .lapsed_cash_outs(T, 10)
                .await
                .expect("lapsed")
                .is_empty()
        );
        assert_eq!(
            store
                .cash_out_of_op("ussd:c3")
                .await
                .expect("read")
                .map(|r| r.code),
            Some("12345678".into())
        );
    }
}

#[tokio::test]
async fn link_challenges_are_replaced_counted_and_removed() {
    for (name, store, _dir) in stores().await {
        let (a, b) = (AccountId::random(), AccountId::random());
        let mut tx = store.begin().await.expect("tx");
        let link = |account, hash: &[u8]| LinkRow {
            account,
            code_hash: hash.to_vec(),
            attempts: 3,
            expires_at: T.plus_secs(600),
        };
        tx.put_phone_link(&phone(1), &link(a, b"h1"), T)
            .await
            .expect("put");
        tx.put_phone_link(&phone(1), &link(b, b"h2"), T)
            .await
            .expect("replace");
        let got = tx
            .lock_phone_link(&phone(1))
            .await
            .expect("lock")
            .expect("link");
        assert_eq!(got, link(b, b"h2"), "{name}");
        tx.set_link_attempts(&phone(1), 1).await.expect("attempts");
        assert_eq!(
            tx.lock_phone_link(&phone(1))
                .await
                .expect("lock")
                .map(|l| l.attempts),
            Some(1)
        );
        tx.commit().await.expect("commit");
        let read = store
            .phone_link(&phone(1))
            .await
            .expect("read")
            .expect("link");
        assert_eq!(read.attempts, 1, "{name}");
        assert!(
            !format!("{read:?}").contains("104, 50"),
            "{name}: Debug leaves out the code's hash"
        );
        let mut tx = store.begin().await.expect("tx");
        tx.delete_phone_link(&phone(1)).await.expect("delete");
        assert!(
            tx.lock_phone_link(&phone(1)).await.expect("lock").is_none(),
            "{name}"
        );
        tx.commit().await.expect("commit");
    }
}

#[tokio::test]
async fn session_records_are_replaced_and_purged_after_their_retention() {
    for (name, store, _dir) in stores().await {
        store
            .put_ussd_session("at:s1", "{\"v\":1}", T)
            .await
            .expect("put");
        store
            .put_ussd_session("at:s1", "{\"v\":2}", T.plus_secs(100))
            .await
            .expect("replace");
        store
            .put_ussd_session("at:s2", "{}", T.plus_secs(10))
            .await
            .expect("put");
        assert_eq!(
            store.ussd_session("at:s1").await.expect("read").as_deref(),
            Some("{\"v\":2}"),
            "{name}"
        );
        assert_eq!(
            store
                .purge_ussd_sessions(T.plus_secs(50))
                .await
                .expect("purge"),
            1
        );
        assert!(
            store.ussd_session("at:s2").await.expect("read").is_none(),
            "{name}"
        );
        assert!(
            store.ussd_session("at:s1").await.expect("read").is_some(),
            "{name}"
        );
    }
}

#[tokio::test]
async fn the_outbox_takes_an_event_once_and_marks_it_delivered_once() {
    for (name, store, _dir) in stores().await {
        let notice = |event: &str, to: u8, lang| Notice {
            event_id: event.into(),
            to: phone(to),
            language: lang,
            kind: NoticeKind::Received {
                amount: brl(50_00),
                from: phone(9),
                balance: brl(50_00),
            },
        };
        let mut tx = store.begin().await.expect("tx");
        assert!(
            tx.enqueue_sms(&notice("e1", 1, Language::En), T)
                .await
                .expect("q")
        );
        assert!(
            !tx.enqueue_sms(&notice("e1", 1, Language::Pt), T)
                .await
                .expect("q"),
            "{name}: one message per event, ever"
        );
        assert!(
            tx.enqueue_sms(&notice("e2", 2, Language::Pt), T)
                .await
                .expect("q")
        );
        tx.commit().await.expect("commit");
        let all = store.sms_outbox(None, 10).await.expect("list");
        assert_eq!(all.len(), 2, "{name}");
        assert_eq!(all[0].event_id, "e2", "{name}: newest first");
        assert!(
            all[0].body.starts_with("Ferry: Voce recebeu 50.00 BRL"),
            "{name}"
        );
        assert_eq!((all[0].parts, all[0].kind.as_str()), (1, "received"));
        let mine = store.sms_outbox(Some(&phone(1)), 10).await.expect("list");
        assert_eq!(mine.len(), 1, "{name}");
        assert_eq!(
            mine[0].language,
            Language::En,
            "{name}: the first one stays"
        );

        // Leased rows are not leased again until the lease ends.
        let leased = store.lease_due_sms(T, 60, 10).await.expect("lease");
        assert_eq!(leased.len(), 2, "{name}");
        assert!(
            store
                .lease_due_sms(T.plus_secs(1), 60, 10)
                .await
                .expect("lease")
                .is_empty()
        );
        assert!(
            store
                .mark_sms_delivered(leased[0].id, T)
                .await
                .expect("mark")
        );
        assert!(
            !store
                .mark_sms_delivered(leased[0].id, T)
                .await
                .expect("mark"),
            "{name}: marked once"
        );
        store
            .mark_sms_failed(leased[1].id, "gateway down", T.plus_secs(5))
            .await
            .expect("failed");
        let again = store
            .lease_due_sms(T.plus_secs(5), 60, 10)
            .await
            .expect("lease");
        assert_eq!(again.len(), 1, "{name}: only the failed one is due again");
        assert_eq!(again[0].attempts, 2, "{name}");
        assert_eq!(again[0].last_error.as_deref(), Some("gateway down"));
    }
}

#[tokio::test]
async fn online_movements_name_the_other_online_balances() {
    for (name, store, _dir) in stores().await {
        let (a, b) = (AccountId::random(), AccountId::random());
        let t = |reference: &str, kind: &'static str, postings| ferry_ledger::Transfer {
            reference: reference.into(),
            kind,
            currency: Currency::BRL,
            postings,
        };
        use ferry_ledger::Posting;
        store
            .post(
                &t(
                    "in",
                    "cash_in",
                    vec![
                        Posting::debit(LedgerAccount::Issuance, 10_00),
                        Posting::credit(LedgerAccount::Online(a), 10_00),
                    ],
                ),
                T,
            )
            .await
            .expect("post");
        store
            .post(
                &t(
                    "send",
                    "ussd_send",
                    vec![
                        Posting::debit(LedgerAccount::Online(a), 4_04),
                        Posting::credit(LedgerAccount::Online(b), 4_00),
                        Posting::credit(LedgerAccount::Fees, 4),
                    ],
                ),
                T.plus_secs(1),
            )
            .await
            .expect("post");
        let moves = store.online_movements(a, 5).await.expect("moves");
        assert_eq!(moves.len(), 2, "{name}");
        assert_eq!(
            (moves[0].kind.as_str(), moves[0].amount),
            ("ussd_send", -4_04)
        );
        assert_eq!(moves[0].counterparts, vec![b], "{name}");
        assert_eq!(
            (moves[1].kind.as_str(), moves[1].amount),
            ("cash_in", 10_00)
        );
        assert!(moves[1].counterparts.is_empty(), "{name}");
        assert_eq!(store.online_movements(a, 1).await.expect("moves").len(), 1);
    }
}

#[tokio::test]
async fn operation_keys_are_purged_by_age() {
    for (name, store, _dir) in stores().await {
        let a = AccountId::random();
        let mut tx = store.begin().await.expect("tx");
        tx.insert_phone_op("ussd:old", a, "send", "{}", 1_00, T)
            .await
            .expect("op");
        tx.insert_phone_op("ussd:new", a, "send", "{}", 2_00, T.plus_secs(100))
            .await
            .expect("op");
        tx.commit().await.expect("commit");
        assert_eq!(
            store.purge_phone_ops(T.plus_secs(50)).await.expect("purge"),
            1,
            "{name}"
        );
        assert!(store.phone_op("ussd:old").await.expect("read").is_none());
        assert!(store.phone_op("ussd:new").await.expect("read").is_some());
        assert_eq!(
            store.purge_phone_ops(T.plus_secs(50)).await.expect("purge"),
            0
        );
    }
}

#[tokio::test]
async fn attempt_counters_count_per_window_refund_and_purge() {
    for (name, store, _dir) in stores().await {
        for i in 1..=3u64 {
            let hit = store
                .hit_throttle("guess", "agent-1", 60, T.plus_secs(i))
                .await
                .expect("hit");
            assert_eq!(hit.hits, i, "{name}");
            assert_eq!(
                hit.window_ends,
                T.plus_secs(61),
                "{name}: the first hit opens it"
            );
        }
        // Subjects and scopes count apart.
        let other = store
            .hit_throttle("guess", "agent-2", 60, T.plus_secs(5))
            .await
            .expect("hit");
        assert_eq!(other.hits, 1, "{name}");
        let scoped = store
            .hit_throttle("link", "agent-1", 60, T.plus_secs(5))
            .await
            .expect("hit");
        assert_eq!(scoped.hits, 1, "{name}");
        // A refund takes one back inside the window.
        store
            .refund_throttle("guess", "agent-1", 60, T.plus_secs(10))
            .await
            .expect("refund");
        let hit = store
            .hit_throttle("guess", "agent-1", 60, T.plus_secs(11))
            .await
            .expect("hit");
        assert_eq!(hit.hits, 3, "{name}");
        // The first hit after the window ends opens a new one at 1.
        let hit = store
            .hit_throttle("guess", "agent-1", 60, T.plus_secs(61))
            .await
            .expect("hit");
        assert_eq!(hit.hits, 1, "{name}");
        assert_eq!(hit.window_ends, T.plus_secs(121), "{name}");
        // A refund after the window it was counted in changes nothing (and never goes below 0).
        store
            .refund_throttle("guess", "agent-2", 60, T.plus_secs(200))
            .await
            .expect("refund");
        let hit = store
            .hit_throttle("guess", "agent-2", 60, T.plus_secs(30))
            .await
            .expect("hit");
        assert_eq!(
            hit.hits, 2,
            "{name}: the late refund did not touch the count"
        );
        // Purge drops windows that started before the cut.
        assert_eq!(
            store.purge_throttles(T.plus_secs(40)).await.expect("purge"),
            2,
            "{name}: agent-2 and link/agent-1 started at T+5"
        );
        let hit = store
            .hit_throttle("guess", "agent-1", 60, T.plus_secs(62))
            .await
            .expect("hit");
        assert_eq!(
            hit.hits, 2,
            "{name}: the window that started at T+61 stayed"
        );
    }
}

#[tokio::test]
async fn concurrent_attempts_are_each_counted_once() {
    for (name, store, _dir) in stores().await {
        let mut tasks = Vec::new();
        for _ in 0..24 {
            let store = store.clone();
            tasks.push(tokio::spawn(async move {
                loop {
                    match store.hit_throttle("guess", "racer", 600, T).await {
                        Ok(hit) => return hit.hits,
                        Err(e) if e.is_transient() => continue,
                        Err(e) => panic!("hit: {e}"),
                    }
                }
            }));
        }
        let mut seen = Vec::new();
        for t in tasks {
            seen.push(t.await.expect("task"));
        }
        seen.sort_unstable();
        assert_eq!(seen, (1..=24).collect::<Vec<u64>>(), "{name}");
    }
}
