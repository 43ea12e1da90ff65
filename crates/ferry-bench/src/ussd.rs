//! `ferry-bench ussd`: how fast the USSD gateway answers under load (DESIGN §7: p99 < 1 s).
//!
//! A real server in this process (SQLite in a temporary directory, or PostgreSQL in a fresh
//! schema), real HTTP, production PIN hashing (Argon2id, 19 MiB, 2 passes). Setup, not timed:
//! `2 × concurrency` phones register through the menus (language, PIN, PIN again) and an agent
//! cashes the payers in. Timed: `sessions` send sessions, `concurrency` at a time, each the six
//! callbacks an aggregator sends (dial, `1`, recipient, amount, PIN, confirm), every callback
//! followed by its retransmission, as aggregators do when a reply is late; a user answers each
//! screen after `--think-ms` (0 by default: every session at full speed, which saturates the
//! two cores with Argon2id). Reported: p50, p99
//! and max latency of each callback kind, throughput, and whether every send settled once and
//! the audit is clean.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use clap::Args;
use ferry_api::client::SettlementClient;
use ferry_api::{UssdCallbackForm, UssdReply};
use ferry_proto::{Currency, Money};
use ferry_server::serve::{ServeConfig, start};
use ferry_testkit::postgres;
use serde_json::{Value, json};
use tokio::sync::Mutex;

use crate::settle::percentile;

/// The budget: p99 answer time of a callback.
const BUDGET_P99_MS: f64 = 1000.0;
/// The PIN every benchmark phone chooses.
const PIN: &str = "2580";
/// What each session sends, in minor units.
const AMOUNT: i64 = 1_00;

/// `ferry-bench ussd` options.
#[derive(Args, Debug)]
pub struct UssdArgs {
    /// Send sessions to run.
    #[arg(long, default_value_t = 200)]
    sessions: usize,
    /// Sessions in flight at once (and payer phones).
    #[arg(long, default_value_t = 50)]
    concurrency: usize,
    /// Milliseconds a user takes, on average, to answer each screen (each wait drawn between
    /// half and one and a half times this; 0: answer at once, which saturates the server;
    /// people take seconds).
    #[arg(long, default_value_t = 0)]
    think_ms: u64,
    /// Run the server on PostgreSQL (postgres://user@host/db), in a fresh schema dropped at the
    /// end, instead of SQLite.
    #[arg(long)]
    database_url: Option<String>,
    /// Print one JSON object instead of a summary.
    #[arg(long)]
    json: bool,
}

const KINDS: [&str; 6] = ["dial", "menu", "recipient", "amount", "pin", "confirm"];

fn phone(n: usize) -> String {
    format!("+5581{:08}", 90_000_000 + n)
}

fn form(session: &str, phone: &str, text: &str) -> UssdCallbackForm {
    UssdCallbackForm {
        session_id: session.to_owned(),
        service_code: "*384*1#".to_owned(),
        phone_number: phone.to_owned(),
        network_code: Some("72405".to_owned()),
        text: text.to_owned(),
    }
}

/// Latencies in milliseconds by callback kind (`retransmission` for the repeats).
type Samples = BTreeMap<&'static str, Vec<f64>>;

async fn timed(
    client: &SettlementClient,
    f: &UssdCallbackForm,
    kind: &'static str,
    samples: &mut Samples,
) -> Result<UssdReply> {
    let t = Instant::now();
    let r = client.ussd(f).await.context("callback")?;
    samples
        .entry(kind)
        .or_default()
        .push(t.elapsed().as_secs_f64() * 1000.0);
    Ok(r)
}

/// One send session from `from` to `to`, each callback retransmitted, the user taking `think`
/// to answer each screen.
async fn session(
    client: &SettlementClient,
    id: &str,
    (from, to): (&str, &str),
    think: Duration,
    samples: &mut Samples,
) -> Result<UssdReply> {
    let amount = Money::new(AMOUNT, Currency::BRL).to_decimal_string();
    let inputs = ["", "1", to, &amount, PIN, "1"];
    let mut text = String::new();
    let mut last = None;
    for (i, input) in inputs.iter().enumerate() {
        if i > 0 && !think.is_zero() {
            // Half to one and a half times the think time, so sessions drift apart as people's do.
            let r = u64::from(u16::from_be_bytes(ferry_proto::random_bytes::<2>()));
            let ms = think.as_millis() as u64;
            tokio::time::sleep(Duration::from_millis(ms / 2 + ms * r / 65_535)).await;
        }
        if i > 1 {
            text.push('*');
        }
        text.push_str(input);
        let f = form(id, from, &text);
        let first = timed(client, &f, KINDS[i], samples).await?;
        let again = timed(client, &f, "retransmission", samples).await?;
        ensure!(first == again, "a retransmission got another screen");
        last = Some(first);
    }
    last.context("no callback")
}

fn dist(v: &mut [f64]) -> Value {
    v.sort_by(f64::total_cmp);
    let round = |x: f64| (x * 100.0).round() / 100.0;
    json!({
        "count": v.len(),
        "p50": round(percentile(v, 50.0)),
        "p99": round(percentile(v, 99.0)),
        "max": round(percentile(v, 100.0)),
    })
}

/// Runs `ferry-bench ussd`.
pub fn run(args: UssdArgs) -> Result<()> {
    ensure!(args.sessions > 0 && args.concurrency > 0, "nothing to run");
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("tokio runtime")?
        .block_on(bench(args))
}

async fn bench(args: UssdArgs) -> Result<()> {
    let dir = tempfile::tempdir().context("temp dir")?;
    let mut config = ServeConfig::new(dir.path().to_owned());
    config.listen = "127.0.0.1:0".parse()?;
    config.fees.order_bps = 100;
    let mut schema = None;
    if let Some(url) = &args.database_url {
        let name = format!("ferry_bench_{}", ferry_testkit::random_hex());
        schema = Some((url.clone(), name.clone()));
        config.database_url = Some(postgres::create_schema(url, &name).await?);
    }
    let database = if schema.is_some() {
        "postgres"
    } else {
        "sqlite"
    };
    let server = start(config).await.context("starting the server")?;
    let base = format!("http://{}", server.addr);
    let client =
        SettlementClient::with_timeouts(&base, Duration::from_secs(10), Duration::from_secs(60));
    let admin = server.admin_token.clone();

    // Setup: phones register through the menus; the payers get money.
    let pairs = args.concurrency;
    let per_payer = args.sessions.div_ceil(pairs) as i64;
    let mut setup = Vec::new();
    for n in 0..2 * pairs {
        let client = client.clone();
        setup.push(tokio::spawn(async move {
            let p = phone(n);
            let id = format!("reg-{n}");
            for text in ["", "1", &format!("1*{PIN}"), &format!("1*{PIN}*{PIN}")] {
                client.ussd(&form(&id, &p, text)).await?;
            }
            anyhow::Ok(())
        }));
    }
    for t in setup {
        t.await??;
    }
    let agent_token = client.create_agent(&admin, "bench-kiosk").await?;
    let float = per_payer * (AMOUNT + AMOUNT / 100 + 1) * pairs as i64;
    client
        .fund(
            &admin,
            "agent:bench-kiosk",
            Money::new(float, Currency::BRL),
            "bench-float",
        )
        .await?;
    for n in 0..pairs {
        let account = client
            .phone_account(&agent_token, &phone(n))
            .await?
            .account_id
            .parse()
            .map_err(|_| anyhow::anyhow!("account id"))?;
        client
            .cash_in(
                &agent_token,
                account,
                Money::new(per_payer * (AMOUNT + AMOUNT / 100 + 1), Currency::BRL),
                &format!("bench-{n}"),
            )
            .await?;
    }

    // Timed: the send sessions.
    let think = Duration::from_millis(args.think_ms);
    let next = Arc::new(Mutex::new(0usize));
    let started = Instant::now();
    let mut workers = Vec::new();
    for _ in 0..args.concurrency {
        let (client, next) = (client.clone(), next.clone());
        let total = args.sessions;
        workers.push(tokio::spawn(async move {
            let mut samples = Samples::new();
            let mut sent = 0usize;
            loop {
                let k = {
                    let mut n = next.lock().await;
                    if *n >= total {
                        break;
                    }
                    *n += 1;
                    *n - 1
                };
                // Payer k mod pairs: each payer sends at most its share, whichever worker runs it.
                let (from, to) = (phone(k % pairs), phone(pairs + (k + 1) % pairs));
                let r = session(
                    &client,
                    &format!("bench-{k}"),
                    (&from, &to),
                    think,
                    &mut samples,
                )
                .await?;
                if r.text().starts_with("Sent ") {
                    sent += 1;
                } else {
                    bail!("session {k} did not send: {r:?}");
                }
            }
            anyhow::Ok((samples, sent))
        }));
    }
    let mut samples = Samples::new();
    let mut sent = 0;
    for w in workers {
        let (s, n) = w.await??;
        sent += n;
        for (k, mut v) in s {
            samples.entry(k).or_default().append(&mut v);
        }
    }
    let elapsed = started.elapsed().as_secs_f64();

    let audit = client.audit(&admin).await?;
    let (transfers, distinct) = server.engine.store().transfer_counts("ussd_send").await?;
    let mut all: Vec<f64> = samples.values().flatten().copied().collect();
    let callbacks = all.len();
    let overall = dist(&mut all);
    let mut by_kind = serde_json::Map::new();
    for (k, v) in samples.iter_mut() {
        by_kind.insert((*k).to_owned(), dist(v));
    }
    let p99 = overall["p99"].as_f64().unwrap_or(f64::MAX);
    let exact = sent == args.sessions && transfers == sent as i64 && distinct == transfers;
    let report = json!({
        "benchmark": "ussd",
        "database": database,
        "sessions": args.sessions,
        "concurrency": args.concurrency,
        "think_ms": args.think_ms,
        "callbacks": callbacks,
        "elapsed_s": (elapsed * 1000.0).round() / 1000.0,
        "sessions_per_s": (args.sessions as f64 / elapsed * 10.0).round() / 10.0,
        "callbacks_per_s": (callbacks as f64 / elapsed * 10.0).round() / 10.0,
        "latency_ms": overall,
        "latency_ms_by_callback": by_kind,
        "pin_hash": "argon2id m=19456 KiB t=2 p=1",
        "sent_once": exact,
        "audit_clean": audit.clean,
        "budget": {"p99_ms": BUDGET_P99_MS, "met": p99 < BUDGET_P99_MS},
    });
    server.stop().await?;
    if let Some((url, name)) = schema {
        postgres::drop_schema(&url, &name).await?;
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!(
            "{} sessions ({} callbacks) at concurrency {} on {database} in {:.1} s: {:.1} sessions/s; \
             callback p50 {} ms, p99 {} ms, max {} ms (budget p99 < {BUDGET_P99_MS} ms: {})",
            args.sessions,
            callbacks,
            args.concurrency,
            elapsed,
            args.sessions as f64 / elapsed,
            report["latency_ms"]["p50"],
            report["latency_ms"]["p99"],
            report["latency_ms"]["max"],
            if p99 < BUDGET_P99_MS {
                "met"
            } else {
                "NOT met"
            }
        );
    }
    ensure!(exact, "not every session sent exactly once");
    ensure!(audit.clean, "the audit is not clean");
    Ok(())
}
