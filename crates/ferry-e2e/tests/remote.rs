//! Remote payments (`ferry wallet send`) against a real server: the payer's wallet signs and
//! seals a 238-byte envelope that names its wallet by id; many bridges upload it at once and
//! it settles exactly once; the payee learns of it at its next sync (`GET
//! /v1/accounts/{id}/payments`, verified on the device) and the payer sees it settled at its
//! own; a payer that syncs before any bridge settles it through its journal, and the envelope
//! arriving later is a duplicate. Audit clean throughout, on SQLite and PostgreSQL.

use std::sync::Arc;

use ferry_api::Outcome;
use ferry_proto::sealed::REMOTE_PAYMENT_ENVELOPE_BUDGET;
use ferry_proto::{Message, PaymentId};
use ferry_testkit::devices::Device;
use ferry_testkit::{TestServer, brl};
use ferry_wallet::store::{Direction, Disposition, PaymentStatus};
use ferry_wallet::wallet::RemoteOptions;
use tokio::sync::Barrier;

async fn status_of(d: &Device, id: &PaymentId) -> (Direction, Disposition, PaymentStatus) {
    let rec = d.wallet.store().payment(id).await.unwrap().expect("record");
    (rec.direction, rec.disposition, rec.status)
}

async fn remote_payments_settle_once_and_both_sides_see_them(server: TestServer, name: &str) {
    let agent = server.agent(1_000_00).await;
    let mut payer = Device::register(&server.base_url, "Ana").await;
    let mut payee = Device::register(&server.base_url, "Bia").await;
    payer.fund(&server.client, &agent, 100_00).await;
    let payee_id = payee.account().await;

    // A remote payment, delivered by eight bridges at once (each its own connection).
    let sent = payer
        .wallet
        .send_remote(payee_id, brl(50_00), RemoteOptions::default())
        .await
        .expect("send_remote");
    assert!(sent.envelope.to_bytes().len() <= REMOTE_PAYMENT_ENVELOPE_BUDGET);
    assert_eq!(payer.offline(), 50_00, "{name}");
    assert_eq!(
        status_of(&payer, &sent.id).await,
        (Direction::Sent, Disposition::Sent, PaymentStatus::Pending),
        "{name}"
    );
    let barrier = Arc::new(Barrier::new(8));
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let bridge = server.new_client();
        let env = sent.envelope.clone();
        let barrier = barrier.clone();
        tasks.push(tokio::spawn(async move {
            assert!(bridge.healthy().await);
            barrier.wait().await;
            bridge.envelopes(&[env]).await.expect("POST /v1/envelopes")
        }));
    }
    let mut settled = 0;
    for t in tasks {
        for o in t.await.unwrap() {
            match o.outcome {
                Outcome::Settled => settled += 1,
                Outcome::Duplicate => {}
                other => panic!("{name}: {other:?}"),
            }
        }
    }
    assert_eq!(settled, 1, "{name}: exactly one bridge settled it");

    // The payee was away: it learns of the payment at its sync, verified on the device.
    let report = payee.wallet.sync(|_| {}).await.expect("payee sync");
    assert_eq!(report.received, 1, "{name}");
    assert_eq!(report.online_balance, Some(50_00), "{name}");
    assert_eq!(
        status_of(&payee, &sent.id).await,
        (
            Direction::Received,
            Disposition::Claimed,
            PaymentStatus::Settled
        ),
        "{name}"
    );
    // Nothing new at the next sync.
    let again = payee.wallet.sync(|_| {}).await.expect("payee sync");
    assert_eq!(again.received, 0, "{name}");
    // The payer's sync uploads the same Pay entry: settled once, seen settled.
    payer.wallet.sync(|_| {}).await.expect("payer sync");
    assert_eq!(
        status_of(&payer, &sent.id).await.2,
        PaymentStatus::Settled,
        "{name}"
    );

    // A second one: the payer syncs before any bridge delivers it (its journal settles it);
    // the envelope arriving later is a duplicate and moves nothing.
    let second = payer
        .wallet
        .send_remote(payee_id, brl(20_00), RemoteOptions::default())
        .await
        .unwrap();
    payer.wallet.sync(|_| {}).await.expect("payer sync");
    assert_eq!(
        status_of(&payer, &second.id).await.2,
        PaymentStatus::Settled,
        "{name}"
    );
    let late = server.client.envelopes(&[second.envelope]).await.unwrap();
    assert_eq!(late[0].outcome, Outcome::Duplicate, "{name}");
    let report = payee.wallet.sync(|_| {}).await.expect("payee sync");
    assert_eq!(
        (report.received, report.online_balance),
        (1, Some(70_00)),
        "{name}"
    );
    // A re-sealed copy of a settled payment (a new envelope id) is a duplicate too.
    let resealed = payer
        .wallet
        .reseal_remote(sent.id, RemoteOptions::default())
        .await
        .unwrap();
    assert_ne!(resealed.envelope.id(), sent.envelope.id());
    let out = server.client.envelopes(&[resealed.envelope]).await.unwrap();
    assert_eq!(out[0].outcome, Outcome::Duplicate, "{name}");

    // Refused before anything is signed: paying oneself, another currency.
    let me = payer.account().await;
    assert!(
        payer
            .wallet
            .send_remote(me, brl(1_00), RemoteOptions::default())
            .await
            .is_err()
    );
    assert_eq!(payer.offline(), 30_00, "{name}");
    server.assert_audit_clean().await;
}

#[tokio::test]
async fn remote_payments_on_sqlite() {
    remote_payments_settle_once_and_both_sides_see_them(TestServer::sqlite().await, "sqlite").await;
}

#[tokio::test]
async fn remote_payments_on_postgres() {
    if let Some(server) = TestServer::postgres().await {
        remote_payments_settle_once_and_both_sides_see_them(server, "postgres").await;
    }
}

/// The listing is the signer's own: another account is refused, and a malformed cursor is a
/// 400 naming the field.
#[tokio::test]
async fn the_received_listing_is_private_and_its_cursor_strict() {
    let server = TestServer::sqlite().await;
    let a = ferry_testkit::Account::register(&server.client).await;
    let b = ferry_testkit::Account::register(&server.client).await;
    let now = ferry_testkit::now();
    let own = server
        .client
        .received_payments(&a.key, a.id, None, now)
        .await
        .expect("own listing");
    assert!(own.payments.is_empty() && own.next.is_none());
    let other = server
        .client
        .received_payments(&a.key, b.id, None, now)
        .await;
    assert!(
        matches!(other, Err(ferry_api::client::ClientError::Api { status, .. }) if status == 401 || status == 403),
        "{other:?}"
    );
    for bad in ["x", "1.2", "1.zz.3", "1.00000000000000000000000000000000.x"] {
        let r = server
            .client
            .received_payments(&a.key, a.id, Some(bad), now)
            .await;
        assert!(
            matches!(
                r,
                Err(ferry_api::client::ClientError::Api { status: 400, .. })
            ),
            "{bad}: {r:?}"
        );
    }
}

/// 225 payments to one account, all in the same second or so: the listing pages through every
/// one exactly once (200, then 25), in `(received_at, ta, j)` order.
#[tokio::test]
async fn the_received_listing_pages_through_every_payment_once() {
    let server = TestServer::sqlite().await;
    let agent = server.agent(1_000_00).await;
    let payee = ferry_testkit::Account::register(&server.client).await;
    let mut expected = std::collections::BTreeSet::new();
    for _ in 0..5 {
        let mut h = ferry_testkit::Holder::register(&server.client).await;
        h.fund(&server.client, &agent, 100_00).await;
        let claims: Vec<_> = (0..45)
            .map(|k| {
                let p = h.pay(payee.id, 1_00 + k);
                expected.insert(p.id(h.ta()).to_string());
                h.claim(&p)
            })
            .collect();
        let out = server.client.claim(&claims).await.expect("claims");
        assert!(out.iter().all(|o| o.outcome == Outcome::Settled));
    }
    let now = ferry_testkit::now();
    let mut seen = Vec::new();
    let mut pages = 0;
    let mut after: Option<String> = None;
    loop {
        let page = server
            .client
            .received_payments(&payee.key, payee.id, after.as_deref(), now)
            .await
            .expect("page");
        pages += 1;
        seen.extend(page.payments.iter().map(|p| p.payment_id.clone()));
        match page.next {
            Some(n) => after = Some(n),
            None => break,
        }
    }
    assert_eq!(pages, 2);
    assert_eq!(seen.len(), 225);
    let unique: std::collections::BTreeSet<_> = seen.into_iter().collect();
    assert_eq!(unique, expected);
}

/// The phone-outbox messages `(kind, text)` to `phone`, oldest first.
async fn sms_to(server: &TestServer, phone: &str) -> Vec<(String, String)> {
    let mut v: Vec<_> = server
        .client
        .sms_outbox(&server.admin_token, Some(phone))
        .await
        .expect("outbox")
        .messages
        .into_iter()
        .map(|m| (m.kind, m.text))
        .collect();
    v.reverse();
    v
}

/// A smartphone wallet that linked a phone number gets an SMS on that number when an offline
/// payment to it settles, and the payer's linked number one for each payment it made that
/// settled: once, however many bridges deliver it; an account without a number gets nothing.
async fn a_settled_payment_is_told_to_the_payees_phone(server: TestServer, name: &str) {
    const PHONE: &str = "+5581999990042";
    const PAYER_PHONE: &str = "+5581999990043";
    let agent = server.agent(1_000_00).await;
    let mut payer = Device::register(&server.base_url, "Ana").await;
    let payee = Device::register(&server.base_url, "Bia").await;
    let other = Device::register(&server.base_url, "Caio").await;
    payer.fund(&server.client, &agent, 100_00).await;
    for (device, phone) in [(&payee, PHONE), (&payer, PAYER_PHONE)] {
        device
            .wallet
            .link_phone(phone, None)
            .await
            .expect("ask for a code");
        let sms = sms_to(&server, phone).await;
        let code = sms[0].1.split_whitespace().nth(2).expect("code").to_owned();
        device
            .wallet
            .link_phone(phone, Some(&code))
            .await
            .expect("link");
    }
    let before = server
        .client
        .sms_outbox(&server.admin_token, None)
        .await
        .expect("outbox")
        .messages
        .len();

    let payee_id = payee.account().await;
    let sent = payer
        .wallet
        .send_remote(payee_id, brl(25_00), RemoteOptions::default())
        .await
        .expect("send_remote");
    for _ in 0..3 {
        server
            .new_client()
            .envelopes(std::slice::from_ref(&sent.envelope))
            .await
            .expect("POST /v1/envelopes");
    }
    let to_other = payer
        .wallet
        .send_remote(other.account().await, brl(5_00), RemoteOptions::default())
        .await
        .expect("send_remote");
    let outcomes = server
        .new_client()
        .envelopes(&[to_other.envelope])
        .await
        .expect("POST /v1/envelopes");
    assert_eq!(outcomes[0].outcome, Outcome::Settled, "{name}");

    let settled: Vec<_> = sms_to(&server, PHONE)
        .await
        .into_iter()
        .filter(|(kind, _)| kind == "payment_settled")
        .collect();
    assert_eq!(
        settled,
        [(
            "payment_settled".to_owned(),
            "Ferry: A payment of 25.00 BRL to your account has settled. Balance 25.00 BRL."
                .to_owned()
        )],
        "{name}: one notice, however many bridges delivered it"
    );
    let after = server
        .client
        .sms_outbox(&server.admin_token, None)
        .await
        .expect("outbox")
        .messages
        .len();
    let payer_notices: Vec<_> = sms_to(&server, PAYER_PHONE)
        .await
        .into_iter()
        .filter(|(kind, _)| kind == "payment_sent_settled")
        .map(|(_, text)| text)
        .collect();
    assert_eq!(
        payer_notices,
        [
            "Ferry: Your payment of 25.00 BRL has settled. The payee has the money.",
            "Ferry: Your payment of 5.00 BRL has settled. The payee has the money.",
        ],
        "{name}: the payer hears of each payment once"
    );
    assert_eq!(
        after,
        before + 3,
        "{name}: nothing for an account without a number"
    );
    server.assert_audit_clean().await;
}

#[tokio::test]
async fn a_settled_payment_is_told_to_the_payees_phone_on_sqlite() {
    a_settled_payment_is_told_to_the_payees_phone(TestServer::sqlite().await, "sqlite").await;
}

#[tokio::test]
async fn a_settled_payment_is_told_to_the_payees_phone_on_postgres() {
    if let Some(server) = TestServer::postgres().await {
        a_settled_payment_is_told_to_the_payees_phone(server, "postgres").await;
    }
}

/// A payer who never comes online: its remote payment's envelope is lost, but the journal
/// segment it handed to the mesh settles the payment when a bridge delivers it; the lost
/// envelope turning up later is a duplicate, and a tampered segment settles nothing.
async fn a_journal_segment_through_the_mesh_settles_the_payers_payments(
    server: TestServer,
    name: &str,
) {
    let agent = server.agent(1_000_00).await;
    let mut payer = Device::register(&server.base_url, "Ana").await;
    let mut payee = Device::register(&server.base_url, "Bia").await;
    payer.fund(&server.client, &agent, 100_00).await;
    let payee_id = payee.account().await;
    let lost = payer
        .wallet
        .send_remote(payee_id, brl(20_00), RemoteOptions::default())
        .await
        .expect("send_remote");
    let segments = payer
        .wallet
        .seal_journal(RemoteOptions::default())
        .await
        .expect("seal the journal");
    assert_eq!(segments.len(), 1, "{name}: two entries fit one envelope");

    // A carrier flips a byte: the server cannot open it, and nothing moves.
    let mut bytes = segments[0].to_bytes();
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    if let Ok(tampered) = ferry_proto::envelope::Envelope::from_bytes(&bytes) {
        let o = server
            .new_client()
            .envelopes(&[tampered])
            .await
            .expect("post");
        assert!(
            matches!(o[0].outcome, Outcome::Invalid(_)),
            "{name}: {:?}",
            o[0].outcome
        );
    }
    let bridge = server.new_client();
    let o = bridge
        .envelopes(&segments)
        .await
        .expect("POST /v1/envelopes");
    assert_eq!(o[0].outcome, Outcome::Settled, "{name}");
    let report = payee.wallet.sync(|_| {}).await.expect("payee sync");
    assert_eq!(report.online_balance, Some(20_00), "{name}");
    // The lost envelope arrives after all, and the segment again: nothing moves twice.
    let o = bridge
        .envelopes(&[lost.envelope, segments[0].clone()])
        .await
        .expect("post");
    assert_eq!(o[0].outcome, Outcome::Duplicate, "{name}");
    assert_eq!(o[1].outcome, Outcome::Duplicate, "{name}");
    // When the payer does sync, it learns the payment settled; then there is nothing to seal.
    payer.wallet.sync(|_| {}).await.expect("payer sync");
    assert_eq!(
        status_of(&payer, &lost.id).await.2,
        PaymentStatus::Settled,
        "{name}"
    );
    let err = payer
        .wallet
        .seal_journal(RemoteOptions::default())
        .await
        .expect_err("nothing to seal");
    assert!(err.to_string().contains("nothing to seal"), "{name}: {err}");
    server.assert_audit_clean().await;
}

#[tokio::test]
async fn a_journal_segment_through_the_mesh_on_sqlite() {
    a_journal_segment_through_the_mesh_settles_the_payers_payments(
        TestServer::sqlite().await,
        "sqlite",
    )
    .await;
}

#[tokio::test]
async fn a_journal_segment_through_the_mesh_on_postgres() {
    if let Some(server) = TestServer::postgres().await {
        a_journal_segment_through_the_mesh_settles_the_payers_payments(server, "postgres").await;
    }
}
