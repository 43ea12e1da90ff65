//! Several nodes on loopback: envelopes dropped into one node's inbox reach every bridge's
//! uploader exactly once, and every node stops cleanly on shutdown.

#![cfg(feature = "runtime")]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ferry_mesh::bridge::{Outcome, UploadError, Uploaded, Uploader};
use ferry_mesh::fixtures::{seal_numbered, test_issuer_key, test_postage_issuer};
use ferry_mesh::node::NodeConfig;
use ferry_mesh::runtime::{INBOX_SETTLE, RuntimeConfig, run_node_on};
use ferry_mesh::strategy::Strategy;
use ferry_proto::codec::Message;
use ferry_proto::delivery::acknowledge;
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
    /// Answer with the (test) issuer's delivery acknowledgements.
    acks: bool,
}

impl Uploader for FakeUploader {
    async fn upload(&self, envelopes: Vec<Vec<u8>>) -> Result<Vec<Uploaded>, UploadError> {
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
                    return Outcome::Invalid.into();
                };
                let n = seen.entry(env.id()).or_insert(0);
                *n += 1;
                let outcome = if *n == 1 {
                    Outcome::Settled
                } else {
                    Outcome::Duplicate
                };
                Uploaded {
                    outcome,
                    ack: self
                        .acks
                        .then(|| acknowledge(&test_postage_issuer(), &env.id())),
                }
            })
            .collect())
    }
}

type NodeHandle = tokio::task::JoinHandle<
    Result<ferry_mesh::runtime::RuntimeSummary, ferry_mesh::runtime::RuntimeError>,
>;

/// Starts a node on `listener` that dials `peers` quickly, polls `inbox`, uploads through
/// `uploader` (a bridge), and stops when `stop` says so.
fn spawn_node(
    listener: TcpListener,
    node: NodeConfig,
    peers: Vec<std::net::SocketAddr>,
    inbox: Option<std::path::PathBuf>,
    uploader: Option<FakeUploader>,
    mut stop: watch::Receiver<bool>,
) -> NodeHandle {
    let addr = listener.local_addr().unwrap();
    let mut cfg = RuntimeConfig::new(addr, node);
    cfg.peers = peers;
    cfg.dial_interval = Duration::from_millis(150);
    cfg.poll_interval = Duration::from_millis(50);
    cfg.io_timeout = Duration::from_secs(2);
    cfg.bridge.backoff_base_secs = 1;
    cfg.inbox = inbox;
    let shutdown = async move {
        while !*stop.borrow() {
            if stop.changed().await.is_err() {
                break;
            }
        }
    };
    match uploader {
        Some(u) => tokio::spawn(run_node_on(listener, cfg.with_uploader(u), shutdown)),
        None => tokio::spawn(run_node_on(listener, cfg, shutdown)),
    }
}

/// Drops a file into a node's inbox the way its writers must: under a name the node ignores,
/// then renamed into place, so a poll never reads half a file.
fn drop_into_inbox(dir: &std::path::Path, name: &str, bytes: &[u8]) {
    let partial = dir.join(format!("{name}.partial"));
    std::fs::write(&partial, bytes).unwrap();
    std::fs::rename(&partial, dir.join(name)).unwrap();
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
        handles.push(spawn_node(
            listener,
            node_cfg(i as u64 + 1, bridge),
            dials[i].clone(),
            (i == 0).then(|| inbox.path().to_path_buf()),
            bridge.then(|| uploaders[i - 3].clone()),
            stop_rx.clone(),
        ));
    }
    // Five payments dropped into A's inbox, plus one file that is not an envelope.
    let expires = SystemClock.now().plus_secs(3600);
    let mut sent = Vec::new();
    for n in 0..5 {
        let env = seal_numbered(&test_issuer_key(), 99, n, 165, expires, 8);
        drop_into_inbox(inbox.path(), &format!("p{n}.env"), &env.to_bytes());
        sent.push(env.id());
    }
    drop_into_inbox(inbox.path(), "junk.env", b"not an envelope");

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
    // The junk file is set aside once it has not changed for INBOX_SETTLE.
    let deadline = tokio::time::Instant::now() + INBOX_SETTLE + Duration::from_secs(5);
    while !inbox.path().join("junk.bad").exists() {
        assert!(tokio::time::Instant::now() < deadline, "junk not set aside");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

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

/// A relay chain A → R → bridge B whose server acknowledges what it decides: the
/// acknowledgements travel back to R and A, which stop carrying the copies.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_servers_acknowledgements_travel_back_to_the_relays() {
    let inbox = tempfile::tempdir().unwrap();
    let mut listeners = Vec::new();
    for _ in 0..3 {
        listeners.push(TcpListener::bind("127.0.0.1:0").await.unwrap());
    }
    let addr: Vec<_> = listeners.iter().map(|l| l.local_addr().unwrap()).collect();
    let (stop_tx, stop_rx) = watch::channel(false);
    let uploader = FakeUploader {
        acks: true,
        ..FakeUploader::default()
    };
    let dials = [vec![addr[1]], vec![addr[2]], vec![]];
    let mut handles = Vec::new();
    for (i, listener) in listeners.into_iter().enumerate() {
        let bridge = i == 2;
        let node = NodeConfig {
            ack_issuer: Some(test_postage_issuer().public()),
            ..node_cfg(i as u64 + 1, bridge)
        };
        handles.push(spawn_node(
            listener,
            node,
            dials[i].clone(),
            (i == 0).then(|| inbox.path().to_path_buf()),
            bridge.then(|| uploader.clone()),
            stop_rx.clone(),
        ));
    }
    let expires = SystemClock.now().plus_secs(3600);
    for n in 0..3 {
        let env = seal_numbered(&test_issuer_key(), 77, n, 165, expires, 8);
        drop_into_inbox(inbox.path(), &format!("p{n}.env"), &env.to_bytes());
    }
    // Give the chain time to deliver and the acknowledgements time to come back.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while uploader.seen.lock().unwrap().len() < 3 {
        assert!(tokio::time::Instant::now() < deadline, "not delivered");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    stop_tx.send(true).unwrap();
    let mut sums = Vec::new();
    for h in handles {
        sums.push(h.await.unwrap().unwrap());
    }
    // The bridge took the server's three; R and A took them from their peers.
    assert_eq!(
        sums.iter().map(|s| s.acks_taken).collect::<Vec<_>>(),
        vec![3, 3, 3],
        "{sums:?}"
    );
    let seen = uploader.seen.lock().unwrap();
    assert!(
        seen.values().all(|n| *n == 1),
        "uploaded once each: {seen:?}"
    );
}

/// A payment copied into the inbox in two writes (as `cp` may do) is taken once complete, not
/// set aside as junk after the first poll that sees half of it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_still_being_copied_into_the_inbox_is_taken_once_complete() {
    use std::io::Write;
    let inbox = tempfile::tempdir().unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let (stop_tx, stop_rx) = watch::channel(false);
    let handle = spawn_node(
        listener,
        node_cfg(1, false),
        vec![],
        Some(inbox.path().to_path_buf()),
        None,
        stop_rx,
    );
    let env = seal_numbered(
        &test_issuer_key(),
        55,
        0,
        165,
        SystemClock.now().plus_secs(3600),
        8,
    );
    let bytes = env.to_bytes();
    let path = inbox.path().join("copied.env");
    let mut file = std::fs::File::create(&path).unwrap();
    file.write_all(&bytes[..bytes.len() / 2]).unwrap();
    file.flush().unwrap();
    // Several polls (every 50 ms) see half an envelope.
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert!(path.exists(), "half a file is neither taken nor set aside");
    assert!(!inbox.path().join("copied.bad").exists());
    file.write_all(&bytes[bytes.len() / 2..]).unwrap();
    drop(file);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while path.exists() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "complete file not taken"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    stop_tx.send(true).unwrap();
    let summary = handle.await.unwrap().unwrap();
    assert_eq!(summary.injected, 1);
    assert!(!inbox.path().join("copied.bad").exists());
}
