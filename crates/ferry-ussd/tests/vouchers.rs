//! Vouchers from a feature phone: create (amount, hours, password twice, PIN, confirm with the
//! fee), the text form by SMS, list and invalidate, through the engine and the memory backend.

mod common;

use common::*;
use ferry_proto::UnixTime;
use ferry_proto::voucher::SealedVoucher;
use ferry_ussd::backend::Backend;
use ferry_ussd::menu::{Engine, Observation};
use ferry_ussd::sms::NoticeKind;
use ferry_ussd::voucher::VoucherOutcome;

const PASSWORD: &str = "sun7rise";

/// The voucher texts sent to Alice so far.
fn voucher_texts(w: &World) -> Vec<String> {
    w.notices()
        .into_iter()
        .filter_map(|n| match n.kind {
            NoticeKind::VoucherIssued { text, .. } => Some(text),
            _ => None,
        })
        .collect()
}

/// The last reply of a session whose callbacks come one second apart from `T0 + start`.
async fn last_at(w: &World, session: &str, script: &str, start: u64) -> ferry_ussd::Reply {
    let mut last = None;
    for (i, t) in ferry_ussd::sim::script_texts(script).iter().enumerate() {
        last = Some(w.dial(session, ALICE, t, start + i as u64).await);
    }
    last.expect("one reply at least")
}

fn create_script(amount: &str, hours: &str) -> String {
    format!("6*1*{amount}*{hours}*{PASSWORD}*{PASSWORD}*{PIN}*1")
}

#[tokio::test]
async fn create_a_voucher_from_a_feature_phone() {
    let w = world();
    let r = w.run("v1", ALICE, &create_script("40", "6")).await;
    assert_con(&r[0], "6 Vouchers");
    assert_con(&r[1], "Vouchers\n1 Create voucher\n2 My vouchers");
    assert_con(
        &r[2],
        "New voucher, to be redeemed by others.\nEnter amount in BRL:",
    );
    assert_con(
        &r[3],
        "Voucher of 40.00 BRL.\nValid for how many hours (1-12)?",
    );
    assert_con(&r[4], "Choose the voucher password");
    assert_con(&r[5], "Enter the voucher password again:");
    assert_con(&r[6], "Enter your PIN:");
    // The confirmation shows amount and creation fee (1 %), and what is held in all (the
    // 0.3 % transfer-fee reserve too).
    assert_con(
        &r[7],
        "Voucher 40.00 BRL, 6 h. Fee 0.40 BRL. Create?\nTotal held: 40.52 BRL\n1 Confirm\n2 Cancel",
    );
    let end = r[8].text().to_owned();
    assert!(r[8].is_end(), "{end}");
    assert!(
        end.contains("created: 40.00 BRL, valid 6 h, fee 0.40 BRL"),
        "{end}"
    );
    assert_eq!(w.balance(w.alice), 100_00 - 40_52);
    assert!(w.backend.conserved().unwrap());
    // The text form came by SMS, and it is a real voucher sealed under the password.
    let texts = voucher_texts(&w);
    assert_eq!(texts.len(), 1);
    let sealed = SealedVoucher::from_text(&texts[0]).expect("a voucher text");
    let payload = sealed.open(PASSWORD).expect("sealed under the password");
    assert_eq!(payload.initial_amount.minor(), 40_00);
    assert_eq!(payload.emitter, w.alice);
    assert_eq!(
        payload.expires_at.secs() - payload.created_at.secs(),
        6 * 3600
    );
    // The screen's reference is the id's first 8 hex digits.
    let reference = ferry_ussd::voucher::short_reference(&sealed.id().to_string());
    assert!(
        end.contains(&format!("Voucher {reference} created")),
        "{end}"
    );
    // The session record never holds the password.
    let json = w.record("v1").await.unwrap().to_json();
    assert!(!json.contains(PASSWORD) && !json.contains(PIN), "{json}");
}

#[tokio::test]
async fn retransmitted_confirmations_create_one_voucher() {
    let w = world();
    let script = create_script("10", "2");
    let texts = ferry_ussd::sim::script_texts(&script);
    for (i, t) in texts.iter().enumerate() {
        let a = w.dial("rt", ALICE, t, i as u64).await;
        let b = w.dial("rt", ALICE, t, i as u64).await;
        assert_eq!(a, b, "{i}");
    }
    assert_end(
        &w.dial("rt", ALICE, &script, 60).await,
        "created: 10.00 BRL",
    );
    // Two engines at once, then with the record lost: the operation key answers.
    let other = Engine::new(w.backend.clone(), config());
    let req = request("rt", ALICE, &script);
    let (a, b) = tokio::join!(
        w.engine.handle(&req, UnixTime(T0 + 61)),
        other.handle(&req, UnixTime(T0 + 61))
    );
    assert_eq!(a.unwrap(), b.unwrap());
    w.backend.purge_sessions(UnixTime(u64::MAX)).unwrap();
    let fresh = Engine::new(w.backend.clone(), config());
    assert_end(
        &fresh.handle(&req, UnixTime(T0 + 62)).await.unwrap(),
        "created: 10.00 BRL",
    );
    assert_eq!(w.backend.voucher_count().unwrap(), 1);
    assert_eq!(voucher_texts(&w).len(), 1);
    assert_eq!(w.balance(w.alice), 100_00 - 10_13);
}

#[tokio::test]
async fn bad_voucher_inputs_get_clear_screens_and_move_nothing() {
    let w = world();
    for (script, note) in [
        ("6*1*0.00", "Amount must be above zero."),
        ("6*1*1.234", "Use at most 2 decimals."),
        ("6*1*abc", "Invalid amount."),
        ("6*1*10*13", "Enter whole hours from 1 to 12."),
        ("6*1*10*0.5", "Enter whole hours from 1 to 12."),
        (
            "6*1*10*6*12345",
            "A voucher password is 6 to 24 characters.",
        ),
        (
            "6*1*10*6*sun7rise*sun7rose",
            "The passwords do not match.\nChoose the voucher",
        ),
        ("6*3", "Invalid choice.\nVouchers"),
    ] {
        assert_con(&w.last(script, ALICE, script).await, note);
    }
    // Cancel at the confirmation; a wrong PIN counts as one.
    assert_end(
        &w.last(
            "c",
            ALICE,
            &format!("6*1*10*6*{PASSWORD}*{PASSWORD}*{PIN}*2"),
        )
        .await,
        "Cancelled.",
    );
    assert_con(
        &w.last("p", ALICE, &format!("6*1*10*6*{PASSWORD}*{PASSWORD}*4826"))
            .await,
        "Wrong PIN. 2 tries left.",
    );
    // More than the balance (amount and fees), and a blocked account.
    assert_end(
        &w.last("big", ALICE, &create_script("99.50", "1")).await,
        "Not enough balance (100.00 BRL) for amount and fees.",
    );
    w.backend.block_vouchers(w.alice, true).unwrap();
    assert_end(
        &w.last("blk", ALICE, &create_script("5", "1")).await,
        "Voucher creation is blocked on your account.",
    );
    assert_eq!(w.balance(w.alice), 100_00);
    assert_eq!(w.backend.voucher_count().unwrap(), 0);
    assert!(voucher_texts(&w).is_empty());
}

#[tokio::test]
async fn the_daily_limit_counts_vouchers() {
    let w = world();
    w.backend
        .cash_in(w.alice, 900_00, UnixTime(T0 - 10))
        .unwrap();
    // Tier 0 may move 500.00 a day: a voucher of 499.00 holds 503.99 with its fees.
    assert_end(
        &w.last("d", ALICE, &create_script("499", "1")).await,
        "Over your daily limit. You can still use 500.00 BRL today.",
    );
    assert_end(
        &w.last("d2", ALICE, &create_script("400", "1")).await,
        "created",
    );
    assert_end(
        &w.last("d3", ALICE, &format!("1*{BOB}*100*{PIN}*1")).await,
        "Over your daily limit",
    );
}

#[tokio::test]
async fn list_and_invalidate_vouchers() {
    let w = world();
    assert_con(
        &w.last("l0", ALICE, &format!("6*2*{PIN}")).await,
        "You have no open vouchers.",
    );
    w.last("a", ALICE, &create_script("10", "3")).await;
    w.last("b", ALICE, &create_script("20", "12")).await;
    let after = w.balance(w.alice);
    // Listed a minute after they were made: hours left, rounded up.
    let list = last_at(&w, "l1", &format!("6*2*{PIN}"), 60).await;
    let text = list.text().to_owned();
    assert!(
        text.starts_with("Open vouchers. Choose one to invalidate:\n1 "),
        "{text}"
    );
    assert!(
        text.contains(" 20.00 BRL 12h\n2 ") && text.contains(" 10.00 BRL 3h"),
        "{text}"
    );
    let lines = w
        .backend
        .vouchers(&phone(ALICE), 4, UnixTime(T0 + 10))
        .await
        .unwrap();
    let reference = ferry_ussd::voucher::short_reference(&lines[1].id);
    let confirm = w.last("i", ALICE, &format!("6*2*{PIN}*2")).await;
    assert_con(
        &confirm,
        &format!("Invalidate voucher {reference} (10.00 BRL left)?"),
    );
    // Confirmed twice (a retransmission): the rest (10.00 and its 0.03 reserve) returns once.
    let script = format!("6*2*{PIN}*2*1");
    let end = w.last("i", ALICE, &script).await;
    assert_end(
        &end,
        &format!("Voucher {reference} invalidated. 10.03 BRL returned"),
    );
    assert_eq!(w.dial("i", ALICE, &script, 30).await, end);
    assert_eq!(w.balance(w.alice), after + 10_03);
    assert!(w.backend.conserved().unwrap());
    // Invalidating it again in a new session changes nothing.
    let lines_now = w
        .backend
        .vouchers(&phone(ALICE), 4, UnixTime(T0 + 10))
        .await
        .unwrap();
    assert_eq!(lines_now.len(), 1);
    let rec = w.record("i").await.unwrap();
    assert!(
        rec.steps
            .iter()
            .any(|s| matches!(s.observation, Observation::Invalidated(_)))
    );
    assert!(rec.steps.iter().all(|s| !matches!(
        s.observation,
        Observation::Voucher(VoucherOutcome::Created { .. })
    )));
}
