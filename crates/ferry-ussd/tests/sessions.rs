//! Whole USSD sessions through the engine and the memory backend, in the aggregator's text
//! convention.

mod common;

use common::*;
use ferry_proto::{Currency, UnixTime};
use ferry_ussd::Language;
use ferry_ussd::backend::{Backend, Tier};
use ferry_ussd::gateway::{africastalking, hubtel};
use ferry_ussd::memory::MemoryConfig;
use ferry_ussd::menu::{Engine, Observation, Reply};
use ferry_ussd::pin::Pin;
use ferry_ussd::sms::{NoticeKind, segments};

const NEW: &str = "+5511955550003";

#[tokio::test]
async fn register_on_first_dial() {
    let w = world();
    let r = w.run("reg", NEW, "2*1357*1357").await;
    assert_con(
        &r[0],
        "Welcome to Ferry. Choose language:\n1 English\n2 Portugues",
    );
    assert_con(&r[1], "Escolha um PIN de 4 a 6 digitos:\n0 Voltar");
    assert_con(&r[2], "Digite o mesmo PIN de novo:");
    assert_con(&r[3], "Conta criada.\nFerry\n1 Enviar dinheiro");
    let acct = w.backend.account(&phone(NEW)).await.unwrap().unwrap();
    assert_eq!(acct.language, Language::Pt);
    assert_eq!(acct.tier, Tier::Tier0);
    assert!(acct.has_pin);
    // The new account works in the same session: its balance, in Portuguese.
    assert_con(
        &w.dial("reg", NEW, "2*1357*1357*2*1357", 5).await,
        "Saldo: 0.00 BRL",
    );
    assert!(w.notices().iter().any(|n| n.to == phone(NEW)
        && n.kind == NoticeKind::Registered
        && n.text().contains("Sua conta esta pronta")));
}

#[tokio::test]
async fn registration_refuses_weak_and_mismatched_pins() {
    let w = world();
    assert_con(&w.last("r1", NEW, "1*1234").await, "PIN too easy to guess");
    assert_con(
        &w.last("r2", NEW, "1*12a4").await,
        "A PIN is 4 to 6 digits.",
    );
    // Mismatch: back to choosing the PIN, nothing registered.
    assert_con(
        &w.last("r3", NEW, "1*1357*2468").await,
        "The PINs do not match.\nChoose a PIN",
    );
    assert!(w.backend.account(&phone(NEW)).await.unwrap().is_none());
    assert_con(&w.last("r4", NEW, "7").await, "Invalid choice.\nWelcome");
}

#[tokio::test]
async fn agent_registered_account_chooses_its_pin_on_first_dial() {
    let w = world();
    w.backend
        .register_by_agent(&phone(NEW), Language::Sw, "Carol")
        .unwrap();
    let r = w.run("ag", NEW, "1357*1357").await;
    assert_con(&r[0], "Chagua PIN ya tarakimu 4 hadi 6:");
    assert_con(&r[2], "Akaunti imefunguliwa.\nFerry\n1 Tuma pesa");
    let acct = w.backend.account(&phone(NEW)).await.unwrap().unwrap();
    assert_eq!(acct.tier, Tier::Tier1);
    assert!(acct.has_pin);
}

#[tokio::test]
async fn send_money_to_a_phone() {
    let w = world();
    let r = w
        .run("s1", ALICE, &format!("1*{BOB_NATIONAL}*50*{PIN}*1"))
        .await;
    assert_con(
        &r[0],
        "Ferry\n1 Send money\n2 Balance\n3 Last 5 transactions",
    );
    assert_con(
        &r[1],
        "Enter the recipient's phone number:\n0 Back 00 Main menu",
    );
    assert_con(
        &r[2],
        "Send to +5511987650002 (Bob Silva).\nEnter amount in BRL:",
    );
    assert_con(&r[3], "Enter your PIN:");
    assert_con(
        &r[4],
        "Send 50.00 BRL to +5511987650002 (Bob Silva)?\n1 Confirm\n2 Cancel",
    );
    assert_end(
        &r[5],
        "Sent 50.00 BRL to +5511987650002. Fee 0.50 BRL. Balance 49.50 BRL.",
    );
    assert_eq!(w.balance(w.alice), 49_50);
    assert_eq!(w.balance(w.bob), 50_00);
    assert!(w.backend.conserved().unwrap());
    // Both notices, each in one GSM-7 part.
    let n = w.notices();
    let payer = n.iter().find(|n| n.to == phone(ALICE)).unwrap();
    let payee = n.iter().find(|n| n.to == phone(BOB)).unwrap();
    assert_eq!(
        payer.text(),
        "Ferry: You sent 50.00 BRL to +5511987650002. Fee 0.50 BRL. Balance 49.50 BRL."
    );
    assert_eq!(
        payee.text(),
        "Ferry: You received 50.00 BRL from +5511987650001. Balance 50.00 BRL."
    );
    for n in &n {
        assert!(segments(&n.text()).is_single());
    }
}

#[tokio::test]
async fn cancel_moves_nothing() {
    let w = world();
    assert_end(
        &w.last("c", ALICE, &format!("1*{BOB}*50*{PIN}*2")).await,
        "Cancelled. Nothing was sent.",
    );
    assert_eq!(w.balance(w.alice), 100_00);
}

#[tokio::test]
async fn retransmitted_callbacks_are_idempotent() {
    let w = world();
    let script = format!("1*{BOB}*50*{PIN}*1");
    // Every callback delivered twice: the same screen each time.
    let texts = ferry_ussd::sim::script_texts(&script);
    for (i, t) in texts.iter().enumerate() {
        let a = w.dial("rt", ALICE, t, i as u64).await;
        let b = w.dial("rt", ALICE, t, i as u64).await;
        assert_eq!(a, b, "{i}");
    }
    // And the confirmation once more, later, and an earlier text again.
    let again = w.dial("rt", ALICE, &script, 30).await;
    assert_end(&again, "Sent 50.00 BRL");
    assert_con(&w.dial("rt", ALICE, "1", 31).await, "recipient");
    assert_eq!(w.balance(w.alice), 49_50);
    assert_eq!(w.balance(w.bob), 50_00);
    assert_eq!(w.notices().len(), 2);
}

#[tokio::test]
async fn two_server_processes_answering_at_once_move_money_once() {
    let w = world();
    let other = Engine::new(w.backend.clone(), config());
    let script = format!("1*{BOB}*50*{PIN}");
    w.run("dup", ALICE, &script).await;
    let text = format!("{script}*1");
    let req = request("dup", ALICE, &text);
    let (a, b) = tokio::join!(
        w.engine.handle(&req, UnixTime(T0 + 10)),
        other.handle(&req, UnixTime(T0 + 10))
    );
    assert_eq!(a.unwrap(), b.unwrap());
    assert_eq!(w.balance(w.alice), 49_50);
    // Even with the session record lost, the backend's key answers the first outcome.
    let fresh = Engine::new(w.backend.clone(), config());
    w.backend.purge_sessions(UnixTime(u64::MAX)).unwrap();
    assert_end(
        &fresh
            .handle(&request("dup", ALICE, &text), UnixTime(T0 + 11))
            .await
            .unwrap(),
        "Sent 50.00 BRL",
    );
    assert_eq!(w.balance(w.alice), 49_50);
    assert_eq!(w.balance(w.bob), 50_00);
}

#[tokio::test]
async fn balance_and_history() {
    let w = world();
    assert_con(
        &w.last("b", ALICE, &format!("2*{PIN}")).await,
        "Balance: 100.00 BRL\n0 Back 00 Main menu",
    );
    w.last("s", ALICE, &format!("1*{BOB}*50*{PIN}*1")).await;
    let h = w.last("h", ALICE, &format!("3*{PIN}")).await;
    assert_con(&h, "Last transactions:\n");
    let text = h.text().to_owned();
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines[1].ends_with("-50.50 BRL *0002"), "{text}");
    assert!(lines[2].ends_with("+100.00 BRL"), "{text}");
    let bob = w.last("hb", BOB, "3*1357").await;
    assert!(bob.text().contains("+50.00 BRL *0001"), "{bob:?}");
    // An empty history.
    assert_con(
        &w.last("he", NEW_EMPTY, "").await,
        "Welcome", // not registered: registration first
    );
}

const NEW_EMPTY: &str = "+5511955550004";

#[tokio::test]
async fn cash_out_at_an_agent() {
    let w = world();
    let r = w.last("co", ALICE, &format!("4*20*{PIN}*1")).await;
    assert_end(&r, "Cash-out code: ");
    assert!(
        r.text()
            .contains("Amount 20.00 BRL, fee 0.40 BRL. Valid for 30 min.")
    );
    let code: String = r.text()["Cash-out code: ".len()..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    assert_eq!(code.len(), 8);
    assert_eq!(w.balance(w.alice), 79_60);
    // The agent pays out once.
    w.backend.redeem_cash_out(&code, UnixTime(T0 + 60)).unwrap();
    assert!(w.backend.redeem_cash_out(&code, UnixTime(T0 + 61)).is_err());
    assert!(w.backend.conserved().unwrap());
    let kinds: Vec<_> = w.notices().into_iter().map(|n| n.kind).collect();
    assert!(
        kinds
            .iter()
            .any(|k| matches!(k, NoticeKind::CashOutCode { code: c, .. } if *c == code))
    );
    assert!(
        kinds
            .iter()
            .any(|k| matches!(k, NoticeKind::CashedOut { .. }))
    );
    // Confirm screen, and too much.
    assert_con(
        &w.last("co2", ALICE, &format!("4*20*{PIN}")).await,
        "Cash out 20.00 BRL at an agent?\n1 Confirm\n2 Cancel",
    );
    assert_end(
        &w.last("co3", ALICE, &format!("4*90*{PIN}*1")).await,
        "Not enough balance (79.60 BRL). No code was issued.",
    );
}

#[tokio::test]
async fn expired_cash_out_codes_return_the_money() {
    let w = world();
    w.last("co", ALICE, &format!("4*20*{PIN}*1")).await;
    assert_eq!(
        w.backend
            .expire_cash_outs(UnixTime(T0 + 1800 + 100))
            .unwrap(),
        1
    );
    assert_eq!(w.balance(w.alice), 99_60); // the fee stays taken
    assert!(w.backend.conserved().unwrap());
}

#[tokio::test]
async fn change_pin() {
    let w = world();
    let r = w.run("p", ALICE, &format!("5*1*{PIN}*4826*4826")).await;
    assert_con(
        &r[1],
        "Settings\n1 Change PIN\n2 Language\n0 Back 00 Main menu",
    );
    assert_con(&r[2], "Enter your current PIN:");
    assert_con(&r[3], "Enter a new PIN of 4 to 6 digits:");
    assert_con(&r[4], "Enter the new PIN again:");
    assert_end(&r[5], "Your PIN was changed.");
    assert_con(&w.last("p2", ALICE, "2*4826").await, "Balance: 100.00 BRL");
    assert_con(
        &w.last("p3", ALICE, &format!("2*{PIN}")).await,
        "Wrong PIN. 2 tries left.",
    );
    assert!(w.notices().iter().any(|n| n.kind == NoticeKind::PinChanged));
    // The old PIN is required, the new one must differ, be strong, and be typed twice alike.
    assert_con(
        &w.last("p4", ALICE, "5*1*9999").await,
        "Wrong PIN. 1 tries left.",
    );
    assert_con(&w.last("p5", ALICE, "5*1*4826*4826").await, "must differ");
    assert_con(&w.last("p6", ALICE, "5*1*4826*1111").await, "too easy");
    assert_con(
        &w.last("p7", ALICE, "5*1*4826*7391*7392").await,
        "The PINs do not match.\nEnter a new PIN",
    );
}

#[tokio::test]
async fn language_change() {
    let w = world();
    let r = w.last("l", ALICE, "5*2*3").await;
    assert_con(&r, "Lugha imehifadhiwa.\nFerry\n1 Tuma pesa");
    assert_eq!(
        w.backend
            .account(&phone(ALICE))
            .await
            .unwrap()
            .unwrap()
            .language,
        Language::Sw
    );
    assert_con(&w.last("l2", ALICE, "").await, "1 Tuma pesa");
    assert_con(
        &w.last("l3", ALICE, "5*2*2").await,
        "Idioma salvo.\nFerry\n1 Enviar dinheiro",
    );
    assert_con(
        &w.last("l4", ALICE, "5*2*9").await,
        "Opcao invalida.\nEscolha o idioma:",
    );
    // Notices follow the account's language.
    w.last("l5", ALICE, &format!("1*{BOB}*10*{PIN}*1")).await;
    let n = w.notices();
    assert!(
        n.iter()
            .any(|n| n.to == phone(ALICE) && n.text().starts_with("Ferry: Voce enviou 10.00 BRL"))
    );
}

#[tokio::test]
async fn three_wrong_pins_lock_the_channel() {
    let w = world();
    // A retransmitted wrong PIN counts once.
    for _ in 0..3 {
        assert_con(
            &w.dial("w0", ALICE, "2*1111", 1).await,
            "Wrong PIN. 2 tries left.",
        );
    }
    let r = w.run("w", ALICE, "2*2222*3333").await;
    assert_con(&r[2], "Wrong PIN. 1 tries left.");
    assert_end(&r[3], "Too many wrong PINs. Try again in 30 min.");
    // Locked: even the right PIN, in a new session, is refused; nothing moves.
    assert_end(&w.last("w2", ALICE, "").await, "Too many wrong PINs");
    assert_end(
        &w.last("w3", ALICE, &format!("1*{BOB}*50*{PIN}*1")).await,
        "Too many wrong PINs",
    );
    assert_eq!(w.balance(w.alice), 100_00);
    // One lockout SMS, in the account's language, one GSM-7 part.
    let locks: Vec<_> = w
        .notices()
        .into_iter()
        .filter(|n| matches!(n.kind, NoticeKind::Locked { .. }))
        .collect();
    assert_eq!(locks.len(), 1);
    assert_eq!(
        locks[0].text(),
        "Ferry: 3 wrong PINs. USSD locked for 30 min. If this was not you, see an agent."
    );
    // After the lock period the right PIN works again.
    let later = w
        .engine
        .handle(&request("w4", ALICE, ""), UnixTime(T0 + 1900))
        .await
        .unwrap();
    assert_con(&later, "1 Send money");
    let later = w
        .engine
        .handle(
            &request("w4", ALICE, &format!("2*{PIN}")),
            UnixTime(T0 + 1901),
        )
        .await
        .unwrap();
    assert_con(&later, "Balance: 100.00 BRL");
}

#[tokio::test]
async fn back_and_main_menu() {
    let w = world();
    assert_con(&w.last("n1", ALICE, "1*0").await, "Ferry\n1 Send money");
    assert_con(&w.last("n2", ALICE, "0").await, "Ferry\n1 Send money");
    assert_con(&w.last("n3", ALICE, "00").await, "Ferry\n1 Send money");
    assert_con(
        &w.last("n4", ALICE, &format!("1*{BOB}*0")).await,
        "Enter the recipient's phone number:",
    );
    assert_con(
        &w.last("n5", ALICE, &format!("1*{BOB}*50*00")).await,
        "Ferry\n1 Send money",
    );
    // Back from the confirmation returns to the amount (the PIN is asked again).
    assert_con(
        &w.last("n6", ALICE, &format!("1*{BOB}*50*{PIN}*0")).await,
        "Enter amount in BRL:",
    );
    // Back from a balance goes to the menu, not to the PIN.
    assert_con(
        &w.last("n7", ALICE, &format!("2*{PIN}*0")).await,
        "Ferry\n1 Send money",
    );
    // Navigate around, then send: only the path's last visit counts.
    let script = format!("5*0*3*0*1*{BOB}*0*{BOB}*20*{PIN}*1");
    assert_end(&w.last("n8", ALICE, &script).await, "Sent 20.00 BRL");
    assert_eq!(w.balance(w.bob), 20_00);
    // In registration, 0 goes back a screen and 00 to its first screen.
    assert_con(&w.last("n9", NEW, "1*1357*0").await, "Choose a PIN");
    assert_con(&w.last("n10", NEW, "1*1357*00").await, "Choose language");
}

#[tokio::test]
async fn sessions_time_out() {
    let w = world();
    let script = format!("1*{BOB}*50*{PIN}");
    let confirm_screen = w.last("t", ALICE, &script).await;
    // 181 s after the first callback, the confirmation moves nothing.
    let late = w
        .engine
        .handle(
            &request("t", ALICE, &format!("{script}*1")),
            UnixTime(T0 + 181),
        )
        .await
        .unwrap();
    assert_end(&late, "Session timed out. Please dial again.");
    assert_eq!(w.balance(w.alice), 100_00);
    assert!(w.notices().is_empty());
    // A retransmission of a screen already answered still gets that screen.
    let again = w
        .engine
        .handle(&request("t", ALICE, &script), UnixTime(T0 + 500))
        .await
        .unwrap();
    assert_eq!(again, confirm_screen);
    // Just in time works.
    w.last("t2", ALICE, &script).await;
    let ok = w
        .engine
        .handle(
            &request("t2", ALICE, &format!("{script}*1")),
            UnixTime(T0 + 180),
        )
        .await
        .unwrap();
    assert_end(&ok, "Sent 50.00 BRL");
}

#[tokio::test]
async fn configurable_timeout() {
    let w = world();
    let short = Engine::new(
        w.backend.clone(),
        ferry_ussd::menu::EngineConfig {
            session_timeout_secs: 10,
            ..config()
        },
    );
    short
        .handle(&request("ct", ALICE, ""), UnixTime(T0))
        .await
        .unwrap();
    assert_end(
        &short
            .handle(&request("ct", ALICE, "2"), UnixTime(T0 + 11))
            .await
            .unwrap(),
        "timed out",
    );
}

#[tokio::test]
async fn bad_inputs_get_clear_screens_and_move_nothing() {
    let w = world();
    let send = |amount: &str| format!("1*{BOB}*{amount}");
    let cases: Vec<(String, &str)> = vec![
        (
            send("abc"),
            "Invalid amount. Use digits, e.g. 50 or 50.25.\nSend to",
        ),
        (send("12.345"), "Use at most 2 decimals.\nSend to"),
        (send("-5"), "Amount must be above zero."),
        (send("0.00"), "Amount must be above zero."),
        (send("1,50"), "Invalid amount."),
        (send("1e3"), "Invalid amount."),
        (
            "1*+5511900000000".into(),
            "+5511900000000 has no Ferry account.\nEnter the recipient",
        ),
        ("1*12ab".into(), "Invalid phone number."),
        ("1*0711".into(), "Invalid phone number."),
        ("1*0011987650002".into(), "Invalid phone number."),
        (
            "1*011987650001".into(),
            "You cannot send money to yourself.",
        ),
        (format!("1*{ALICE}"), "You cannot send money to yourself."),
        (
            format!("1*{}", "9".repeat(30)),
            "Input too long.\nEnter the recipient",
        ),
        ("9".into(), "Invalid choice.\nFerry"),
        ("1*".into(), "Invalid phone number."),
        (format!("{}*7", send("50")), "A PIN is 4 to 6 digits."),
        (
            format!("{}*{PIN}*7", send("50")),
            "Invalid choice.\nSend 50.00 BRL",
        ),
        (format!("2*{PIN}*5"), "Invalid choice.\nBalance"),
        ("5*3".into(), "Invalid choice.\nSettings"),
    ];
    for (i, (text, want)) in cases.iter().enumerate() {
        assert_con(&w.last(&format!("bad{i}"), ALICE, text).await, want);
    }
    // More than the balance: a clear end screen.
    assert_end(
        &w.last("over", ALICE, &format!("{}*{PIN}*1", send("150")))
            .await,
        "Not enough balance (100.00 BRL). Nothing was sent.",
    );
    assert_eq!(w.balance(w.alice), 100_00);
    assert_eq!(w.balance(w.bob), 0);
    assert!(w.notices().is_empty());
}

#[tokio::test]
async fn tier_limits() {
    let mut mc = MemoryConfig::test(Currency::BRL);
    mc.tier0.daily_out = 60_00;
    let w = world_with(mc);
    assert_end(
        &w.last("d1", ALICE, &format!("1*{BOB}*50*{PIN}*1")).await,
        "Sent",
    );
    assert_end(
        &w.last("d2", ALICE, &format!("1*{BOB}*20*{PIN}*1")).await,
        "Over your daily limit. You can still send 9.50 BRL today.",
    );
    // The next UTC day the limit is fresh.
    w.engine
        .handle(&request("d3", ALICE, ""), UnixTime(T0 + 86_400))
        .await
        .unwrap();
    let r = w
        .engine
        .handle(
            &request("d3", ALICE, &format!("1*{BOB}*20*{PIN}*1")),
            UnixTime(T0 + 86_401),
        )
        .await
        .unwrap();
    assert_end(&r, "Sent 20.00 BRL");
    // The recipient's balance cap.
    let w = world();
    w.backend.cash_in(w.bob, 990_00, UnixTime(T0)).unwrap();
    assert_end(
        &w.last("cap", ALICE, &format!("1*{BOB}*50*{PIN}*1")).await,
        "The recipient cannot receive this amount. Nothing was sent.",
    );
    assert_eq!(w.balance(w.alice), 100_00);
}

#[tokio::test]
async fn a_phone_linked_to_a_smartphone_wallet_receives() {
    let w = world();
    let wallet = w.backend.open_wallet_account(Some("Dora")).unwrap();
    w.backend.link_phone(wallet, &phone(NEW)).unwrap();
    assert!(w.backend.link_phone(wallet, &phone(NEW_EMPTY)).is_err());
    assert_end(
        &w.last("lw", ALICE, &format!("1*{NEW}*30*{PIN}*1")).await,
        "Sent 30.00 BRL to +5511955550003",
    );
    assert_eq!(w.balance(wallet), 30_00);
}

#[tokio::test]
async fn a_session_id_from_another_phone_is_refused() {
    let w = world();
    w.last("x", ALICE, &format!("1*{BOB}*50*{PIN}")).await;
    let r = w.dial("x", BOB, &format!("1*{BOB}*50*{PIN}*1"), 5).await;
    assert_end(&r, "something went wrong");
    assert_eq!(w.balance(w.alice), 100_00);
}

#[tokio::test]
async fn too_many_inputs_end_the_session() {
    let w = world();
    let text = vec!["0"; 41].join("*");
    assert_end(&w.dial("many", ALICE, &text, 1).await, "Too many steps");
}

#[tokio::test]
async fn the_session_record_never_holds_a_pin_or_the_text() {
    let w = world();
    w.last("sec", ALICE, &format!("5*1*{PIN}*4826*4826")).await;
    let rec = w.record("sec").await.unwrap();
    let json = rec.to_json();
    assert!(!json.contains(PIN) && !json.contains("4826"), "{json}");
    assert_eq!(rec.answered, 5);
    assert!(matches!(
        rec.steps.last().map(|s| &s.observation),
        Some(Observation::PinChange(_))
    ));
    // Nor does any Debug output of a request.
    let dbg = format!("{:?}", request("sec", ALICE, &format!("2*{PIN}")));
    assert!(!dbg.contains(PIN), "{dbg}");
}

#[tokio::test]
async fn africas_talking_end_to_end() {
    let w = world();
    let body = |text: &str| {
        format!(
            "sessionId=ATUid_1&serviceCode=%2A384%2A1%23&phoneNumber=%2B5511987650001&networkCode=72410&text={}",
            text.replace('*', "%2A").replace('+', "%2B")
        )
    };
    let mut last = String::new();
    for (i, text) in ferry_ussd::sim::script_texts(&format!("1*{BOB}*50*{PIN}*1"))
        .iter()
        .enumerate()
    {
        let req = africastalking::parse(
            Some(africastalking::FORM_CONTENT_TYPE),
            body(text).as_bytes(),
            None,
        )
        .unwrap();
        let reply = w
            .engine
            .handle(&req, UnixTime(T0 + i as u64))
            .await
            .unwrap();
        last = africastalking::render(&reply);
    }
    assert!(last.starts_with("END Sent 50.00 BRL"), "{last}");
    assert_eq!(w.balance(w.bob), 50_00);
    // A missing field or a JSON body never reaches the engine.
    assert!(
        africastalking::parse(
            Some(africastalking::FORM_CONTENT_TYPE),
            b"sessionId=x&serviceCode=1&text=",
            None
        )
        .is_err()
    );
    assert!(africastalking::parse(Some("application/json"), body("").as_bytes(), None).is_err());
}

#[tokio::test]
async fn hubtel_end_to_end() {
    let w = world();
    let mut state = String::new();
    let inputs = ["1", BOB, "50", PIN, "1"];
    let mut replies = Vec::new();
    for (seq, msg) in std::iter::once("*384*1#").chain(inputs).enumerate() {
        let kind = if seq == 0 { "Initiation" } else { "Response" };
        let body = serde_json::json!({
            "Type": kind, "Mobile": "5511987650001", "SessionId": "hub-1",
            "ServiceCode": "*384*1#", "Message": msg, "Operator": "vivo",
            "Sequence": seq + 1, "ClientState": state,
        })
        .to_string();
        let hubtel::Callback::Menu(req) =
            hubtel::parse(Some("application/json"), body.as_bytes(), None).unwrap()
        else {
            panic!("menu expected");
        };
        let reply = w
            .engine
            .handle(&req, UnixTime(T0 + seq as u64))
            .await
            .unwrap();
        let out: serde_json::Value = serde_json::from_str(&hubtel::render(&reply, &req)).unwrap();
        state = out["ClientState"].as_str().unwrap().to_owned();
        replies.push(out);
    }
    assert_eq!(replies[0]["Type"], "Response");
    assert!(
        replies[0]["Message"]
            .as_str()
            .unwrap()
            .contains("1 Send money")
    );
    assert_eq!(replies[5]["Type"], "Release");
    assert!(
        replies[5]["Message"]
            .as_str()
            .unwrap()
            .starts_with("Sent 50.00 BRL")
    );
    assert_eq!(w.balance(w.bob), 50_00);
}

#[tokio::test]
async fn backend_pins_are_argon2_hashed_and_checked() {
    // The reference backend itself: a PIN check by key counts once; a right PIN resets.
    let w = world();
    let k = |i| ferry_ussd::backend::OpKey::new(&phone(ALICE), "direct", i);
    let bad = Pin::parse("1111").unwrap();
    let good = Pin::parse(PIN).unwrap();
    let now = UnixTime(T0);
    use ferry_ussd::backend::PinCheck;
    assert_eq!(
        w.backend
            .verify_pin(&phone(ALICE), &bad, &k(1), now)
            .await
            .unwrap(),
        PinCheck::Wrong { attempts_left: 2 }
    );
    assert_eq!(
        w.backend
            .verify_pin(&phone(ALICE), &bad, &k(1), now)
            .await
            .unwrap(),
        PinCheck::Wrong { attempts_left: 2 }
    );
    assert_eq!(
        w.backend
            .verify_pin(&phone(ALICE), &good, &k(2), now)
            .await
            .unwrap(),
        PinCheck::Ok
    );
    assert_eq!(
        w.backend
            .verify_pin(&phone(ALICE), &bad, &k(3), now)
            .await
            .unwrap(),
        PinCheck::Wrong { attempts_left: 2 }
    );
    let _ = Reply::unavailable(Language::En);
}

/// An SMS sender that records what it sent, or fails.
struct LogSender {
    sent: std::sync::Mutex<Vec<(String, usize)>>,
    fail: bool,
}

impl ferry_ussd::sms::SmsSender for LogSender {
    async fn send(
        &self,
        _event_id: &str,
        to: &ferry_ussd::Phone,
        segmentation: &ferry_ussd::sms::Segmentation,
    ) -> Result<(), ferry_ussd::sms::SmsError> {
        if self.fail {
            return Err(ferry_ussd::sms::SmsError("SMSC down".into()));
        }
        self.sent
            .lock()
            .unwrap()
            .push((to.to_string(), segmentation.part_count()));
        Ok(())
    }
}

#[tokio::test]
async fn the_outbox_sends_each_notice_once() {
    let w = world();
    w.last("o", ALICE, &format!("1*{BOB}*50*{PIN}*1")).await;
    // Retransmit the confirmation: no new notice.
    w.dial("o", ALICE, &format!("1*{BOB}*50*{PIN}*1"), 9).await;
    let mut outbox = w.backend.outbox().unwrap();
    assert_eq!(outbox.due().len(), 2);
    let down = LogSender {
        sent: Default::default(),
        fail: true,
    };
    assert!(outbox.deliver(&down).await.is_err());
    assert_eq!(outbox.due().len(), 2, "a failed send stays due");
    let up = LogSender {
        sent: Default::default(),
        fail: false,
    };
    assert_eq!(outbox.deliver(&up).await.unwrap(), 2);
    assert_eq!(outbox.deliver(&up).await.unwrap(), 0);
    let sent = up.sent.lock().unwrap().clone();
    assert_eq!(
        sent,
        vec![(ALICE.to_owned(), 1), (BOB.to_owned(), 1)],
        "payer then payee, one part each"
    );
}
