//! Offline Pix vouchers over HTTP against real servers (SQLite, and PostgreSQL where marked):
//! create, redeem, list, invalidate, block; the RFC's failure points as typed outcomes; bad
//! inputs as typed 4xx or outcomes with nothing moved; 20 concurrent redemptions across two
//! servers on one PostgreSQL; the audit clean after each.

use std::sync::Arc;

use ferry_api::auth::{FERRY_ACCOUNT, sign_request};
use ferry_api::client::{ClientError, SettlementClient};
use ferry_api::{
    CreateVoucherRequest, ErrorCode, PlaceBody, RedeemVoucherRequest, VoucherCreated,
    VoucherReason, VoucherRedeemOutcome, VoucherRedeemResult, VoucherStateBody,
};
use ferry_ledger::engine::vouchers::VerifierParams;
use ferry_proto::{ManualClock, UnixTime};
use ferry_testkit::{Account, Agent, ServerOptions, TestServer, brl, now, random_hex};
use serde_json::{Value, json};

const PASSWORD: &str = "pix offline";

/// A server with a clock the test moves and cheap password verifiers (sealing keeps the real
/// Argon2id cost: it is fixed by the voucher's wire version). Fees are the defaults: 1 % to
/// create, 0.3 % of each redemption.
fn options(clock: Arc<ManualClock>) -> ServerOptions {
    ServerOptions {
        clock: Some(clock),
        configure: Some(Arc::new(|c| {
            c.vouchers.verifier_params = VerifierParams::TEST;
        })),
    }
}

struct World {
    server: TestServer,
    clock: Arc<ManualClock>,
    agent: Agent,
}

impl World {
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

    fn client(&self) -> &SettlementClient {
        &self.server.client
    }

    fn now(&self) -> UnixTime {
        ferry_proto::Clock::now(&*self.clock)
    }

    async fn funded(&self, minor: i64) -> Account {
        let a = Account::register(self.client()).await;
        self.client()
            .cash_in(&self.agent.token, a.id, brl(minor), &random_hex())
            .await
            .expect("cash in");
        a
    }

    async fn online(&self, a: &Account) -> i64 {
        self.client()
            .account(&a.key, a.id, self.now())
            .await
            .expect("account")
            .online
            .amount
    }

    async fn create(
        &self,
        a: &Account,
        minor: i64,
        secs: u64,
        place: Option<PlaceBody>,
    ) -> Result<VoucherCreated, ClientError> {
        let req = CreateVoucherRequest {
            amount: minor,
            currency: "BRL".into(),
            expires_in_secs: secs,
            password: PASSWORD.into(),
            place,
        };
        self.client()
            .create_voucher(&a.key, a.id, &req, self.now())
            .await
    }

    async fn redeem(
        &self,
        a: &Account,
        text: &str,
        password: &str,
        minor: i64,
    ) -> VoucherRedeemResult {
        let req = RedeemVoucherRequest {
            voucher: text.to_owned(),
            password: password.to_owned(),
            amount: minor,
            currency: "BRL".into(),
            request_id: random_hex()[..32].to_owned(),
            place: None,
        };
        self.client()
            .redeem_voucher(&a.key, a.id, &req, self.now())
            .await
            .expect("redeem answered")
    }

    /// A signed POST of raw JSON; returns the status and the body.
    async fn raw(&self, a: &Account, path: &str, body: &Value) -> (u16, Value) {
        let bytes = serde_json::to_vec(body).expect("json");
        let mut r = reqwest::Client::new()
            .post(format!("{}{path}", self.server.base_url))
            .header("content-type", "application/json")
            .header(FERRY_ACCOUNT, a.id.to_hex());
        for (k, v) in sign_request(&a.key, "POST", path, &bytes, self.now()) {
            r = r.header(k, v);
        }
        let response = r.body(bytes).send().await.expect("answer");
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }
}

fn api_code(e: ClientError) -> (u16, ErrorCode, Option<String>) {
    match e {
        ClientError::Api {
            status,
            code,
            field,
            ..
        } => (status, code, field),
        other => panic!("not an API error: {other}"),
    }
}

async fn the_whole_life_of_a_voucher(w: World) {
    let emitter = w.funded(1_000_00).await;
    let (ana, bia) = (
        Account::register(w.client()).await,
        Account::register(w.client()).await,
    );
    let v = w
        .create(&emitter, 100_00, 6 * 3600, None)
        .await
        .expect("create");
    assert_eq!(v.text.len(), 216);
    assert!(v.text.starts_with("FV1:"));
    assert_eq!((v.creation_fee.amount, v.fee_reserve.amount), (1_00, 30));
    assert_eq!(w.online(&emitter).await, 1_000_00 - 101_30);

    // 30.00 to Ana; fee 0.09 from the reserve.
    let r = w.redeem(&ana, &v.text, PASSWORD, 30_00).await;
    assert_eq!(r.outcome, VoucherRedeemOutcome::Redeemed, "{r:?}");
    assert_eq!(
        (
            r.amount.map(|a| a.amount),
            r.fee.map(|a| a.amount),
            r.remaining.map(|a| a.amount)
        ),
        (Some(30_00), Some(9), Some(70_00))
    );
    assert_eq!(w.online(&ana).await, 30_00);
    // Over what is left: refused, nothing moves.
    let r = w.redeem(&bia, &v.text, PASSWORD, 70_01).await;
    assert_eq!(r.outcome, VoucherRedeemOutcome::AmountExceedsVoucher);
    assert_eq!(r.remaining.map(|a| a.amount), Some(70_00));
    assert!(r.message.contains("exceeds"), "{}", r.message);
    // A wrong password: invalid, 4 tries left.
    let r = w.redeem(&bia, &v.text, "not the password", 1_00).await;
    assert_eq!(
        (r.outcome, r.reason, r.attempts_left),
        (
            VoucherRedeemOutcome::InvalidVoucher,
            Some(VoucherReason::WrongPassword),
            Some(4)
        )
    );
    assert_eq!(w.online(&bia).await, 0);
    w.server.assert_audit_clean().await;

    // The emitter's list: remaining value and history.
    let list = w
        .client()
        .vouchers(&emitter.key, emitter.id, w.now())
        .await
        .expect("list");
    assert!(!list.creation_blocked);
    assert_eq!(list.vouchers.len(), 1);
    let listed = &list.vouchers[0];
    assert_eq!(listed.voucher_id, v.voucher_id);
    assert_eq!(listed.state, VoucherStateBody::Active);
    assert_eq!(listed.remaining.amount, 70_00);
    assert_eq!(listed.redemptions.len(), 1);
    assert_eq!(listed.redemptions[0].receiver, ana.id.to_string());
    // Nobody else can invalidate it.
    let e = w
        .client()
        .invalidate_voucher(&ana.key, ana.id, &v.voucher_id, w.now())
        .await
        .expect_err("not hers");
    assert_eq!(api_code(e).0, 404);
    // The emitter invalidates it: 70.00 and the unused fee reserve (0.21) come back.
    let before = w.online(&emitter).await;
    let closed = w
        .client()
        .invalidate_voucher(&emitter.key, emitter.id, &v.voucher_id, w.now())
        .await
        .expect("invalidate");
    assert_eq!(closed.state, VoucherStateBody::Invalidated);
    assert_eq!(closed.returned.map(|a| a.amount), Some(70_21));
    assert_eq!(w.online(&emitter).await, before + 70_21);
    let r = w.redeem(&bia, &v.text, PASSWORD, 1_00).await;
    assert_eq!(
        (r.outcome, r.reason),
        (
            VoucherRedeemOutcome::InvalidVoucher,
            Some(VoucherReason::Invalidated)
        )
    );

    // Blocked: creation refused with a typed 409 until unblocked.
    let b = w
        .client()
        .block_vouchers(&emitter.key, emitter.id, true, w.now())
        .await
        .expect("block");
    assert!(b.blocked && b.changed);
    let e = w
        .create(&emitter, 1_00, 3600, None)
        .await
        .expect_err("blocked");
    assert_eq!(api_code(e), (409, ErrorCode::VoucherCreationBlocked, None));
    w.client()
        .block_vouchers(&emitter.key, emitter.id, false, w.now())
        .await
        .expect("unblock");
    let v2 = w.create(&emitter, 10_00, 3600, None).await.expect("create");

    // Expiry: an hour later it is invalid and its reserve is back.
    let before = w.online(&emitter).await;
    w.clock.advance(3600);
    let r = w.redeem(&ana, &v2.text, PASSWORD, 1_00).await;
    assert_eq!(
        (r.outcome, r.reason),
        (
            VoucherRedeemOutcome::InvalidVoucher,
            Some(VoucherReason::Expired)
        )
    );
    assert_eq!(w.online(&emitter).await, before + 10_03);
    let audit = w.server.assert_audit_clean().await;
    drop(audit);
}

#[tokio::test]
async fn the_whole_life_of_a_voucher_on_sqlite() {
    the_whole_life_of_a_voucher(World::sqlite().await).await;
}

#[tokio::test]
async fn the_whole_life_of_a_voucher_on_postgres() {
    if let Some(w) = World::postgres().await {
        the_whole_life_of_a_voucher(w).await;
    }
}

#[tokio::test]
async fn security_exceptions_over_http_invalidate_the_voucher() {
    let w = World::sqlite().await;
    let emitter = w.funded(100_00).await;
    let thief = Account::register(w.client()).await;
    let v = w.create(&emitter, 20_00, 3600, None).await.expect("create");
    for left in (1..=4).rev() {
        let r = w.redeem(&thief, &v.text, "guess-guess", 1_00).await;
        assert_eq!(r.attempts_left, Some(left));
    }
    let r = w.redeem(&thief, &v.text, "guess-guess", 1_00).await;
    assert_eq!(
        (r.outcome, r.reason),
        (
            VoucherRedeemOutcome::SecurityException,
            Some(VoucherReason::BruteForce)
        )
    );
    assert!(r.message.contains("invalidated"), "{}", r.message);
    let r = w.redeem(&thief, &v.text, PASSWORD, 1_00).await;
    assert_eq!(r.reason, Some(VoucherReason::Invalidated));

    // Impossible travel: created in Recife, redeemed in Salvador (~675 km) 30 minutes later.
    let recife = PlaceBody {
        latitude: -8.0476,
        longitude: -34.877,
    };
    let v = w
        .create(&emitter, 20_00, 3600, Some(recife))
        .await
        .expect("create");
    let receiver = Account::register(w.client()).await;
    w.clock.advance(1800);
    let req = RedeemVoucherRequest {
        voucher: v.text.clone(),
        password: PASSWORD.into(),
        amount: 1_00,
        currency: "BRL".into(),
        request_id: random_hex()[..32].to_owned(),
        place: Some(PlaceBody {
            latitude: -12.9714,
            longitude: -38.5014,
        }),
    };
    let r = w
        .client()
        .redeem_voucher(&receiver.key, receiver.id, &req, w.now())
        .await
        .expect("answered");
    assert_eq!(
        (r.outcome, r.reason),
        (
            VoucherRedeemOutcome::SecurityException,
            Some(VoucherReason::ImpossibleTravel)
        )
    );
    assert_eq!(w.online(&receiver).await, 0);
    // The operator sees both alerts, each with its evidence; a filter by account works.
    let all = w
        .client()
        .risk_alerts(&w.server.admin_token, None)
        .await
        .expect("alerts");
    let rules: Vec<&str> = all.alerts.iter().map(|a| a.rule.as_str()).collect();
    assert_eq!(rules, ["impossible_travel", "brute_force"]);
    assert_eq!(all.alerts[1].evidence["failures"], 5);
    let mine = w
        .client()
        .risk_alerts(&w.server.admin_token, Some(receiver.id))
        .await
        .expect("alerts");
    assert_eq!(mine.alerts.len(), 1);
    assert_eq!(mine.alerts[0].account_id, receiver.id.to_hex());
    assert!(
        mine.alerts[0].evidence["distance_m"]
            .as_u64()
            .expect("distance")
            > 600_000
    );
    // Without the admin token: 401.
    let e = w
        .client()
        .risk_alerts("not-the-token", None)
        .await
        .expect_err("unauthorized");
    assert_eq!(api_code(e).0, 401);
    w.server.assert_audit_clean().await;
}

#[tokio::test]
async fn bad_inputs_are_typed_and_move_nothing() {
    let w = World::sqlite().await;
    let emitter = w.funded(100_00).await;
    let receiver = Account::register(w.client()).await;
    let v = w.create(&emitter, 20_00, 3600, None).await.expect("create");
    let emitter_after_create = w.online(&emitter).await;

    // Creation: expiry over 12 h or zero, amounts 0 / negative / overflow, another currency,
    // a short password, places out of range: typed 422s.
    for (secs, field) in [(43_201, "expires_in_secs"), (0, "expires_in_secs")] {
        let e = w
            .create(&emitter, 1_00, secs, None)
            .await
            .expect_err("expiry");
        assert_eq!(api_code(e).2.as_deref(), Some(field));
    }
    for amount in [0, -1_00] {
        let e = w
            .create(&emitter, amount, 3600, None)
            .await
            .expect_err("amount");
        assert_eq!(api_code(e).2.as_deref(), Some("amount"));
    }
    let e = w
        .create(&emitter, i64::MAX, 3600, None)
        .await
        .expect_err("overflow");
    assert_eq!(
        api_code(e),
        (400, ErrorCode::InvalidField, Some("amount".to_owned()))
    );
    for (lat, lon, field) in [
        (91.0, 0.0, "place.latitude"),
        (0.0, -180.5, "place.longitude"),
    ] {
        let e = w
            .create(
                &emitter,
                1_00,
                3600,
                Some(PlaceBody {
                    latitude: lat,
                    longitude: lon,
                }),
            )
            .await
            .expect_err("place");
        assert_eq!(api_code(e).2.as_deref(), Some(field));
    }
    let base =
        json!({"amount": 1_00, "currency": "BRL", "expires_in_secs": 3600, "password": PASSWORD});
    let mut cases = Vec::new();
    for (k, v) in [
        ("currency", json!("USD")),
        ("password", json!("short")),
        ("amount", json!(1.005)),
        ("amount", json!("1.00")),
        ("amount", json!(1e30)),
        ("place", json!({"latitude": "north", "longitude": 2})),
        ("place", json!({"latitude": 1})),
    ] {
        let mut b = base.clone();
        b[k] = v;
        cases.push(b);
    }
    for body in cases {
        let (status, err) = w.raw(&emitter, "/v1/vouchers", &body).await;
        assert!(
            (400..500).contains(&status) && err["error"]["code"].is_string(),
            "{body}: {status} {err}"
        );
    }
    assert_eq!(w.online(&emitter).await, emitter_after_create);

    // Redemption: a character changed, a truncated QR, a payload sealed with another password
    // (a voucher of another server: unknown here), a bad request id, amounts, places.
    let mut chars: Vec<char> = v.text.chars().collect();
    let i = chars.len() - 10;
    chars[i] = if chars[i] == 'A' { 'B' } else { 'A' };
    let changed: String = chars.into_iter().collect();
    let r = w.redeem(&receiver, &changed, PASSWORD, 1_00).await;
    assert_eq!(r.outcome, VoucherRedeemOutcome::InvalidVoucher);
    assert!(
        matches!(
            r.reason,
            Some(VoucherReason::Mismatch | VoucherReason::Malformed | VoucherReason::Unknown)
        ),
        "{r:?}"
    );
    let r = w.redeem(&receiver, &v.text[..100], PASSWORD, 1_00).await;
    assert_eq!(r.reason, Some(VoucherReason::Malformed));
    let foreign = ferry_proto::voucher::SealedVoucher::seal(
        &ferry_proto::voucher::VoucherPayload {
            id: ferry_proto::voucher::VoucherId::random(),
            created_at: w.now(),
            expires_at: w.now().plus_secs(3600),
            emitter: emitter.id,
            initial_amount: brl(20_00),
        },
        "another password",
    )
    .expect("seal")
    .to_text();
    let r = w
        .redeem(&receiver, &foreign, "another password", 1_00)
        .await;
    assert_eq!(r.reason, Some(VoucherReason::Unknown));
    let good = json!({"voucher": v.text, "password": PASSWORD, "amount": 1_00,
        "currency": "BRL", "request_id": "0".repeat(32)});
    let mut cases = Vec::new();
    for (k, val) in [
        ("amount", json!(0)),
        ("amount", json!(-5)),
        ("amount", json!(0.001)),
        ("amount", json!(i64::MAX)),
        ("amount", json!(u64::MAX)),
        ("currency", json!("XYZ")),
        ("request_id", json!("not hex")),
        ("place", json!({"latitude": 0, "longitude": 200})),
        ("place", json!({"latitude": "0", "longitude": 0})),
        ("voucher", json!(12)),
    ] {
        let mut b = good.clone();
        b[k] = val;
        cases.push(b);
    }
    for body in cases {
        let (status, out) = w.raw(&receiver, "/v1/vouchers/redeem", &body).await;
        // i64::MAX passes the body checks and is refused by the engine (its fee overflows).
        assert!((400..500).contains(&status), "{body}: {status} {out}");
    }
    assert_eq!(w.online(&receiver).await, 0);
    let list = w
        .client()
        .vouchers(&emitter.key, emitter.id, w.now())
        .await
        .expect("list");
    assert_eq!(list.vouchers[0].remaining.amount, 20_00);
    // A bad voucher id in the path.
    let (status, _) = w
        .raw(&emitter, "/v1/vouchers/not-a-uuid/invalidate", &json!({}))
        .await;
    assert!((400..500).contains(&status));
    w.server.assert_audit_clean().await;
}

/// 20 receivers redeem 7.00 each at once from a 100.00 voucher through two servers on one
/// PostgreSQL database (10 each): exactly 14 are paid, 6 find it exceeded.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn twenty_concurrent_redemptions_across_two_servers_on_one_postgres() {
    let Some(w) = World::postgres().await else {
        return;
    };
    let second = TestServer::start_with(
        w.server.data_dir(),
        w.server.database_url().map(str::to_owned),
        options(w.clock.clone()),
    )
    .await;
    let emitter = w.funded(200_00).await;
    let v = w
        .create(&emitter, 100_00, 3600, None)
        .await
        .expect("create");
    let mut receivers = Vec::new();
    for _ in 0..20 {
        receivers.push(Account::register(w.client()).await);
    }
    let receivers = Arc::new(receivers);
    let clients = [w.client().clone(), second.client.clone()];
    let tasks: Vec<_> = (0..20)
        .map(|i| {
            let client = clients[i % 2].clone();
            let (receivers, text, at) = (receivers.clone(), v.text.clone(), w.now());
            tokio::spawn(async move {
                let r = &receivers[i];
                let req = RedeemVoucherRequest {
                    voucher: text,
                    password: PASSWORD.into(),
                    amount: 7_00,
                    currency: "BRL".into(),
                    request_id: random_hex()[..32].to_owned(),
                    place: None,
                };
                client
                    .redeem_voucher(&r.key, r.id, &req, at)
                    .await
                    .expect("answered")
                    .outcome
            })
        })
        .collect();
    let mut paid = 0;
    let mut exceeded = 0;
    for t in tasks {
        match t.await.expect("task") {
            VoucherRedeemOutcome::Redeemed => paid += 1,
            VoucherRedeemOutcome::AmountExceedsVoucher => exceeded += 1,
            other => panic!("{other:?}"),
        }
    }
    assert_eq!((paid, exceeded), (14, 6));
    let mut total = 0;
    for r in receivers.iter() {
        total += w.online(r).await;
    }
    assert_eq!(total, 98_00);
    w.server.assert_audit_clean().await;
    second.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn twenty_concurrent_redemptions_on_sqlite() {
    let w = World::sqlite().await;
    let emitter = w.funded(200_00).await;
    let v = w
        .create(&emitter, 100_00, 3600, None)
        .await
        .expect("create");
    let mut tasks = Vec::new();
    for _ in 0..20 {
        let r = Account::register(w.client()).await;
        let (client, text, at) = (w.client().clone(), v.text.clone(), w.now());
        tasks.push(tokio::spawn(async move {
            let req = RedeemVoucherRequest {
                voucher: text,
                password: PASSWORD.into(),
                amount: 7_00,
                currency: "BRL".into(),
                request_id: random_hex()[..32].to_owned(),
                place: None,
            };
            client
                .redeem_voucher(&r.key, r.id, &req, at)
                .await
                .expect("answered")
                .outcome
        }));
    }
    let mut paid = 0;
    for t in tasks {
        if t.await.expect("task") == VoucherRedeemOutcome::Redeemed {
            paid += 1;
        }
    }
    assert_eq!(paid, 14);
    w.server.assert_audit_clean().await;
}

/// The creation velocity rule over HTTP: a second voucher within the hour is a typed 429
/// `voucher_velocity` with a clear message, nothing moved, and the alert (with its evidence)
/// is listed by `GET /v1/fraud/alerts`.
#[tokio::test]
async fn too_many_vouchers_in_an_hour_are_refused_with_a_typed_error() {
    let clock = Arc::new(ManualClock::new(now()));
    let server = TestServer::sqlite_with(ServerOptions {
        clock: Some(clock.clone()),
        configure: Some(Arc::new(|c| {
            c.vouchers.verifier_params = VerifierParams::TEST;
            c.vouchers.create_velocity = Some(ferry_ledger::engine::risk::VelocityRule {
                window_secs: 3600,
                max_count: 1,
                max_amount: 1_000_00,
                action: ferry_ledger::engine::risk::RiskAction::Block,
            });
        })),
    })
    .await;
    let agent = server.agent(100_000_00).await;
    let w = World {
        server,
        clock,
        agent,
    };
    let emitter = w.funded(1_000_00).await;
    w.create(&emitter, 10_00, 3600, None).await.expect("first");
    let before = w.online(&emitter).await;
    let e = w
        .create(&emitter, 10_00, 3600, None)
        .await
        .expect_err("second within the hour");
    let message = e.to_string();
    assert_eq!(api_code(e), (429, ErrorCode::VoucherVelocity, None));
    assert!(
        message.contains("too many vouchers in a short time"),
        "{message}"
    );
    assert_eq!(w.online(&emitter).await, before);
    let alerts = w
        .client()
        .risk_alerts(&w.server.admin_token, Some(emitter.id))
        .await
        .expect("alerts");
    assert_eq!(alerts.alerts.len(), 1);
    assert_eq!(alerts.alerts[0].rule, "create_velocity");
    assert_eq!(alerts.alerts[0].evidence["count_in_window"], 1);
    // An hour later the window has slid.
    w.clock.advance(3601);
    w.create(&emitter, 10_00, 3600, None).await.expect("later");
    w.server.assert_audit_clean().await;
}
