//! `POST /v1/envelopes?acks=true` against a real server: every decided envelope comes back with
//! the issuer's delivery acknowledgement, which verifies with the issuer key of the network
//! parameters and names that envelope only; without the parameter there is none; a malformed
//! parameter is a 400 and settles nothing.

use ferry_api::Outcome;
use ferry_proto::delivery;
use ferry_proto::envelope::Envelope;
use ferry_proto::{Message, Signature};
use ferry_testkit::devices::Device;
use ferry_testkit::{TestServer, brl};
use ferry_wallet::wallet::RemoteOptions;

#[tokio::test]
async fn decided_envelopes_come_back_acknowledged_by_the_issuer() {
    let server = TestServer::sqlite().await;
    let agent = server.agent(1_000_00).await;
    let mut payer = Device::register(&server.base_url, "Ana").await;
    let payee = Device::register(&server.base_url, "Bia").await;
    payer.fund(&server.client, &agent, 100_00).await;
    let sent = payer
        .wallet
        .send_remote(payee.account().await, brl(20_00), RemoteOptions::default())
        .await
        .expect("send_remote");
    let issuer = server
        .client
        .params()
        .await
        .expect("params")
        .unverified()
        .issuer_key;
    let bridge = server.new_client();

    // Malformed parameters: 400, and nothing settles.
    let body = serde_json::json!({
        "envelopes": [data_encoding::BASE64URL_NOPAD.encode(&sent.envelope.to_bytes())]
    })
    .to_string()
    .into_bytes();
    for query in ["acks=maybe", "acks=true&acks=true", "ack=true", "acks"] {
        let (status, _) = bridge
            .raw(
                reqwest::Method::POST,
                &format!("/v1/envelopes?{query}"),
                Some("application/json"),
                body.clone(),
                &[],
            )
            .await
            .expect("answer");
        assert_eq!(status, 400, "{query}");
    }

    // Settled, then a duplicate: both acknowledged, with the same signature over the id.
    let ack_of = |o: &ferry_api::EnvelopeOutcome| {
        Signature::from_bytes(&o.ack.as_ref().expect("an acknowledgement").0)
    };
    let first = bridge
        .envelopes_acked(std::slice::from_ref(&sent.envelope))
        .await
        .expect("upload");
    assert_eq!(first[0].outcome, Outcome::Settled);
    let id = sent.envelope.id();
    assert!(delivery::check(&issuer, &id, &ack_of(&first[0])).is_ok());
    let again = bridge
        .envelopes_acked(std::slice::from_ref(&sent.envelope))
        .await
        .expect("upload");
    assert_eq!(again[0].outcome, Outcome::Duplicate);
    assert_eq!(ack_of(&again[0]), ack_of(&first[0]));

    // A tampered copy is a different envelope: decided invalid, acknowledged under its own id,
    // and that acknowledgement does not name the real one.
    let mut bytes = sent.envelope.to_bytes();
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    let tampered = Envelope::from_bytes(&bytes).expect("still decodes");
    let out = bridge
        .envelopes_acked(std::slice::from_ref(&tampered))
        .await
        .expect("upload");
    assert!(matches!(out[0].outcome, Outcome::Invalid(_)), "{out:?}");
    let ack = ack_of(&out[0]);
    assert!(delivery::check(&issuer, &tampered.id(), &ack).is_ok());
    assert!(delivery::check(&issuer, &id, &ack).is_err());

    // Without the parameter: no acknowledgements.
    let plain = bridge
        .envelopes(std::slice::from_ref(&sent.envelope))
        .await
        .expect("upload");
    assert_eq!(plain[0].outcome, Outcome::Duplicate);
    assert!(plain[0].ack.is_none());
    server.assert_audit_clean().await;
}
