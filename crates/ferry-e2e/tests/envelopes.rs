//! Envelopes and claims over HTTP: tampering is `invalid` and burns nothing, every other
//! delivery of a settled payment (a re-sealed envelope, a claim, a changed ttl) is a
//! `duplicate`, any single changed byte of a payment makes it `invalid`, and a server restart
//! between deliveries changes none of that.

use std::collections::BTreeMap;

use data_encoding::BASE64URL_NOPAD;
use ferry_api::client::{Claim, SettlementClient};
use ferry_api::{Outcome, PaymentState, Reason};
use ferry_proto::envelope::{Envelope, TTL_OFFSET};
use ferry_proto::sealed::SealedContent;
use ferry_proto::{Message, Payment, TaCertificate, UnixTime, X25519Secret};
use ferry_testkit::{Account, Holder, TestServer, now, payment_transfers, tally};
use serde_json::{Value, json};

fn only(outcome: &str, n: usize) -> BTreeMap<String, usize> {
    BTreeMap::from([(outcome.to_owned(), n)])
}

fn flip(bytes: &[u8], at: usize, mask: u8) -> Vec<u8> {
    let mut b = bytes.to_vec();
    b[at] ^= mask;
    b
}

/// An envelope with byte `at` of its encoding flipped, which must still decode.
fn altered(env: &Envelope, at: usize) -> Envelope {
    Envelope::from_bytes(&flip(&env.to_bytes(), at, 0x01)).expect("still an envelope")
}

async fn tampering_and_redelivery(server: TestServer) {
    let client = &server.client;
    let params = server.params().await;
    let agent = server.agent(1_000_00).await;
    let mut payer = Holder::register(client).await;
    payer.fund(client, &agent, 200_00).await;
    let payee = Account::register(client).await;

    // A tampered envelope is invalid{tampered}, whichever byte of the sealed part changed, and
    // so is a forged copy with the same ciphertext (so the same id) and another expiry.
    let p1 = payer.pay(payee.id, 12_00);
    let env1 = payer.envelope(&params, &p1);
    let len = env1.to_bytes().len();
    let enc_at = TTL_OFFSET + 1;
    let expiry_at = TTL_OFFSET - 1;
    let tampered = vec![
        altered(&env1, len - 1),
        altered(&env1, len - 40),
        altered(&env1, enc_at),
        altered(&env1, expiry_at),
    ];
    assert_eq!(
        tampered[3].id(),
        env1.id(),
        "the forged header keeps the id"
    );
    let out = client
        .envelopes(&tampered)
        .await
        .expect("POST /v1/envelopes");
    assert_eq!(tally(&out), only("invalid:tampered", 4), "{out:?}");
    assert_eq!(payee.online(client).await, 0);
    assert_eq!(payment_transfers(server.store()).await.rows, 0);

    // The same payment sealed to another key, or already expired: refused, and burns nothing.
    let content = SealedContent::Payment {
        ta_cert: payer.ta_cert.clone(),
        payment: p1.clone(),
        receipt: None,
    }
    .to_bytes();
    let wrong_key = Envelope::seal(
        &X25519Secret::generate().public(),
        now().plus_secs(86_400),
        8,
        &content,
    )
    .expect("seal");
    let expired =
        Envelope::seal(&params.sealing_key, UnixTime(now().secs() - 1), 8, &content).expect("seal");
    let out = client.envelopes(&[wrong_key, expired]).await.expect("POST");
    let outcomes: Vec<_> = out.iter().map(|o| o.outcome.clone()).collect();
    assert_eq!(
        outcomes,
        [
            Outcome::Invalid(Reason::WrongKey),
            Outcome::Invalid(Reason::Expired)
        ],
        "{out:?}"
    );

    // The original still settles, once, in a batch with an undecodable item and a second copy
    // of itself.
    let body = json!({ "envelopes": ["AAAA", b64(&env1.to_bytes()), b64(&env1.to_bytes())] });
    let out = post_raw(client, "/v1/envelopes", &body).await;
    let got: Vec<_> = out
        .iter()
        .map(|o| {
            (
                o.outcome.name(),
                o.outcome.reason().map(Reason::as_str),
                o.envelope_id.clone(),
            )
        })
        .collect();
    let id = Some(env1.id().to_hex());
    assert_eq!(
        got,
        [
            ("invalid", Some("malformed"), None),
            ("settled", None, id.clone()),
            ("duplicate", None, id),
        ]
    );
    assert_eq!(payee.online(client).await, 12_00);

    // Every other delivery of the same payment is a duplicate: the same envelope, a copy whose
    // (unauthenticated) ttl changed, a re-sealed envelope, and the payment as a claim.
    let ttl_changed = altered(&env1, TTL_OFFSET);
    assert_eq!(ttl_changed.id(), env1.id());
    let resealed = payer.envelope(&params, &p1);
    assert_ne!(resealed.id(), env1.id());
    let out = client
        .envelopes(&[env1.clone(), ttl_changed, resealed.clone(), resealed])
        .await
        .expect("POST");
    assert_eq!(tally(&out), only("duplicate", 4), "{out:?}");
    let out = client
        .claim(&[payer.claim(&p1)])
        .await
        .expect("POST /v1/claims");
    assert_eq!(tally(&out), only("duplicate", 1), "{out:?}");
    assert_eq!(
        out[0].payment.as_deref(),
        Some(p1.id(payer.ta()).to_string().as_str())
    );
    // And the other way round: claimed first, then carried in an envelope.
    let p2 = payer.pay(payee.id, 8_00);
    let out = client
        .claim(&[payer.claim(&p2)])
        .await
        .expect("POST /v1/claims");
    assert_eq!(tally(&out), only("settled", 1), "{out:?}");
    let out = client
        .envelopes(&[payer.envelope(&params, &p2)])
        .await
        .expect("POST");
    assert_eq!(tally(&out), only("duplicate", 1), "{out:?}");
    assert_eq!(payee.online(client).await, 20_00);
    assert_eq!(payment_transfers(server.store()).await.rows, 2);

    // Any single changed byte of a payment (or of its certificate) makes it invalid, as a
    // claim and inside an envelope, and burns nothing: the original settles afterwards.
    let p3 = payer.pay(payee.id, 5_00);
    let mutants = single_byte_mutants(&payer.ta_cert, &p3);
    let out = post_raw_claims(client, &mutants).await;
    assert_eq!(out.len(), mutants.len());
    for (o, (what, _, _)) in out.iter().zip(&mutants) {
        assert!(matches!(o.outcome, Outcome::Invalid(_)), "{what}: {o:?}");
    }
    let sealed_mutants = sealed_payment_mutants(&params, &payer.ta_cert, &p3);
    let sealed_out = client.envelopes(&sealed_mutants).await.expect("POST");
    assert_eq!(sealed_out.len(), sealed_mutants.len());
    for (i, o) in sealed_out.iter().enumerate() {
        assert!(
            matches!(o.outcome, Outcome::Invalid(_)),
            "sealed mutant {i}: {o:?}"
        );
    }
    eprintln!(
        "single-byte mutants: claims {:?}, sealed {:?}",
        tally(&out),
        tally(&sealed_out)
    );
    assert_eq!(payee.online(client).await, 20_00);
    let out = client
        .envelopes(&[payer.envelope(&params, &p3)])
        .await
        .expect("POST");
    assert_eq!(tally(&out), only("settled", 1), "{out:?}");
    assert_eq!(payee.online(client).await, 25_00);
    assert_eq!(payer.float(client).await, 200_00 - 25_00);
    let status = payee.payment_status(client, p3.id(payer.ta())).await;
    assert_eq!(
        (status.status, status.amount),
        (PaymentState::Settled, 5_00)
    );
    let transfers = payment_transfers(server.store()).await;
    assert_eq!((transfers.rows, transfers.distinct_references), (3, 3));
    server.assert_audit_clean().await;
    server.stop().await;
}

/// Claims of `p` with one byte of the payment (xor 0x01, then xor 0xff) or of the certificate
/// (xor 0x01) changed: `(what, certificate bytes, payment bytes)`.
fn single_byte_mutants(cert: &TaCertificate, p: &Payment) -> Vec<(String, Vec<u8>, Vec<u8>)> {
    let pay = p.to_bytes();
    let cert_bytes = cert.to_bytes();
    let mut out = Vec::new();
    for mask in [0x01, 0xff] {
        for at in 0..pay.len() {
            let what = format!("payment byte {at} ^ {mask:#04x}");
            out.push((what, cert_bytes.clone(), flip(&pay, at, mask)));
        }
    }
    for at in 0..cert_bytes.len() {
        let what = format!("certificate byte {at} ^ 0x01");
        out.push((what, flip(&cert_bytes, at, 0x01), pay.clone()));
    }
    out
}

/// `POST /v1/claims` with raw certificate and payment bytes (which need not decode).
async fn post_raw_claims(
    client: &SettlementClient,
    items: &[(String, Vec<u8>, Vec<u8>)],
) -> Vec<RawOutcome> {
    let body = json!({
        "items": items
            .iter()
            .map(|(_, c, p)| json!({ "ta_certificate": b64(c), "payment": b64(p) }))
            .collect::<Vec<_>>()
    });
    post_raw(client, "/v1/claims", &body).await
}

fn b64(bytes: &[u8]) -> String {
    BASE64URL_NOPAD.encode(bytes)
}

/// Posts a JSON batch and returns its outcomes (which must come with a 200).
/// One item's answer, read from a raw batch reply: the outcome, with the envelope id
/// (envelopes).
#[derive(Debug, Clone, serde::Deserialize)]
struct RawOutcome {
    #[serde(flatten)]
    outcome: Outcome,
    #[serde(default)]
    envelope_id: Option<String>,
}

impl ferry_testkit::HasOutcome for RawOutcome {
    fn outcome(&self) -> &Outcome {
        &self.outcome
    }
}

async fn post_raw(client: &SettlementClient, path: &str, body: &Value) -> Vec<RawOutcome> {
    let (status, answer) = client
        .raw(
            reqwest::Method::POST,
            path,
            Some("application/json"),
            serde_json::to_vec(body).expect("json"),
            &[],
        )
        .await
        .expect("POST");
    let text = String::from_utf8_lossy(&answer);
    assert_eq!(status, 200, "{text}");
    let v: Value = serde_json::from_slice(&answer).expect("JSON answer");
    serde_json::from_value(v["outcomes"].clone()).expect("outcomes")
}

/// Envelopes whose sealed content is `p` with one byte of the payment changed, sealed properly
/// (so they open, and the content itself must be refused).
fn sealed_payment_mutants(
    params: &ferry_proto::cert::NetworkParamsBody,
    cert: &TaCertificate,
    p: &Payment,
) -> Vec<Envelope> {
    let content = SealedContent::Payment {
        ta_cert: cert.clone(),
        payment: p.clone(),
        receipt: None,
    }
    .to_bytes();
    // content = version ‖ kind ‖ certificate ‖ payment ‖ has_receipt; the payment's encoding
    // inside is its message form without the version byte.
    let inner = &p.to_bytes()[1..];
    let end = content.len() - 1;
    let start = end - inner.len();
    assert_eq!(
        &content[start..end],
        inner,
        "payment position in the content"
    );
    (start..end)
        .map(|at| {
            Envelope::seal(
                &params.sealing_key,
                now().plus_secs(86_400),
                8,
                &flip(&content, at, 0x01),
            )
            .expect("seal")
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn tampered_envelopes_are_invalid_and_redeliveries_are_duplicates_sqlite() {
    tampering_and_redelivery(TestServer::sqlite().await).await;
}

/// Deliveries before a restart, the same deliveries after it, and an envelope sealed before
/// the restart delivered after it.
async fn restart_between_deliveries(mut server: TestServer) {
    let params = server.params().await;
    let agent = server.agent(1_000_00).await;
    let mut payer = Holder::register(&server.client).await;
    payer.fund(&server.client, &agent, 300_00).await;
    let payee = Account::register(&server.client).await;
    let pays: Vec<Payment> = (1..=6).map(|k| payer.pay(payee.id, k * 1_00)).collect();
    let envs: Vec<Envelope> = pays.iter().map(|p| payer.envelope(&params, p)).collect();
    // Delivered before: 1–3 in envelopes, 4 as a claim. Sealed before, delivered after: 5, 6.
    let out = server.client.envelopes(&envs[..3]).await.expect("POST");
    assert_eq!(tally(&out), only("settled", 3), "{out:?}");
    let out = server
        .client
        .claim(&[payer.claim(&pays[3])])
        .await
        .expect("POST");
    assert_eq!(tally(&out), only("settled", 1), "{out:?}");
    assert_eq!(payee.online(&server.client).await, 10_00);

    server.restart().await;
    let client = &server.client;
    let after = server.params().await;
    assert_eq!(
        after.sealing_key, params.sealing_key,
        "the sealing key survives"
    );
    assert_eq!(
        after.issuer_key, params.issuer_key,
        "the issuer key survives"
    );

    let out = client.envelopes(&envs[..4]).await.expect("POST");
    assert_eq!(
        tally(&out),
        only("duplicate", 4),
        "after the restart: {out:?}"
    );
    let resealed: Vec<Envelope> = pays[..4]
        .iter()
        .map(|p| payer.envelope(&after, p))
        .collect();
    let out = client.envelopes(&resealed).await.expect("POST");
    assert_eq!(tally(&out), only("duplicate", 4), "re-sealed: {out:?}");
    let claims: Vec<Claim> = pays[..4].iter().map(|p| payer.claim(p)).collect();
    let out = client.claim(&claims).await.expect("POST");
    assert_eq!(tally(&out), only("duplicate", 4), "claims: {out:?}");
    assert_eq!(payee.online(client).await, 10_00, "nothing settled again");

    // Sealed before the restart, it opens after it.
    let out = client.envelopes(&envs[4..]).await.expect("POST");
    assert_eq!(tally(&out), only("settled", 2), "{out:?}");
    assert_eq!(payee.online(client).await, 21_00);
    assert_eq!(payer.float(client).await, 300_00 - 21_00);

    // Once more across a second restart: everything is a duplicate.
    server.restart().await;
    let client = &server.client;
    let out = client.envelopes(&envs).await.expect("POST");
    assert_eq!(tally(&out), only("duplicate", 6), "{out:?}");
    let all: Vec<Claim> = pays.iter().map(|p| payer.claim(p)).collect();
    let out = client.claim(&all).await.expect("POST");
    assert_eq!(tally(&out), only("duplicate", 6), "{out:?}");
    assert_eq!(payee.online(client).await, 21_00);
    for p in &pays {
        let s = payee.payment_status(client, p.id(payer.ta())).await;
        assert_eq!(
            (s.status, s.amount),
            (PaymentState::Settled, p.amount().minor())
        );
    }
    let t = payment_transfers(server.store()).await;
    assert_eq!((t.rows, t.distinct_references), (6, 6));
    server.assert_audit_clean().await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_restart_between_deliveries_settles_nothing_twice_sqlite() {
    restart_between_deliveries(TestServer::sqlite().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_restart_between_deliveries_settles_nothing_twice_postgres() {
    let Some(server) = TestServer::postgres().await else {
        return;
    };
    restart_between_deliveries(server).await;
}
