//! `ferry-bench pay`: the face-to-face payment end to end over the BLE link model, against the
//! budget of DESIGN §7 (one radio round trip, ≤ 100 ms at ATT MTU 247, crypto included).
//!
//! Setup, not timed: an in-process settlement server on a temporary directory, two device
//! wallets ([`Wallet`], each in its own temporary directory) registered with it, and the
//! payer's online balance funded through a cash agent. Timed, with the server idle: payments
//! of 1.00 from the payer to the payee, each over a new [`ble::pair`] with the given ATT MTU
//! (the other link parameters at their defaults: 15 ms connection interval, 4 packets per
//! event, no loss). Between rounds of the certificate's payments-between-syncs the payer syncs
//! and deposits the next round (not timed). At the end both wallets sync, and the run fails
//! unless every payment settled and the ledger audit is clean.
//!
//! Per payment:
//! - **wall**: from the payer starting `Wallet::pay` (the payee already waiting in
//!   `Wallet::receive`, as when it shows its QR) until both sides are done. It is real CPU
//!   time, real storage (the payer's secure-wallet commit with its fsyncs, both SQLite stores)
//!   and the modelled radio time (BLE send and delivery wait in real `tokio::time::sleep`).
//! - **busy** per side: that side's wall time minus the time it spent inside its link's
//!   `send`/`recv` (waiting for the radio or for the other side): its own work — crypto,
//!   secure wallet and store, fsync waits included. The two sides run on different runtime
//!   threads, so neither's blocking storage counts against the other.
//! - **crypto**: the sans-IO steps alone (no storage), timed apart in the same run on in-memory
//!   keys: the payer signs the payment, writes the Noise first message, reads the reply and
//!   verifies the receipt; the payee opens the offer, runs PayVerify, signs the receipt and
//!   writes the reply.
//! - **process CPU**: user and system CPU of the whole process from `/proc/self/stat` (both
//!   devices, the runtime, SQLite threads; 10 ms ticks, summed over all payments), including
//!   the payee's request and its session setup. Linux only; `null` elsewhere.
//! - BLE packets, connection events, payload bytes and retransmissions of the connection.

use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use clap::Args;
use ferry_api::Outcome;
use ferry_api::client::SettlementClient;
use ferry_ledger::engine::DebitState;
use ferry_link::ble::{self, BleLink, BleParams};
use ferry_link::{Link, LinkError};
use ferry_pay::Offer;
use ferry_pay::payee::PayeeSession;
use ferry_pay::payer::PayerSession;
use ferry_proto::cert::RevocationBody;
use ferry_proto::journal::ReceiptBody;
use ferry_proto::qr::request_to_emv;
use ferry_proto::verify::PayeeView;
use ferry_proto::{Currency, Money, PaymentId, PaymentRequest, Receipt, SystemClock, X25519Secret};
use ferry_server::serve::{ServeConfig, start};
use ferry_testkit::{T0, TestIssuer, TestWallet};
use ferry_wallet::secure::SecureWallet;
use ferry_wallet::wallet::{KeyBackend, Wallet, WalletConfig};
use serde_json::{Value, json};
use tokio::sync::oneshot;

/// DESIGN §7: a face-to-face payment within this on the BLE model at MTU 247.
const BUDGET_MS: f64 = 100.0;
/// The MTU the budget is stated for.
const BUDGET_MTU: u16 = 247;
/// Each payment, in minor units.
const AMOUNT: i64 = 1_00;

/// `ferry-bench pay` options.
#[derive(Args, Debug)]
pub struct PayArgs {
    /// ATT MTU of the modelled BLE link (23 is the BLE default; 247 with data length extension).
    #[arg(long, default_value_t = 247)]
    mtu: u16,
    /// Payments timed.
    #[arg(long, default_value_t = 200)]
    payments: usize,
    /// Print one JSON object instead of a summary.
    #[arg(long)]
    json: bool,
}

/// Runs `ferry-bench pay`.
pub fn run(args: PayArgs) -> Result<()> {
    ensure!(args.payments > 0, "--payments must be positive");
    let params = BleParams {
        att_mtu: args.mtu,
        ..BleParams::default()
    };
    ble::pair(params.clone()).context("--mtu")?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let report = rt.block_on(measure(&args, params))?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print_summary(&report);
    }
    ensure!(
        report["settled"].as_u64() == Some(args.payments as u64),
        "not every payment settled: {}",
        report["settled"]
    );
    ensure!(
        report["audit_clean"] == Value::Bool(true),
        "the ledger audit is not clean"
    );
    Ok(())
}

/// A link that logs when its owner waits in `send`/`recv`, and what it sends.
struct Clocked<L> {
    inner: L,
    /// Intervals spent inside `send` or `recv`.
    waits: Vec<(Instant, Instant)>,
    /// Lengths of the messages sent.
    sent: Vec<usize>,
    /// Told when the first `recv` starts (the payee is listening).
    listening: Option<oneshot::Sender<()>>,
}

impl<L> Clocked<L> {
    fn new(inner: L, listening: Option<oneshot::Sender<()>>) -> Self {
        Clocked {
            inner,
            waits: Vec::new(),
            sent: Vec::new(),
            listening,
        }
    }

    /// Time spent waiting within `from..to`.
    fn waited(&self, from: Instant, to: Instant) -> Duration {
        self.waits
            .iter()
            .map(|&(s, e)| e.min(to).saturating_duration_since(s.max(from)))
            .sum()
    }
}

impl<L: Link> Link for Clocked<L> {
    async fn send(&mut self, msg: &[u8]) -> Result<(), LinkError> {
        let start = Instant::now();
        let r = self.inner.send(msg).await;
        self.waits.push((start, Instant::now()));
        self.sent.push(msg.len());
        r
    }

    async fn recv(&mut self) -> Result<Vec<u8>, LinkError> {
        let start = Instant::now();
        if let Some(tx) = self.listening.take() {
            let _ = tx.send(());
        }
        let r = self.inner.recv().await;
        self.waits.push((start, Instant::now()));
        r
    }
}

/// One timed payment.
#[derive(Debug, Clone, Default)]
struct Sample {
    id: Option<PaymentId>,
    wall: f64,
    payer_busy: f64,
    payee_busy: f64,
    payee_setup: f64,
    request: f64,
    payer_messages: usize,
    payee_messages: usize,
    offer_bytes: usize,
    reply_bytes: usize,
    packets: u64,
    events: u64,
    payload_bytes: u64,
    retransmissions: u64,
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// One payment of `amount` from `payer` to `payee` over a new BLE connection; gives the payee
/// wallet back.
async fn one_payment(
    payer: &mut Wallet,
    payee: Wallet,
    amount: Money,
    params: &BleParams,
) -> Result<(Sample, Wallet)> {
    let started = Instant::now();
    let shown = payee
        .request(Some(amount), "", Duration::from_secs(600))
        .await
        .context("payee request")?;
    let request = ms(started.elapsed());
    let (a, b) = ble::pair(params.clone())?;
    let (listening, ready) = oneshot::channel();
    let text = shown.text.clone();
    let payee_side = tokio::spawn(async move {
        let mut payee = payee;
        let mut link = Clocked::new(b, Some(listening));
        let started = Instant::now();
        let received = payee.receive(&text, &mut link).await;
        (payee, received, link, started, Instant::now())
    });
    ready.await.context("the payee did not start listening")?;
    let t0 = Instant::now();
    let mut link: Clocked<BleLink> = Clocked::new(a, None);
    let paid = payer.pay(&shown.text, None, &mut link).await;
    let payer_done = Instant::now();
    // The reply has arrived (or the payer gave up): the connection's counts are final. Closing
    // it lets a payee still waiting (after a failure) see the link drop.
    let stats = link.inner.stats();
    let (payer_waited, offer_bytes, payer_messages) = (
        link.waited(t0, payer_done),
        link.sent.iter().sum(),
        link.sent.len(),
    );
    drop(link);
    let (payee, received, payee_link, payee_started, payee_done) =
        payee_side.await.context("payee task")?;
    let paid = paid.context("payer")?;
    let received = received.context("payee")?;
    ensure!(
        paid.id == received.id,
        "the two sides disagree on the payment"
    );
    let listened_at = payee_link.waits.first().map_or(t0, |w| w.0);
    let sample = Sample {
        id: Some(paid.id),
        wall: ms(payer_done.max(payee_done) - t0),
        payer_busy: ms((payer_done - t0).saturating_sub(payer_waited)),
        payee_busy: ms(payee_done
            .saturating_duration_since(t0)
            .saturating_sub(payee_link.waited(t0, payee_done))),
        payee_setup: ms(listened_at.saturating_duration_since(payee_started)),
        request,
        payer_messages,
        payee_messages: payee_link.sent.len(),
        offer_bytes,
        reply_bytes: payee_link.sent.iter().sum(),
        packets: stats.packets,
        events: stats.events,
        payload_bytes: stats.payload_bytes,
        retransmissions: stats.retransmissions,
    };
    Ok((sample, payee))
}

/// User and system CPU time of this process so far, from `/proc/self/stat` (Linux).
fn process_cpu() -> Option<[Duration; 2]> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name (which may hold spaces) start after the last ')'.
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after the name.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    // USER_HZ is 100 on every Linux architecture this runs on.
    Some([utime, stime].map(|ticks| Duration::from_millis(ticks * 10)))
}

async fn new_wallet(dir: &std::path::Path, url: &str, name: &str) -> Result<Wallet> {
    let mut wallet = Wallet::create(
        dir,
        WalletConfig {
            server_url: url.to_owned(),
            name: name.to_owned(),
            city: "Recife".into(),
            key: KeyBackend::Sealed,
        },
        std::sync::Arc::new(SystemClock),
    )
    .await?;
    wallet.register().await?;
    Ok(wallet)
}

/// The `p`-th percentile (nearest rank) of `v`.
fn percentile(v: &[f64], p: f64) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    if s.is_empty() {
        return 0.0;
    }
    let rank = (p / 100.0 * s.len() as f64).ceil() as usize;
    s[rank.clamp(1, s.len()) - 1]
}

fn dist(v: &[f64]) -> Value {
    let round = |x: f64| (x * 1000.0).round() / 1000.0;
    json!({
        "p50": round(percentile(v, 50.0)),
        "p99": round(percentile(v, 99.0)),
        "max": round(percentile(v, 100.0)),
    })
}

/// Median CPU time of the sans-IO steps of each side, in milliseconds: `(payer, payee)`.
fn crypto_only(rounds: usize) -> Result<(f64, f64)> {
    let issuer = TestIssuer::new();
    let mut payer = TestWallet::new(&issuer, Currency::BRL);
    let payee = TestWallet::new(&issuer, Currency::BRL);
    payer.fund(&issuer, 1_000_000);
    let issuers = issuer.issuers();
    let revocations = RevocationBody {
        issuer: issuer.key.public().key_id(),
        version: 0,
        issued_at: T0,
        revoked: Vec::new(),
    };
    let link_key = X25519Secret::generate();
    let (mut payer_ms, mut payee_ms) = (Vec::new(), Vec::new());
    for _ in 0..rounds {
        let request = PaymentRequest {
            link_key: link_key.public(),
            ..payee.request(Some(AMOUNT))
        };
        let text = request_to_emv(&request)?;
        let t = Instant::now();
        let payment = payer.pay(&request, AMOUNT);
        let offer = Offer {
            ta_cert: payer.ta_cert.clone(),
            payment,
        };
        let (session, first) = PayerSession::start(&text, &request, &offer)?;
        let payer_first = t.elapsed();

        let t = Instant::now();
        let offered = PayeeSession::new(&link_key, &text)?.on_offer(&first)?;
        let view = PayeeView {
            issuers: &issuers,
            revocations: &revocations,
            me: payee.account_id,
            request: &request,
            now: T0,
        };
        let verified = offered.verify(&view, false)?;
        let receipt = Receipt::sign(
            ReceiptBody {
                payment_hash: verified.hash,
                payee: payee.account_id,
                received_at: T0,
            },
            &payee.account_key,
        )?;
        let reply = offered.accept(&receipt, &payee.client_cert)?;
        payee_ms.push(ms(t.elapsed()));

        let t = Instant::now();
        session.on_reply(&reply, &issuers)?;
        payer_ms.push(ms(payer_first + t.elapsed()));
    }
    Ok((percentile(&payer_ms, 50.0), percentile(&payee_ms, 50.0)))
}

async fn measure(args: &PayArgs, params: BleParams) -> Result<Value> {
    let server_dir = tempfile::tempdir().context("temporary directory")?;
    let mut config = ServeConfig::new(server_dir.path().to_owned());
    config.listen = ([127, 0, 0, 1], 0).into();
    let server = start(config).await.context("starting the server")?;
    let url = format!("http://{}", server.addr);
    let client = SettlementClient::new(&url);
    let (payer_dir, payee_dir) = (tempfile::tempdir()?, tempfile::tempdir()?);
    let mut payer = new_wallet(payer_dir.path(), &url, "Ana").await?;
    let mut payee = new_wallet(payee_dir.path(), &url, "Bia Frutas").await?;
    let limits = payer
        .secure()
        .status()
        .certificate
        .context("the payer has no certificate")?
        .unverified()
        .limits;
    let per_round = limits.max_payments_between_syncs as usize;
    ensure!(
        per_round > 0 && AMOUNT <= limits.max_payment,
        "limits too small"
    );
    let money = |minor| Money::new(minor, limits.currency);
    let n = args.payments;
    let total = AMOUNT * n as i64;

    let admin = &server.admin_token;
    let agent = "bench-pay";
    let agent_token = client.create_agent(admin, agent).await?;
    let funded = client
        .fund(admin, &format!("agent:{agent}"), money(total), "bench-pay")
        .await?;
    ensure!(funded == Outcome::Settled, "funding the agent: {funded}");
    let account = payer.account_id().await?.context("payer not registered")?;
    let cashed = client
        .cash_in(&agent_token, account, money(total), "bench-pay-cash")
        .await?;
    ensure!(cashed == Outcome::Settled, "cash-in: {cashed}");

    let (crypto_payer, crypto_payee) = crypto_only(n.clamp(20, 200))?;

    let mut samples = Vec::with_capacity(n);
    let mut cpu = Some([Duration::ZERO; 2]);
    for k in 0..n {
        if k % per_round == 0 {
            if k > 0 {
                payer.sync(|_| {}).await.context("payer sync")?;
            }
            let round = (n - k).min(per_round) as i64;
            payer
                .deposit(money(AMOUNT * round))
                .await
                .context("deposit")?;
        }
        let before = process_cpu();
        let (sample, back) = one_payment(&mut payer, payee, money(AMOUNT), &params).await?;
        payee = back;
        cpu = match (cpu, before, process_cpu()) {
            (Some(c), Some(b), Some(a)) => Some([0, 1].map(|i| c[i] + a[i].saturating_sub(b[i]))),
            _ => None,
        };
        samples.push(sample);
    }

    // Both sides sync: every payment must settle once.
    payee.sync(|_| {}).await.context("payee sync")?;
    payer.sync(|_| {}).await.context("payer sync")?;
    let mut settled = 0;
    for s in &samples {
        let id = s.id.context("payment id")?;
        if let Some(st) = server.engine.payment_status(id).await?
            && st.status == DebitState::Settled
        {
            settled += 1;
        }
    }
    let audit = server.engine.audit().await?;
    let online = payee.balances().await?.online;
    if online != Some(total) {
        bail!("the payee's online balance is {online:?}, expected {total}");
    }
    server.stop().await.context("stopping the server")?;

    let col = |f: fn(&Sample) -> f64| samples.iter().map(f).collect::<Vec<_>>();
    let wall = col(|s| s.wall);
    let per = |f: fn(&Sample) -> u64| samples.iter().map(f).sum::<u64>() as f64 / n as f64;
    let round_trips = samples
        .iter()
        .map(|s| s.payer_messages.max(s.payee_messages))
        .max()
        .unwrap_or(0);
    let p50 = percentile(&wall, 50.0);
    let p99 = percentile(&wall, 99.0);
    Ok(json!({
        "bench": "pay",
        "payments": n,
        "amount_minor": AMOUNT,
        "link": {
            "model": "ble",
            "att_mtu": params.att_mtu,
            "connection_interval_ms": ms(params.connection_interval),
            "packets_per_event": params.packets_per_event,
            "loss_ppm": params.loss_ppm,
        },
        "wall_ms": dist(&wall),
        "payer_busy_ms": dist(&col(|s| s.payer_busy)),
        "payee_busy_ms": dist(&col(|s| s.payee_busy)),
        "radio_and_waits_ms": dist(&col(|s| s.wall - s.payer_busy - s.payee_busy)),
        "crypto_ms": {
            "payer": (crypto_payer * 1000.0).round() / 1000.0,
            "payee": (crypto_payee * 1000.0).round() / 1000.0,
        },
        "payee_request_ms": dist(&col(|s| s.request)),
        "payee_setup_ms": dist(&col(|s| s.payee_setup)),
        "process_cpu_ms_per_payment": cpu.map(|[user, system]| {
            let per = |d: Duration| (ms(d) / n as f64 * 1000.0).round() / 1000.0;
            json!({ "total": per(user + system), "user": per(user), "system": per(system) })
        }),
        "per_payment": {
            "round_trips": round_trips,
            "offer_bytes": samples.first().map_or(0, |s| s.offer_bytes),
            "reply_bytes": samples.first().map_or(0, |s| s.reply_bytes),
            "ble_packets": per(|s| s.packets),
            "ble_events": per(|s| s.events),
            "ble_payload_bytes": per(|s| s.payload_bytes),
            "ble_retransmissions": per(|s| s.retransmissions),
        },
        "budget": {
            "ms": BUDGET_MS,
            "att_mtu": BUDGET_MTU,
            "round_trips": 1,
            "applies": params.att_mtu == BUDGET_MTU,
            "met_p50": round_trips == 1 && p50 <= BUDGET_MS,
            "met_p99": round_trips == 1 && p99 <= BUDGET_MS,
        },
        "settled": settled,
        "audit_clean": audit.is_clean(),
    }))
}

fn print_summary(r: &Value) {
    let f = |v: &Value| v.as_f64().unwrap_or(f64::NAN);
    println!(
        "{} face-to-face payments over the BLE model, ATT MTU {}",
        r["payments"], r["link"]["att_mtu"]
    );
    println!(
        "wall per payment: p50 {:.1} ms, p99 {:.1} ms (budget {} ms at MTU {}: p50 {}, p99 {})",
        f(&r["wall_ms"]["p50"]),
        f(&r["wall_ms"]["p99"]),
        r["budget"]["ms"],
        r["budget"]["att_mtu"],
        if r["budget"]["met_p50"] == true {
            "met"
        } else {
            "not met"
        },
        if r["budget"]["met_p99"] == true {
            "met"
        } else {
            "not met"
        },
    );
    println!(
        "busy p50: payer {:.1} ms, payee {:.1} ms; radio and waits p50 {:.1} ms",
        f(&r["payer_busy_ms"]["p50"]),
        f(&r["payee_busy_ms"]["p50"]),
        f(&r["radio_and_waits_ms"]["p50"]),
    );
    println!(
        "crypto alone: payer {:.2} ms, payee {:.2} ms; process CPU per payment {} ms",
        f(&r["crypto_ms"]["payer"]),
        f(&r["crypto_ms"]["payee"]),
        r["process_cpu_ms_per_payment"]["total"],
    );
    let p = &r["per_payment"];
    println!(
        "per payment: {} round trip(s), offer {} B, reply {} B, {} packets in {} events",
        p["round_trips"], p["offer_bytes"], p["reply_bytes"], p["ble_packets"], p["ble_events"]
    );
    println!(
        "settled {} of {}; audit {}",
        r["settled"],
        r["payments"],
        if r["audit_clean"] == true {
            "clean"
        } else {
            "NOT CLEAN"
        }
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_are_clipped_to_the_window() {
        let t = Instant::now();
        let at = |ms| t + Duration::from_millis(ms);
        let link = Clocked {
            inner: (),
            waits: vec![(at(0), at(10)), (at(20), at(30)), (at(40), at(50))],
            sent: Vec::new(),
            listening: None,
        };
        assert_eq!(link.waited(at(5), at(45)), Duration::from_millis(20));
        assert_eq!(link.waited(at(60), at(70)), Duration::ZERO);
    }

    #[test]
    fn process_cpu_reads_on_linux() {
        if cfg!(target_os = "linux") {
            assert!(process_cpu().is_some());
        }
    }
}
