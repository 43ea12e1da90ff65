//! HTTP error typing, over a real socket: every bad request gets a 4xx with a JSON body
//! `{"error": {"code", "message", "field"}}` naming the offending field, never a 500 and never
//! database text.

use ferry_api::auth::{FERRY_ACCOUNT, FERRY_KEY, key_header_value, sign_request};
use ferry_proto::cert::{AttestationBody, Tier};
use ferry_proto::{AccountId, AttestationStatement, SigningKey, UnixTime};
use ferry_testkit::{Holder, TestServer, assert_no_leak, brl, now};
use ferry_wallet::client::{ClientError, SettlementClient};
use reqwest::Method;
use serde_json::{Value, json};

/// One request and the answer it must get.
struct Case {
    what: String,
    method: Method,
    path: String,
    content_type: Option<&'static str>,
    body: Vec<u8>,
    headers: Vec<(&'static str, String)>,
    status: u16,
    /// `None`: any code.
    code: Option<&'static str>,
    /// `None`: not checked; `Some(None)`: must be null.
    field: Option<Option<String>>,
}

impl Case {
    fn new(what: impl Into<String>, method: Method, path: impl Into<String>) -> Case {
        Case {
            what: what.into(),
            method,
            path: path.into(),
            content_type: None,
            body: Vec::new(),
            headers: Vec::new(),
            status: 400,
            code: None,
            field: None,
        }
    }

    fn json(mut self, body: impl Into<Vec<u8>>) -> Case {
        self.content_type = Some("application/json");
        self.body = body.into();
        self
    }

    fn raw_body(mut self, content_type: Option<&'static str>, body: impl Into<Vec<u8>>) -> Case {
        self.content_type = content_type;
        self.body = body.into();
        self
    }

    fn headers(mut self, headers: Vec<(&'static str, String)>) -> Case {
        self.headers = headers;
        self
    }

    /// Signs the request (as built so far) with `key` for `account`, at `time`.
    fn signed_at(mut self, key: &SigningKey, account: AccountId, time: UnixTime) -> Case {
        self.headers.push((FERRY_ACCOUNT, account.to_hex()));
        self.headers.extend(sign_request(
            key,
            self.method.as_str(),
            &self.path,
            &self.body,
            time,
        ));
        self
    }

    fn signed(self, key: &SigningKey, account: AccountId) -> Case {
        self.signed_at(key, account, now())
    }

    fn bearer(mut self, token: &str) -> Case {
        self.headers
            .push(("authorization", format!("Bearer {token}")));
        self
    }

    fn expect(mut self, status: u16, code: &'static str) -> Case {
        self.status = status;
        self.code = Some(code);
        self
    }

    /// Any code with this status.
    fn status(mut self, status: u16) -> Case {
        self.status = status;
        self
    }

    fn field(mut self, field: &str) -> Case {
        self.field = Some(Some(field.to_owned()));
        self
    }

    fn no_field(mut self) -> Case {
        self.field = Some(None);
        self
    }
}

/// Runs every case and returns the mismatches (all of them, so one run shows every problem).
async fn run(client: &SettlementClient, cases: Vec<Case>) -> Vec<String> {
    let mut failures = Vec::new();
    for c in cases {
        let (status, body) = client
            .raw(
                c.method.clone(),
                &c.path,
                c.content_type,
                c.body.clone(),
                &c.headers,
            )
            .await
            .unwrap_or_else(|e| panic!("{}: transport: {e}", c.what));
        assert_no_leak(&c.what, status, &body);
        let text = String::from_utf8_lossy(&body).into_owned();
        let v: Value = match serde_json::from_slice(&body) {
            Ok(v) => v,
            Err(_) => {
                failures.push(format!(
                    "{}: {status} with a body that is not JSON: {text:?}",
                    c.what
                ));
                continue;
            }
        };
        let e = &v["error"];
        let code = e["code"].as_str();
        let field = e["field"].as_str().map(str::to_owned);
        let mut wrong = Vec::new();
        if status != c.status {
            wrong.push(format!("status {status}, expected {}", c.status));
        }
        if code.is_none() || !e["message"].is_string() || e.get("field").is_none() {
            wrong.push("not an error body".to_owned());
        }
        if let Some(want) = c.code
            && code != Some(want)
        {
            wrong.push(format!("code {code:?}, expected {want:?}"));
        }
        if let Some(want) = &c.field
            && &field != want
        {
            wrong.push(format!("field {field:?}, expected {want:?}"));
        }
        if !wrong.is_empty() {
            failures.push(format!("{}: {} — {text}", c.what, wrong.join(", ")));
        }
    }
    failures
}

fn assert_all(failures: Vec<String>) {
    assert!(
        failures.is_empty(),
        "{} mismatches:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// A body over the 16 MiB limit is 413 `too_large`. The server answers as soon as the body
/// passes the limit and then drops the connection, so the client may see its upload cut off (a
/// transport error) before it reads the answer: retry, each time on a fresh connection, until
/// it does.
async fn assert_too_large(server: &TestServer) {
    let body = format!(r#"{{"envelopes": ["{}"]}}"#, "A".repeat(17 * 1024 * 1024));
    for attempt in 1..=10 {
        let answer = server
            .new_client()
            .raw(
                Method::POST,
                "/v1/envelopes",
                Some("application/json"),
                body.clone().into_bytes(),
                &[],
            )
            .await;
        match answer {
            Ok((status, answer)) => {
                assert_no_leak("a body over the limit", status, &answer);
                let text = String::from_utf8_lossy(&answer);
                assert_eq!(status, 413, "{text}");
                let v: Value = serde_json::from_slice(&answer).expect("JSON");
                assert_eq!(v["error"]["code"], "too_large", "{text}");
                return;
            }
            Err(e) => eprintln!("a body over the limit, attempt {attempt}: {e}"),
        }
    }
    panic!("a body over the limit: the answer was never read");
}

/// A server with a registered holder (account and wallet) and a funded cash agent.
struct Setup {
    server: TestServer,
    holder: Holder,
    agent_token: String,
}

async fn setup() -> Setup {
    let server = TestServer::sqlite().await;
    let agent = server.agent(1_000_00).await;
    let holder = Holder::register(&server.client).await;
    Setup {
        holder,
        agent_token: agent.token,
        server,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_bodies_are_typed_to_the_field() {
    let s = setup().await;
    let (key, me) = (&s.holder.account.key, s.holder.id());
    let ta = s.holder.ta().to_hex();
    let deposit = |amount: &str| {
        format!(r#"{{"ta_id":"{ta}","serial":1,"amount":{amount},"currency":"BRL"}}"#)
    };
    let post = |what: &str, path: &str| Case::new(what, Method::POST, path);
    let nested = format!("{{\"envelopes\": {}1{}}}", "[".repeat(200), "]".repeat(200));
    let cases = vec![
        // Syntax.
        post("truncated JSON", "/v1/envelopes")
            .json(r#"{"envelopes": ["#)
            .expect(400, "malformed_json")
            .no_field(),
        post("not JSON", "/v1/envelopes")
            .json("envelopes=1")
            .expect(400, "malformed_json"),
        post("empty body", "/v1/claims")
            .json("")
            .expect(400, "malformed_json"),
        post("trailing characters", "/v1/envelopes")
            .json(r#"{"envelopes": []} x"#)
            .expect(400, "malformed_json"),
        post("deep nesting", "/v1/envelopes")
            .json(nested)
            .expect(400, "invalid_field")
            .field("envelopes[0]"),
        post("not UTF-8", "/v1/envelopes")
            .json(b"{\"envelopes\": [\"\xff\"]}".to_vec())
            .expect(400, "malformed_json"),
        // Wrong types, with the path of the field.
        post("a number for an envelope", "/v1/envelopes")
            .json(r#"{"envelopes": [1]}"#)
            .expect(400, "invalid_field")
            .field("envelopes[0]"),
        post("a string for the list", "/v1/envelopes")
            .json(r#"{"envelopes": "AAAA"}"#)
            .expect(400, "invalid_field")
            .field("envelopes"),
        post("padded base64", "/v1/envelopes")
            .json(r#"{"envelopes": ["AA", "AA=="]}"#)
            .expect(400, "invalid_field")
            .field("envelopes[1]"),
        post("standard-alphabet base64", "/v1/envelopes")
            .json(r#"{"envelopes": ["a+b/"]}"#)
            .expect(400, "invalid_field")
            .field("envelopes[0]"),
        post("a nested wrong type", "/v1/claims")
            .json(r#"{"items": [{"ta_certificate": "AA", "payment": "AA"}, {"ta_certificate": 5, "payment": "AA"}]}"#)
            .expect(400, "invalid_field")
            .field("items[1].ta_certificate"),
        post("a wrong top-level shape", "/v1/claims")
            .json("[]")
            .expect(400, "invalid_field"),
        post("null for the body", "/v1/claims")
            .json("null")
            .expect(400, "invalid_field"),
        post("a string amount", "/v1/agents/cash-in")
            .json(format!(r#"{{"account_id":"{me}","amount":"5","currency":"BRL","reference":"r1"}}"#))
            .bearer(&s.agent_token)
            .expect(400, "invalid_field")
            .field("amount"),
        // Missing and unknown fields.
        post("no envelopes", "/v1/envelopes")
            .json("{}")
            .expect(400, "missing_field")
            .field("envelopes"),
        post("a nested missing field", "/v1/claims")
            .json(r#"{"items": [{"payment": "AA"}]}"#)
            .expect(400, "missing_field")
            .field("items[0].ta_certificate"),
        post("an unknown field", "/v1/envelopes")
            .json(r#"{"envelopes": [], "priority": 1}"#)
            .expect(400, "unknown_field")
            .field("priority"),
        post("a nested unknown field", "/v1/claims")
            .json(r#"{"items": [{"ta_certificate": "AA", "payment": "AA", "tip": 1}]}"#)
            .expect(400, "unknown_field")
            .field("items[0].tip"),
        post("a duplicate field", "/v1/envelopes")
            .json(r#"{"envelopes": [], "envelopes": []}"#)
            .expect(400, "invalid_field")
            .field("envelopes"),
        // Amounts outside i64, in a signed deposit and in a cash-in.
        post("a deposit above i64::MAX", "/v1/deposits")
            .json(deposit("9223372036854775808"))
            .signed(key, me)
            .expect(400, "invalid_field")
            .field("amount"),
        post("a deposit far above u64::MAX", "/v1/deposits")
            .json(deposit("123456789012345678901234567890"))
            .signed(key, me)
            .expect(400, "invalid_field")
            .field("amount"),
        post("a deposit of 1e400", "/v1/deposits")
            .json(deposit("1e400"))
            .signed(key, me)
            .expect(400, "invalid_field")
            .field("amount"),
        post("a fractional deposit", "/v1/deposits")
            .json(deposit("1.5"))
            .signed(key, me)
            .expect(400, "invalid_field")
            .field("amount"),
        post("a negative deposit", "/v1/deposits")
            .json(deposit("-100"))
            .signed(key, me)
            .expect(400, "invalid_field")
            .field("amount"),
        post("a zero deposit", "/v1/deposits")
            .json(deposit("0"))
            .signed(key, me)
            .expect(400, "invalid_field")
            .field("amount"),
        post("a deposit below i64::MIN", "/v1/deposits")
            .json(deposit("-9223372036854775809"))
            .signed(key, me)
            .expect(400, "invalid_field")
            .field("amount"),
        post("a cash-in above i64::MAX", "/v1/agents/cash-in")
            .json(format!(r#"{{"account_id":"{me}","amount":9223372036854775808,"currency":"BRL","reference":"r1"}}"#))
            .bearer(&s.agent_token)
            .expect(400, "invalid_field")
            .field("amount"),
        post("a negative serial", "/v1/deposits")
            .json(format!(r#"{{"ta_id":"{ta}","serial":-1,"amount":100,"currency":"BRL"}}"#))
            .signed(key, me)
            .expect(400, "invalid_field")
            .field("serial"),
        post("a serial above u32::MAX", "/v1/deposits")
            .json(format!(r#"{{"ta_id":"{ta}","serial":4294967296,"amount":100,"currency":"BRL"}}"#))
            .signed(key, me)
            .expect(400, "invalid_field")
            .field("serial"),
        post("a malformed wallet id", "/v1/deposits")
            .json(format!(r#"{{"ta_id":"{}","serial":1,"amount":100,"currency":"BRL"}}"#, ta.to_uppercase()))
            .signed(key, me)
            .expect(400, "invalid_field")
            .field("ta_id"),
        post("not a currency", "/v1/deposits")
            .json(format!(r#"{{"ta_id":"{ta}","serial":1,"amount":100,"currency":"B'R"}}"#))
            .signed(key, me)
            .expect(400, "invalid_field")
            .field("currency"),
        post("another currency", "/v1/deposits")
            .json(format!(r#"{{"ta_id":"{ta}","serial":1,"amount":100,"currency":"USD"}}"#))
            .signed(key, me)
            .expect(422, "currency_mismatch"),
        // Protocol refusals.
        post("a wrong serial", "/v1/deposits")
            .json(format!(r#"{{"ta_id":"{ta}","serial":7,"amount":100,"currency":"BRL"}}"#))
            .signed(key, me)
            .expect(422, "serial_out_of_order")
            .field("serial"),
        post("serial zero", "/v1/deposits")
            .json(format!(r#"{{"ta_id":"{ta}","serial":0,"amount":100,"currency":"BRL"}}"#))
            .signed(key, me)
            .expect(400, "invalid_field")
            .field("serial"),
        post("a batch over the limit", "/v1/envelopes")
            .json(serde_json::to_vec(&json!({ "envelopes": vec!["AA"; 1001] })).unwrap())
            .expect(422, "batch_too_large")
            .field("envelopes"),
        post("a journal with a garbage certificate", "/v1/journals")
            .json(r#"{"ta_certificate": "AAAA", "entries": []}"#)
            .expect(400, "invalid_field")
            .field("ta_certificate"),
        // Content type.
        post("no content-type", "/v1/envelopes")
            .raw_body(None, r#"{"envelopes": []}"#)
            .expect(415, "unsupported_media_type"),
        post("text/plain", "/v1/claims")
            .raw_body(Some("text/plain"), r#"{"items": []}"#)
            .expect(415, "unsupported_media_type"),
        post("a form", "/v1/agents/cash-in")
            .raw_body(Some("application/x-www-form-urlencoded"), "amount=5")
            .bearer(&s.agent_token)
            .expect(415, "unsupported_media_type"),
        post("JSON in latin-1", "/v1/envelopes")
            .raw_body(Some("application/json; charset=latin1"), r#"{"envelopes": []}"#)
            .expect(415, "unsupported_media_type"),
        // SQL-looking input is just a bad value.
        post("SQL in an agent name", "/v1/admin/agents")
            .json(r#"{"name": "x'); DROP TABLE transfers; --"}"#)
            .bearer(&s.server.admin_token)
            .expect(400, "invalid_field")
            .field("name"),
        post("SQL in a fund target", "/v1/admin/fund")
            .json(r#"{"account": "agent:x' OR '1'='1", "amount": 100, "currency": "BRL", "reference": "r"}"#)
            .bearer(&s.server.admin_token),
        post("SQL in a reference", "/v1/agents/cash-in")
            .json(format!(r#"{{"account_id":"{me}","amount":100,"currency":"BRL","reference":"';DELETE/**/FROM/**/postings;--"}}"#))
            .bearer(&s.agent_token)
            .expect(200, "unused"),
        post("SQL in an account id", "/v1/agents/cash-in")
            .json(r#"{"account_id":"' OR 1=1 --","amount":100,"currency":"BRL","reference":"r2"}"#)
            .bearer(&s.agent_token)
            .expect(400, "invalid_field")
            .field("account_id"),
    ];
    // The reference with SQL in it is a valid reference: it settles, and a 200 has no error
    // body, so check it on its own.
    let (ok, cases): (Vec<Case>, Vec<Case>) = cases.into_iter().partition(|c| c.status == 200);
    for c in ok {
        let (status, body) = s
            .server
            .client
            .raw(c.method, &c.path, c.content_type, c.body, &c.headers)
            .await
            .expect("transport");
        assert_no_leak(&c.what, status, &body);
        assert_eq!(
            status,
            200,
            "{}: {}",
            c.what,
            String::from_utf8_lossy(&body)
        );
    }
    // "SQL in a fund target" may be any 4xx: check that separately.
    let (any4xx, cases): (Vec<Case>, Vec<Case>) = cases.into_iter().partition(|c| c.code.is_none());
    for c in any4xx {
        let (status, body) = s
            .server
            .client
            .raw(c.method, &c.path, c.content_type, c.body, &c.headers)
            .await
            .expect("transport");
        assert_no_leak(&c.what, status, &body);
        assert!((400..500).contains(&status), "{}: {status}", c.what);
    }
    assert_all(run(&s.server.client, cases).await);
    assert_too_large(&s.server).await;
    // Nothing above moved money except the one cash-in.
    assert_eq!(s.holder.account.online(&s.server.client).await, 100);
    s.server.assert_audit_clean().await;
    s.server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn authentication_failures_are_401_and_routes_404() {
    let s = setup().await;
    let (key, me) = (&s.holder.account.key, s.holder.id());
    let mine = format!("/v1/accounts/{me}");
    let get = |what: &str, path: &str| Case::new(what, Method::GET, path);
    let stranger = SigningKey::generate();
    let other = ferry_testkit::Account::register(&s.server.client).await;
    let unsigned_time = sign_request(key, "GET", &mine, b"", now());
    let cases = vec![
        get("no signature at all", &mine).expect(401, "unauthorized"),
        get("a missing signature", &mine)
            .headers(vec![
                (FERRY_ACCOUNT, me.to_hex()),
                unsigned_time[0].clone(),
            ])
            .expect(401, "missing_signature"),
        get("a signature by another key", &mine)
            .signed(&stranger, me)
            .expect(401, "bad_signature"),
        get("a signature over another path", &mine)
            .headers({
                let mut h = vec![(FERRY_ACCOUNT, me.to_hex())];
                h.extend(sign_request(key, "GET", "/v1/accounts", b"", now()));
                h
            })
            .expect(401, "bad_signature"),
        get("a malformed signature", &mine)
            .headers(vec![
                (FERRY_ACCOUNT, me.to_hex()),
                unsigned_time[0].clone(),
                ("ferry-signature", "not-a-signature".to_owned()),
            ])
            .expect(401, "bad_signature"),
        get("a stale signature", &mine)
            .signed_at(key, me, UnixTime(now().secs() - 3_600))
            .expect(401, "stale_request"),
        get("a signature from the future", &mine)
            .signed_at(key, me, now().plus_secs(3_600))
            .expect(401, "stale_request"),
        get("an unknown account", &mine)
            .signed(&stranger, AccountId::random())
            .expect(401, "unauthorized"),
        get("a malformed account header", &mine)
            .headers(vec![(FERRY_ACCOUNT, "' OR 1=1 --".to_owned())])
            .expect(401, "invalid_header")
            .field(FERRY_ACCOUNT),
        get("another account's balances", &format!("/v1/accounts/{}", other.id))
            .signed(key, me)
            .expect(403, "forbidden"),
        get("a malformed account id", "/v1/accounts/xyz")
            .signed(key, me)
            .expect(400, "invalid_field")
            .field("id"),
        get("a malformed payment wallet", "/v1/payments/zz/1")
            .signed(key, me)
            .expect(400, "invalid_field")
            .field("ta"),
        get("a payment position beyond u32", &format!("/v1/payments/{}/99999999999", s.holder.ta()))
            .signed(key, me)
            .expect(400, "invalid_field")
            .field("j"),
        get("an unknown payment", &format!("/v1/payments/{}/1", s.holder.ta()))
            .signed(key, me)
            .expect(404, "not_found"),
        Case::new("a deposit signed over another body", Method::POST, "/v1/deposits")
            .json(format!(r#"{{"ta_id":"{}","serial":1,"amount":100,"currency":"BRL"}}"#, s.holder.ta()))
            .headers({
                let mut h = vec![(FERRY_ACCOUNT, me.to_hex())];
                h.extend(sign_request(key, "POST", "/v1/deposits", b"{}", now()));
                h
            })
            .expect(401, "bad_signature"),
        Case::new("registration signed by another key", Method::POST, "/v1/accounts")
            .json(serde_json::to_vec(&json!({
                "account_key": data_encoding::BASE64URL_NOPAD.encode(SigningKey::generate().public().as_bytes())
            })).unwrap())
            .headers({
                let body = serde_json::to_vec(&json!({
                    "account_key": data_encoding::BASE64URL_NOPAD.encode(stranger.public().as_bytes())
                })).unwrap();
                let mut h = vec![(FERRY_KEY, key_header_value(&stranger.public()))];
                h.extend(sign_request(&stranger, "POST", "/v1/accounts", &body, now()));
                h
            })
            .expect(401, "bad_signature"),
        Case::new("the audit without a token", Method::GET, "/v1/audit").expect(401, "unauthorized"),
        Case::new("the audit with an agent token", Method::GET, "/v1/audit")
            .bearer(&s.agent_token)
            .expect(401, "unauthorized"),
        Case::new("cash-in with the wrong token", Method::POST, "/v1/agents/cash-in")
            .json(format!(r#"{{"account_id":"{me}","amount":100,"currency":"BRL","reference":"r"}}"#))
            .bearer("bm90LWEtdG9rZW4")
            .expect(401, "unauthorized"),
        get("an unknown route", "/v1/nothing-here").expect(404, "not_found"),
        Case::new("an unknown route, posted", Method::POST, "/v2/envelopes")
            .json("{}")
            .expect(404, "not_found"),
        get("a path with SQL in it", "/v1/accounts/'%20OR%201=1--")
            .signed(key, me)
            .expect(400, "invalid_field")
            .field("id"),
    ];
    assert_all(run(&s.server.client, cases).await);

    // The typed client sees the same codes.
    let wrong_serial = s
        .server
        .client
        .deposit(key, me, s.holder.ta(), 3, brl(1_00), now())
        .await;
    match wrong_serial {
        Err(ClientError::Api {
            status: 422,
            code,
            field,
            ..
        }) => {
            assert_eq!(code, "serial_out_of_order");
            assert_eq!(field.as_deref(), Some("serial"));
        }
        other => panic!("a wrong serial: {other:?}"),
    }
    // An attestation by an untrusted root is refused as such.
    let rogue = AttestationStatement::sign(
        AttestationBody {
            ta_key: SigningKey::generate().public(),
            tier: Tier::Software,
            device_model: "rogue".into(),
            issued_at: now(),
        },
        &SigningKey::generate(),
    )
    .unwrap();
    match s
        .server
        .client
        .register_wallet(key, me, &rogue, now())
        .await
    {
        Err(ClientError::Api {
            status: 422, code, ..
        }) => {
            assert_eq!(code, "invalid_attestation")
        }
        other => panic!("an untrusted attestation: {other:?}"),
    }
    let garbage = Case::new("a garbage attestation", Method::POST, "/v1/wallets")
        .json(serde_json::to_vec(&json!({ "attestation": "AAAA" })).unwrap())
        .signed(key, me)
        .expect(400, "invalid_field")
        .field("attestation");
    assert_all(run(&s.server.client, vec![garbage]).await);
    s.server.assert_audit_clean().await;
    s.server.stop().await;
}

/// Requests that read a signed JSON body (`/v1/accounts`, `/v1/wallets`, `/v1/deposits`,
/// `/v1/bonds`) refuse a body that does not say it is JSON, like every other JSON endpoint
/// (`api/json.rs`: "StrictJson is the only way a handler reads a JSON body: it insists on
/// content-type: application/json").
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signed_json_endpoints_require_a_json_content_type() {
    let s = setup().await;
    let (key, me) = (&s.holder.account.key, s.holder.id());
    let ta = s.holder.ta();
    let body = format!(r#"{{"ta_id":"{ta}","serial":1,"amount":100,"currency":"BRL"}}"#);
    let cases = vec![
        Case::new(
            "a deposit without content-type",
            Method::POST,
            "/v1/deposits",
        )
        .raw_body(None, body.clone())
        .signed(key, me)
        .expect(415, "unsupported_media_type"),
        Case::new("a deposit as text/plain", Method::POST, "/v1/deposits")
            .raw_body(Some("text/plain"), body)
            .signed(key, me)
            .expect(415, "unsupported_media_type"),
        Case::new("a bond without content-type", Method::POST, "/v1/bonds")
            .raw_body(None, r#"{"amount":100,"currency":"BRL","reference":"b1"}"#)
            .signed(key, me)
            .expect(415, "unsupported_media_type"),
    ];
    // Registration reads its body the same way (`routes/wallets.rs`, `register_account`).
    let new_key = SigningKey::generate();
    let body = serde_json::to_vec(&json!({
        "account_key": data_encoding::BASE64URL_NOPAD.encode(new_key.public().as_bytes())
    }))
    .unwrap();
    let mut headers = vec![(FERRY_KEY, key_header_value(&new_key.public()))];
    headers.extend(sign_request(&new_key, "POST", "/v1/accounts", &body, now()));
    let mut cases = cases;
    cases.push(
        Case::new(
            "a registration without content-type",
            Method::POST,
            "/v1/accounts",
        )
        .raw_body(None, body)
        .headers(headers)
        .expect(415, "unsupported_media_type"),
    );
    cases.push(
        Case::new(
            "a wallet registration as text/plain",
            Method::POST,
            "/v1/wallets",
        )
        .raw_body(Some("text/plain"), r#"{"attestation":"AAAA"}"#)
        .signed(key, me)
        .expect(415, "unsupported_media_type"),
    );
    assert_all(run(&s.server.client, cases).await);
    s.server.stop().await;
}

/// A known route with the wrong method is a typed error too (DESIGN.md §5: "typed errors (4xx
/// with a code and a message)").
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_method_is_a_typed_error() {
    let s = setup().await;
    let cases = vec![
        Case::new("GET on a POST route", Method::GET, "/v1/envelopes").status(405),
        Case::new("DELETE on a GET route", Method::DELETE, "/v1/params").status(405),
    ];
    assert_all(run(&s.server.client, cases).await);
    s.server.stop().await;
}

/// Every documented operation, asked with no credentials and a minimal body, answers with a
/// status its OpenAPI operation documents (the check schemathesis holds the server to, run on
/// every test run so a new route cannot forget its 401 or its 4xx).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unauthenticated_requests_get_documented_statuses() {
    let server = TestServer::sqlite().await;
    let http = reqwest::Client::new();
    let doc: Value = http
        .get(format!("{}/openapi.json", server.base_url))
        .send()
        .await
        .expect("openapi")
        .json()
        .await
        .expect("openapi json");
    let paths = doc["paths"].as_object().expect("paths");
    let mut checked = 0;
    for (path, item) in paths {
        let concrete = path
            .split('/')
            .map(|seg| if seg.starts_with('{') { "x" } else { seg })
            .collect::<Vec<_>>()
            .join("/");
        for (method, op) in item.as_object().expect("operations") {
            let method: Method = method.to_uppercase().parse().expect("method");
            let mut request =
                http.request(method.clone(), format!("{}{concrete}", server.base_url));
            if let Some(content) = op["requestBody"]["content"].as_object() {
                let (content_type, body) = if content.contains_key("application/json") {
                    ("application/json", "{}")
                } else {
                    ("application/x-www-form-urlencoded", "")
                };
                request = request.header("content-type", content_type).body(body);
            }
            let response = request.send().await.expect("answer");
            let status = response.status().as_u16().to_string();
            let documented = op["responses"].as_object().expect("responses");
            assert!(
                documented.contains_key(&status),
                "{method} {path} answered {status}, documented {:?}",
                documented.keys().collect::<Vec<_>>()
            );
            checked += 1;
            // Each query parameter, empty and then garbled, with the admin token (so the
            // parameter is read): the status is documented too.
            let queries = op["parameters"].as_array().into_iter().flatten();
            for name in queries
                .filter(|p| p["in"] == "query")
                .filter_map(|p| p["name"].as_str())
            {
                for value in ["", "%21x"] {
                    let url = format!("{}{concrete}?{name}={value}", server.base_url);
                    let status = http
                        .request(method.clone(), url)
                        .bearer_auth(&server.admin_token)
                        .send()
                        .await
                        .expect("answer")
                        .status()
                        .as_u16()
                        .to_string();
                    assert!(
                        documented.contains_key(&status),
                        "{method} {path}?{name}={value} answered {status}, documented {:?}",
                        documented.keys().collect::<Vec<_>>()
                    );
                }
            }
        }
    }
    assert!(checked >= 20, "only {checked} operations documented");
}
