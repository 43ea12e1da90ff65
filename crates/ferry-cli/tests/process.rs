//! The `ferry` binary as real processes: a settlement server SIGKILLed in the middle of bridge
//! uploads loses nothing and settles nothing twice once restarted, and two server processes on
//! one PostgreSQL database settle a duplicate storm exactly once.
//!
//! Every child process is owned by a [`ServerProcess`] guard that kills it on drop, so a
//! failing assertion never leaves a server running.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ferry_api::client::SettlementClient;
use ferry_api::{EnvelopeOutcome, Outcome};
use ferry_ledger::Store;
use ferry_proto::envelope::Envelope;
use ferry_proto::{AccountId, PaymentId};
use ferry_testkit::process::{self, ServerProcess, admin_token};
use ferry_testkit::{
    Account, Holder, assert_audit_clean, new_agent, payment_transfers, postgres, tally,
};

const FERRY: &str = env!("CARGO_BIN_EXE_ferry");

async fn start(data_dir: &Path, database_url: Option<&str>, log: PathBuf) -> ServerProcess {
    ServerProcess::start(FERRY, data_dir, database_url, &[], log).await
}

fn cli_audit(data_dir: &Path, database_url: Option<&str>) {
    process::cli_audit(FERRY, data_dir, database_url);
}

/// Payers (each funded with 500.00) and payees, registered over HTTP.
struct Population {
    payers: Vec<Holder>,
    payees: Vec<Account>,
}

async fn population(
    client: &SettlementClient,
    admin: &str,
    payers: usize,
    payees: usize,
) -> Population {
    let agent = new_agent(client, admin, payers as i64 * 500_00).await;
    let mut p = Population {
        payers: Vec::new(),
        payees: Vec::new(),
    };
    for _ in 0..payers {
        let mut h = Holder::register(client).await;
        h.fund(client, &agent, 500_00).await;
        p.payers.push(h);
    }
    for _ in 0..payees {
        p.payees.push(Account::register(client).await);
    }
    p
}

/// What the payments should leave behind.
#[derive(Default)]
struct Expected {
    /// Envelope id (hex) → payment.
    payment_of: HashMap<String, PaymentId>,
    /// Payee → total credited.
    credited: HashMap<AccountId, i64>,
    /// Payer index → total spent.
    spent: Vec<i64>,
}

/// `per_payer` payments from every payer (5.00 to 14.00 each, round-robin over the payees),
/// interleaved across payers, each sealed in `copies` different envelopes.
fn payments(
    pop: &mut Population,
    params: &ferry_proto::cert::NetworkParamsBody,
    per_payer: usize,
    copies: usize,
) -> (Vec<Envelope>, Expected) {
    let mut expected = Expected {
        spent: vec![0; pop.payers.len()],
        ..Expected::default()
    };
    let mut envelopes = Vec::new();
    let n = pop.payees.len();
    for i in 0..per_payer {
        for (w, payer) in pop.payers.iter_mut().enumerate() {
            let amount = 5_00 + ((i + w) % 10) as i64 * 1_00;
            let payee = pop.payees[(w + i) % n].id;
            let p = payer.pay(payee, amount);
            *expected.credited.entry(payee).or_default() += amount;
            expected.spent[w] += amount;
            for _ in 0..copies {
                let e = payer.envelope(params, &p);
                expected
                    .payment_of
                    .insert(e.id().to_hex(), p.id(payer.ta()));
                envelopes.push(e);
            }
        }
    }
    (envelopes, expected)
}

/// Checks every balance over HTTP and the ledger's transfer count.
async fn assert_balances(client: &SettlementClient, pop: &Population, expected: &Expected) {
    for payee in &pop.payees {
        assert_eq!(
            payee.online(client).await,
            expected.credited[&payee.id],
            "payee {} credited exactly once per payment",
            payee.id
        );
    }
    for (w, payer) in pop.payers.iter().enumerate() {
        assert_eq!(
            payer.float(client).await,
            500_00 - expected.spent[w],
            "payer {w}"
        );
        assert_eq!(payer.account.online(client).await, 0, "payer {w}");
    }
}

/// Uploads `batches` from `tasks` concurrent bridges to `base_url`, each bridge taking the next
/// batch from a shared queue. Returns the outcomes of the batches that got an answer and the
/// number that failed; `done` counts answered batches as they arrive.
async fn upload(
    base_url: &str,
    batches: Vec<Vec<Envelope>>,
    tasks: usize,
    done: Arc<AtomicUsize>,
) -> (Vec<EnvelopeOutcome>, usize) {
    let queue = Arc::new(Mutex::new(batches));
    let mut handles = Vec::new();
    for _ in 0..tasks {
        let queue = queue.clone();
        let done = done.clone();
        let bridge = SettlementClient::new(base_url);
        handles.push(tokio::spawn(async move {
            let mut got = Vec::new();
            let mut failed = 0;
            loop {
                let Some(batch) = queue.lock().unwrap().pop() else {
                    break;
                };
                match bridge.envelopes(&batch).await {
                    Ok(out) => {
                        assert_eq!(out.len(), batch.len());
                        got.extend(out);
                        done.fetch_add(1, Ordering::SeqCst);
                    }
                    Err(_) => failed += 1,
                }
            }
            (got, failed)
        }));
    }
    let mut all = Vec::new();
    let mut failed = 0;
    for h in handles {
        let (got, f) = h.await.expect("bridge task");
        all.extend(got);
        failed += f;
    }
    (all, failed)
}

fn batches_of(envelopes: &[Envelope], size: usize) -> Vec<Vec<Envelope>> {
    envelopes.chunks(size).map(<[_]>::to_vec).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_server_killed_during_uploads_settles_everything_exactly_once_after_restart() {
    const PAYERS: usize = 40;
    const PER_PAYER: usize = 50;
    const BATCH: usize = 200;
    const BRIDGES: usize = 4;
    let temp = tempfile::tempdir().expect("temp dir");
    let data = temp.path().join("data");
    let mut server = start(&data, None, temp.path().join("serve-1.log")).await;
    let client = server.client();
    let admin = admin_token(&data);
    let mut pop = population(&client, &admin, PAYERS, 10).await;
    let params = client.params().await.expect("params").unverified().clone();
    let (envelopes, expected) = payments(&mut pop, &params, PER_PAYER, 1);
    assert_eq!(envelopes.len(), PAYERS * PER_PAYER);

    // Upload from several bridges; SIGKILL the server as soon as the first batch is answered,
    // while the others are in flight.
    let done = Arc::new(AtomicUsize::new(0));
    let uploads = tokio::spawn({
        let (url, batches, done) = (
            server.base_url.clone(),
            batches_of(&envelopes, BATCH),
            done.clone(),
        );
        async move { upload(&url, batches, BRIDGES, done).await }
    });
    let started = Instant::now();
    let deadline = started + Duration::from_secs(60);
    while done.load(Ordering::SeqCst) == 0 {
        assert!(
            Instant::now() < deadline,
            "no batch answered: {}",
            server.log_text()
        );
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    // Somewhere in the next batch's lifetime (decoding, opening, settling or committing),
    // different on every run.
    let first = started.elapsed();
    let delay = first.mul_f64(f64::from(ferry_proto::random_bytes::<1>()[0]) / 255.0);
    tokio::time::sleep(delay).await;
    eprintln!("first batch answered after {first:?}; SIGKILL {delay:?} later");
    server.kill();
    let (before_kill, failed) = uploads.await.expect("uploads");
    let answered = before_kill.len() / BATCH;
    eprintln!("killed after {answered} answered batches; {failed} batches failed with the server");
    assert!(failed > 0, "the kill must interrupt uploads in flight");
    assert_eq!(
        tally(&before_kill),
        BTreeMap::from([("settled".to_owned(), before_kill.len())]),
        "a first delivery settles"
    );
    drop(server);

    // Restart on the same data directory and deliver everything again.
    let server = start(&data, None, temp.path().join("serve-2.log")).await;
    let client = server.client();
    let (after, failed) = upload(
        &server.base_url,
        batches_of(&envelopes, BATCH),
        BRIDGES,
        Arc::new(AtomicUsize::new(0)),
    )
    .await;
    assert_eq!(failed, 0, "{}", server.log_text());
    assert_eq!(after.len(), envelopes.len());
    let reported: std::collections::HashSet<&str> = before_kill
        .iter()
        .map(|o| o.envelope_id.as_deref().expect("id"))
        .collect();
    let mut settled_after = 0;
    for o in &after {
        let id = o.envelope_id.as_deref().expect("id");
        assert!(
            expected.payment_of.contains_key(id),
            "unknown envelope {id}"
        );
        match &o.outcome {
            Outcome::Settled => {
                assert!(!reported.contains(id), "{id} settled twice");
                settled_after += 1;
            }
            Outcome::Duplicate => {}
            other => panic!("after the restart: {other} for {id}"),
        }
    }
    let committed_unreported = envelopes.len() - before_kill.len() - settled_after;
    eprintln!(
        "after the restart: {settled_after} settled, {} duplicates ({committed_unreported} \
         committed before the kill without an answer)",
        after.len() - settled_after
    );
    assert_balances(&client, &pop, &expected).await;
    assert_audit_clean(&client, &admin).await;

    // A third delivery: nothing at all moves.
    let (third, _) = upload(
        &server.base_url,
        batches_of(&envelopes, BATCH),
        BRIDGES,
        Arc::new(AtomicUsize::new(0)),
    )
    .await;
    assert_eq!(
        tally(&third),
        BTreeMap::from([("duplicate".to_owned(), envelopes.len())])
    );
    assert_balances(&client, &pop, &expected).await;
    drop(server);

    // The database, read directly, holds one payment transfer per payment; `ferry audit`
    // agrees the ledger is clean.
    let store = Store::open_sqlite_dir(&data)
        .await
        .expect("open the database");
    let t = payment_transfers(&store).await;
    assert_eq!(t.rows, envelopes.len() as i64, "one transfer per payment");
    assert_eq!(t.distinct_references, t.rows);
    store.close().await;
    cli_audit(&data, None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_server_processes_on_one_postgres_database_settle_a_duplicate_storm_once() {
    const PAYERS: usize = 10;
    const PER_PAYER: usize = 40;
    const COPIES: usize = 2;
    const BRIDGES_PER_SERVER: usize = 3;
    const BATCH: usize = 50;
    let Some(url) = postgres::fresh_schema().await else {
        return;
    };
    let temp = tempfile::tempdir().expect("temp dir");
    let data = temp.path().join("data");
    // One after the other: the first creates the keys and migrates the schema.
    let a = start(&data, Some(&url), temp.path().join("serve-a.log")).await;
    let b = start(&data, Some(&url), temp.path().join("serve-b.log")).await;
    let admin = admin_token(&data);
    let mut pop = population(&a.client(), &admin, PAYERS, 5).await;
    let params = b
        .client()
        .params()
        .await
        .expect("params")
        .unverified()
        .clone();
    let (envelopes, expected) = payments(&mut pop, &params, PER_PAYER, COPIES);
    let payments_count = PAYERS * PER_PAYER;

    // Every bridge posts every envelope (each payment in two different envelopes), in its own
    // order, half of them to each server, all at once.
    let mut tasks = Vec::new();
    for (s, server) in [&a, &b].into_iter().enumerate() {
        for k in 0..BRIDGES_PER_SERVER {
            let mut mine = envelopes.clone();
            mine.rotate_left((s * BRIDGES_PER_SERVER + k) * envelopes.len() / 6);
            if k % 2 == 1 {
                mine.reverse();
            }
            let url = server.base_url.clone();
            tasks.push(tokio::spawn(async move {
                upload(
                    &url,
                    batches_of(&mine, BATCH),
                    1,
                    Arc::new(AtomicUsize::new(0)),
                )
                .await
            }));
        }
    }
    let mut settled: HashMap<PaymentId, usize> = HashMap::new();
    let mut outcomes = Vec::new();
    for t in tasks {
        let (out, failed) = t.await.expect("bridge");
        assert_eq!(failed, 0, "A: {}\nB: {}", a.log_text(), b.log_text());
        outcomes.extend(out);
    }
    assert_eq!(outcomes.len(), envelopes.len() * 2 * BRIDGES_PER_SERVER);
    for o in &outcomes {
        let id = o.envelope_id.as_deref().expect("id");
        match &o.outcome {
            Outcome::Settled => *settled.entry(expected.payment_of[id]).or_default() += 1,
            Outcome::Duplicate => {}
            other => panic!("{other} for {id}"),
        }
    }
    eprintln!("storm: {:?}", tally(&outcomes));
    assert_eq!(settled.len(), payments_count, "every payment settled");
    assert!(
        settled.values().all(|n| *n == 1),
        "a payment settled more than once: {:?}",
        settled.iter().filter(|(_, n)| **n > 1).collect::<Vec<_>>()
    );
    assert_balances(&a.client(), &pop, &expected).await;
    assert_balances(&b.client(), &pop, &expected).await;
    assert_audit_clean(&a.client(), &admin).await;
    assert_audit_clean(&b.client(), &admin).await;
    drop(a);
    drop(b);

    let store = Store::open(&url).await.expect("open the database");
    let t = payment_transfers(&store).await;
    assert_eq!(t.rows, payments_count as i64, "one transfer per payment");
    assert_eq!(t.distinct_references, t.rows);
    store.close().await;
    cli_audit(&data, Some(&url));
}

/// Runs `ferry ARGS` to completion; returns (success, stdout, stderr).
fn ferry(args: &[&str], envs: &[(&str, &str)]) -> (bool, String, String) {
    let out = Command::new(FERRY)
        .args(args)
        .envs(envs.iter().copied())
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .output()
        .expect("run ferry");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The feature-phone story through the binaries: `ferry ussd --script` registers two phones
/// against `ferry serve`, an agent cashes one in by number (`ferry agent cash-in +55…`), the
/// phone sends money and cashes out, `ferry agent ussd-cash-out` pays the code once, the
/// simulated timeout, dropped session and retransmissions move nothing extra, and
/// `ferry sms outbox --phone` shows what each phone received.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_ussd_simulator_drives_ferry_serve_and_the_sms_outbox_shows_the_notices() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = ServerProcess::start(
        FERRY,
        dir.path(),
        None,
        &["--ussd-session-timeout", "10", "--fee", "order=100"],
        dir.path().join("serve.log"),
    )
    .await;
    let url = format!("http://{}", server.addr());
    let token_file = dir.path().join(ferry_server::serve::ADMIN_TOKEN_FILE);
    let token_file = token_file.to_str().expect("path");
    let (ana, bia) = ("+5581999990001", "+5581999990002");
    let ussd = |phone: &str, script: &str, extra: &[&str]| {
        let mut args = vec![
            "ussd", "--phone", phone, "--server", &url, "--script", script,
        ];
        args.extend_from_slice(extra);
        let (ok, out, err) = ferry(&args, &[]);
        assert!(ok, "ferry ussd {script}: {out}{err}");
        out
    };
    for phone in [ana, bia] {
        let out = ussd(phone, "1*2580*2580*00", &[]);
        assert!(out.contains("Account created."), "{out}");
        assert!(out.contains("| Ferry"), "drawn as a phone screen: {out}");
        assert!(out.contains("> ****"), "the PIN is not echoed: {out}");
        assert!(
            !out.lines()
                .any(|l| l.starts_with("> ") && l.contains("2580")),
            "{out}"
        );
        assert!(out.ends_with("[hung up]\n"), "{out}");
    }
    let (ok, agent_token, err) = ferry(
        &[
            "admin",
            "create-agent",
            "kiosk",
            "--server",
            &url,
            "--token-file",
            token_file,
        ],
        &[],
    );
    assert!(ok, "{err}");
    let agent_token = agent_token.trim().to_owned();
    let (ok, out, err) = ferry(
        &[
            "admin",
            "fund",
            "agent:kiosk",
            "1000.00",
            "--server",
            &url,
            "--token-file",
            token_file,
        ],
        &[],
    );
    assert!(ok, "{out}{err}");
    let agent_env = [("FERRY_AGENT_TOKEN", agent_token.as_str())];
    let (ok, out, err) = ferry(
        &["agent", "cash-in", ana, "100.00", "--server", &url],
        &agent_env,
    );
    assert!(ok, "cash in by number: {out}{err}");

    // Send, each callback retransmitted: once.
    let out = ussd(ana, &format!("1*{bia}*50*2580*1"), &["--retransmit"]);
    assert!(
        out.contains("Sent 50.00 BRL to") && out.contains("[Session ended]"),
        "{out}"
    );
    // A user too slow to confirm: the server times the session out; nothing moves.
    let out = ussd(
        ana,
        &format!("1*{bia}*10*2580*1"),
        &["--timeout-after", "5", "--wait", "11"],
    );
    assert!(out.contains("Session timed out"), "{out}");
    // The network drops a session before the confirmation: nothing moves.
    let out = ussd(ana, &format!("1*{bia}*10*2580*1"), &["--drop-after", "5"]);
    assert!(out.contains("dropped the session"), "{out}");
    let out = ussd(ana, "2*2580", &[]);
    assert!(out.contains("Balance: 49.50 BRL"), "{out}");

    // Cash out: the code is paid once by the agent.
    let out = ussd(ana, "4*20*2580*1", &[]);
    let code = out
        .split("Cash-out code: ")
        .nth(1)
        .map(|s| s.chars().take(8).collect::<String>())
        .unwrap_or_else(|| panic!("no code: {out}"));
    for expected in ["hand over 20.00 BRL", "already paid"] {
        let (ok, out, err) = ferry(
            &["agent", "ussd-cash-out", ana, &code, "--server", &url],
            &agent_env,
        );
        assert!(ok && out.contains(expected), "{out}{err}");
    }

    // What each phone would have received.
    let outbox = |phone: &str| {
        let (ok, out, err) = ferry(
            &[
                "sms",
                "outbox",
                "--phone",
                phone,
                "--server",
                &url,
                "--token-file",
                token_file,
            ],
            &[],
        );
        assert!(ok, "{out}{err}");
        out
    };
    let got = outbox(bia);
    assert_eq!(got.matches("Ferry: You received").count(), 1, "{got}");
    assert!(
        got.contains(&format!("You received 50.00 BRL from {ana}")),
        "{got}"
    );
    assert!(got.contains("[gsm7, 1 part, stored]"), "{got}");
    let sent = outbox(ana);
    assert_eq!(sent.matches("Ferry: You sent").count(), 1, "{sent}");
    assert!(sent.contains(&format!("Cash-out code {code}")), "{sent}");
    assert!(sent.contains("You cashed out 20.00 BRL"), "{sent}");
    drop(server);
    cli_audit(dir.path(), None);
}

/// 20 receivers redeem 7.00 each at once from one 100.00 voucher, half through each of two
/// `ferry serve` processes on one PostgreSQL database: exactly 14 are paid, never more than the
/// voucher's value leaves its reserve, and both servers (and `ferry audit`) find the ledger clean.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn twenty_voucher_redemptions_across_two_server_processes_never_overpay() {
    use ferry_api::{CreateVoucherRequest, RedeemVoucherRequest, VoucherRedeemOutcome};
    use ferry_testkit::{brl, now, random_hex};
    let Some(url) = postgres::fresh_schema().await else {
        return;
    };
    let temp = tempfile::tempdir().expect("temp dir");
    let data = temp.path().join("data");
    let a = start(&data, Some(&url), temp.path().join("serve-a.log")).await;
    let b = start(&data, Some(&url), temp.path().join("serve-b.log")).await;
    let admin = admin_token(&data);
    let agent = new_agent(&a.client(), &admin, 1_000_00).await;
    let emitter = Account::register(&a.client()).await;
    a.client()
        .cash_in(&agent.token, emitter.id, brl(200_00), &random_hex())
        .await
        .expect("cash in");
    let voucher = a
        .client()
        .create_voucher(
            &emitter.key,
            emitter.id,
            &CreateVoucherRequest {
                amount: 100_00,
                currency: "BRL".into(),
                expires_in_secs: 3600,
                password: "pix offline".into(),
                place: None,
            },
            now(),
        )
        .await
        .expect("create");
    let mut receivers = Vec::new();
    for i in 0..20 {
        let server = if i % 2 == 0 { &a } else { &b };
        receivers.push(Account::register(&server.client()).await);
    }
    let receivers = Arc::new(receivers);
    let clients = [a.client(), b.client()];
    let tasks: Vec<_> = (0..20)
        .map(|i| {
            let (client, receivers, text) = (
                clients[i % 2].clone(),
                receivers.clone(),
                voucher.text.clone(),
            );
            tokio::spawn(async move {
                let r = &receivers[i];
                let req = RedeemVoucherRequest {
                    voucher: text,
                    password: "pix offline".into(),
                    amount: 7_00,
                    currency: "BRL".into(),
                    request_id: random_hex(),
                    place: None,
                };
                client
                    .redeem_voucher(&r.key, r.id, &req, now())
                    .await
                    .expect("answered")
                    .outcome
            })
        })
        .collect();
    let mut paid = 0;
    for t in tasks {
        match t.await.expect("task") {
            VoucherRedeemOutcome::Redeemed => paid += 1,
            VoucherRedeemOutcome::AmountExceedsVoucher => {}
            other => panic!("{other:?}\nA: {}\nB: {}", a.log_text(), b.log_text()),
        }
    }
    assert_eq!(paid, 14);
    let mut total = 0;
    for r in receivers.iter() {
        total += r.online(&b.client()).await;
    }
    assert_eq!(total, 98_00);
    assert_audit_clean(&a.client(), &admin).await;
    assert_audit_clean(&b.client(), &admin).await;
    drop(a);
    drop(b);
    cli_audit(&data, Some(&url));
}
