//! The demo mesh (`ferry serve --demo`): a remote payment injected at one end of the ring
//! crosses relays round by round to a bridge, a flush settles it, a second flush uploads
//! nothing, the same envelope injected again after a reset comes back `duplicate`; without
//! `--demo` every demo route is a 404.

use std::sync::Arc;

use ferry_api::{B64, DemoFlush, DemoInject, DemoMeshBody, DemoRound, Outcome};
use ferry_proto::Message;
use ferry_testkit::devices::Device;
use ferry_testkit::{ServerOptions, TestServer};
use ferry_wallet::wallet::RemoteOptions;
use serde::de::DeserializeOwned;

async fn post<T: DeserializeOwned>(url: &str, body: serde_json::Value) -> (u16, Option<T>) {
    let r = reqwest::Client::new()
        .post(url)
        .json(&body)
        .send()
        .await
        .expect("post");
    let status = r.status().as_u16();
    (status, r.json().await.ok())
}

#[tokio::test]
async fn a_payment_crosses_the_demo_mesh_and_settles_once() {
    let server = TestServer::sqlite_with(ServerOptions {
        configure: Some(Arc::new(|c| c.demo = true)),
        ..ServerOptions::default()
    })
    .await;
    let base = format!("{}/v1/demo/mesh", server.base_url);
    let agent = server.agent(100_00).await;
    let mut payer = Device::register(&server.base_url, "Ana").await;
    let payee = Device::register(&server.base_url, "Bia").await;
    payer.fund(&server.client, &agent, 50_00).await;
    let sent = payer
        .wallet
        .send_remote(
            payee.account().await,
            ferry_testkit::brl(20_00),
            RemoteOptions::default(),
        )
        .await
        .unwrap();
    let inject = serde_json::to_value(DemoInject {
        node: 1,
        envelope: B64(sent.envelope.to_bytes()),
    })
    .unwrap();
    let (status, state) = post::<DemoMeshBody>(&format!("{base}/inject"), inject.clone()).await;
    assert_eq!(status, 200);
    let state = state.unwrap();
    assert_eq!(state.injected, 1);
    assert_eq!(state.nodes[1].held.len(), 1);
    assert!(state.nodes.iter().filter(|n| n.bridge).count() >= 2);

    // Rounds until a bridge holds it, then a flush settles it.
    let mut settled = 0;
    for _ in 0..10 {
        let (status, round) =
            post::<DemoRound>(&format!("{base}/round"), serde_json::json!({})).await;
        assert_eq!(status, 200);
        assert!(round.unwrap().summary_bytes > 0);
        let (_, flush) = post::<DemoFlush>(&format!("{base}/flush"), serde_json::json!({})).await;
        for u in flush.unwrap().uploads {
            assert_eq!(u.envelope_id, sent.envelope.id().to_hex());
            match u.outcome {
                Outcome::Settled => settled += 1,
                Outcome::Duplicate => {}
                other => panic!("{other:?}"),
            }
        }
        if settled > 0 {
            break;
        }
    }
    assert_eq!(settled, 1);
    // Nothing left to upload.
    let (_, flush) = post::<DemoFlush>(&format!("{base}/flush"), serde_json::json!({})).await;
    assert!(flush.unwrap().uploads.is_empty());
    let state: DemoMeshBody = reqwest::get(&base).await.unwrap().json().await.unwrap();
    assert!(state.uploaded >= 1);

    // After a reset, the same envelope straight into a bridge: the server says duplicate.
    let (status, state) =
        post::<DemoMeshBody>(&format!("{base}/reset"), serde_json::json!({})).await;
    assert_eq!(status, 200);
    let state = state.unwrap();
    assert!(state.nodes.iter().all(|n| n.held.is_empty()));
    let bridge = state.nodes.iter().find(|n| n.bridge).unwrap().index;
    let again = serde_json::json!({"node": bridge, "envelope": inject["envelope"]});
    assert_eq!(
        post::<DemoMeshBody>(&format!("{base}/inject"), again)
            .await
            .0,
        200
    );
    let (_, flush) = post::<DemoFlush>(&format!("{base}/flush"), serde_json::json!({})).await;
    let uploads = flush.unwrap().uploads;
    assert_eq!(uploads.len(), 1);
    assert_eq!(uploads[0].outcome, Outcome::Duplicate);

    // Junk and unknown nodes are refused.
    let junk = serde_json::json!({"node": 0, "envelope": "AAAA"});
    assert_eq!(
        post::<serde_json::Value>(&format!("{base}/inject"), junk)
            .await
            .0,
        400
    );
    let far = serde_json::json!({"node": 99, "envelope": inject["envelope"]});
    assert_eq!(
        post::<serde_json::Value>(&format!("{base}/inject"), far)
            .await
            .0,
        422
    );
    server.assert_audit_clean().await;
}

#[tokio::test]
async fn without_demo_the_routes_are_not_found() {
    let server = TestServer::sqlite().await;
    let base = format!("{}/v1/demo/mesh", server.base_url);
    assert_eq!(reqwest::get(&base).await.unwrap().status().as_u16(), 404);
    for op in ["round", "flush", "reset"] {
        let (status, _) =
            post::<serde_json::Value>(&format!("{base}/{op}"), serde_json::json!({})).await;
        assert_eq!(status, 404, "{op}");
    }
}
