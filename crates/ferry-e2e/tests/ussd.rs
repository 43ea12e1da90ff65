//! Feature phones over HTTP: whole USSD sessions driven through `POST /v1/ussd` in Africa's
//! Talking's form encoding (and Hubtel's JSON), against a real server on SQLite and, where
//! marked, PostgreSQL. Money is checked on the ledger, notices in the SMS outbox.

use std::sync::Arc;

use ferry_api::client::{FORM_CONTENT_TYPE, SettlementClient, encode_ussd_form};
use ferry_api::{
    ErrorBody, PhoneLinkOutcome, PhoneRegistration, UssdCallbackForm, UssdCashOutOutcome, UssdReply,
};
use ferry_ledger::LedgerAccount;
use ferry_proto::{AccountId, Currency, ManualClock};
use ferry_testkit::{Account, Agent, ServerOptions, TestServer, brl, now, random_hex};
use ferry_ussd::pin::PinHashParams;
use reqwest::Method;

const ANA: &str = "+5581999990001";
const BIA: &str = "+5581999990002";
const CAIO: &str = "+5581999990003";
const PIN: &str = "2580";
const SERVICE: &str = "*384*1#";

/// A server with a clock the test moves, cheap PIN hashing (the production cost is measured
/// by `ferry-bench ussd`), a 1 % send fee and a 2 % cash-out fee, a 2-minute PIN lock and
/// 10-minute cash-out codes.
fn options(clock: Arc<ManualClock>) -> ServerOptions {
    ServerOptions {
        clock: Some(clock),
        configure: Some(Arc::new(|c| {
            c.fees.order_bps = 100;
            c.fees.cash_out_bps = 200;
            c.ussd.phones.hash_params = PinHashParams::TEST;
            c.ussd.phones.lock_secs = 120;
            c.ussd.phones.cash_out_valid_secs = 600;
            c.vouchers.verifier_params = ferry_ledger::engine::vouchers::VerifierParams::TEST;
        })),
    }
}

struct World {
    server: TestServer,
    clock: Arc<ManualClock>,
    agent: Agent,
}

async fn sqlite() -> World {
    let clock = Arc::new(ManualClock::new(now()));
    let server = TestServer::sqlite_with(options(clock.clone())).await;
    let agent = server.agent(100_000_00).await;
    World {
        server,
        clock,
        agent,
    }
}

async fn postgres() -> Option<World> {
    let clock = Arc::new(ManualClock::new(now()));
    let server = TestServer::postgres_with(options(clock.clone())).await?;
    let agent = server.agent(100_000_00).await;
    Some(World {
        server,
        clock,
        agent,
    })
}

async fn worlds() -> Vec<(&'static str, World)> {
    let mut out = vec![("sqlite", sqlite().await)];
    if let Some(w) = postgres().await {
        out.push(("postgres", w));
    }
    out
}

fn form(session: &str, phone: &str, text: &str) -> UssdCallbackForm {
    UssdCallbackForm {
        session_id: session.to_owned(),
        service_code: SERVICE.to_owned(),
        phone_number: phone.to_owned(),
        network_code: Some("63902".to_owned()),
        text: text.to_owned(),
    }
}

impl World {
    fn client(&self) -> &SettlementClient {
        &self.server.client
    }

    /// One callback.
    async fn dial(&self, session: &str, phone: &str, text: &str) -> UssdReply {
        self.client()
            .ussd(&form(session, phone, text))
            .await
            .unwrap_or_else(|e| panic!("callback {text:?}: {e}"))
    }

    /// A whole session typed as `script` (`*`-joined inputs): the dial, then each input; every
    /// screen but the last must wait for input. Returns the last screen.
    async fn session(&self, session: &str, phone: &str, script: &str) -> UssdReply {
        let texts = ferry_ussd::sim::script_texts(script);
        let mut last = None;
        for (i, text) in texts.iter().enumerate() {
            let reply = self.dial(session, phone, text).await;
            if i + 1 < texts.len() {
                assert!(
                    !reply.is_end(),
                    "{script:?} ended early at {text:?}: {reply:?}"
                );
            }
            last = Some(reply);
        }
        last.expect("at least the dial")
    }

    /// A session with a fresh id.
    async fn run(&self, phone: &str, script: &str) -> UssdReply {
        self.session(&random_hex(), phone, script).await
    }

    /// Registers `phone` on first dial (English, PIN [`PIN`]).
    async fn register(&self, phone: &str) {
        let r = self.run(phone, &format!("1*{PIN}*{PIN}")).await;
        assert!(r.text().contains("Account created."), "{r:?}");
        assert!(r.text().contains("1 Send money"), "{r:?}");
    }

    async fn account(&self, phone: &str) -> AccountId {
        let body = self
            .client()
            .phone_account(&self.agent.token, phone)
            .await
            .expect("phone account");
        body.account_id.parse().expect("account id")
    }

    /// Cash in `minor` to `phone`'s account at the agent.
    async fn fund(&self, phone: &str, minor: i64) {
        let account = self.account(phone).await;
        let r = self
            .client()
            .cash_in(
                &self.agent.token,
                account,
                brl(minor),
                &format!("c-{}", &random_hex()[..16]),
            )
            .await
            .expect("cash in");
        assert_eq!(r, ferry_api::Outcome::Settled);
    }

    async fn online(&self, account: AccountId) -> i64 {
        self.server
            .store()
            .balance(&LedgerAccount::Online(account), Currency::BRL)
            .await
            .expect("balance")
    }

    async fn balance(&self, phone: &str) -> i64 {
        self.online(self.account(phone).await).await
    }

    async fn ledger(&self, account: LedgerAccount) -> i64 {
        self.server
            .store()
            .balance(&account, Currency::BRL)
            .await
            .expect("balance")
    }

    async fn transfers(&self, kind: &str) -> i64 {
        let (rows, distinct) = self
            .server
            .store()
            .transfer_counts(kind)
            .await
            .expect("count");
        assert_eq!(rows, distinct, "a {kind} reference posted twice");
        rows
    }

    /// The outbox as `(kind, text)`, oldest first, for `phone`.
    async fn sms(&self, phone: &str) -> Vec<(String, String)> {
        let mut v: Vec<_> = self
            .client()
            .sms_outbox(&self.server.admin_token, Some(phone))
            .await
            .expect("outbox")
            .messages
            .into_iter()
            .map(|m| (m.kind, m.text))
            .collect();
        v.reverse();
        v
    }

    async fn sms_kinds(&self, phone: &str) -> Vec<String> {
        self.sms(phone).await.into_iter().map(|(k, _)| k).collect()
    }
}

#[tokio::test]
async fn register_send_balance_history_on_both_databases() {
    for (db, w) in worlds().await {
        w.register(ANA).await;
        w.register(BIA).await;
        w.fund(ANA, 100_00).await;
        let r = w.run(ANA, &format!("1*{BIA}*50*{PIN}*1")).await;
        assert_eq!(
            r,
            UssdReply::End(format!(
                "Sent 50.00 BRL to {BIA}. Fee 0.50 BRL. Balance 49.50 BRL."
            )),
            "{db}"
        );
        assert_eq!(w.balance(ANA).await, 49_50, "{db}");
        assert_eq!(w.balance(BIA).await, 50_00, "{db}");
        assert_eq!(w.ledger(LedgerAccount::Fees).await, 50, "{db}");
        assert_eq!(w.transfers("ussd_send").await, 1, "{db}");
        let r = w.run(BIA, &format!("2*{PIN}")).await;
        assert!(r.text().contains("Balance: 50.00 BRL"), "{db}: {r:?}");
        let r = w.run(ANA, &format!("3*{PIN}")).await;
        assert!(r.text().starts_with("Last transactions:"), "{db}: {r:?}");
        let lines: Vec<&str> = r.text().lines().collect();
        assert!(lines[1].contains("-50.50"), "{db}: newest first: {r:?}");
        assert!(lines[1].contains("*0002"), "{db}: counterparty: {r:?}");
        assert!(lines[2].contains("+100.00"), "{db}: the cash in: {r:?}");
        assert_eq!(
            w.sms_kinds(ANA).await,
            ["registered", "cashed_in", "sent"],
            "{db}: one notice per event"
        );
        assert_eq!(w.sms_kinds(BIA).await, ["registered", "received"], "{db}");
        assert_eq!(
            w.sms(ANA).await[1].1,
            "Ferry: An agent credited 100.00 BRL to your account. Balance 100.00 BRL.",
            "{db}"
        );
        let received = &w.sms(BIA).await[1].1;
        assert_eq!(
            received,
            &format!("Ferry: You received 50.00 BRL from {ANA}. Balance 50.00 BRL."),
            "{db}"
        );
        w.server.assert_audit_clean().await;
    }
}

/// A voucher created from a feature phone (menu 6, every callback retransmitted) is the API's
/// voucher: one `voucher_create` transfer, its text form by SMS, redeemed by a smartphone
/// account with the password over `POST /v1/vouchers/redeem`; then invalidated from the phone,
/// the rest returned once. SQLite and PostgreSQL.
#[tokio::test]
async fn a_voucher_from_a_feature_phone_is_redeemed_over_the_api() {
    for (db, w) in worlds().await {
        w.register(ANA).await;
        w.fund(ANA, 100_00).await;
        let script = format!("6*1*40*6*sun7rise*sun7rise*{PIN}*1");
        let session = random_hex();
        let mut last = None;
        for text in ferry_ussd::sim::script_texts(&script) {
            let a = w.dial(&session, ANA, &text).await;
            assert_eq!(w.dial(&session, ANA, &text).await, a, "{db}: {text}");
            last = Some(a);
        }
        let end = last.expect("screens");
        assert!(end.is_end(), "{db}: {end:?}");
        assert!(
            end.text()
                .contains("created: 40.00 BRL, valid 6 h, fee 0.40 BRL"),
            "{db}: {end:?}"
        );
        assert_eq!(w.transfers("voucher_create").await, 1, "{db}");
        assert_eq!(w.balance(ANA).await, 100_00 - 40_52, "{db}");
        let sms = w.sms(ANA).await;
        let (kind, body) = sms.last().expect("an SMS");
        assert_eq!(kind, "voucher_issued", "{db}");
        let text = body.lines().last().expect("the code line").to_owned();
        assert!(text.starts_with("FV1:"), "{db}: {body}");
        // A smartphone account redeems 15.00 of it with the password.
        let bia = Account::register(w.client()).await;
        let req = ferry_api::RedeemVoucherRequest {
            voucher: text.clone(),
            password: "sun7rise".into(),
            amount: 15_00,
            currency: "BRL".into(),
            request_id: random_hex()[..32].to_owned(),
            place: None,
        };
        let r = w
            .client()
            .redeem_voucher(&bia.key, bia.id, &req, now())
            .await
            .expect("redeem");
        assert_eq!(
            r.outcome,
            ferry_api::VoucherRedeemOutcome::Redeemed,
            "{db}: {r:?}"
        );
        assert_eq!(bia.online(w.client()).await, 15_00, "{db}");
        // The phone invalidates it: 25.00 and the unused reserve (0.12 - 0.04) come back.
        let list = w.run(ANA, &format!("6*2*{PIN}")).await;
        assert!(list.text().contains(" 25.00 BRL 6h"), "{db}: {list:?}");
        let r = w.run(ANA, &format!("6*2*{PIN}*1*1")).await;
        assert!(
            r.text().contains("invalidated. 25.08 BRL returned"),
            "{db}: {r:?}"
        );
        assert_eq!(w.balance(ANA).await, 100_00 - 40_52 + 25_08, "{db}");
        let r = w.run(ANA, &format!("6*2*{PIN}")).await;
        assert!(
            r.text().contains("You have no open vouchers."),
            "{db}: {r:?}"
        );
        w.server.assert_audit_clean().await;
    }
}

#[tokio::test]
async fn a_feature_phone_and_a_linked_smartphone_pay_each_other() {
    let w = sqlite().await;
    w.register(ANA).await;
    w.fund(ANA, 100_00).await;
    // A smartphone account takes BIA's number: a code goes to the phone by SMS.
    let holder = Account::register(w.client()).await;
    let started = w
        .client()
        .link_phone(&holder.key, holder.id, BIA, None, now())
        .await
        .expect("ask for a code");
    assert_eq!(started.outcome, PhoneLinkOutcome::CodeSent);
    let sms = w.sms(BIA).await;
    assert_eq!(sms.len(), 1);
    let code: String = sms[0].1.split_whitespace().nth(2).expect("code").to_owned();
    assert_eq!(code.len(), 6, "{sms:?}");
    // A wrong code counts; the right one links.
    let wrong = if code == "000000" { "000001" } else { "000000" };
    let err = w
        .client()
        .link_phone(&holder.key, holder.id, BIA, Some(wrong), now())
        .await
        .expect_err("wrong code");
    assert_eq!(err.code().map(|c| c.as_str()), Some("wrong_code"));
    let linked = w
        .client()
        .link_phone(&holder.key, holder.id, BIA, Some(&code), now())
        .await
        .expect("link");
    assert_eq!(linked.outcome, PhoneLinkOutcome::Linked);
    assert_eq!(w.account(BIA).await, holder.id);
    // Another account cannot take the number now.
    let other = Account::register(w.client()).await;
    let err = w
        .client()
        .link_phone(&other.key, other.id, BIA, None, now())
        .await
        .expect_err("taken");
    assert_eq!(err.code().map(|c| c.as_str()), Some("phone_taken"));

    // The feature phone pays the number; the smartphone account's online balance gets it.
    let r = w.run(ANA, &format!("1*{BIA}*30*{PIN}*1")).await;
    assert!(r.text().starts_with("Sent 30.00 BRL"), "{r:?}");
    assert_eq!(holder.online(w.client()).await, 30_00);

    // The holder dials from that phone: chooses a PIN first (no language step), then pays back.
    let r = w.run(BIA, "1357*1357").await;
    assert!(r.text().contains("Account created."), "{r:?}");
    let r = w.run(BIA, &format!("1*{ANA}*10*1357*1")).await;
    assert!(r.text().starts_with("Sent 10.00 BRL"), "{r:?}");
    assert_eq!(holder.online(w.client()).await, 30_00 - 10_00 - 10);
    assert_eq!(w.balance(ANA).await, 100_00 - 30_30 + 10_00);
    // Sending to the number of one's own account is sending to oneself.
    let r = w.run(BIA, &format!("1*{BIA}")).await;
    assert!(
        r.text().contains("You cannot send money to yourself."),
        "{r:?}"
    );
    w.server.assert_audit_clean().await;
}

#[tokio::test]
async fn cash_out_code_paid_once_by_an_agent_or_returned_when_it_lapses() {
    let w = sqlite().await;
    w.register(ANA).await;
    w.fund(ANA, 100_00).await;
    let agent_float = w.ledger(LedgerAccount::Agent(w.agent.name.clone())).await;
    let r = w.run(ANA, &format!("4*20*{PIN}*1")).await;
    assert!(r.is_end(), "{r:?}");
    let code: String = r
        .text()
        .lines()
        .next()
        .and_then(|l| l.strip_prefix("Cash-out code: "))
        .expect("code line")
        .to_owned();
    assert!(r.text().contains("Amount 20.00 BRL, fee 0.40 BRL"), "{r:?}");
    assert_eq!(w.balance(ANA).await, 100_00 - 20_40);
    assert_eq!(w.ledger(LedgerAccount::CashOutReserve).await, 20_00);
    assert!(
        w.sms(ANA)
            .await
            .iter()
            .any(|(k, t)| k == "cash_out_code" && t.contains(&code))
    );

    // Another agent with the wrong number, or a wrong code, gets nothing.
    let other = w.server.agent(1_00).await;
    let c = w.client();
    let none = c
        .redeem_ussd_cash_out(&other.token, BIA, &code)
        .await
        .expect("redeem");
    assert_eq!(none.outcome, UssdCashOutOutcome::UnknownCode);
    let paid = c
        .redeem_ussd_cash_out(&w.agent.token, ANA, &code)
        .await
        .expect("redeem");
    assert_eq!(paid.outcome, UssdCashOutOutcome::Paid);
    assert_eq!(paid.amount.map(|a| a.amount), Some(20_00));
    // A retry by the same agent is answered, and moves nothing; another agent cannot.
    let again = c
        .redeem_ussd_cash_out(&w.agent.token, ANA, &code)
        .await
        .expect("redeem");
    assert_eq!(again.outcome, UssdCashOutOutcome::AlreadyPaid);
    let stolen = c
        .redeem_ussd_cash_out(&other.token, ANA, &code)
        .await
        .expect("redeem");
    assert_eq!(stolen.outcome, UssdCashOutOutcome::UnknownCode);
    assert_eq!(
        w.ledger(LedgerAccount::Agent(w.agent.name.clone())).await,
        agent_float + 20_00
    );
    assert_eq!(w.ledger(LedgerAccount::CashOutReserve).await, 0);
    assert_eq!(w.transfers("ussd_cash_out_paid").await, 1);
    assert!(w.sms_kinds(ANA).await.contains(&"cashed_out".to_owned()));

    // A second code lapses: the agent is told so, and the amount (not the fee) goes back.
    let r = w.run(ANA, &format!("4*10*{PIN}*1")).await;
    let code2 = r.text()[15..23].to_owned();
    assert_eq!(w.balance(ANA).await, 79_60 - 10_20);
    w.clock.advance(601);
    let lapsed = c
        .redeem_ussd_cash_out(&w.agent.token, ANA, &code2)
        .await
        .expect("redeem");
    assert_eq!(lapsed.outcome, UssdCashOutOutcome::Expired);
    assert_eq!(w.balance(ANA).await, 79_60 - 20);
    assert_eq!(w.ledger(LedgerAccount::CashOutReserve).await, 0);
    assert_eq!(w.transfers("ussd_cash_out_return").await, 1);
    w.server.assert_audit_clean().await;
}

#[tokio::test]
async fn change_pin_needs_the_old_one_and_language_changes_screens_and_sms() {
    let w = sqlite().await;
    w.register(ANA).await;
    w.register(BIA).await;
    w.fund(ANA, 100_00).await;
    // The wrong old PIN: refused, and counted.
    let r = w.run(ANA, "5*1*9999").await;
    assert!(r.text().contains("Wrong PIN. 2 tries left."), "{r:?}");
    let r = w.run(ANA, &format!("5*1*{PIN}*4826*4826")).await;
    assert_eq!(r, UssdReply::End("Your PIN was changed.".into()));
    assert_eq!(
        w.sms_kinds(ANA).await,
        ["registered", "cashed_in", "pin_changed"]
    );
    let r = w.run(ANA, &format!("2*{PIN}")).await;
    assert!(
        r.text().contains("Wrong PIN."),
        "the old PIN is dead: {r:?}"
    );
    let r = w.run(ANA, "2*4826").await;
    assert!(r.text().contains("Balance: 100.00 BRL"), "{r:?}");

    // Portuguese: the menu and the notices follow.
    let r = w.run(ANA, "5*2*2").await;
    assert!(r.text().contains("Idioma salvo."), "{r:?}");
    let r = w.run(ANA, "").await;
    assert!(r.text().contains("1 Enviar dinheiro"), "{r:?}");
    let r = w.run(ANA, &format!("1*{BIA}*5*4826*1")).await;
    assert_eq!(
        r,
        UssdReply::End(format!(
            "Enviado 5.00 BRL para {BIA}. Tarifa 0.05 BRL. Saldo 94.95 BRL."
        ))
    );
    let last = w.sms(ANA).await.pop().expect("notice");
    assert_eq!(last.0, "sent");
    assert!(
        last.1.starts_with("Ferry: Voce enviou 5.00 BRL"),
        "{last:?}"
    );
    // The recipient keeps English.
    assert!(
        w.sms(BIA)
            .await
            .pop()
            .expect("notice")
            .1
            .starts_with("Ferry: You received")
    );
}

#[tokio::test]
async fn three_wrong_pins_lock_the_channel_and_queue_one_sms() {
    let w = sqlite().await;
    w.register(ANA).await;
    w.fund(ANA, 100_00).await;
    let r = w.run(ANA, "2*1111").await;
    assert!(r.text().contains("Wrong PIN. 2 tries left."), "{r:?}");
    // Counted across sessions; a retransmission counts once.
    let s = random_hex();
    w.session(&s, ANA, "2*3333").await;
    let again = w.dial(&s, ANA, "2*3333").await;
    assert!(
        again.text().contains("Wrong PIN. 1 tries left."),
        "{again:?}"
    );
    let r = w.run(ANA, "3*7777").await;
    assert_eq!(
        r,
        UssdReply::End("Too many wrong PINs. Try again in 2 min.".into())
    );
    let locks: Vec<_> = w
        .sms(ANA)
        .await
        .into_iter()
        .filter(|(k, _)| k == "locked")
        .collect();
    assert_eq!(locks.len(), 1, "{locks:?}");
    assert!(locks[0].1.contains("USSD locked for 2 min"), "{locks:?}");
    // Locked: even the right PIN gets nowhere, and a new session says so at once.
    let r = w.run(ANA, "").await;
    assert!(r.text().starts_with("Too many wrong PINs"), "{r:?}");
    assert!(
        w.client()
            .phone_account(&w.agent.token, ANA)
            .await
            .expect("account")
            .locked
    );
    // After the period, the right PIN works again.
    w.clock.advance(121);
    let r = w.run(ANA, &format!("2*{PIN}")).await;
    assert!(r.text().contains("Balance: 100.00 BRL"), "{r:?}");
}

#[tokio::test]
async fn back_and_main_menu_navigation() {
    let w = sqlite().await;
    w.register(ANA).await;
    w.register(BIA).await;
    let main = w.run(ANA, "").await;
    assert!(main.text().starts_with("Ferry\n1 Send money"), "{main:?}");
    let r = w.run(ANA, "1*0").await;
    assert_eq!(r, main, "0 goes back to the main menu");
    let r = w.run(ANA, &format!("1*{BIA}*0")).await;
    assert!(
        r.text().starts_with("Enter the recipient's phone number:"),
        "{r:?}"
    );
    let r = w.run(ANA, &format!("1*{BIA}*50*00")).await;
    assert_eq!(r, main, "00 goes to the main menu");
    let r = w.run(ANA, "5*0*2").await;
    assert!(
        r.text().starts_with("Enter your PIN:"),
        "back then 2: {r:?}"
    );
    // Back from the confirmation does not land on the PIN screen.
    let r = w.run(ANA, &format!("1*{BIA}*50*{PIN}*0")).await;
    assert!(r.text().starts_with("Send to"), "{r:?}");
    assert_eq!(w.transfers("ussd_send").await, 0);
}

#[tokio::test]
async fn a_confirmation_after_the_timeout_moves_nothing() {
    let w = sqlite().await;
    w.register(ANA).await;
    w.register(BIA).await;
    w.fund(ANA, 100_00).await;
    let s = random_hex();
    let confirm = w.session(&s, ANA, &format!("1*{BIA}*50*{PIN}")).await;
    assert!(confirm.text().contains("1 Confirm"), "{confirm:?}");
    w.clock.advance(181);
    let late = w.dial(&s, ANA, &format!("1*{BIA}*50*{PIN}*1")).await;
    assert_eq!(
        late,
        UssdReply::End("Session timed out. Please dial again.".into())
    );
    // A retransmission of a screen already answered still gets it.
    let again = w.dial(&s, ANA, &format!("1*{BIA}*50*{PIN}")).await;
    assert_eq!(again, confirm);
    assert_eq!(w.balance(ANA).await, 100_00);
    assert_eq!(w.transfers("ussd_send").await, 0);
    assert_eq!(w.sms_kinds(ANA).await, ["registered", "cashed_in"]);
}

#[tokio::test]
async fn retransmitted_callbacks_are_answered_alike_and_move_money_once() {
    let w = sqlite().await;
    w.register(ANA).await;
    w.register(BIA).await;
    w.fund(ANA, 100_00).await;
    let s = random_hex();
    w.session(&s, ANA, &format!("1*{BIA}*50*{PIN}")).await;
    // The confirmation delivered eight times at once, before any answer was recorded: the
    // operation key, not the session record, keeps it to one transfer.
    let text = format!("1*{BIA}*50*{PIN}*1");
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let client = w.server.new_client();
        let f = form(&s, ANA, &text);
        tasks.push(tokio::spawn(async move { client.ussd(&f).await }));
    }
    let mut replies = Vec::new();
    for t in tasks {
        replies.push(t.await.expect("task").expect("callback"));
    }
    let first = replies[0].clone();
    assert!(first.text().starts_with("Sent 50.00 BRL"), "{first:?}");
    for r in &replies {
        assert_eq!(r, &first);
    }
    // And again later, one by one.
    for _ in 0..3 {
        assert_eq!(w.dial(&s, ANA, &text).await, first);
    }
    assert_eq!(w.balance(ANA).await, 49_50);
    assert_eq!(w.balance(BIA).await, 50_00);
    assert_eq!(w.transfers("ussd_send").await, 1);
    assert_eq!(w.sms_kinds(ANA).await, ["registered", "cashed_in", "sent"]);
    w.server.assert_audit_clean().await;
}

#[tokio::test]
async fn every_bad_input_gets_a_clear_screen_and_moves_nothing() {
    let w = sqlite().await;
    w.register(ANA).await;
    w.register(BIA).await;
    w.fund(ANA, 100_00).await;
    let amount = |a: &str| format!("1*{BIA}*{a}");
    let cases: Vec<(String, &str)> = vec![
        (
            amount("abc"),
            "Invalid amount. Use digits, e.g. 50 or 50.25.",
        ),
        (amount("1.234"), "Use at most 2 decimals."),
        (amount("-5"), ""),
        (amount("0.00"), "Amount must be above zero."),
        (
            "1*+5581999990999".into(),
            "+5581999990999 has no Ferry account.",
        ),
        ("1*12ab".into(), "Invalid phone number."),
        (format!("1*{ANA}"), "You cannot send money to yourself."),
        ("1*1234567890123456789012345".into(), "Input too long."),
        ("9".into(), "Invalid choice."),
        (format!("1*{BIA}*50*{PIN}*7"), "Invalid choice."),
        (format!("1*{BIA}*50*12"), "A PIN is 4 to 6 digits."),
    ];
    for (script, note) in &cases {
        let r = w.run(ANA, script).await;
        assert!(!r.is_end(), "{script}: {r:?}");
        let first = r.text().lines().next().unwrap_or_default();
        if note.is_empty() {
            assert!(
                first.starts_with("Invalid amount") || first.starts_with("Amount must be above"),
                "{script}: {r:?}"
            );
        } else {
            assert!(first.starts_with(note), "{script}: {r:?}");
        }
    }
    // More than the balance (with the fee): a clear end, nothing sent.
    let r = w.run(ANA, &format!("1*{BIA}*99.50*{PIN}*1")).await;
    assert_eq!(
        r,
        UssdReply::End("Not enough balance (100.00 BRL). Nothing was sent.".into())
    );
    let r = w.run(ANA, &format!("4*100*{PIN}*1")).await;
    assert!(r.text().starts_with("Not enough balance"), "{r:?}");
    assert_eq!(w.balance(ANA).await, 100_00);
    assert_eq!(w.balance(BIA).await, 0);
    assert_eq!(w.transfers("ussd_send").await, 0);
    assert_eq!(w.transfers("ussd_cash_out").await, 0);
    w.server.assert_audit_clean().await;
}

#[tokio::test]
async fn malformed_callbacks_get_typed_errors_and_move_nothing() {
    let w = sqlite().await;
    w.register(ANA).await;
    let good = encode_ussd_form(&form("s1", ANA, ""));
    /// What is sent, what must come back: (what, content type, body, status, code, field).
    type Case<'a> = (
        &'a str,
        Option<&'a str>,
        Vec<u8>,
        u16,
        &'a str,
        Option<&'a str>,
    );
    let cases: Vec<Case> = vec![
        (
            "no sessionId",
            Some(FORM_CONTENT_TYPE),
            b"serviceCode=%2A384%23&phoneNumber=%2B5581999990001&text=".to_vec(),
            400,
            "missing_field",
            Some("sessionId"),
        ),
        (
            "no text",
            Some(FORM_CONTENT_TYPE),
            b"sessionId=s&serviceCode=%2A384%23&phoneNumber=%2B5581999990001".to_vec(),
            400,
            "missing_field",
            Some("text"),
        ),
        (
            "JSON",
            Some("application/json"),
            br#"{"sessionId":"s"}"#.to_vec(),
            415,
            "unsupported_media_type",
            None,
        ),
        (
            "no content type",
            None,
            good.clone().into_bytes(),
            415,
            "unsupported_media_type",
            None,
        ),
        (
            "two sessionIds",
            Some(FORM_CONTENT_TYPE),
            format!("{good}&sessionId=s2").into_bytes(),
            400,
            "invalid_field",
            Some("sessionId"),
        ),
        (
            "not a phone number",
            Some(FORM_CONTENT_TYPE),
            b"sessionId=s&serviceCode=x&phoneNumber=abc&text=".to_vec(),
            400,
            "invalid_field",
            Some("phoneNumber"),
        ),
        (
            "not UTF-8",
            Some(FORM_CONTENT_TYPE),
            b"sessionId=s&serviceCode=x&phoneNumber=%2B5581999990001&text=%FF".to_vec(),
            400,
            "malformed_form",
            None,
        ),
        (
            "a control character",
            Some(FORM_CONTENT_TYPE),
            b"sessionId=s&serviceCode=x&phoneNumber=%2B5581999990001&text=1%0A2".to_vec(),
            400,
            "invalid_field",
            Some("text"),
        ),
        (
            "too large",
            Some(FORM_CONTENT_TYPE),
            format!("{good}&pad={}", "a".repeat(5000)).into_bytes(),
            413,
            "too_large",
            None,
        ),
    ];
    for (what, ct, body, status, code, field) in cases {
        let (got, answer) = w
            .client()
            .raw(Method::POST, "/v1/ussd", ct, body, &[])
            .await
            .expect("request");
        assert_eq!(got, status, "{what}: {}", String::from_utf8_lossy(&answer));
        let e: ErrorBody =
            serde_json::from_slice(&answer).unwrap_or_else(|_| panic!("{what}: not an error body"));
        assert_eq!(e.error.code.as_str(), code, "{what}");
        if let Some(f) = field {
            assert_eq!(e.error.field.as_deref(), Some(f), "{what}");
        }
        ferry_testkit::assert_no_leak(what, got, &answer);
    }
    assert_eq!(w.transfers("ussd_send").await, 0);
    let sessions = w.server.store().ussd_session("at:s").await.expect("read");
    assert!(sessions.is_none(), "a refused callback leaves no session");
}

#[tokio::test]
async fn hubtel_sessions_reach_the_same_menus() {
    let w = sqlite().await;
    w.register(ANA).await;
    w.register(BIA).await;
    w.fund(ANA, 100_00).await;
    let c = w.client();
    let mobile = ANA.trim_start_matches('+');
    let mut state = String::new();
    let mut last = serde_json::Value::Null;
    let inputs = ["", "1", BIA, "25", PIN, "1"];
    for (i, input) in inputs.iter().enumerate() {
        let body = if i == 0 {
            serde_json::json!({"Type": "Initiation", "Mobile": mobile, "SessionId": "h1",
                "ServiceCode": "*713#", "Message": "*713#", "Operator": "mtn", "Sequence": 1})
        } else {
            serde_json::json!({"Type": "Response", "Mobile": mobile, "SessionId": "h1",
                "ServiceCode": "*713#", "Message": input, "Operator": "mtn",
                "Sequence": i + 1, "ClientState": state})
        };
        let (status, answer) = c
            .raw(
                Method::POST,
                "/v1/ussd/hubtel",
                Some("application/json"),
                serde_json::to_vec(&body).expect("json"),
                &[],
            )
            .await
            .expect("request");
        assert_eq!(status, 200, "{}", String::from_utf8_lossy(&answer));
        last = serde_json::from_slice(&answer).expect("reply");
        state = last["ClientState"].as_str().expect("state").to_owned();
    }
    assert_eq!(last["Type"], "Release");
    assert!(
        last["Message"]
            .as_str()
            .expect("message")
            .starts_with("Sent 25.00 BRL"),
        "{last}"
    );
    assert_eq!(w.balance(BIA).await, 25_00);
    // A Release callback is acknowledged.
    let (status, answer) = c
        .raw(
            Method::POST,
            "/v1/ussd/hubtel",
            Some("application/json"),
            serde_json::to_vec(&serde_json::json!({"Type": "Release", "Mobile": mobile,
                "SessionId": "h1", "ServiceCode": "*713#", "Message": ""}))
            .expect("json"),
            &[],
        )
        .await
        .expect("request");
    assert_eq!(status, 200);
    assert!(String::from_utf8_lossy(&answer).contains("Release"));
}

#[tokio::test]
async fn agents_register_numbers_at_tier_one_and_tiers_set_the_limits() {
    let w = sqlite().await;
    let c = w.client();
    // An agent opens CAIO's account; the holder chooses a PIN on first dial.
    let reg = c
        .register_phone(&w.agent.token, CAIO, "Caio Lima", Some("pt"))
        .await
        .expect("register");
    assert_eq!(reg.outcome, PhoneRegistration::Registered);
    let again = c
        .register_phone(&w.agent.token, CAIO, "Caio Lima", None)
        .await
        .expect("again");
    assert_eq!(again.outcome, PhoneRegistration::AlreadyVerified);
    assert_eq!(again.account_id, reg.account_id);
    let r = w.run(CAIO, "").await;
    assert!(r.text().contains("PIN"), "PIN first, in Portuguese: {r:?}");
    let r = w.run(CAIO, &format!("{PIN}*{PIN}")).await;
    assert!(r.text().contains("Conta criada."), "{r:?}");
    // Tier 0 sends at most 500.00 a day (fees included); the agent's verification lifts it.
    w.register(ANA).await;
    w.fund(ANA, 900_00).await;
    let r = w.run(ANA, &format!("1*{CAIO}*495*{PIN}*1")).await;
    assert!(r.text().starts_with("Sent 495.00 BRL"), "{r:?}");
    let r = w.run(ANA, &format!("1*{CAIO}*10*{PIN}*1")).await;
    assert_eq!(
        r,
        UssdReply::End("Over your daily limit. You can still send 0.05 BRL today.".into())
    );
    let up = c
        .register_phone(&w.agent.token, ANA, "Ana Souza", None)
        .await
        .expect("upgrade");
    assert_eq!(up.outcome, PhoneRegistration::Upgraded);
    let r = w.run(ANA, &format!("1*{CAIO}*10*{PIN}*1")).await;
    assert!(r.text().starts_with("Sent 10.00 BRL"), "{r:?}");
    // The next UTC day the tier-0 limit would be fresh again (and tier 1 is larger anyway).
    // A recipient's tier caps its balance: tier 0 holds at most 1 000.00.
    w.register(BIA).await;
    w.fund(BIA, 990_00).await;
    let r = w.run(ANA, &format!("1*{BIA}*20*{PIN}*1")).await;
    assert_eq!(
        r,
        UssdReply::End("The recipient cannot receive this amount. Nothing was sent.".into())
    );
    assert_eq!(w.balance(BIA).await, 990_00);
    // The name an agent recorded is shown to senders.
    let r = w.run(ANA, &format!("1*{CAIO}")).await;
    assert!(r.text().contains("Caio Lima"), "{r:?}");
    w.server.assert_audit_clean().await;
}

/// 50 sessions from one phone pair at once, each sending 1.00 (fee 0.01) from a balance
/// that covers 30 of them, each confirmation sent twice: exactly 30 settle, balances are
/// exact, one notice pair per send, and the audit is clean. SQLite and PostgreSQL.
#[tokio::test]
async fn fifty_concurrent_sessions_keep_balances_exact_on_both_databases() {
    for (db, w) in worlds().await {
        w.register(ANA).await;
        w.register(BIA).await;
        w.fund(ANA, 30 * 1_01).await;
        let mut tasks = Vec::new();
        for n in 0..50 {
            let client = w.server.new_client();
            tasks.push(tokio::spawn(async move {
                let s = format!("race-{n}");
                let mut last = None;
                for text in ferry_ussd::sim::script_texts(&format!("1*{BIA}*1*{PIN}*1")) {
                    last = Some(client.ussd(&form(&s, ANA, &text)).await.expect("callback"));
                }
                let last = last.expect("reply");
                let retransmitted = client
                    .ussd(&form(&s, ANA, &format!("1*{BIA}*1*{PIN}*1")))
                    .await
                    .expect("retransmission");
                assert_eq!(retransmitted, last, "a retransmission answers alike");
                last
            }));
        }
        let mut sent = 0;
        for t in tasks {
            let r = t.await.expect("task");
            assert!(r.is_end(), "{db}: {r:?}");
            if r.text().starts_with("Sent 1.00 BRL") {
                sent += 1;
            } else {
                assert!(r.text().starts_with("Not enough balance"), "{db}: {r:?}");
            }
        }
        assert_eq!(sent, 30, "{db}");
        assert_eq!(w.balance(ANA).await, 0, "{db}");
        assert_eq!(w.balance(BIA).await, 30_00, "{db}");
        assert_eq!(w.ledger(LedgerAccount::Fees).await, 30, "{db}");
        assert_eq!(w.transfers("ussd_send").await, 30, "{db}");
        let kinds = w.sms_kinds(BIA).await;
        assert_eq!(
            kinds.iter().filter(|k| *k == "received").count(),
            30,
            "{db}"
        );
        w.server.assert_audit_clean().await;
    }
}

#[tokio::test]
async fn the_outbox_is_for_the_operator_only() {
    let w = sqlite().await;
    w.register(ANA).await;
    let (status, _) = w
        .client()
        .raw(Method::GET, "/v1/sms/outbox", None, Vec::new(), &[])
        .await
        .expect("request");
    assert_eq!(status, 401);
    let err = w
        .client()
        .sms_outbox(&w.agent.token, None)
        .await
        .expect_err("an agent is not the operator");
    assert_eq!(err.status(), Some(401));
    let (status, body) = w
        .client()
        .raw(
            Method::GET,
            "/v1/sms/outbox?phone=abc",
            None,
            Vec::new(),
            &[("authorization", format!("Bearer {}", w.server.admin_token))],
        )
        .await
        .expect("request");
    assert_eq!(status, 400, "{}", String::from_utf8_lossy(&body));
    let all = w
        .client()
        .sms_outbox(&w.server.admin_token, None)
        .await
        .expect("outbox");
    assert_eq!(all.messages.len(), 1);
    assert_eq!(all.messages[0].parts, 1);
    assert_eq!(all.messages[0].encoding, "gsm7");
    assert_eq!(all.messages[0].delivered_at, None, "stored, not sent");
}

/// A fake SMS gateway: records what it is sent, and fails while `failing` is set.
#[derive(Clone, Default)]
struct Gateway {
    got: Arc<std::sync::Mutex<Vec<ferry_api::SmsGatewayMessage>>>,
    failing: Arc<std::sync::atomic::AtomicBool>,
}

impl Gateway {
    async fn start(&self) -> String {
        use axum::http::StatusCode;
        let me = self.clone();
        let app = axum::Router::new().route(
            "/sms",
            axum::routing::post(
                move |axum::Json(m): axum::Json<ferry_api::SmsGatewayMessage>| {
                    let me = me.clone();
                    async move {
                        me.got.lock().expect("lock").push(m);
                        if me.failing.load(std::sync::atomic::Ordering::SeqCst) {
                            StatusCode::SERVICE_UNAVAILABLE
                        } else {
                            StatusCode::OK
                        }
                    }
                },
            ),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move { axum::serve(listener, app).await });
        format!("http://{addr}/sms")
    }

    fn count(&self) -> usize {
        self.got.lock().expect("lock").len()
    }

    async fn wait_for(&self, n: usize) {
        for _ in 0..100 {
            if self.count() >= n {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        panic!("the gateway got {} messages, not {n}", self.count());
    }
}

#[tokio::test]
async fn an_sms_gateway_gets_each_notice_until_it_takes_it_then_never_again() {
    let gateway = Gateway::default();
    gateway
        .failing
        .store(true, std::sync::atomic::Ordering::SeqCst);
    let url = gateway.start().await;
    let clock = Arc::new(ManualClock::new(now()));
    let mut opts = options(clock.clone());
    let base = opts.configure.take().expect("configure");
    opts.configure = Some(Arc::new(move |c| {
        base(c);
        c.ussd.sms_gateway = Some(url.clone());
        c.ussd.upkeep_every = std::time::Duration::from_millis(100);
    }));
    let server = TestServer::sqlite_with(opts).await;
    let agent = server.agent(1_00).await;
    let w = World {
        server,
        clock,
        agent,
    };
    w.register(ANA).await;
    // The first attempt fails: the notice stays due, with the error (recorded just after the
    // gateway answered, so poll for it).
    gateway.wait_for(1).await;
    let mut outbox = None;
    for _ in 0..100 {
        let now = w
            .client()
            .sms_outbox(&w.server.admin_token, Some(ANA))
            .await
            .expect("outbox");
        if now.messages[0].last_error.is_some() {
            outbox = Some(now);
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let outbox = outbox.expect("the failed attempt is recorded within 5 s");
    let m = &outbox.messages[0];
    assert_eq!(m.delivered_at, None);
    assert_eq!(m.attempts, 1);
    assert!(
        m.last_error.as_deref().unwrap_or_default().contains("503"),
        "{m:?}"
    );
    // Not retried before its back-off (5 s of the server's clock).
    tokio::time::sleep(std::time::Duration::from_millis(400)).await;
    assert_eq!(gateway.count(), 1);
    gateway
        .failing
        .store(false, std::sync::atomic::Ordering::SeqCst);
    w.clock.advance(6);
    gateway.wait_for(2).await;
    for _ in 0..100 {
        let m = w
            .client()
            .sms_outbox(&w.server.admin_token, Some(ANA))
            .await
            .expect("outbox")
            .messages
            .remove(0);
        if m.delivered_at.is_some() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    // Delivered and marked: never sent again.
    w.clock.advance(3600);
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let got = gateway.got.lock().expect("lock").clone();
    assert_eq!(got.len(), 2, "{got:?}");
    assert_eq!(
        got[0].event_id, got[1].event_id,
        "a retry carries the same event id"
    );
    assert_eq!(got[1].to, ANA);
    assert_eq!(got[1].encoding, "gsm7");
    assert_eq!(got[1].parts, vec![got[1].text.clone()]);
    assert!(got[1].text.starts_with("Ferry: Your account is ready."));
    let m = w
        .client()
        .sms_outbox(&w.server.admin_token, Some(ANA))
        .await
        .expect("outbox")
        .messages
        .remove(0);
    assert!(m.delivered_at.is_some(), "{m:?}");
    assert_eq!(m.attempts, 2);
}

/// KYC tiers cap what a phone account holds, cash in included: a self-registered number
/// (tier 0, 1 000.00) is refused a cash in that would take it over, with a typed 422 and
/// nothing moved, and takes one that fits; an agent-verified number (tier 1) holds more.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cash_in_respects_the_tier_balance_limit() {
    for (db, w) in worlds().await {
        w.register(ANA).await;
        w.fund(ANA, 900_00).await;
        let account = w.account(ANA).await;
        let err = w
            .client()
            .cash_in(&w.agent.token, account, brl(100_01), "over-tier0")
            .await
            .expect_err("over the tier-0 limit");
        assert_eq!(
            err.code().map(|c| c.as_str()),
            Some("over_balance_limit"),
            "{db}: {err}"
        );
        assert_eq!(w.balance(ANA).await, 900_00, "{db}: nothing moved");
        assert_eq!(
            w.sms_kinds(ANA).await,
            ["registered", "cashed_in"],
            "{db}: no notice"
        );
        // The same reference can be used once the amount fits: the refusal burned nothing.
        let fits = w
            .client()
            .cash_in(&w.agent.token, account, brl(100_00), "over-tier0")
            .await
            .expect("fits the limit");
        assert_eq!(fits, ferry_api::Outcome::Settled, "{db}");
        assert_eq!(w.balance(ANA).await, 1_000_00, "{db}");
        // An agent verifies the number: tier 1 holds 10 000.00.
        w.client()
            .register_phone(&w.agent.token, ANA, "Ana Souza", None)
            .await
            .expect("agent verifies");
        w.fund(ANA, 2_000_00).await;
        assert_eq!(w.balance(ANA).await, 3_000_00, "{db}");
        w.server.assert_audit_clean().await;
    }
}

/// The cash-out code `r` (the screen after a confirmed cash out) shows.
fn cash_out_code(r: &UssdReply) -> String {
    r.text()
        .lines()
        .next()
        .and_then(|l| l.strip_prefix("Cash-out code: "))
        .expect("code line")
        .to_owned()
}

/// An 8-digit code that is not `real`.
fn wrong_code(real: &str, i: u32) -> String {
    let guess = format!("{:08}", (u64::from(i) * 7_919 + 13) % 100_000_000);
    if guess == real {
        format!("{:08}", (u64::from(i) * 7_919 + 14) % 100_000_000)
    } else {
        guess
    }
}

#[tokio::test]
async fn an_agent_guessing_cash_out_codes_is_stopped_and_pays_again_after_the_window() {
    for (db, w) in worlds().await {
        w.register(ANA).await;
        w.fund(ANA, 100_00).await;
        let code = cash_out_code(&w.run(ANA, &format!("4*20*{PIN}*1")).await);
        let c = w.client();
        let guesser = w.server.agent(1_00).await;
        // Real codes do not count: a busy agent is never stopped by its own pay-outs. Here an
        // honest agent's lapsed and paid codes are interleaved with four wrong ones.
        for i in 0..4 {
            let r = c
                .redeem_ussd_cash_out(&guesser.token, ANA, &wrong_code(&code, i))
                .await
                .expect("redeem");
            assert_eq!(r.outcome, UssdCashOutOutcome::UnknownCode, "{db}");
        }
        // The fifth unknown code is still answered; the sixth try is refused, even with the
        // real code, and moves nothing.
        let r = c
            .redeem_ussd_cash_out(&guesser.token, ANA, "12")
            .await
            .expect("malformed codes count too");
        assert_eq!(r.outcome, UssdCashOutOutcome::UnknownCode, "{db}");
        let err = c
            .redeem_ussd_cash_out(&guesser.token, ANA, &code)
            .await
            .expect_err("stopped");
        assert_eq!(err.status(), Some(429), "{db}: {err}");
        assert_eq!(
            err.code().map(|c| c.as_str()),
            Some("too_many_attempts"),
            "{db}"
        );
        assert_eq!(w.ledger(LedgerAccount::CashOutReserve).await, 20_00, "{db}");
        // Another agent is not affected, and pays the code out.
        let paid = c
            .redeem_ussd_cash_out(&w.agent.token, ANA, &code)
            .await
            .expect("redeem");
        assert_eq!(paid.outcome, UssdCashOutOutcome::Paid, "{db}");
        // After the window the stopped agent works again.
        w.clock.advance(901);
        let code2 = cash_out_code(&w.run(ANA, &format!("4*10*{PIN}*1")).await);
        let paid = c
            .redeem_ussd_cash_out(&guesser.token, ANA, &code2)
            .await
            .expect("redeem");
        assert_eq!(paid.outcome, UssdCashOutOutcome::Paid, "{db}");
        assert_eq!(w.ledger(LedgerAccount::CashOutReserve).await, 0, "{db}");
        w.server.assert_audit_clean().await;
    }
}

#[tokio::test]
async fn a_storm_of_concurrent_guesses_gets_at_most_the_limit_answered() {
    for (db, w) in worlds().await {
        w.register(ANA).await;
        w.fund(ANA, 100_00).await;
        let code = cash_out_code(&w.run(ANA, &format!("4*20*{PIN}*1")).await);
        let guesser = w.server.agent(1_00).await;
        let mut tasks = Vec::new();
        for i in 0..40 {
            let c = w.client().clone();
            let token = guesser.token.clone();
            let guess = wrong_code(&code, i);
            tasks.push(tokio::spawn(async move {
                c.redeem_ussd_cash_out(&token, ANA, &guess).await
            }));
        }
        let (mut answered, mut refused) = (0, 0);
        for t in tasks {
            match t.await.expect("task") {
                Ok(r) => {
                    assert_eq!(r.outcome, UssdCashOutOutcome::UnknownCode, "{db}");
                    answered += 1;
                }
                Err(e) => {
                    assert_eq!(e.status(), Some(429), "{db}: {e}");
                    refused += 1;
                }
            }
        }
        assert_eq!((answered, refused), (5, 35), "{db}");
        assert_eq!(w.ledger(LedgerAccount::CashOutReserve).await, 20_00, "{db}");
    }
}

#[tokio::test]
async fn phone_link_codes_are_limited_per_number_and_per_account() {
    for (db, w) in worlds().await {
        let c = w.client();
        let holder = Account::register(c).await;
        for _ in 0..3 {
            let r = c
                .link_phone(&holder.key, holder.id, BIA, None, now())
                .await
                .expect("code");
            assert_eq!(r.outcome, PhoneLinkOutcome::CodeSent, "{db}");
        }
        let err = c
            .link_phone(&holder.key, holder.id, BIA, None, now())
            .await
            .expect_err("a fourth code in the hour");
        assert_eq!(err.status(), Some(429), "{db}: {err}");
        assert_eq!(
            err.code().map(|c| c.as_str()),
            Some("too_many_attempts"),
            "{db}"
        );
        assert_eq!(w.sms(BIA).await.len(), 3, "{db}: no fourth SMS");
        // The number is protected from other accounts too, and the account cannot move on to
        // spam other numbers.
        let other = Account::register(c).await;
        let err = c
            .link_phone(&other.key, other.id, BIA, None, now())
            .await
            .expect_err("the number's limit");
        assert_eq!(err.status(), Some(429), "{db}");
        let err = c
            .link_phone(&holder.key, holder.id, CAIO, None, now())
            .await
            .expect_err("the account's limit");
        assert_eq!(err.status(), Some(429), "{db}");
        assert!(w.sms(CAIO).await.is_empty(), "{db}");
        // The last code sent still links; after the hour, codes can be asked for again.
        let code: String = w.sms(BIA).await[2]
            .1
            .split_whitespace()
            .nth(2)
            .expect("code")
            .to_owned();
        let linked = c
            .link_phone(&holder.key, holder.id, BIA, Some(&code), now())
            .await
            .expect("link");
        assert_eq!(linked.outcome, PhoneLinkOutcome::Linked, "{db}");
        w.clock.advance(3601);
        let r = c
            .link_phone(&other.key, other.id, CAIO, None, now().plus_secs(3601))
            .await
            .expect("a new window");
        assert_eq!(r.outcome, PhoneLinkOutcome::CodeSent, "{db}");
    }
}

/// A world whose USSD channel has a velocity rule: at most 3 payments and 100.00 (fees
/// included) out of an account in any 10 minutes.
async fn velocity_world(action: ferry_ledger::engine::risk::RiskAction) -> World {
    let clock = Arc::new(ManualClock::new(now()));
    let mut opts = options(clock.clone());
    let base = opts.configure.take().expect("configure");
    opts.configure = Some(Arc::new(move |c| {
        base(c);
        c.ussd.phones.send_velocity = Some(ferry_ledger::engine::risk::VelocityRule {
            window_secs: 600,
            max_count: 3,
            max_amount: 100_00,
            action,
        });
    }));
    let server = TestServer::sqlite_with(opts).await;
    let agent = server.agent(100_000_00).await;
    World {
        server,
        clock,
        agent,
    }
}

#[tokio::test]
async fn a_burst_of_ussd_payments_is_held_by_the_velocity_rule_and_explained() {
    use ferry_ledger::engine::risk::RiskAction;
    let w = velocity_world(RiskAction::Block).await;
    w.register(ANA).await;
    w.register(BIA).await;
    w.fund(ANA, 500_00).await;
    for _ in 0..3 {
        let r = w.run(ANA, &format!("1*{BIA}*10*{PIN}*1")).await;
        assert!(r.text().starts_with("Sent 10.00 BRL"), "{r:?}");
    }
    // The fourth in ten minutes is held: a clear screen, nothing moves, an alert is recorded.
    let balance = w.balance(ANA).await;
    let r = w.run(ANA, &format!("1*{BIA}*10*{PIN}*1")).await;
    assert_eq!(
        r,
        UssdReply::End(
            "Too many payments in a short time. For your safety nothing was sent. Try again later or ask your agent."
                .to_owned()
        )
    );
    assert_eq!(w.balance(ANA).await, balance);
    // A cash out counts in the same window and is held too.
    let r = w.run(ANA, &format!("4*10*{PIN}*1")).await;
    assert!(r.text().starts_with("Too many payments"), "{r:?}");
    assert_eq!(w.ledger(LedgerAccount::CashOutReserve).await, 0);
    let alerts = w
        .client()
        .risk_alerts(&w.server.admin_token, Some(w.account(ANA).await))
        .await
        .expect("alerts")
        .alerts;
    assert_eq!(alerts.len(), 2, "{alerts:?}");
    for a in &alerts {
        assert_eq!(
            (a.channel.as_str(), a.rule.as_str(), a.action.as_str()),
            ("ussd", "velocity", "blocked")
        );
        assert_eq!(a.evidence["count_in_window"], 3, "{a:?}");
    }
    // Ten minutes later the window has moved on.
    w.clock.advance(601);
    let r = w.run(ANA, &format!("1*{BIA}*10*{PIN}*1")).await;
    assert!(r.text().starts_with("Sent 10.00 BRL"), "{r:?}");
    // The value cap: 95.00 + 0.95 fee after 10.10 in the window is over 100.00.
    let r = w.run(ANA, &format!("1*{BIA}*95*{PIN}*1")).await;
    assert!(r.text().starts_with("Too many payments"), "{r:?}");
    w.server.assert_audit_clean().await;
}

#[tokio::test]
async fn an_alert_only_velocity_rule_lets_the_payment_through_and_records_it() {
    use ferry_ledger::engine::risk::RiskAction;
    let w = velocity_world(RiskAction::Alert).await;
    w.register(ANA).await;
    w.register(BIA).await;
    w.fund(ANA, 500_00).await;
    for _ in 0..4 {
        let r = w.run(ANA, &format!("1*{BIA}*10*{PIN}*1")).await;
        assert!(r.text().starts_with("Sent 10.00 BRL"), "{r:?}");
    }
    assert_eq!(w.balance(BIA).await, 40_00);
    let alerts = w
        .client()
        .risk_alerts(&w.server.admin_token, None)
        .await
        .expect("alerts")
        .alerts;
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    assert_eq!(alerts[0].action, "alert");
    assert_eq!(alerts[0].channel, "ussd");
    w.server.assert_audit_clean().await;
}
