//! Server hardening findings that need a server but not a separate process: a server with other
//! issuer keys cannot join a shared database; every movement names an account that exists; a
//! movement that can never succeed is a typed 4xx, not a 503 that invites a retry; batches are
//! bounded while they are parsed; load is shed with `503` and `Retry-After`, and health keeps
//! answering.

use std::time::Duration;

use ferry_api::{ErrorCode, Outcome};
use ferry_server::serve::{ServeConfig, ServeError, ServerLimits, start};
use ferry_testkit::{TestServer, brl, postgres, random_hex};

fn config(dir: &std::path::Path, url: Option<String>) -> ServeConfig {
    let mut c = ServeConfig::new(dir.to_owned());
    c.listen = "127.0.0.1:0".parse().expect("addr");
    c.database_url = url;
    c
}

#[tokio::test]
async fn a_server_with_other_issuer_keys_is_refused_by_a_shared_database() {
    let Some(url) = postgres::fresh_schema().await else {
        return;
    };
    let first = tempfile::tempdir().expect("dir");
    let a = start(config(first.path(), Some(url.clone())))
        .await
        .expect("first server");
    // Same keys (same data directory): joins.
    let b = start(config(first.path(), Some(url.clone())))
        .await
        .expect("a second server with the same keys");
    // Other keys: refused before it serves anything.
    let other = tempfile::tempdir().expect("dir");
    match start(config(other.path(), Some(url.clone()))).await {
        Err(ServeError::ForeignKeys { stored, ours }) => {
            assert_ne!(stored, ours);
            let text = ServeError::ForeignKeys { stored, ours }.to_string();
            assert!(text.contains("belongs to issuer key"), "{text}");
        }
        Err(e) => panic!("refused for another reason: {e}"),
        Ok(_) => panic!("a server with foreign keys started on a shared database"),
    }
    a.stop().await.expect("stop");
    b.stop().await.expect("stop");
}

#[tokio::test]
async fn the_sqlite_database_remembers_its_keys_too() {
    let dir = tempfile::tempdir().expect("dir");
    let s = start(config(dir.path(), None)).await.expect("server");
    s.stop().await.expect("stop");
    // Replace the keys, keep the database: refused.
    std::fs::remove_file(dir.path().join("issuer.key")).expect("remove keys");
    match start(config(dir.path(), None)).await {
        Err(ServeError::ForeignKeys { .. }) => {}
        Err(e) => panic!("refused for another reason: {e}"),
        Ok(_) => panic!("started with new keys on an old database"),
    }
}

#[tokio::test]
async fn funding_an_agent_that_does_not_exist_is_refused_and_moves_nothing() {
    let server = TestServer::sqlite().await;
    let err = server
        .client
        .fund(
            &server.admin_token,
            "agent:ghost",
            brl(100_00),
            &random_hex(),
        )
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(422), "{err}");
    assert_eq!(err.code(), Some(&ErrorCode::UnknownAccount), "{err}");
    // Created afterwards, the agent has an empty float: it cannot pay out what was refused.
    let token = server
        .client
        .create_agent(&server.admin_token, "ghost")
        .await
        .expect("create");
    let holder = ferry_testkit::Account::register(&server.client).await;
    let cash = server
        .client
        .cash_in(&token, holder.id, brl(1_00), &random_hex())
        .await
        .expect("answer");
    assert_eq!(
        cash,
        Outcome::Rejected(ferry_api::Reason::InsufficientFunds)
    );
    server.assert_audit_clean().await;
}

#[tokio::test]
async fn an_amount_that_would_overflow_a_balance_is_a_typed_422_not_a_503() {
    let server = TestServer::sqlite().await;
    // Both accounts hold something already, so i64::MAX more cannot be held.
    let agent = server.agent(1).await;
    let funded = server
        .client
        .fund(&server.admin_token, "insurance", brl(1), &random_hex())
        .await
        .expect("fund insurance");
    assert_eq!(funded, Outcome::Settled);
    for account in [format!("agent:{}", agent.name), "insurance".to_owned()] {
        let err = server
            .client
            .fund(&server.admin_token, &account, brl(i64::MAX), &random_hex())
            .await
            .unwrap_err();
        assert_eq!(err.status(), Some(422), "{account}: {err}");
        assert_eq!(err.code(), Some(&ErrorCode::AmountTooLarge), "{account}");
    }
    server.assert_audit_clean().await;
}

#[tokio::test]
async fn a_batch_over_1000_items_is_refused_while_it_is_parsed() {
    let server = TestServer::sqlite().await;
    // 1001 items, the last followed by garbage: refused at item 1001 as too many, not as
    // malformed JSON (the rest is never parsed).
    let items = vec!["\"AA\""; 1001].join(",");
    let body = format!(r#"{{"orders":[{items},!!!"#);
    let (status, answer) = server
        .client
        .raw(
            reqwest::Method::POST,
            "/v1/orders",
            Some("application/json"),
            body.into_bytes(),
            &[],
        )
        .await
        .expect("answer");
    assert_eq!(status, 422, "{}", String::from_utf8_lossy(&answer));
    let e: ferry_api::ErrorBody = serde_json::from_slice(&answer).expect("error body");
    assert_eq!(e.error.code, ErrorCode::BatchTooLarge);
    assert_eq!(e.error.field.as_deref(), Some("orders"));
}

#[tokio::test]
async fn batches_beyond_the_body_budget_are_shed_with_retry_after_and_health_answers() {
    let dir = tempfile::tempdir().expect("dir");
    let mut c = config(dir.path(), None);
    // A budget of 64 KiB: one 40 KB batch at a time.
    c.limits = ServerLimits {
        inflight_body_bytes: 64 * 1024,
        body_timeout: Duration::from_secs(5),
        ..ServerLimits::default()
    };
    let s = start(c).await.expect("server");
    let base = format!("http://{}", s.addr);
    // A batch that takes its time to arrive holds its share of the budget...
    let slow = tokio::spawn({
        let addr = s.addr;
        async move {
            use tokio::io::AsyncWriteExt;
            let mut conn = tokio::net::TcpStream::connect(addr).await.expect("connect");
            conn.write_all(
                b"POST /v1/orders HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 40000\r\n\r\n{\"orders\":[",
            )
            .await
            .expect("write");
            tokio::time::sleep(Duration::from_secs(2)).await;
            drop(conn);
        }
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    // ...so the next one is refused at once, and told when to come back.
    let client = ferry_api::client::SettlementClient::new(&base);
    let body = format!(r#"{{"orders":[{}]}}"#, vec!["\"AA\""; 8000].join(","));
    let (status, answer) = client
        .raw(
            reqwest::Method::POST,
            "/v1/orders",
            Some("application/json"),
            body.into_bytes(),
            &[],
        )
        .await
        .expect("answer");
    assert_eq!(status, 503, "{}", String::from_utf8_lossy(&answer));
    let e: ferry_api::ErrorBody = serde_json::from_slice(&answer).expect("error body");
    assert_eq!(e.error.code, ErrorCode::Unavailable);
    // Health takes nothing from the budget.
    assert!(client.healthy().await);
    slow.await.expect("slow client");
    // Once the slow batch is gone, a small batch is admitted again.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let outcomes = client.orders(&[]).await.expect("admitted");
    assert!(outcomes.is_empty());
    s.stop().await.expect("stop");
}
