//! Property tests through the whole engine: random sessions never panic, every screen fits,
//! and money moves only after a correct PIN and a confirmation.

mod common;

use common::*;
use ferry_proto::{Currency, UnixTime};
use ferry_ussd::Language;
use ferry_ussd::backend::{CashOutOutcome, PinCheck, SendOutcome, Tier};
use ferry_ussd::gsm7;
use ferry_ussd::memory::{MemoryConfig, TierLimits};
use ferry_ussd::menu::{MAX_SCREEN_SEPTETS, Observation, Reply, SessionRecord};
use ferry_ussd::pin::Pin;
use ferry_ussd::sim::script_texts;
use ferry_ussd::voucher::{InvalidateOutcome, VoucherOutcome};
use proptest::prelude::*;

/// A name as long and as un-GSM as a backend may hold.
const LONG_NAME: &str = "Maria da Conceição Gonçalves Êxito Ümlaut 李 😀 {[~]} € \\ | ^ Pereira dos Santos e Silva Júnior";

/// A world with unlimited tiers and huge balances.
fn big_world() -> World {
    let mut mc = MemoryConfig::test(Currency::BRL);
    let unlimited = TierLimits {
        max_balance: i64::MAX,
        daily_out: i64::MAX,
    };
    mc.tier0 = unlimited;
    mc.tier1 = unlimited;
    let w = world_with(mc);
    w.backend
        .cash_in(w.alice, i64::MAX / 4, UnixTime(T0 - 10))
        .expect("fund");
    w
}

/// A second payer on another number, speaking `lang`, with the longest name and a huge
/// balance.
fn alice_in(w: &World, lang: Language) -> &'static str {
    const ALICE2: &str = "+5511987650009";
    let pin = Pin::parse(PIN).expect("pin");
    let id = w
        .backend
        .open(&phone(ALICE2), lang, Tier::Tier1, Some(LONG_NAME), &pin)
        .expect("alice2");
    w.backend
        .cash_in(id, i64::MAX / 4, UnixTime(T0 - 10))
        .expect("fund");
    ALICE2
}

fn token() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => proptest::sample::select(vec!["1", "2", "3", "4", "5", "6", "0", "00", "9", "", "2", "1"])
            .prop_map(str::to_owned),
        1 => proptest::sample::select(vec!["sun7rise", "12", "13", "12345", "sun7rose"])
            .prop_map(str::to_owned),
        2 => Just(PIN.to_owned()),
        1 => proptest::sample::select(vec!["1111", "4826", "7391", "12a4"]).prop_map(str::to_owned),
        2 => proptest::sample::select(vec![
            BOB, BOB_NATIONAL, "+5511955550003", "+5511987650009", "12ab", "+123456789012345",
        ])
        .prop_map(str::to_owned),
        2 => proptest::sample::select(vec![
            "50", "0.01", "92233720368547758.07", "23058430092136939.51", "12.345", "abc", "-5",
            "0.00", "999999999999",
        ])
        .prop_map(str::to_owned),
        1 => "[0-9]{20,30}",
    ]
}

fn any_lang() -> impl Strategy<Value = Language> {
    proptest::sample::select(Language::ALL.to_vec())
}

fn check_screen(r: &Reply) -> Result<(), TestCaseError> {
    let t = r.text();
    prop_assert!(gsm7::is_gsm7_default(t), "not GSM-7: {t:?}");
    prop_assert!(
        gsm7::septet_len(t).unwrap_or(usize::MAX) <= MAX_SCREEN_SEPTETS,
        "{} septets: {t:?}",
        t.chars().count()
    );
    prop_assert!(!t.trim().is_empty());
    Ok(())
}

/// Money left (or, invalidating a voucher, came back to) Alice's account only through a
/// recorded correct PIN followed, at a later input, by a "1" that confirmed a send, a cash
/// out, a voucher or an invalidation.
fn moved_only_after_pin_and_confirm(
    record: &SessionRecord,
    inputs: &[&str],
) -> Result<bool, TestCaseError> {
    let mut pin_ok_at = None;
    for s in &record.steps {
        match &s.observation {
            Observation::Pin(PinCheck::Ok) => pin_ok_at = Some(s.index),
            Observation::Sent(SendOutcome::Sent { .. })
            | Observation::CashOut(CashOutOutcome::Code { .. })
            | Observation::Voucher(VoucherOutcome::Created { .. })
            | Observation::Invalidated(InvalidateOutcome::Invalidated { .. }) => {
                let Some(p) = pin_ok_at else {
                    return Ok(false);
                };
                prop_assert!(s.index > p);
                prop_assert_eq!(inputs.get(s.index as usize).copied(), Some("1"));
                prop_assert_eq!(inputs.get(p as usize).copied(), Some(PIN));
                return Ok(true);
            }
            _ => {}
        }
    }
    Ok(false)
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime")
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Random sessions from a vocabulary of menu choices, right and wrong PINs, numbers and
    /// amounts (the largest ones included), in every language, with the longest name: every
    /// screen fits, money moves only after the right PIN and a confirm, and is conserved.
    #[test]
    fn random_sessions(
        noise in proptest::collection::vec(token(), 0..14),
        send_after in any::<bool>(),
        voucher_after in any::<bool>(),
        lang in any_lang(),
    ) {
        let rt = runtime();
        let w = big_world();
        let who = alice_in(&w, lang);
        let mut tokens = noise.clone();
        if send_after {
            // Back to the main menu, then a valid send: it must go through unless the noise
            // already ended the session.
            tokens.extend(["00", "1", BOB, "50", PIN, "1"].map(str::to_owned));
        } else if voucher_after {
            // Or a valid voucher.
            tokens.extend(
                ["00", "6", "1", "50", "12", "sun7rise", "sun7rise", PIN, "1"].map(str::to_owned),
            );
        }
        let script = tokens.join("*");
        let mut ended_early = false;
        let before = w.backend.account_of(&phone(who)).expect("id").expect("account");
        let start = w.backend.balance_of(before).expect("balance");
        rt.block_on(async {
            for (i, text) in script_texts(&script).iter().enumerate() {
                let r = w.engine
                    .handle(&request("p", who, text), UnixTime(T0 + i as u64))
                    .await
                    .expect("backend");
                check_screen(&r)?;
                if r.is_end() && i <= noise.len() {
                    ended_early = true;
                }
                // Retransmission: the same answer.
                let again = w.engine
                    .handle(&request("p", who, text), UnixTime(T0 + i as u64))
                    .await
                    .expect("backend");
                prop_assert_eq!(&again, &r);
            }
            Ok::<(), TestCaseError>(())
        })?;
        let end = w.backend.balance_of(before).expect("balance");
        prop_assert!(w.backend.conserved().expect("conserved"));
        let record = rt.block_on(w.record("p")).expect("record");
        let inputs = ferry_ussd::gateway::UssdText::new(script.clone());
        let inputs = inputs.inputs();
        let moved = moved_only_after_pin_and_confirm(&record, &inputs)?;
        if end != start {
            prop_assert!(moved, "money moved without PIN and confirm: {script}");
        }
        if (send_after || voucher_after) && !ended_early {
            prop_assert!(moved && end < start, "the valid send did not go through: {script}");
        }
    }

    /// Arbitrary text (any characters a handset can send, and more) never panics, every
    /// screen fits, and without the right PIN in it nothing moves.
    #[test]
    fn arbitrary_text(text in "[0-9*#+.a-z ]{0,80}|\\PC{0,60}", lang in any_lang()) {
        let rt = runtime();
        let w = big_world();
        let who = alice_in(&w, lang);
        let id = w.backend.account_of(&phone(who)).expect("id").expect("account");
        let start = w.backend.balance_of(id).expect("balance");
        let r = rt.block_on(w.engine.handle(&request("a", who, &text), UnixTime(T0))).expect("backend");
        check_screen(&r)?;
        if !text.contains(PIN) {
            prop_assert_eq!(w.backend.balance_of(id).expect("balance"), start);
        }
        prop_assert!(w.backend.conserved().expect("conserved"));
    }

    /// An unknown number's random session registers at most one account and moves nothing.
    #[test]
    fn unregistered_random_sessions(tokens in proptest::collection::vec(token(), 0..10)) {
        let rt = runtime();
        let w = world();
        let script = tokens.join("*");
        rt.block_on(async {
            for (i, text) in script_texts(&script).iter().enumerate() {
                let r = w.engine
                    .handle(&request("u", "+5511955550003", text), UnixTime(T0 + i as u64))
                    .await
                    .expect("backend");
                check_screen(&r)?;
            }
            Ok::<(), TestCaseError>(())
        })?;
        prop_assert_eq!(w.balance(w.alice), 100_00);
        prop_assert_eq!(w.balance(w.bob), 0);
    }
}
