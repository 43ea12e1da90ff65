//! The mesh as real processes: a `ferry serve`, five `ferry mesh node` processes on loopback
//! (three relays in a line, two bridges at its end), and `ferry wallet` commands. Payers send
//! remote payments (`ferry wallet send`) into the first relay's inbox and, by the relay
//! protocol, to the second relay; the nodes meet, the bridges upload, and every payment
//! settles exactly once — the payees' balances are exact, both sides see `settled` at their
//! next sync, the same envelopes injected again into a third bridge — and a payment sealed
//! again by its payer (`ferry wallet send --resend`) — come back `duplicate` and move nothing,
//! and `ferry audit` is clean.
//!
//! Every child is owned by a guard that kills it on drop.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use ferry_testkit::process::{self, ServerProcess, admin_token};
use ferry_testkit::{brl, new_agent, postgres};
use serde_json::Value;

const FERRY: &str = env!("CARGO_BIN_EXE_ferry");

/// Runs `ferry ARGS…`, asserts success, returns stdout.
fn ferry(args: &[&str]) -> String {
    let out = Command::new(FERRY)
        .args(args)
        .env("RUST_LOG", "warn")
        .output()
        .expect("run ferry");
    assert!(
        out.status.success(),
        "ferry {args:?}: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8")
}

/// A `ferry mesh node` child; SIGKILLed on drop unless stopped.
struct NodeProcess {
    child: Child,
    addr: String,
    lines: mpsc::Receiver<String>,
    log: PathBuf,
}

impl NodeProcess {
    fn start(args: &[&str], log: PathBuf) -> NodeProcess {
        let mut child = Command::new(FERRY)
            .args(["mesh", "node", "--listen", "127.0.0.1:0"])
            .args(["--dial-interval", "0.3", "--poll-interval", "0.2"])
            .args(["--stamp-bits", "8"])
            .args(args)
            .env("RUST_LOG", "info,ferry_mesh=debug")
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log).expect("log"))
            .spawn()
            .expect("spawn ferry mesh node");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                let _ = tx.send(line);
            }
        });
        let first = lines
            .recv_timeout(Duration::from_secs(60))
            .unwrap_or_else(|e| {
                panic!(
                    "ferry mesh node said nothing ({e}): {}",
                    std::fs::read_to_string(&log).unwrap_or_default()
                )
            });
        let addr = first.rsplit(' ').next().expect("address").trim().to_owned();
        NodeProcess {
            child,
            addr,
            lines,
            log,
        }
    }

    /// SIGTERM; waits for the exit and returns the JSON summary it printed.
    fn stop(mut self) -> Value {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill");
        assert!(status.success());
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(s) = self.child.try_wait().expect("try_wait") {
                assert!(s.success(), "node exited with {s}: {}", self.log_text());
                break;
            }
            assert!(
                Instant::now() < deadline,
                "node did not stop: {}",
                self.log_text()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        let line = self
            .lines
            .recv_timeout(Duration::from_secs(5))
            .expect("summary line");
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("{line}: {e}"))
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for NodeProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn wallet(dir: &Path, args: &[&str]) -> String {
    let mut all = vec!["wallet", "--wallet", dir.to_str().expect("utf-8 path")];
    all.extend_from_slice(args);
    ferry(&all)
}

/// Creates and registers a wallet; returns its account id.
fn new_wallet(dir: &Path, server: &str, name: &str) -> String {
    wallet(dir, &["new", "--server", server, "--name", name]);
    let out = wallet(dir, &["register"]);
    out.lines()
        .find_map(|l| l.strip_prefix("account "))
        .expect("account line")
        .trim()
        .to_owned()
}

/// The wallet's payments from `history --json`: (direction, amount_minor, status).
fn payments(dir: &Path) -> Vec<(String, i64, String)> {
    let v: Value = serde_json::from_str(&wallet(dir, &["history", "--json"])).expect("json");
    v.as_array()
        .expect("array")
        .iter()
        .filter(|i| i["kind"] == "payment")
        .map(|i| {
            (
                i["direction"].as_str().unwrap_or_default().to_owned(),
                i["amount_minor"].as_i64().unwrap_or_default(),
                i["status"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

fn settled_received(dir: &Path) -> i64 {
    payments(dir)
        .iter()
        .filter(|(d, _, s)| d == "received" && s == "settled")
        .map(|(_, a, _)| a)
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn remote_payments_cross_a_mesh_of_node_processes_and_settle_once() {
    mesh_scenario(None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn remote_payments_cross_a_mesh_of_node_processes_on_postgres() {
    if let Some(url) = postgres::fresh_schema().await {
        mesh_scenario(Some(url)).await;
    }
}

async fn mesh_scenario(database_url: Option<String>) {
    let tmp = tempfile::tempdir().expect("tmp");
    let data = tmp.path().join("data");
    let server = ServerProcess::start(
        FERRY,
        &data,
        database_url.as_deref(),
        &[],
        tmp.path().join("serve.log"),
    )
    .await;
    let url = server.base_url.clone();
    let client = server.client();
    let admin = admin_token(&data);
    let agent = new_agent(&client, &admin, 1_000_00).await;

    let (ana, caio, bia, dan) = (
        tmp.path().join("ana"),
        tmp.path().join("caio"),
        tmp.path().join("bia"),
        tmp.path().join("dan"),
    );
    let ana_id = new_wallet(&ana, &url, "Ana");
    let caio_id = new_wallet(&caio, &url, "Caio");
    let bia_id = new_wallet(&bia, &url, "Bia");
    let dan_id = new_wallet(&dan, &url, "Dan");
    for (dir, id) in [(&ana, &ana_id), (&caio, &caio_id)] {
        let account = id.parse().expect("account id");
        let cashed = client
            .cash_in(&agent.token, account, brl(100_00), &format!("cash-{id}"))
            .await
            .expect("cash in");
        assert_eq!(cashed, ferry_api::Outcome::Settled);
        wallet(dir, &["deposit", "100.00"]);
    }

    // The mesh: bridges X and Y; relays C (dials both bridges), B (dials C), A (dials B; has
    // the inbox; knows the issuer from Ana's wallet). Payments start at A or B and must cross relays to reach a bridge.
    let log = |n: &str| tmp.path().join(format!("node-{n}.log"));
    let x = NodeProcess::start(&["--bridge", &url, "--log-json"], log("x"));
    let y = NodeProcess::start(&["--bridge", &url], log("y"));
    let c = NodeProcess::start(
        &["--server", &url, "--peer", &x.addr, "--peer", &y.addr],
        log("c"),
    );
    let b = NodeProcess::start(&["--server", &url, "--peer", &c.addr], log("b"));
    // A is Ana's phone's node, which relays offline: it takes the issuer's keys from her
    // wallet's last sync (--wallet) instead of a server, and checks seals and postage all
    // the same.
    let inbox_a = tmp.path().join("inbox-a");
    let a = NodeProcess::start(
        &[
            "--wallet",
            ana.to_str().expect("utf-8"),
            "--peer",
            &b.addr,
            "--inbox",
            inbox_a.to_str().expect("utf-8"),
        ],
        log("a"),
    );

    // Remote payments: three into A's inbox, one handed to B over the relay protocol.
    let envelopes = tmp.path().join("envelopes");
    std::fs::create_dir_all(&envelopes).expect("dir");
    let inbox = inbox_a.to_str().expect("utf-8").to_owned();
    let mut sends = vec![
        (&ana, bia_id.as_str(), "30.00", inbox.clone()),
        (&ana, dan_id.as_str(), "5.25", inbox.clone()),
        (&caio, bia_id.as_str(), "12.50", inbox.clone()),
    ];
    sends.push((&caio, dan_id.as_str(), "7.00", b.addr.clone()));
    let mut payment_ids = Vec::new();
    for (k, (dir, to, amount, via)) in sends.iter().enumerate() {
        let env_out = envelopes.join(format!("{k}.bytes"));
        let out = wallet(
            dir,
            &[
                "send",
                "--to",
                to,
                "--amount",
                amount,
                "--via",
                via,
                "--stamp-bits",
                "8",
                "--envelope-out",
                env_out.to_str().expect("utf-8"),
                "--json",
            ],
        );
        let v: Value = serde_json::from_str(out.trim()).expect("send json");
        assert!(v["envelope_bytes"].as_u64().expect("bytes") <= 256, "{v}");
        // The wallet fetched today's postage (it had not synced since registering): the
        // relays and bridges that know the issuer carry only posted envelopes.
        assert_eq!(v["postage"], true, "{v}");
        payment_ids.push(v["payment"].as_str().expect("payment id").to_owned());
    }
    assert!(
        wallet(&ana, &["balance"]).contains("offline: 64.75 BRL"),
        "{}",
        wallet(&ana, &["balance"])
    );

    // Wait for the nodes to carry everything to a bridge: the payees see it at their syncs.
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        wallet(&bia, &["sync"]);
        wallet(&dan, &["sync"]);
        let (got_bia, got_dan) = (settled_received(&bia), settled_received(&dan));
        if (got_bia, got_dan) == (42_50, 12_25) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "not delivered: bia {got_bia}, dan {got_dan}\nA: {}\nB: {}\nC: {}\nX: {}\nY: {}",
            a.log_text(),
            b.log_text(),
            c.log_text(),
            x.log_text(),
            y.log_text()
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    // The payees' online balances are exactly what was sent: nothing settled twice.
    let synced = wallet(&bia, &["sync"]);
    assert!(synced.contains("online balance 42.50 BRL"), "{synced}");
    assert!(
        synced.contains("mesh postage valid until ") && synced.contains(" 00:00 UTC"),
        "{synced}"
    );
    assert!(wallet(&dan, &["sync"]).contains("online balance 12.25 BRL"));

    // The same envelopes again, dropped into the inbox of a third bridge Z: the server
    // answers `duplicate` for each, and nothing moves. The saved envelopes are bare (no
    // postage), so Z is an operator's bridge that carries envelopes without postage.
    let inbox_c2 = tmp.path().join("inbox-z");
    let z = NodeProcess::start(
        &[
            "--bridge",
            &url,
            "--no-postage",
            "--inbox",
            inbox_c2.to_str().expect("utf-8"),
        ],
        log("z"),
    );
    std::fs::create_dir_all(&inbox_c2).expect("dir");
    for k in 0..sends.len() {
        let bytes = std::fs::read(envelopes.join(format!("{k}.bytes"))).expect("envelope");
        // Written under a name the node ignores, then renamed: a poll never reads half a file.
        let partial = inbox_c2.join(format!("again-{k}.partial"));
        std::fs::write(&partial, bytes).expect("write");
        std::fs::rename(&partial, inbox_c2.join(format!("again-{k}.env"))).expect("rename");
    }
    // And the first payment sealed again by its payer (a new envelope, the same payment).
    let resent = wallet(
        &ana,
        &[
            "send",
            "--resend",
            &payment_ids[0],
            "--via",
            inbox_c2.to_str().expect("utf-8"),
            "--json",
        ],
    );
    let v: Value = serde_json::from_str(resent.trim()).expect("resend json");
    assert_eq!(v["payment"], payment_ids[0].as_str());
    // And Ana's unacknowledged journal, sealed as a segment: its payments are duplicates now.
    let journal = wallet(
        &ana,
        &[
            "send",
            "--journal",
            "--via",
            inbox_c2.to_str().expect("utf-8"),
            "--json",
        ],
    );
    let v: Value = serde_json::from_str(journal.trim()).expect("journal json");
    assert_eq!(
        v["journal_envelopes"].as_array().map(Vec::len),
        Some(1),
        "{v}"
    );
    let deadline = Instant::now() + Duration::from_secs(60);
    while std::fs::read_dir(&inbox_c2).expect("dir").count() > 0 {
        assert!(Instant::now() < deadline, "inbox not taken");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    tokio::time::sleep(Duration::from_secs(3)).await;

    // Payers see their payments settled at their next sync; balances unchanged.
    for dir in [&ana, &caio] {
        wallet(dir, &["sync"]);
        let sent: Vec<_> = payments(dir)
            .into_iter()
            .filter(|(d, _, _)| d == "sent")
            .collect();
        assert_eq!(sent.len(), 2, "{sent:?}");
        assert!(sent.iter().all(|(_, _, s)| s == "settled"), "{sent:?}");
    }
    assert!(wallet(&bia, &["sync"]).contains("online balance 42.50 BRL"));
    assert!(wallet(&dan, &["sync"]).contains("online balance 12.25 BRL"));

    // Every node that knows the issuer required postage, A from the wallet alone.
    for (name, node) in [("A", &a), ("B", &b), ("C", &c)] {
        let log = node.log_text();
        assert!(
            log.contains("issuer_known=true postage_required=true"),
            "{name}: {log}"
        );
    }
    for node in [a, b, c] {
        node.stop();
    }
    // X logs JSON lines: each parses, and its uploads are there with their outcomes.
    let x_log = x.log_text();
    let x_lines: Vec<Value> = x_log
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l}: {e}")))
        .collect();
    assert!(x_lines.iter().any(|l| l["message"] == "mesh node up"));
    for l in x_lines.iter().filter(|l| l["message"] == "uploaded") {
        assert!(l["envelope"].is_string() && l["outcome"].is_string(), "{l}");
    }
    let mut uploaded = 0;
    for bridge in [x, y] {
        let summary = bridge.stop();
        uploaded += summary["uploaded"].as_u64().expect("uploaded");
        // The server acknowledged every envelope it decided, and the acknowledgements verify
        // with the issuer key of the network parameters.
        assert_eq!(summary["acks_taken"], summary["uploaded"], "{summary}");
    }
    // Every envelope reached a bridge at least once (both bridges may have uploaded one).
    assert!(uploaded >= 4, "uploaded {uploaded}");
    let z_log = z.log_text();
    let z_summary = z.stop();
    assert_eq!(z_summary["injected"], 6, "{z_summary}: {z_log}");
    assert_eq!(z_summary["uploaded"], 6, "{z_summary}: {z_log}");
    assert_eq!(z_summary["acks_taken"], 6, "{z_summary}: {z_log}");
    let audit = ferry_testkit::assert_audit_clean(&client, &admin).await;
    drop(audit);
    drop(server);
    process::cli_audit(FERRY, &data, database_url.as_deref());
}

/// `ferry mesh simulate --server URL`: the simulated city's payments are real remote payments
/// to a running `ferry serve`; for each strategy, every payment a bridge delivered settles
/// exactly once and the audit stays clean (checked again by `ferry audit` from outside).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_simulated_city_delivers_real_payments_to_a_server() {
    let tmp = tempfile::tempdir().expect("tmp");
    let data = tmp.path().join("data");
    let server = ServerProcess::start(FERRY, &data, None, &[], tmp.path().join("serve.log")).await;
    let url = server.base_url.clone();
    let token_file = data.join("admin.token");
    let out = tokio::task::spawn_blocking(move || {
        ferry(&[
            "mesh",
            "simulate",
            "--devices",
            "200",
            "--hours",
            "2",
            "--movement",
            "rwp",
            "--bridges",
            "0.05",
            "--rate",
            "0.5",
            "--strategy",
            "spray,epidemic",
            "--server",
            &url,
            "--token-file",
            token_file.to_str().expect("utf-8 path"),
            "--json",
            "--quiet",
        ])
    })
    .await
    .expect("simulate");
    let mut runs = 0;
    for line in out.lines().filter(|l| l.starts_with('{')) {
        let v: Value = serde_json::from_str(line).expect("json line");
        let delivered = v["delivered"].as_u64().expect("delivered");
        let s = &v["server"];
        assert!(delivered > 0, "{v}");
        assert_eq!(s["delivered"].as_u64(), Some(delivered), "{v}");
        assert_eq!(s["settled"].as_u64(), Some(delivered), "{v}");
        assert_eq!(s["other"].as_u64(), Some(0), "{v}");
        assert_eq!(s["audit_clean"].as_bool(), Some(true), "{v}");
        runs += 1;
    }
    assert_eq!(runs, 2, "{out}");
    process::cli_audit(FERRY, &data, None);
}

/// Settings that would make a relay useless are refused before it starts, with the reason.
#[test]
fn a_node_that_could_carry_nothing_is_refused() {
    let out = Command::new(FERRY)
        .args([
            "mesh",
            "node",
            "--listen",
            "127.0.0.1:0",
            "--per-postage-key",
            "0",
        ])
        .env("RUST_LOG", "warn")
        .output()
        .expect("run ferry");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--per-postage-key: at least 1"), "{err}");
    assert!(
        out.stdout.is_empty(),
        "nothing started: {}",
        String::from_utf8_lossy(&out.stdout)
    );
}
