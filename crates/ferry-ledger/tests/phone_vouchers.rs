//! Vouchers created from a feature phone, through the USSD menu engine over the ledger's
//! phone accounts, on embedded SQLite and on PostgreSQL (when `FERRY_TEST_DATABASE_URL` is
//! set): the same creation path as the API, the text form by SMS, retransmitted callbacks
//! creating one voucher, the emitter's block, list and invalidate, and the audit after each.

use std::sync::Arc;

use ferry_ledger::engine::risk::{RiskAction, VelocityRule};
use ferry_ledger::engine::vouchers::{
    Redeem, RedeemOutcome, VerifierParams, VoucherConfig, Vouchers,
};
use ferry_ledger::engine::{PhoneBackend, PhoneConfig};
use ferry_ledger::store::VoucherState;
use ferry_ledger::{LedgerAccount, Posting, Store, Transfer};
use ferry_proto::cert::FeeSchedule;
use ferry_proto::voucher::SealedVoucher;
use ferry_proto::{AccountId, Currency, Money, UnixTime};
use ferry_ussd::backend::Backend;
use ferry_ussd::gateway::{UssdRequest, UssdText};
use ferry_ussd::menu::{Engine as Menu, EngineConfig, Reply};
use ferry_ussd::phone::Phone;
use ferry_ussd::pin::PinHashParams;
use ferry_ussd::sim::script_texts;

mod common;
use common::kit::Kit;
use common::stores;

const T: u64 = 1_800_000_000;
const ALICE: &str = "+5511987650001";
const PIN: &str = "2580";
const PASSWORD: &str = "sun7rise";

struct Setup {
    name: &'static str,
    store: Store,
    vouchers: Vouchers,
    phones: Arc<PhoneBackend>,
    menu: Menu<Arc<PhoneBackend>>,
    alice: AccountId,
    _dir: Option<tempfile::TempDir>,
}

fn phone(s: &str) -> Phone {
    Phone::parse(s, None).expect("phone")
}

async fn setups() -> Vec<Setup> {
    setups_with(None).await
}

async fn setups_with(create_velocity: Option<VelocityRule>) -> Vec<Setup> {
    let mut out = Vec::new();
    for (name, store, dir) in stores().await {
        let kit = Kit::with_fees(
            store.clone(),
            FeeSchedule {
                voucher_create_bps: 100,
                voucher_redeem_bps: 30,
                ..FeeSchedule::default()
            },
        );
        let vouchers = Vouchers::new(
            kit.engine.clone(),
            VoucherConfig {
                verifier_params: VerifierParams::TEST,
                pepper: b"test pepper".to_vec(),
                create_velocity,
                ..VoucherConfig::default()
            },
        );
        let phones = Arc::new(
            PhoneBackend::new(
                kit.engine.clone(),
                PhoneConfig {
                    hash_params: PinHashParams::TEST,
                    pepper: b"pin pepper".to_vec(),
                    ..PhoneConfig::default()
                },
            )
            .with_vouchers(vouchers.clone()),
        );
        let menu = Menu::new(phones.clone(), EngineConfig::default());
        // Alice registers on first dial (English, PIN 2580), then an agent's cash in.
        let reg = format!("1*{PIN}*{PIN}");
        for (i, t) in script_texts(&reg).iter().enumerate() {
            menu.handle(&request("reg", t), UnixTime(T - 100 + i as u64))
                .await
                .expect("register");
        }
        let alice = phones
            .account(&phone(ALICE))
            .await
            .expect("account")
            .expect("registered")
            .account;
        let t = Transfer {
            reference: format!("test-fund:{alice}"),
            kind: "cash_in",
            currency: Currency::BRL,
            postings: vec![
                Posting::debit(LedgerAccount::Issuance, 100_00),
                Posting::credit(LedgerAccount::Online(alice), 100_00),
            ],
        };
        store.post(&t, UnixTime(T - 50)).await.expect("fund");
        out.push(Setup {
            name,
            store,
            vouchers,
            phones,
            menu,
            alice,
            _dir: dir,
        });
    }
    out
}

fn request(session: &str, text: &str) -> UssdRequest {
    UssdRequest {
        session_id: session.to_owned(),
        service_code: "*384*1#".to_owned(),
        phone: phone(ALICE),
        network_code: None,
        text: UssdText::new(text),
    }
}

impl Setup {
    async fn dial(&self, session: &str, text: &str, at: u64) -> Reply {
        self.menu
            .handle(&request(session, text), UnixTime(T + at))
            .await
            .expect("backend")
    }

    /// Every callback of `script`, one second apart from `T + start`; the last reply.
    async fn run(&self, session: &str, script: &str, start: u64) -> Reply {
        let mut last = None;
        for (i, t) in script_texts(script).iter().enumerate() {
            last = Some(self.dial(session, t, start + i as u64).await);
        }
        last.expect("a reply")
    }

    async fn balance(&self) -> i64 {
        self.store
            .balance(&LedgerAccount::Online(self.alice), Currency::BRL)
            .await
            .expect("balance")
    }

    async fn voucher_texts(&self) -> Vec<String> {
        self.phones
            .outbox(Some(&phone(ALICE)), 100)
            .await
            .expect("outbox")
            .into_iter()
            .filter(|r| r.kind == "voucher_issued")
            .map(|r| r.body.lines().last().unwrap_or_default().to_owned())
            .collect()
    }

    async fn assert_clean(&self) {
        let audit = self.store.audit().await.expect("audit");
        assert!(audit.is_clean(), "{}: {audit:?}", self.name);
    }
}

fn create_script(amount: &str, hours: &str) -> String {
    format!("6*1*{amount}*{hours}*{PASSWORD}*{PASSWORD}*{PIN}*1")
}

#[tokio::test]
async fn a_feature_phone_creates_a_voucher_that_redeems_like_any_other() {
    for s in setups().await {
        let confirm = s
            .run("v", &format!("6*1*40*6*{PASSWORD}*{PASSWORD}*{PIN}"), 0)
            .await;
        assert_eq!(
            confirm.text(),
            "Voucher 40.00 BRL, 6 h. Fee 0.40 BRL. Create?\nTotal held: 40.52 BRL\n1 Confirm\n2 Cancel\n0 Back 00 Main menu",
            "{}",
            s.name
        );
        let end = s.dial("v", &create_script("40", "6"), 10).await;
        assert!(
            end.is_end()
                && end
                    .text()
                    .contains("created: 40.00 BRL, valid 6 h, fee 0.40 BRL"),
            "{}: {end:?}",
            s.name
        );
        // Amount, 1 % creation fee and the 0.3 % fee reserve left the balance.
        assert_eq!(s.balance().await, 100_00 - 40_52, "{}", s.name);
        // The SMS carries the text form; it is the stored voucher, sealed under the password.
        let texts = s.voucher_texts().await;
        assert_eq!(texts.len(), 1, "{}", s.name);
        let sealed = SealedVoucher::from_text(&texts[0]).expect("voucher text");
        let reference = ferry_ussd::voucher::short_reference(&sealed.id().to_string());
        assert!(
            end.text().contains(&format!("Voucher {reference} created")),
            "{}",
            s.name
        );
        let view = s
            .vouchers
            .view(s.alice, sealed.id())
            .await
            .expect("the voucher is the emitter's");
        assert_eq!(view.state, VoucherState::Active);
        assert_eq!(view.initial.minor(), 40_00);
        assert_eq!(view.expires_at, UnixTime(T + 10 + 6 * 3600));
        // A receiver redeems it through the API's path with the password.
        let receiver = AccountId::random();
        let out = s
            .vouchers
            .redeem(
                &Redeem {
                    text: &texts[0],
                    password: PASSWORD,
                    receiver,
                    amount: Money::new(15_00, Currency::BRL),
                    place: None,
                    request_id: [7; 16],
                },
                UnixTime(T + 100),
            )
            .await
            .expect("redeem");
        assert!(
            matches!(out, RedeemOutcome::Redeemed { remaining, .. } if remaining.minor() == 25_00),
            "{}: {out:?}",
            s.name
        );
        s.assert_clean().await;
    }
}

#[tokio::test]
async fn retransmitted_callbacks_never_create_two_vouchers() {
    for s in setups().await {
        let script = create_script("10", "2");
        // Every callback twice.
        for (i, t) in script_texts(&script).iter().enumerate() {
            let a = s.dial("rt", t, i as u64).await;
            let b = s.dial("rt", t, i as u64).await;
            assert_eq!(a, b, "{}: {i}", s.name);
        }
        // Two server processes answering the confirmation at once.
        let other = Menu::new(s.phones.clone(), EngineConfig::default());
        let req = request("rt", &script);
        let (a, b) = tokio::join!(
            s.menu.handle(&req, UnixTime(T + 20)),
            other.handle(&req, UnixTime(T + 20))
        );
        assert_eq!(a.expect("a"), b.expect("b"), "{}", s.name);
        // The session record lost: the operation key answers.
        s.phones
            .purge_sessions(UnixTime(u64::MAX))
            .await
            .expect("purge");
        let again = s.dial("rt", &script, 30).await;
        assert!(
            again.text().contains("created: 10.00 BRL"),
            "{}: {again:?}",
            s.name
        );
        let mine = s.vouchers.list(s.alice).await.expect("list");
        assert_eq!(mine.len(), 1, "{}", s.name);
        assert_eq!(s.voucher_texts().await.len(), 1, "{}", s.name);
        assert_eq!(s.balance().await, 100_00 - 10_13, "{}", s.name);
        s.assert_clean().await;
    }
}

#[tokio::test]
async fn a_blocked_emitter_cannot_create_from_a_phone_either() {
    for s in setups().await {
        s.vouchers
            .set_blocked(s.alice, true, UnixTime(T))
            .await
            .expect("block");
        let end = s.run("b", &create_script("5", "1"), 0).await;
        assert!(
            end.text().contains("Voucher creation is blocked"),
            "{}: {end:?}",
            s.name
        );
        // More than the balance holds.
        s.vouchers
            .set_blocked(s.alice, false, UnixTime(T))
            .await
            .expect("unblock");
        let end = s.run("big", &create_script("99.50", "1"), 20).await;
        assert!(
            end.text().contains("Not enough balance (100.00 BRL)"),
            "{}: {end:?}",
            s.name
        );
        assert_eq!(s.balance().await, 100_00, "{}", s.name);
        assert!(s.vouchers.list(s.alice).await.expect("list").is_empty());
        assert!(s.voucher_texts().await.is_empty());
        s.assert_clean().await;
    }
}

#[tokio::test]
async fn list_and_invalidate_from_a_phone_returns_the_rest_once() {
    for s in setups().await {
        s.run("a", &create_script("10", "3"), 0).await;
        s.run("b", &create_script("20", "12"), 20).await;
        let after = s.balance().await;
        let list = s.run("l", &format!("6*2*{PIN}"), 60).await;
        let text = list.text().to_owned();
        assert!(
            text.contains("\n1 ") && text.contains(" 20.00 BRL 12h\n2 "),
            "{}: {text}",
            s.name
        );
        assert!(text.contains(" 10.00 BRL 3h"), "{}: {text}", s.name);
        let script = format!("6*2*{PIN}*2*1");
        let end = s.run("i", &script, 60).await;
        assert!(
            end.text().contains("invalidated. 10.03 BRL returned"),
            "{}: {end:?}",
            s.name
        );
        // A retransmission gets the same screen.
        assert_eq!(s.dial("i", &script, 90).await, end, "{}", s.name);
        // With the record lost, a fresh replay lists the vouchers as they are now (one), so
        // the old choice "2" is no longer one: it shows the list's note, and nothing more
        // moves or closes.
        s.phones
            .purge_sessions(UnixTime(u64::MAX))
            .await
            .expect("purge");
        let fresh = Menu::new(s.phones.clone(), EngineConfig::default());
        let again = fresh
            .handle(&request("i", &script), UnixTime(T + 91))
            .await
            .expect("backend");
        assert!(!again.is_end(), "{}: {again:?}", s.name);
        assert_eq!(s.balance().await, after + 10_03, "{}", s.name);
        let open: Vec<_> = s
            .vouchers
            .list(s.alice)
            .await
            .expect("list")
            .into_iter()
            .filter(|v| v.state == VoucherState::Active)
            .collect();
        assert_eq!(open.len(), 1, "{}", s.name);
        assert_eq!(open[0].initial.minor(), 20_00, "{}", s.name);
        s.assert_clean().await;
    }
}

#[tokio::test]
async fn the_creation_velocity_rule_holds_a_phone_voucher_with_a_clear_screen() {
    let rule = VelocityRule {
        window_secs: 3600,
        max_count: 1,
        max_amount: 1_000_00,
        action: RiskAction::Block,
    };
    for s in setups_with(Some(rule)).await {
        let end = s.run("a", &create_script("10", "1"), 0).await;
        assert!(end.text().contains("created"), "{}: {end:?}", s.name);
        let after = s.balance().await;
        let end = s.run("b", &create_script("10", "1"), 20).await;
        assert_eq!(
            end.text(),
            "Too many vouchers or payments in a short time. For your safety no voucher was created. Try again later or ask your agent.",
            "{}",
            s.name
        );
        // The refusal is recorded for the operator and stays the answer to a retransmission.
        assert_eq!(s.dial("b", &create_script("10", "1"), 40).await, end);
        assert_eq!(s.balance().await, after, "{}", s.name);
        assert_eq!(s.voucher_texts().await.len(), 1, "{}", s.name);
        assert_eq!(s.vouchers.list(s.alice).await.expect("list").len(), 1);
        let alerts = s
            .phones
            .engine()
            .risk_alerts(Some(s.alice), 10)
            .await
            .expect("alerts");
        assert_eq!(alerts.len(), 1, "{}", s.name);
        assert_eq!(
            (alerts[0].rule.as_str(), alerts[0].action.as_str()),
            ("create_velocity", "blocked"),
            "{}",
            s.name
        );
        s.assert_clean().await;
    }
}

#[tokio::test]
async fn without_the_voucher_service_the_menu_says_so_and_moves_nothing() {
    let (_, store, _dir) = stores().await.into_iter().next().expect("sqlite");
    let kit = Kit::with_fees(store.clone(), FeeSchedule::default());
    let phones = Arc::new(PhoneBackend::new(
        kit.engine.clone(),
        PhoneConfig {
            hash_params: PinHashParams::TEST,
            pepper: b"pin pepper".to_vec(),
            ..PhoneConfig::default()
        },
    ));
    let menu = Menu::new(phones.clone(), EngineConfig::default());
    let script = format!("1*{PIN}*{PIN}*{}", create_script("10", "1"));
    let mut last = None;
    for (i, t) in script_texts(&script).iter().enumerate() {
        last = Some(
            menu.handle(&request("nv", t), UnixTime(T + i as u64))
                .await
                .expect("backend"),
        );
    }
    let end = last.expect("a reply");
    assert_eq!(
        end,
        Reply::End("Vouchers are not available on this service.".into())
    );
    assert!(
        phones
            .vouchers(&phone(ALICE), 4, UnixTime(T))
            .await
            .expect("list")
            .is_empty()
    );
}
