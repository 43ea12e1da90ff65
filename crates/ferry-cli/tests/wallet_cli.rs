//! The `ferry wallet`, `ferry admin` and `ferry agent` commands as real processes: a newcomer
//! gets online money through an agent, deposits it, pays face to face over TCP while the
//! server is down (request as a text file, then as a PNG image with a collect), pays a request
//! again (the payment already signed is delivered again, never a second one), syncs, and the
//! ledger audits clean. Bad input ends with one clear line and exit status 1, never a panic.
//!
//! Every child process is owned by a guard that kills it on drop, so a failing assertion
//! never leaves a process running.

use std::fs::File;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::Value;

const FERRY: &str = env!("CARGO_BIN_EXE_ferry");

/// A child process, killed (SIGKILL) and reaped on drop.
struct Guard(Child);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A `ferry serve` process on a free port.
struct Server {
    child: Guard,
    url: String,
    log: PathBuf,
}

impl Server {
    /// Starts `ferry serve` on `data`, waits until it says where it listens and answers
    /// `/healthz`. Its stderr goes to `log`.
    fn start(data: &Path, log: PathBuf) -> Server {
        Self::start_with(data, log, &[])
    }

    /// [`Server::start`] with more `ferry serve` arguments.
    fn start_with(data: &Path, log: PathBuf, extra: &[&str]) -> Server {
        let mut child = Command::new(FERRY)
            .arg("serve")
            .arg("--data-dir")
            .arg(data)
            .args(["--listen", "127.0.0.1:0"])
            .args(extra)
            .env_remove("FERRY_DATABASE_URL")
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(File::create(&log).expect("log file"))
            .spawn()
            .expect("spawn ferry serve");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut server = Server {
            child: Guard(child),
            url: String::new(),
            log,
        };
        let line = rx
            .recv_timeout(Duration::from_secs(60))
            .unwrap_or_else(|e| panic!("ferry serve said nothing ({e}): {}", server.log_text()));
        server.url = line
            .split_whitespace()
            .find(|w| w.starts_with("http://"))
            .unwrap_or_else(|| panic!("no address in {line:?}"))
            .to_owned();
        let deadline = Instant::now() + Duration::from_secs(60);
        while !server.healthy() {
            if let Some(status) = server.child.0.try_wait().expect("try_wait") {
                panic!("ferry serve exited with {status}: {}", server.log_text());
            }
            assert!(
                Instant::now() < deadline,
                "not healthy: {}",
                server.log_text()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        server
    }

    fn healthy(&self) -> bool {
        let Some(addr) = self
            .url
            .strip_prefix("http://")
            .and_then(|a| a.parse::<SocketAddr>().ok())
        else {
            return false;
        };
        let Ok(mut s) = TcpStream::connect_timeout(&addr, Duration::from_secs(2)) else {
            return false;
        };
        let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
        if s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .is_err()
        {
            return false;
        }
        let mut answer = String::new();
        let _ = s.read_to_string(&mut answer);
        answer.starts_with("HTTP/1.1 200")
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

/// Runs `ferry ARGS` to the end.
fn ferry(args: &[&str]) -> Output {
    Command::new(FERRY)
        .args(args)
        .env("RUST_LOG", "warn")
        .env_remove("FERRY_AGENT_TOKEN")
        .env_remove("FERRY_PKCS11_PIN")
        .env_remove("RUST_BACKTRACE")
        .stdin(Stdio::null())
        .output()
        .expect("run ferry")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Asserts a run succeeded; returns its stdout.
fn succeeded(what: &str, out: Output) -> String {
    assert!(
        out.status.success(),
        "{what}: exit {}\nstdout: {}\nstderr: {}",
        out.status,
        text(&out.stdout),
        text(&out.stderr)
    );
    text(&out.stdout)
}

/// `ferry ARGS`, which must succeed; its stdout.
fn ok(args: &[&str]) -> String {
    succeeded(&args.join(" "), ferry(args))
}

/// Asserts a run failed the way a user error should: exit status 1, one line on stderr
/// starting `error: `, no panic and no backtrace. Returns that line.
fn user_error(what: &str, out: Output) -> String {
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{what}: {stderr}");
    assert!(!stderr.contains("panicked"), "{what}: {stderr}");
    assert!(
        !stderr.to_lowercase().contains("backtrace"),
        "{what}: {stderr}"
    );
    let line = stderr.trim_end();
    assert!(!line.contains('\n'), "{what}: more than one line: {stderr}");
    assert!(line.starts_with("error: "), "{what}: {stderr}");
    line.to_owned()
}

/// `ferry wallet --wallet DIR ARGS`.
fn wallet(dir: &Path, args: &[&str]) -> Output {
    let mut all = vec!["wallet", "--wallet", path(dir)];
    all.extend_from_slice(args);
    ferry(&all)
}

fn wallet_ok(dir: &Path, args: &[&str]) -> String {
    succeeded(&format!("wallet {}", args.join(" ")), wallet(dir, args))
}

fn path(p: &Path) -> &str {
    p.to_str().expect("UTF-8 temporary path")
}

/// The account id `ferry wallet register` prints.
fn register(dir: &Path) -> String {
    let out = wallet_ok(dir, &["register"]);
    out.lines()
        .find_map(|l| l.strip_prefix("account "))
        .unwrap_or_else(|| panic!("no account in {out}"))
        .trim()
        .to_owned()
}

/// A port nobody listens on right now.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port()
}

/// `balance`'s line starting with `label`, without the label.
fn balance_line(dir: &Path, label: &str) -> String {
    let out = wallet_ok(dir, &["balance"]);
    out.lines()
        .find_map(|l| l.strip_prefix(label))
        .unwrap_or_else(|| panic!("no {label} in {out}"))
        .trim()
        .to_owned()
}

/// The payee side in the background (`receive --request-out F ...`) and the payer side
/// (`pay ...`, given the request file) in the foreground. Returns both stdouts.
fn pay_face_to_face(
    payee: &Path,
    payer: &Path,
    receive_args: &[&str],
    pay_args: impl FnOnce(&Path) -> Vec<String>,
    scratch: &Path,
) -> (String, String) {
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let request_file = scratch.join(format!("request-{port}.txt"));
    let receive_out = scratch.join(format!("receive-{port}.out"));
    let receive_err = scratch.join(format!("receive-{port}.err"));
    let mut args = vec![
        "wallet",
        "--wallet",
        path(payee),
        "receive",
        "--listen",
        &listen,
        "--request-out",
        path(&request_file),
    ];
    args.extend_from_slice(receive_args);
    let mut receiver = Guard(
        Command::new(FERRY)
            .args(&args)
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(File::create(&receive_out).expect("file"))
            .stderr(File::create(&receive_err).expect("file"))
            .spawn()
            .expect("spawn receive"),
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    while !request_file.exists() {
        if let Some(status) = receiver.0.try_wait().expect("try_wait") {
            panic!(
                "receive exited early with {status}: {}{}",
                std::fs::read_to_string(&receive_out).unwrap_or_default(),
                std::fs::read_to_string(&receive_err).unwrap_or_default()
            );
        }
        assert!(Instant::now() < deadline, "no request file");
        std::thread::sleep(Duration::from_millis(20));
    }
    let mut pay = vec![
        "wallet".to_owned(),
        "--wallet".to_owned(),
        path(payer).to_owned(),
        "pay".to_owned(),
        "--connect".to_owned(),
        listen.clone(),
    ];
    pay.extend(pay_args(&request_file));
    let pay: Vec<&str> = pay.iter().map(String::as_str).collect();
    let paid = ok(&pay);
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = receiver.0.try_wait().expect("try_wait") {
            break status;
        }
        assert!(Instant::now() < deadline, "receive did not finish");
        std::thread::sleep(Duration::from_millis(20));
    };
    let received = std::fs::read_to_string(&receive_out).unwrap_or_default();
    assert!(
        status.success(),
        "receive: {status}: {received}{}",
        std::fs::read_to_string(&receive_err).unwrap_or_default()
    );
    (received, paid)
}

/// The payments in `history --json`.
fn payments(dir: &Path) -> Vec<Value> {
    let out = wallet_ok(dir, &["history", "--json"]);
    let rows: Value = serde_json::from_str(&out).expect("history JSON");
    rows.as_array()
        .expect("array")
        .iter()
        .filter(|r| r["kind"] == "payment")
        .cloned()
        .collect()
}

#[test]
fn a_newcomer_pays_offline_and_everything_settles() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let data = tmp.path().join("ferry-data");
    let token_file = data.join("admin.token");
    let (ana, bia) = (tmp.path().join("ana"), tmp.path().join("bia"));
    let server = Server::start(&data, tmp.path().join("serve-1.log"));
    let url = server.url.clone();

    // The operator makes an agent and funds its float; the agent cashes Ana in.
    let agent_token = ok(&[
        "admin",
        "create-agent",
        "kiosk-1",
        "--server",
        &url,
        "--token-file",
        path(&token_file),
    ]);
    let agent_token = agent_token.trim();
    assert!(!agent_token.is_empty());
    let funded = ok(&[
        "admin",
        "fund",
        "agent:kiosk-1",
        "1000.00",
        "--currency",
        "BRL",
        "--server",
        &url,
        "--token-file",
        path(&token_file),
    ]);
    assert!(funded.starts_with("settled: 1000.00 BRL"), "{funded}");

    wallet_ok(&ana, &["new", "--server", &url, "--name", "Ana"]);
    wallet_ok(
        &bia,
        &[
            "new",
            "--server",
            &url,
            "--name",
            "Bia Frutas",
            "--city",
            "Recife",
        ],
    );
    let ana_id = register(&ana);
    let bia_id = register(&bia);
    assert_ne!(ana_id, bia_id);
    let cashed = succeeded(
        "cash in",
        Command::new(FERRY)
            .args(["agent", "cash-in", &ana_id, "120.00", "--server", &url])
            .env("FERRY_AGENT_TOKEN", agent_token)
            .env("RUST_LOG", "warn")
            .output()
            .expect("run ferry"),
    );
    assert!(cashed.starts_with("settled: 120.00 BRL"), "{cashed}");
    // A bond of 20.00 of the 120.00 online, posted once however often it is sent; then
    // deposit what is left.
    let bonded = wallet_ok(&ana, &["bond", "20.00", "--reference", "b-1"]);
    assert!(bonded.starts_with("bonded 20.00 BRL"), "{bonded}");
    let again = wallet_ok(&ana, &["bond", "20.00", "--reference", "b-1"]);
    assert!(again.contains("already posted"), "{again}");
    let e = user_error("bond over balance", wallet(&ana, &["bond", "190.00"]));
    assert!(e.contains("insufficient_funds"), "{e}");
    let deposited = wallet_ok(&ana, &["deposit", "100.00"]);
    assert!(
        deposited.contains("offline balance 100.00 BRL"),
        "{deposited}"
    );

    // Offline from here on.
    drop(server);
    let (received, paid) = pay_face_to_face(
        &bia,
        &ana,
        &["--amount", "30.00", "--reference", "INV-1"],
        |f| vec!["--request-file".into(), path(f).to_owned()],
        tmp.path(),
    );
    assert!(
        received.contains("FERRY") || received.contains("000201"),
        "{received}"
    );
    assert!(
        received.contains(&format!("received 30.00 BRL from {ana_id}")),
        "{received}"
    );
    assert!(paid.contains("paid 30.00 BRL"), "{paid}");
    let payment_id = paid
        .lines()
        .find_map(|l| l.strip_prefix("payment "))
        .expect("payment id")
        .to_owned();
    assert!(received.contains(&payment_id), "{received} / {payment_id}");
    assert_eq!(balance_line(&ana, "offline:"), "70.00 BRL");
    // Nothing is signed for a request paid already or for another amount. Paying it again is
    // the payment already made: its receipt is held, so nothing is sent (nobody listens at
    // port 9) and the payee still holds exactly one payment.
    let request_file = std::fs::read_dir(tmp.path())
        .expect("dir")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .find(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("request-"))
        })
        .expect("the request file");
    let pay_again = |extra: Option<&str>| {
        let mut args = vec![
            "pay",
            "--request-file",
            path(&request_file),
            "--connect",
            "127.0.0.1:9",
        ];
        args.extend(extra.iter().flat_map(|a| ["--amount", *a]));
        wallet(&ana, &args)
    };
    for extra in [None, Some("30.00")] {
        let again = succeeded("pay the same request again", pay_again(extra));
        assert!(
            again.contains(&format!(
                "this request was already paid by payment {payment_id} (30.00 BRL)"
            )),
            "{again}"
        );
        assert!(again.contains("nothing is sent again"), "{again}");
        assert!(again.contains("offline balance 70.00 BRL"), "{again}");
    }
    let e = user_error("another amount", pay_again(Some("31.00")));
    assert!(e.contains("asks for 30.00 BRL"), "{e}");
    assert_eq!(balance_line(&ana, "offline:"), "70.00 BRL");
    assert!(balance_line(&bia, "held:").starts_with("30.00 BRL"));
    assert_eq!(payments(&ana).len(), 1);
    assert_eq!(payments(&bia).len(), 1);

    // Back online on another port; each wallet is told the new address once.
    let server = Server::start(&data, tmp.path().join("serve-2.log"));
    let url = server.url.clone();
    let synced = wallet_ok(&bia, &["sync", "--server", &url]);
    assert!(synced.contains("claims 1/1"), "{synced}");
    assert!(synced.contains("settled 1"), "{synced}");
    assert!(synced.contains("online balance 30.00 BRL"), "{synced}");
    let synced = wallet_ok(&ana, &["sync", "--server", &url]);
    assert!(synced.contains("journal 2/2"), "{synced}");
    assert!(synced.contains("rejected 0"), "{synced}");
    assert!(synced.contains("online balance 0.00 BRL"), "{synced}");

    for (dir, direction, other) in [(&ana, "sent", &bia_id), (&bia, "received", &ana_id)] {
        let ps = payments(dir);
        assert_eq!(ps.len(), 1, "{ps:?}");
        assert_eq!(ps[0]["id"], payment_id.as_str());
        assert_eq!(ps[0]["direction"], direction);
        assert_eq!(ps[0]["amount"], "30.00");
        assert_eq!(ps[0]["counterparty"], other.as_str());
        assert_eq!(ps[0]["status"], "settled", "{ps:?}");
    }
    assert_eq!(
        balance_line(&bia, "online:"),
        "30.00 BRL (at the last sync)"
    );
    assert!(balance_line(&bia, "held:").starts_with("0.00 BRL"));
    let history = wallet_ok(&ana, &["history"]);
    assert!(history.contains("deposit"), "{history}");

    // A second payment from a QR image, into the payee's secure wallet (collect).
    let png = tmp.path().join("request.png");
    let shown = wallet_ok(&bia, &["request", "--amount", "5.00", "--png", path(&png)]);
    assert!(
        shown.contains("request for 5.00 BRL to Bia Frutas"),
        "{shown}"
    );
    // The first attempt reaches a device that hangs up: the payment is signed, not confirmed.
    let hang_up = TcpListener::bind("127.0.0.1:0").expect("listener");
    let hang_up_at = hang_up.local_addr().expect("address").to_string();
    std::thread::spawn(move || {
        if let Ok((stream, _)) = hang_up.accept() {
            drop(stream);
        }
    });
    let e = user_error(
        "interrupted",
        wallet(
            &ana,
            &["pay", "--request-png", path(&png), "--connect", &hang_up_at],
        ),
    );
    assert!(e.contains("was signed but not confirmed"), "{e}");
    let cut = e
        .strip_prefix("error: payment ")
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("no payment id in {e}"))
        .to_owned();
    assert_eq!(balance_line(&ana, "offline:"), "65.00 BRL");
    // Paying again delivers that same payment to the payee, listening now.
    let png_for_pay = png.clone();
    let (received, paid) = pay_face_to_face(
        &bia,
        &ana,
        &["--use-open"],
        move |_| vec!["--request-png".into(), path(&png_for_pay).to_owned()],
        tmp.path(),
    );
    assert!(received.contains("received 5.00 BRL"), "{received}");
    assert!(received.contains(&cut), "{received} / {cut}");
    assert!(
        paid.contains(&format!(
            "this request was already paid by payment {cut}; delivering it again"
        )),
        "{paid}"
    );
    assert!(paid.contains("paid 5.00 BRL"), "{paid}");
    assert!(paid.contains(&format!("payment {cut}")), "{paid}");
    assert_eq!(balance_line(&ana, "offline:"), "65.00 BRL");
    let collected = wallet_ok(&bia, &["collect"]);
    assert!(
        collected.contains("collected 1 payment(s), refused 0"),
        "{collected}"
    );
    assert_eq!(balance_line(&bia, "offline:"), "5.00 BRL");
    wallet_ok(&bia, &["sync"]);
    wallet_ok(&ana, &["sync"]);
    wallet_ok(&bia, &["sync"]);
    assert_eq!(balance_line(&ana, "offline:"), "65.00 BRL");
    assert_eq!(
        balance_line(&bia, "online:"),
        "30.00 BRL (at the last sync)"
    );
    for dir in [&ana, &bia] {
        let ps = payments(dir);
        assert_eq!(ps.len(), 2, "{ps:?}");
        assert!(ps.iter().all(|p| p["status"] == "settled"), "{ps:?}");
    }

    drop(server);
    let audit = ok(&["audit", "--data-dir", path(&data)]);
    let audit: Value = serde_json::from_str(&audit).expect("audit JSON");
    assert_eq!(audit["clean"], true, "{audit}");
}

#[test]
fn bad_input_ends_with_one_clear_line_and_status_1() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let data = tmp.path().join("ferry-data");
    let server = Server::start(&data, tmp.path().join("serve.log"));
    let w = tmp.path().join("w");
    let fresh = tmp.path().join("fresh");

    let e = user_error(
        "no wallet",
        wallet(&tmp.path().join("nothing"), &["balance"]),
    );
    assert!(e.contains("holds no wallet"), "{e}");
    assert!(e.contains("ferry wallet new"), "{e}");

    let e = user_error(
        "bad server URL",
        wallet(&fresh, &["new", "--server", "127.0.0.1:8080"]),
    );
    assert!(e.contains("--server"), "{e}");
    assert!(!fresh.exists(), "nothing left behind");

    wallet_ok(&w, &["new", "--server", &server.url]);
    let e = user_error("unregistered", wallet(&w, &["deposit", "1.00"]));
    assert!(e.contains("ferry wallet register"), "{e}");
    register(&w);

    let e = user_error("twice", wallet(&w, &["new", "--server", &server.url]));
    assert!(e.contains("already holds a wallet"), "{e}");
    let e = user_error("3 decimals", wallet(&w, &["deposit", "12.345"]));
    assert!(e.contains("too many decimal places"), "{e}");
    let e = user_error("not a number", wallet(&w, &["withdraw", "1,00"]));
    assert!(e.contains("malformed amount"), "{e}");
    let e = user_error("zero", wallet(&w, &["request", "--amount", "0"]));
    assert!(e.contains("positive"), "{e}");
    let e = user_error("no online money", wallet(&w, &["deposit", "10.00"]));
    assert!(e.contains("server"), "{e}");
    let e = user_error(
        "garbage request",
        wallet(
            &w,
            &[
                "pay",
                "--request",
                "hello there",
                "--connect",
                "127.0.0.1:9",
            ],
        ),
    );
    assert!(e.contains("not a payment request"), "{e}");
    let e = user_error(
        "missing request file",
        wallet(
            &w,
            &[
                "pay",
                "--request-file",
                path(&tmp.path().join("absent.txt")),
                "--connect",
                "127.0.0.1:9",
            ],
        ),
    );
    assert!(e.contains("absent.txt"), "{e}");
    let e = user_error(
        "not a PNG",
        wallet(
            &w,
            &[
                "pay",
                "--request-png",
                path(&data.join("admin.token")),
                "--connect",
                "127.0.0.1:9",
            ],
        ),
    );
    assert!(e.contains("not a PNG"), "{e}");

    let e = user_error(
        "bad account id",
        ferry(&[
            "agent",
            "cash-in",
            "zz",
            "1.00",
            "--server",
            &server.url,
            "--token",
            "t",
        ]),
    );
    assert!(e.contains("not an account id"), "{e}");
    let e = user_error(
        "wrong agent token",
        ferry(&[
            "agent",
            "cash-in",
            &"ab".repeat(16),
            "1.00",
            "--server",
            &server.url,
            "--token",
            "not-a-token",
        ]),
    );
    assert!(e.contains("401"), "{e}");
    let e = user_error(
        "no admin token",
        ferry(&[
            "admin",
            "create-agent",
            "x",
            "--server",
            &server.url,
            "--token-file",
            path(&tmp.path().join("none.token")),
        ]),
    );
    assert!(e.contains("admin token"), "{e}");
    let e = user_error(
        "unknown currency",
        ferry(&[
            "admin",
            "fund",
            "insurance",
            "1.00",
            "--currency",
            "XYZ",
            "--server",
            &server.url,
            "--token-file",
            path(&data.join("admin.token")),
        ]),
    );
    assert!(e.contains("ISO 4217"), "{e}");
}

/// `ferry wallet link-phone`: the server texts a code to the number; with it, the number pays
/// the wallet's account, and a feature phone (`ferry ussd`) sends money to it by number. A
/// wrong code is one clear line.
#[test]
fn a_wallet_links_a_phone_number_and_a_feature_phone_pays_it() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let data = tmp.path().join("ferry-data");
    let token_file = data.join("admin.token");
    let ana = tmp.path().join("ana");
    let server = Server::start(&data, tmp.path().join("serve.log"));
    let url = server.url.clone();
    wallet_ok(&ana, &["new", "--server", &url, "--name", "Ana"]);
    let account = register(&ana);
    let phone = "+5581999990007";
    let sent = wallet_ok(&ana, &["link-phone", phone]);
    assert!(sent.contains("a code was sent by SMS"), "{sent}");
    let outbox = ok(&[
        "sms",
        "outbox",
        "--phone",
        phone,
        "--json",
        "--server",
        &url,
        "--token-file",
        path(&token_file),
    ]);
    let outbox: Value = serde_json::from_str(&outbox).expect("outbox JSON");
    let sms = outbox["messages"][0]["text"]
        .as_str()
        .expect("the code SMS");
    let code = sms.split_whitespace().nth(2).expect("code").to_owned();
    let wrong = if code == "000000" { "000001" } else { "000000" };
    let line = user_error(
        "a wrong code",
        wallet(&ana, &["link-phone", phone, "--code", wrong]),
    );
    assert!(line.contains("wrong_code"), "{line}");
    let linked = wallet_ok(&ana, &["link-phone", phone, "--code", &code]);
    assert!(linked.contains("now pays this account"), "{linked}");

    // A feature phone pays the number: the wallet's online balance gets it.
    let caio = "+5581999990008";
    let dial = |phone: &str, script: &str| {
        ok(&[
            "ussd", "--phone", phone, "--server", &url, "--script", script,
        ])
    };
    assert!(dial(caio, "1*4826*4826").contains("Account created."));
    let agent_token = ok(&[
        "admin",
        "create-agent",
        "kiosk-7",
        "--server",
        &url,
        "--token-file",
        path(&token_file),
    ]);
    ok(&[
        "admin",
        "fund",
        "agent:kiosk-7",
        "100.00",
        "--server",
        &url,
        "--token-file",
        path(&token_file),
    ]);
    ok(&[
        "agent",
        "cash-in",
        caio,
        "40.00",
        "--server",
        &url,
        // `--token=…`: a token may start with `-`, which clap would take for a flag.
        &format!("--token={}", agent_token.trim()),
    ]);
    let out = dial(caio, &format!("1*{phone}*25*4826*1"));
    // The screen wraps at the phone's width.
    assert!(
        out.contains("| Sent 25.00 BRL to") && out.contains(&format!("| {phone}. Fee")),
        "{out}"
    );
    wallet_ok(&ana, &["sync"]);
    let balance = wallet_ok(&ana, &["balance"]);
    assert!(
        balance.contains("online:  25.00 BRL (at the last sync)"),
        "{account}: {balance}"
    );
}

/// `ferry wallet voucher …` with the password from `FERRY_VOUCHER_PASSWORD`.
fn voucher(dir: &Path, password: &str, args: &[&str]) -> Output {
    let mut all = vec!["wallet", "--wallet", path(dir), "voucher"];
    all.extend_from_slice(args);
    Command::new(FERRY)
        .args(&all)
        .env("RUST_LOG", "warn")
        .env("FERRY_VOUCHER_PASSWORD", password)
        .env_remove("RUST_BACKTRACE")
        .stdin(Stdio::null())
        .output()
        .expect("run ferry")
}

/// An emitter creates a voucher (QR in the terminal, text and PNG files), a receiver redeems
/// part of it from the PNG and the rest from the text; failures end with the RFC's outcome
/// names and status 1; the emitter lists, invalidates, blocks and unblocks.
#[test]
fn vouchers_from_the_command_line() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let data = tmp.path().join("ferry-data");
    let token_file = data.join("admin.token");
    let (ana, bia) = (tmp.path().join("ana"), tmp.path().join("bia"));
    let server = Server::start(&data, tmp.path().join("serve.log"));
    let url = server.url.clone();
    wallet_ok(&ana, &["new", "--server", &url, "--name", "Ana"]);
    wallet_ok(&bia, &["new", "--server", &url, "--name", "Bia"]);
    let ana_id = register(&ana);
    register(&bia);
    let agent_token = ok(&[
        "admin",
        "create-agent",
        "kiosk-9",
        "--server",
        &url,
        "--token-file",
        path(&token_file),
    ]);
    ok(&[
        "admin",
        "fund",
        "agent:kiosk-9",
        "500.00",
        "--server",
        &url,
        "--token-file",
        path(&token_file),
    ]);
    ok(&[
        "agent",
        "cash-in",
        &ana_id,
        "200.00",
        "--server",
        &url,
        // `--token=…`: a token may start with `-`, which clap would take for a flag.
        &format!("--token={}", agent_token.trim()),
    ]);
    let png = tmp.path().join("voucher.png");
    let txt = tmp.path().join("voucher.txt");
    let out = succeeded(
        "create",
        voucher(
            &ana,
            "pix offline",
            &[
                "create",
                "--amount",
                "100.00",
                "--expires",
                "6h",
                "--png",
                path(&png),
                "--text-out",
                path(&txt),
            ],
        ),
    );
    assert!(out.contains("creation fee 1.00 BRL"), "{out}");
    assert!(out.contains("fee reserve 0.30 BRL"), "{out}");
    let text = std::fs::read_to_string(&txt).expect("voucher text");
    assert!(out.contains(&text), "{out}");
    // Over 12 hours: refused before anything is asked.
    let line = user_error(
        "13h",
        voucher(
            &ana,
            "pix offline",
            &["create", "--amount", "1.00", "--expires", "13h"],
        ),
    );
    assert!(line.contains("12 hours"), "{line}");

    // Bia redeems 30.00 from the PNG, then tries too much, a wrong password, three decimals.
    let out = succeeded(
        "redeem",
        voucher(
            &bia,
            "pix offline",
            &["redeem", "--qr", path(&png), "--amount", "30.00"],
        ),
    );
    assert!(out.contains("redeemed 30.00 BRL; 70.00 BRL left"), "{out}");
    let line = user_error(
        "too much",
        voucher(
            &bia,
            "pix offline",
            &["redeem", "--qr", &text, "--amount", "70.01"],
        ),
    );
    assert!(line.contains("amount_exceeds_voucher"), "{line}");
    let line = user_error(
        "wrong password",
        voucher(
            &bia,
            "guess-guess",
            &["redeem", "--qr", path(&txt), "--amount", "1.00"],
        ),
    );
    assert!(
        line.contains("invalid_voucher") && line.contains("wrong password"),
        "{line}"
    );
    for bad in ["1.005", "0", "-1", "abc", "99999999999999999999.00"] {
        let flag = format!("--amount={bad}");
        user_error(
            bad,
            voucher(&bia, "pix offline", &["redeem", "--qr", &text, &flag]),
        );
    }
    let line = user_error(
        "truncated",
        voucher(
            &bia,
            "pix offline",
            &["redeem", "--qr", &text[..150], "--amount", "1.00"],
        ),
    );
    assert!(line.contains("invalid_voucher"), "{line}");
    // A coordinate that is not a number is a usage error (status 2), never a panic.
    let out = voucher(
        &bia,
        "pix offline",
        &[
            "redeem", "--qr", &text, "--amount", "1.00", "--lat", "north", "--lon", "1",
        ],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(!self::text(&out.stderr).contains("panicked"));
    let line = user_error(
        "latitude out of range",
        voucher(
            &bia,
            "pix offline",
            &[
                "redeem", "--qr", &text, "--amount", "1.00", "--lat", "95", "--lon", "1",
            ],
        ),
    );
    assert!(line.contains("latitude"), "{line}");
    // Ana lists, invalidates (the rest comes back), blocks and unblocks.
    let list = wallet_ok(&ana, &["voucher", "list", "--json"]);
    let list: Value = serde_json::from_str(&list).expect("list JSON");
    let id = list["vouchers"][0]["voucher_id"]
        .as_str()
        .expect("id")
        .to_owned();
    assert_eq!(list["vouchers"][0]["remaining"]["amount"], 70_00);
    assert_eq!(
        list["vouchers"][0]["redemptions"].as_array().map(Vec::len),
        Some(1)
    );
    let out = wallet_ok(&ana, &["voucher", "invalidate", &id]);
    assert!(
        out.contains("invalidated") && out.contains("returned 70.21 BRL"),
        "{out}"
    );
    assert!(wallet_ok(&ana, &["voucher", "block"]).contains("blocked"));
    let line = user_error(
        "blocked",
        voucher(
            &ana,
            "pix offline",
            &["create", "--amount", "1.00", "--expires", "1h"],
        ),
    );
    assert!(line.contains("voucher_creation_blocked"), "{line}");
    assert!(wallet_ok(&ana, &["voucher", "unblock"]).contains("allowed"));
    succeeded(
        "create again",
        voucher(
            &ana,
            "pix offline",
            &["create", "--amount", "1.00", "--expires", "1h"],
        ),
    );
    // Five wrong passwords: a security exception, and the operator sees the alert.
    let out = succeeded(
        "create",
        voucher(
            &ana,
            "pix offline",
            &[
                "create",
                "--amount",
                "5.00",
                "--expires",
                "1h",
                "--text-out",
                path(&txt),
            ],
        ),
    );
    assert!(out.contains("voucher "), "{out}");
    let text = std::fs::read_to_string(&txt).expect("voucher text");
    for _ in 0..4 {
        user_error(
            "wrong",
            voucher(
                &bia,
                "guess-guess",
                &["redeem", "--qr", &text, "--amount", "1.00"],
            ),
        );
    }
    let line = user_error(
        "fifth",
        voucher(
            &bia,
            "guess-guess",
            &["redeem", "--qr", &text, "--amount", "1.00"],
        ),
    );
    assert!(line.contains("security_exception"), "{line}");
    let alerts = ok(&[
        "fraud",
        "alerts",
        "--json",
        "--server",
        &url,
        "--token-file",
        path(&token_file),
    ]);
    let alerts: Value = serde_json::from_str(&alerts).expect("alerts JSON");
    let rules: Vec<&str> = alerts["alerts"]
        .as_array()
        .expect("alerts")
        .iter()
        .filter_map(|a| a["rule"].as_str())
        .collect();
    assert!(rules.contains(&"brute_force"), "{alerts}");
    assert_eq!(alerts["alerts"][0]["evidence"]["failures"], 5, "{alerts}");
    let audit = ok(&["audit", "--data-dir", path(&data)]);
    let audit: Value = serde_json::from_str(&audit).expect("audit JSON");
    assert_eq!(audit["clean"], true, "{audit}");
}

/// The merchant's end of day with real processes: a shop collects three offline payments,
/// `ferry wallet report --day TODAY --format camt053` syncs (claiming them in one batch) and
/// writes an ISO 20022 camt.053.001.08 statement that validates against the published schema
/// and whose totals are the payments; the CSV and the table say the same. A day that does not
/// exist and a server that is down end with one clear line.
#[test]
fn a_merchant_s_end_of_day_report_validates_as_camt053() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let data = tmp.path().join("ferry-data");
    let token_file = data.join("admin.token");
    let (ana, shop) = (tmp.path().join("ana"), tmp.path().join("shop"));
    let server = Server::start(&data, tmp.path().join("serve.log"));
    let url = server.url.clone();
    let agent_token = ok(&[
        "admin",
        "create-agent",
        "kiosk-1",
        "--server",
        &url,
        "--token-file",
        path(&token_file),
    ]);
    ok(&[
        "admin",
        "fund",
        "agent:kiosk-1",
        "1000.00",
        "--currency",
        "BRL",
        "--server",
        &url,
        "--token-file",
        path(&token_file),
    ]);
    wallet_ok(&ana, &["new", "--server", &url, "--name", "Ana"]);
    wallet_ok(
        &shop,
        &["new", "--server", &url, "--name", "Bia <Frutas> & Cia"],
    );
    let ana_id = register(&ana);
    let shop_id = register(&shop);
    succeeded(
        "cash in",
        Command::new(FERRY)
            .args(["agent", "cash-in", &ana_id, "200.00", "--server", &url])
            .env("FERRY_AGENT_TOKEN", agent_token.trim())
            .env("RUST_LOG", "warn")
            .output()
            .expect("run ferry"),
    );
    wallet_ok(&ana, &["deposit", "150.00"]);

    let mut ids = Vec::new();
    for amount in ["30.00", "12.34", "0.66"] {
        let (_, paid) = pay_face_to_face(
            &shop,
            &ana,
            &["--amount", amount],
            |f| vec!["--request-file".into(), path(f).to_owned()],
            tmp.path(),
        );
        ids.push(
            paid.lines()
                .find_map(|l| l.strip_prefix("payment "))
                .expect("payment id")
                .to_owned(),
        );
    }
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs();
    let day = ferry_api::UtcDay::containing(ferry_proto::UnixTime(now)).to_string();

    let xml_path = tmp.path().join("statement.xml");
    let said = wallet_ok(
        &shop,
        &[
            "report",
            "--day",
            &day,
            "--format",
            "camt053",
            "--out",
            path(&xml_path),
        ],
    );
    assert!(said.contains("claimed 3, settled 3"), "{said}");
    assert!(said.contains("3 entries, net 43.00 BRL"), "{said}");
    assert!(said.contains("closing balance 43.00 BRL"), "{said}");
    assert!(said.contains("3 payments received that day"), "{said}");
    let xml = std::fs::read_to_string(&xml_path).expect("statement written");
    if ferry_testkit::xmllint::available()
        && let Err(e) =
            ferry_testkit::xmllint::validate(&ferry_testkit::xmllint::camt053_xsd(), &xml_path)
    {
        panic!("camt.053 does not validate:\n{e}\n{xml}");
    }

    assert!(
        xml.contains(&format!(
            "<Acct><Id><Othr><Id>{shop_id}</Id></Othr></Id><Ccy>BRL</Ccy></Acct>"
        )),
        "{xml}"
    );
    assert!(
        xml.contains(
            "<TtlNtries><NbOfNtries>3</NbOfNtries><Sum>43.00</Sum><TtlNetNtry><Amt>43.00</Amt>\
             <CdtDbtInd>CRDT</CdtDbtInd></TtlNetNtry></TtlNtries>"
        ),
        "{xml}"
    );
    assert!(
        xml.contains("<Cd>OPBD</Cd></CdOrPrtry></Tp><Amt Ccy=\"BRL\">0.00</Amt>"),
        "{xml}"
    );
    assert!(
        xml.contains("<Cd>CLBD</Cd></CdOrPrtry></Tp><Amt Ccy=\"BRL\">43.00</Amt>"),
        "{xml}"
    );
    assert_eq!(xml.matches("<Ntry>").count(), 3, "{xml}");
    for (id, amount) in ids.iter().zip(["30.00", "12.34", "0.66"]) {
        assert!(
            xml.contains(&format!("<AddtlTxInf>payment:{id}</AddtlTxInf>")),
            "{id}: {xml}"
        );
        assert!(
            xml.contains(&format!(
                "<Amt Ccy=\"BRL\">{amount}</Amt><CdtDbtInd>CRDT</CdtDbtInd><Sts><Cd>BOOK</Cd></Sts>"
            )),
            "{amount}: {xml}"
        );
    }

    // The same day as CSV on standard output: every payment settled, the totals row.
    let csv = wallet_ok(&shop, &["report", "--day", &day, "--format", "csv"]);
    assert!(
        csv.contains(&format!(
            "\r\ntotals,,,,,{}T00:00:00Z,43.00,0.00,43.00,0.00,3,BRL\r\n",
            next_day(&day)
        )),
        "{csv}"
    );
    for id in &ids {
        assert!(
            csv.contains(&format!("\r\npayment,{id},face_to_face,payment,settled,")),
            "{id}: {csv}"
        );
    }
    let table = wallet_ok(&shop, &["report", "--day", &day]);
    assert!(table.contains("closing balance          43.00"), "{table}");

    let e = user_error(
        "a day that does not exist",
        wallet(&shop, &["report", "--day", "2026-13-01"]),
    );
    assert!(e.contains("--day 2026-13-01: no such date"), "{e}");
    drop(server);
    let e = user_error("server down", wallet(&shop, &["report", "--day", &day]));
    assert!(e.contains("is the server up?"), "{e}");
}

/// The day after `day` (YYYY-MM-DD).
fn next_day(day: &str) -> String {
    let d: ferry_api::UtcDay = day.parse().expect("day");
    ferry_api::UtcDay::containing(d.end()).to_string()
}

/// `ferry serve --risk FILE` with a voucher creation velocity of one voucher an hour: the
/// second `ferry wallet voucher create` within the hour fails with one clear line naming
/// `voucher_velocity`, and nothing leaves the balance.
#[test]
fn the_voucher_creation_velocity_rule_from_the_command_line() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let data = tmp.path().join("ferry-data");
    let token_file = data.join("admin.token");
    let risk = tmp.path().join("risk.toml");
    std::fs::write(
        &risk,
        "name = \"test\"\ncurrency = \"BRL\"\n[voucher_create_velocity]\nwindow_secs = 3600\nmax_count = 1\nmax_amount = 100000\naction = \"block\"\n",
    )
    .expect("risk file");
    let server = Server::start_with(
        &data,
        tmp.path().join("serve.log"),
        &["--risk", path(&risk)],
    );
    let url = server.url.clone();
    let ana = tmp.path().join("ana");
    wallet_ok(&ana, &["new", "--server", &url, "--name", "Ana"]);
    let ana_id = register(&ana);
    let agent_token = ok(&[
        "admin",
        "create-agent",
        "kiosk-7",
        "--server",
        &url,
        "--token-file",
        path(&token_file),
    ]);
    ok(&[
        "admin",
        "fund",
        "agent:kiosk-7",
        "500.00",
        "--server",
        &url,
        "--token-file",
        path(&token_file),
    ]);
    ok(&[
        "agent",
        "cash-in",
        &ana_id,
        "200.00",
        "--server",
        &url,
        &format!("--token={}", agent_token.trim()),
    ]);
    succeeded(
        "first",
        voucher(
            &ana,
            "pix offline",
            &["create", "--amount", "10.00", "--expires", "1h"],
        ),
    );
    let line = user_error(
        "second",
        voucher(
            &ana,
            "pix offline",
            &["create", "--amount", "10.00", "--expires", "1h"],
        ),
    );
    assert!(
        line.contains("voucher_velocity") && line.contains("too many vouchers in a short time"),
        "{line}"
    );
    let list = wallet_ok(&ana, &["voucher", "list", "--json"]);
    let list: Value = serde_json::from_str(&list).expect("list JSON");
    assert_eq!(list["vouchers"].as_array().map(Vec::len), Some(1));
}

/// `ferry fraud evaluate` reports the USSD send velocity rule after the voucher rules, then the
/// cloned wallets, in text and in JSON, without a server.
#[test]
fn fraud_evaluate_reports_the_ussd_velocity_rule() {
    let args = [
        "fraud",
        "evaluate",
        "--users",
        "500",
        "--days",
        "2",
        "--attacks",
        "10",
    ];
    let text = ok(&args);
    assert!(text.contains("USSD sends "), "{text}");
    assert!(
        text.lines().any(|l| l.starts_with("ussd_velocity ")),
        "{text}"
    );
    let mut json_args = args.to_vec();
    json_args.push("--json");
    let v: Value = serde_json::from_str(&ok(&json_args)).expect("JSON");
    assert_eq!(v["ussd"]["rule"], "ussd_velocity");
    assert!(v["ussd"]["honest_sends"].as_u64().unwrap_or(0) > 0, "{v}");
    assert!(v["ussd"]["attack_sends"].as_u64().unwrap_or(0) > 0, "{v}");
    assert!(v["ussd"]["recall"].as_f64().is_some(), "{v}");
    // And the cloned wallets, caught by fork detection.
    assert!(text.contains("cloned wallets: "), "{text}");
    let c = &v["cloned_wallets"];
    assert_eq!(c["rule"], "fork_detection");
    assert_eq!(c["honest_flagged"], 0, "{v}");
    assert!(c["clones"].as_u64().unwrap_or(0) > 0, "{v}");
    assert!(
        c["detected"].as_u64().unwrap_or(0) <= c["clones"].as_u64().unwrap_or(0),
        "{v}"
    );
}
