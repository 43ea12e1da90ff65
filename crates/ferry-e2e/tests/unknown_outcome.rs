//! A server newer than the wallet answers an outcome the wallet does not know. The wallet must
//! say so and leave the payment as it was — never record it as rejected (or settled).
//!
//! A proxy on loopback forwards the wallet's requests to a real server and renames every
//! `settled` outcome in the answers to `reversed`, an outcome no Ferry version defines.

use std::sync::Arc;

use ferry_link::memory;
use ferry_testkit::TestServer;
use ferry_testkit::devices::Device;
use ferry_wallet::client::{ClientError, SettlementClient};
use ferry_wallet::store::{Direction, PaymentStatus};
use ferry_wallet::wallet::WalletError;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Reads one HTTP/1.1 request: method, path, headers and body (by `content-length`).
async fn read_request(
    conn: &mut TcpStream,
) -> Option<(String, String, Vec<(String, String)>, Vec<u8>)> {
    let mut got = Vec::new();
    let mut buf = [0u8; 8192];
    let head_end = loop {
        let n = conn.read(&mut buf).await.ok()?;
        if n == 0 {
            return None;
        }
        got.extend_from_slice(&buf[..n]);
        if let Some(i) = got.windows(4).position(|w| w == b"\r\n\r\n") {
            break i;
        }
    };
    let head = String::from_utf8_lossy(&got[..head_end]).to_string();
    let mut lines = head.split("\r\n");
    let mut first = lines.next()?.split(' ');
    let (method, path) = (first.next()?.to_owned(), first.next()?.to_owned());
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_lowercase(), v.trim().to_owned()))
        .collect();
    let len = headers
        .iter()
        .find(|(k, _)| k == "content-length")
        .and_then(|(_, v)| v.parse::<usize>().ok())
        .unwrap_or(0);
    let mut body = got[head_end + 4..].to_vec();
    while body.len() < len {
        let n = conn.read(&mut buf).await.ok()?;
        if n == 0 {
            return None;
        }
        body.extend_from_slice(&buf[..n]);
    }
    Some((method, path, headers, body))
}

/// A proxy to `upstream` that renames the `settled` outcome to `reversed`. Returns its URL.
async fn renaming_proxy(upstream: String) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let client = Arc::new(SettlementClient::new(&upstream));
    tokio::spawn(async move {
        while let Ok((mut conn, _)) = listener.accept().await {
            let client = client.clone();
            tokio::spawn(async move {
                while let Some((method, path, headers, body)) = read_request(&mut conn).await {
                    let forwarded: Vec<(&str, String)> = headers
                        .iter()
                        .filter(|(k, _)| k.starts_with("ferry-") || k == "authorization")
                        .map(|(k, v)| (k.as_str(), v.clone()))
                        .collect();
                    let ct = headers
                        .iter()
                        .find(|(k, _)| k == "content-type")
                        .map(|(_, v)| v.as_str());
                    let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
                    let (status, answer) = client
                        .raw(method, &path, ct, body, &forwarded)
                        .await
                        .expect("upstream");
                    let answer = String::from_utf8_lossy(&answer)
                        .replace(r#""outcome":"settled""#, r#""outcome":"reversed""#);
                    let reply = format!(
                        "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{answer}",
                        answer.len()
                    );
                    if conn.write_all(reply.as_bytes()).await.is_err() {
                        break;
                    }
                }
            });
        }
    });
    url
}

#[tokio::test]
async fn a_wallet_reports_an_unknown_outcome_and_records_nothing_from_it() {
    let server = TestServer::sqlite().await;
    let agent = server.agent(1_000_00).await;
    let mut payer = Device::register(&server.base_url, "Ana").await;
    let mut payee = Device::register(&server.base_url, "Bia").await;
    payer.fund(&server.client, &agent, 50_00).await;
    let shown = payee.request(Some(10_00)).await;
    let (mut a, mut b) = memory::pair();
    let (received, paid) = tokio::join!(
        payee.wallet.receive(&shown.text, &mut b),
        payer.wallet.pay(&shown.text, None, &mut a)
    );
    let id = paid.expect("paid").id;
    assert_eq!(received.expect("received").id, id);

    // The payee claims through the renaming proxy: the server settles the claim, the wallet
    // hears "reversed".
    let proxy = renaming_proxy(server.base_url.clone()).await;
    payee
        .wallet
        .set_server_url(&proxy)
        .await
        .expect("server url");
    let err = payee.wallet.sync(|_| {}).await.unwrap_err();
    assert!(
        matches!(&err, WalletError::Server(ClientError::UnknownOutcome(text)) if text.contains("reversed")),
        "{err:?}"
    );
    let rec = payee
        .wallet
        .store()
        .payments()
        .await
        .expect("payments")
        .into_iter()
        .find(|p| p.id == id && p.direction == Direction::Received)
        .expect("the received payment");
    assert_eq!(rec.status, PaymentStatus::Pending, "{rec:?}");
    assert_eq!(rec.reason, None);

    // Against the real server the next sync learns the truth.
    payee
        .wallet
        .set_server_url(&server.base_url)
        .await
        .expect("server url");
    payee.sync().await;
    let rec = payee
        .wallet
        .store()
        .payments()
        .await
        .expect("payments")
        .into_iter()
        .find(|p| p.id == id)
        .expect("the received payment");
    assert_eq!(rec.status, PaymentStatus::Settled);
    assert_eq!(payee.online(&server).await, 10_00);
    server.assert_audit_clean().await;
}
