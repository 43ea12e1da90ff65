//! Several nodes on loopback: envelopes dropped into one node's inbox reach every bridge's
//! uploader exactly once, and every node stops cleanly on shutdown.

#![cfg(feature = "runtime")]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ferry_mesh::bridge::{Outcome, UploadError, Uploader};
use ferry_mesh::fixtures::{seal_numbered, test_issuer_key};
use ferry_mesh::node::NodeConfig;
use ferry_mesh::runtime::{RuntimeConfig, run_node_on};
use ferry_mesh::strategy::Strategy;
use ferry_proto::codec::Message;
use ferry_proto::envelope::{Envelope, EnvelopeId};
use ferry_proto::time::{Clock, SystemClock};
use tokio::net::TcpListener;
use tokio::sync::watch;

/// Counts every upload per envelope id (the ttl byte changes from hop to hop); fails the first
/// upload to exercise the retry.
#[derive(Clone, Default)]
struct FakeUploader {
    seen: Arc<Mutex<HashMap<EnvelopeId, u32>>>,
    calls: Arc<Mutex<u32>>,
}

impl Uploader for FakeUploader {
    async fn upload(&self, envelopes: Vec<Vec<u8>>) -> Result<Vec<Outcome>, UploadError> {
        {
            let mut c = self.calls.lock().unwrap();
            *c += 1;
            if *c == 1 {
                return Err(UploadError::Unavailable(503));
            }
        }
        let mut seen = self.seen.lock().unwrap();
        Ok(envelopes
            .into_iter()
            .map(|e| {
                let Ok(env) = Envelope::from_bytes(&e) else {
                    return Outcome::Invalid;
                };
                let n = seen.entry(env.id()).or_insert(0);
                *n += 1;
                if *n == 1 {
                    Outcome::Settled
                } else {
                    Outcome::Duplicate
                }
            })
            .collect())
    }
}

fn node_cfg(id: u64, bridge: bool) -> NodeConfig {
    NodeConfig {
        node_id: id,
        bridge,
        strategy: Strategy::Epidemic,
        stamp_bits: 8,
        issuer_key: Some(test_issuer_key().key_id()),
        ..NodeConfig::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn envelopes_reach_each_bridge_once_and_nodes_stop() {
    let inbox = tempfile::tempdir().unwrap();
    // Topology: A → B → C, C → bridge1, B → bridge2 (arrows: who dials whom).
    let mut listeners = Vec::new();
    for _ in 0..5 {
        listeners.push(TcpListener::bind("127.0.0.1:0").await.unwrap());
    }
    let addr: Vec<_> = listeners.iter().map(|l| l.local_addr().unwrap()).collect();
    let (stop_tx, stop_rx) = watch::channel(false);
    let uploaders = [FakeUploader::default(), FakeUploader::default()];
    let mut handles = Vec::new();
    let dials = [
        vec![addr[1]],
        vec![addr[2], addr[4]],
        vec![addr[3]],
        vec![],
        vec![],
    ];
    for (i, listener) in listeners.into_iter().enumerate() {
        let bridge = i >= 3;
        let mut cfg = RuntimeConfig::new(addr[i], node_cfg(i as u64 + 1, bridge));
        cfg.peers = dials[i].clone();
        cfg.dial_interval = Duration::from_millis(150);
        cfg.poll_interval = Duration::from_millis(50);
        cfg.io_timeout = Duration::from_secs(2);
        cfg.bridge.backoff_base_secs = 1;
        if i == 0 {
            cfg.inbox = Some(inbox.path().to_path_buf());
        }
        let mut rx = stop_rx.clone();
        let shutdown = async move {
            while !*rx.borrow() {
                if rx.changed().await.is_err() {
                    break;
                }
            }
        };
        let h = if bridge {
            let cfg = cfg.with_uploader(uploaders[i - 3].clone());
            tokio::spawn(run_node_on(listener, cfg, shutdown))
        } else {
            tokio::spawn(run_node_on(listener, cfg, shutdown))
        };
        handles.push(h);
    }
    // Five payments dropped into A's inbox, plus one file that is not an envelope.
    let expires = SystemClock.now().plus_secs(3600);
    let mut sent = Vec::new();
    for n in 0..5 {
        let env = seal_numbered(&test_issuer_key(), 99, n, 165, expires, 8);
        std::fs::write(inbox.path().join(format!("p{n}.env")), env.to_bytes()).unwrap();
        sent.push(env.id());
    }
    std::fs::write(inbox.path().join("junk.env"), b"not an envelope").unwrap();

    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let done = uploaders.iter().all(|u| {
            let seen = u.seen.lock().unwrap();
            sent.iter().all(|b| seen.contains_key(b))
        });
        if done {
            break;
        }
        if tokio::time::Instant::now() >= deadline {
            stop_tx.send(true).unwrap();
            let mut sums = Vec::new();
            for h in handles {
                sums.push(h.await.unwrap().unwrap());
            }
            let counts: Vec<usize> = uploaders
                .iter()
                .map(|u| u.seen.lock().unwrap().len())
                .collect();
            panic!("not every envelope reached every bridge: {sums:?} {counts:?}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Let a few more contacts happen: nothing is uploaded twice by the same bridge.
    tokio::time::sleep(Duration::from_millis(800)).await;
    for u in &uploaders {
        let seen = u.seen.lock().unwrap();
        assert_eq!(seen.len(), 5, "only the five payments");
        assert!(
            seen.values().all(|n| *n == 1),
            "each uploaded once: {:?}",
            seen.values()
        );
        assert!(
            *u.calls.lock().unwrap() >= 2,
            "the failed upload was retried"
        );
    }
    assert!(inbox.path().join("junk.bad").exists());

    stop_tx.send(true).unwrap();
    for h in handles {
        let summary = tokio::time::timeout(Duration::from_secs(5), h)
            .await
            .expect("node stops within 5 s")
            .unwrap()
            .unwrap();
        assert!(summary.contacts > 0);
    }
}
