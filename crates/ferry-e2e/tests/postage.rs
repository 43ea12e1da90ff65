//! `GET /v1/accounts/{id}/mesh-postage` against a real server: an account gets one postage key
//! a day, signed by the issuer of the network parameters, that postmarks envelopes a relay
//! accepts; a request not signed by the account gets 401.

use ferry_api::client::ClientError;
use ferry_proto::SigningKey;
use ferry_proto::envelope::EnvelopeId;
use ferry_proto::postage::{self, MeshPostage, PostageError, day_start};
use ferry_testkit::{Account, TestServer, now};

#[tokio::test]
async fn an_account_gets_one_postage_key_a_day_that_relays_accept() {
    let server = TestServer::sqlite().await;
    let c = &server.client;
    let ana = Account::register(c).await;
    let bia = Account::register(c).await;
    let body = c
        .mesh_postage(&ana.key, ana.id, now())
        .await
        .expect("postage");
    let again = c
        .mesh_postage(&ana.key, ana.id, now())
        .await
        .expect("again");
    assert_eq!(again, body, "the same all day");
    let other = c.mesh_postage(&bia.key, bia.id, now()).await.expect("bia");
    assert_ne!(other.postage_key, body.postage_key);

    let p = MeshPostage::from_bytes(&body.postage.0).expect("decodes");
    assert_eq!(body.valid_until, p.unverified().valid_until.secs());
    assert_eq!(
        p.unverified().valid_until,
        day_start(now()).plus_secs(postage::POSTAGE_VALIDITY_SECS)
    );
    let seed: [u8; 32] = body.postage_key.0.as_slice().try_into().expect("32 bytes");
    let key = SigningKey::from_seed(&seed);
    assert_eq!(key.public(), p.unverified().key);
    // A relay with the issuer key from the network parameters takes a postmarked envelope,
    // and only the envelope the postmark was made for.
    let issuer = c.params().await.expect("params").unverified().issuer_key;
    let id = EnvelopeId(ferry_proto::Hash32::of("e2e", &[b"one"]));
    let other_id = EnvelopeId(ferry_proto::Hash32::of("e2e", &[b"two"]));
    let mark = postage::postmark(&key, &id);
    assert_eq!(
        postage::check(&p, &mark, &id, &issuer, now()),
        Ok(key.public())
    );
    assert_eq!(
        postage::check(&p, &mark, &other_id, &issuer, now()),
        Err(PostageError::BadPostmark)
    );

    // Bia cannot sign as Ana; a key the server does not know is not authenticated either.
    // (A signer naming another account in the path gets 403 from the same check as the
    // statement's, tested in statement.rs.)
    let r = c.mesh_postage(&bia.key, ana.id, now()).await;
    assert!(
        matches!(r, Err(ClientError::Api { status: 401, .. })),
        "{r:?}"
    );
    let stranger = SigningKey::generate();
    let r = c.mesh_postage(&stranger, ana.id, now()).await;
    assert!(
        matches!(r, Err(ClientError::Api { status: 401, .. })),
        "{r:?}"
    );
}
