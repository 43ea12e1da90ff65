//! `GET /v1/accounts/{id}/statement?day=`: a merchant's day over HTTP against a real server,
//! on SQLite and PostgreSQL. Offline payments claimed in one batch (with a 1 % payment fee the
//! payee bears), a cash-in, the opening and closing balances, the totals; a day with nothing;
//! another account's statement refused (403); a bad or missing day (400); a signature that is
//! not the named account's (401).

use std::sync::Arc;

use ferry_api::client::ClientError;
use ferry_api::{Channel, Outcome, UtcDay};
use ferry_testkit::{Account, Holder, ServerOptions, TestServer, brl, now};

fn with_payment_fee() -> ServerOptions {
    ServerOptions {
        configure: Some(Arc::new(|c| c.fees.payment_bps = 100)),
        ..ServerOptions::default()
    }
}

async fn a_merchant_s_day(server: TestServer, name: &str) {
    let c = &server.client;
    let agent = server.agent(10_000_00).await;
    let mut payer = Holder::register(c).await;
    payer.fund(c, &agent, 500_00).await;
    let shop = Account::register(c).await;
    let cashed = c
        .cash_in(&agent.token, shop.id, brl(7_00), "shop-float")
        .await
        .expect("cash in");
    assert_eq!(cashed, Outcome::Settled, "{name}");

    // Three offline payments, claimed in one batch.
    let payments: Vec<_> = [100_00, 12_34, 5_00]
        .into_iter()
        .map(|minor| payer.pay(shop.id, minor))
        .collect();
    let claims: Vec<_> = payments.iter().map(|p| payer.claim(p)).collect();
    let outcomes = c.claim(&claims).await.expect("claims");
    assert!(
        outcomes.iter().all(|o| o.outcome == Outcome::Settled),
        "{name}: {outcomes:?}"
    );

    let today = UtcDay::containing(now());
    let s = c
        .statement(&shop.key, shop.id, today, now())
        .await
        .expect("statement");
    assert_eq!(s.account_id, shop.id.to_string(), "{name}");
    assert_eq!(s.currency, "BRL", "{name}");
    assert_eq!(s.day, today.to_string(), "{name}");
    assert_eq!((s.from, s.to), (today.start().secs(), today.end().secs()));
    assert_eq!(s.opening_balance, 0, "{name}");
    // 1 % of each payment, rounded down: 1.00 + 0.12 + 0.05.
    let fees = 1_00 + 12 + 5;
    let credits = 7_00 + 100_00 + 12_34 + 5_00 - fees;
    assert_eq!(s.closing_balance, credits, "{name}");
    assert_eq!(s.totals.count, 4, "{name}");
    assert_eq!(s.totals.credits, credits, "{name}");
    assert_eq!(s.totals.debits, 0, "{name}");
    assert_eq!(s.totals.fees, fees, "{name}");
    assert_eq!(s.totals.net, credits, "{name}");
    assert_eq!(s.entries[0].channel, Channel::CashIn, "{name}");
    assert_eq!(s.entries[0].fee, 0, "{name}");
    let offline: Vec<_> = s.entries.iter().skip(1).collect();
    for (e, p) in offline.iter().zip(&payments) {
        assert_eq!(e.channel, Channel::Offline, "{name}");
        assert_eq!(e.kind, "payment", "{name}");
        let ta = payer.ta();
        assert!(
            e.reference.starts_with(&format!("payment:{ta}/")),
            "{name}: {}",
            e.reference
        );
        assert_eq!(e.amount + e.fee, p.amount().minor(), "{name}");
        assert!(e.booked_at >= s.from && e.booked_at < s.to, "{name}");
    }
    assert_eq!(
        s.closing_balance,
        shop.online(c).await,
        "{name}: the closing balance of today is the balance now"
    );

    // The day before: nothing booked, nothing held.
    let before = UtcDay::containing(ferry_proto::UnixTime(today.start().secs() - 1));
    let empty = c
        .statement(&shop.key, shop.id, before, now())
        .await
        .expect("yesterday");
    assert!(empty.entries.is_empty(), "{name}");
    assert_eq!((empty.opening_balance, empty.closing_balance), (0, 0));
    assert_eq!(empty.totals.count, 0);

    // Another account's statement, asked for by a registered account: refused.
    let (status, body) = signed_get(
        &server,
        &payer.account,
        &format!("/v1/accounts/{}/statement?day={today}", shop.id),
    )
    .await;
    assert_eq!(status, 403, "{name}: {}", String::from_utf8_lossy(&body));
    // The payer's key presented as the shop's: not the shop's signature.
    let forged = c.statement(&payer.account.key, shop.id, today, now()).await;
    assert!(
        matches!(forged, Err(ClientError::Api { status: 401, .. })),
        "{name}: {forged:?}"
    );
    server.assert_audit_clean().await;
}

#[tokio::test]
async fn a_merchant_s_day_on_sqlite() {
    a_merchant_s_day(TestServer::sqlite_with(with_payment_fee()).await, "sqlite").await;
}

#[tokio::test]
async fn a_merchant_s_day_on_postgres() {
    if let Some(server) = TestServer::postgres_with(with_payment_fee()).await {
        a_merchant_s_day(server, "postgres").await;
    }
}

/// A bad or missing day is a 400 naming the field `day`; the signature covers the query, so
/// each request is signed as sent.
#[tokio::test]
async fn a_bad_day_is_a_400() {
    let server = TestServer::sqlite().await;
    let shop = Account::register(&server.client).await;
    for query in [
        "",
        "?day=",
        "?day=2026-13-01",
        "?day=2026-02-30",
        "?day=28-11-2026",
        "?day=2026-11-28&day=2026-11-29",
        "?when=2026-11-28",
    ] {
        let path = format!("/v1/accounts/{}/statement{query}", shop.id);
        let (status, body) = signed_get(&server, &shop, &path).await;
        assert_eq!(status, 400, "{query}: {}", String::from_utf8_lossy(&body));
        let body: serde_json::Value = serde_json::from_slice(&body).expect("error body");
        let code = body["error"]["code"].as_str().unwrap_or_default();
        assert!(
            code == "invalid_field" || code == "unknown_field",
            "{query}: {body}"
        );
    }
    // An account that does not exist cannot sign (401), and a registered signer asking for
    // it is refused before any lookup (403), like every account route.
    let unknown = ferry_proto::AccountId([0xee; 16]);
    let r = server
        .client
        .statement(&shop.key, unknown, UtcDay::containing(now()), now())
        .await;
    assert!(
        matches!(r, Err(ClientError::Api { status: 401, .. })),
        "{r:?}"
    );
    let (status, _) = signed_get(
        &server,
        &shop,
        &format!("/v1/accounts/{unknown}/statement?day=2026-11-28"),
    )
    .await;
    assert_eq!(status, 403);
}

/// `GET path` signed by `signer`, whatever account the path names: status and body.
async fn signed_get(server: &TestServer, signer: &Account, path: &str) -> (u16, Vec<u8>) {
    let mut headers = vec![(ferry_api::auth::FERRY_ACCOUNT, signer.id.to_hex())];
    headers.extend(ferry_api::auth::sign_request(
        &signer.key,
        "GET",
        path,
        &[],
        now(),
    ));
    server
        .client
        .raw(reqwest::Method::GET, path, None, Vec::new(), &headers)
        .await
        .expect("answer")
}
