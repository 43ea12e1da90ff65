//! `ferry-bench settle`: settlement throughput end to end over HTTP (DESIGN §7).
//!
//! Setup, not timed: register software wallets and a few payee accounts over HTTP with
//! [`SettlementClient`], fund every wallet (admin fund → agent cash-in → deposit applied to the
//! wallet's journal), and sign the payments locally, at most the software tier's payments per
//! wallet between syncs. Timed: `--clients` independent HTTP clients (each its own connection)
//! post the payments as claims or as sealed envelopes, `--batch` per request, one request at a
//! time each, recording each request's latency and every item's outcome — until the payments run
//! out or, with `--duration`, until that many seconds have passed.
//!
//! The same run measures the yardstick of the budget: `verify_strict` of single Ed25519
//! signatures on one core. The target is settled/s ≥ 50 % of that rate. The client shares the
//! machine with the server (and, in process, its runtime); it only encodes JSON in the timed
//! phase, since signing and sealing happen during setup.

use std::collections::BTreeMap;
use std::hint::black_box;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use clap::{Args, ValueEnum};
use ferry_api::Outcome;
use ferry_api::client::{Claim, ClientError, SettlementClient};
use ferry_proto::envelope::Envelope;
use ferry_proto::sealed::{SealedContent, seal};
use ferry_proto::{
    AccountId, Clock, Currency, Document, EntryKind, JournalEntry, Money, RequestNonce,
    SignedEntry, SigningKey, SystemClock,
};
use ferry_server::serve::{ADMIN_TOKEN_FILE, RunningServer, ServeConfig, start};
use ferry_testkit::HasOutcome;
use ferry_testkit::postgres;
use ferry_wallet::light::{LightDevice, cash_for_deposit};
use serde_json::{Value, json};

/// The budget for a shape of upload (issue 13): settled payments per second over single-core
/// verifies per second, and for single-payment requests a p99 latency in milliseconds. `None`
/// against a server at `--url`, whose database the bench cannot see.
fn budget(mode: Mode, database: &str, batch: usize) -> Option<(f64, Option<f64>)> {
    let ratio = match (mode, database, batch) {
        (_, "unknown", _) => return None,
        (_, _, 1) => return Some((0.25, Some(50.0))),
        (_, _, 2..=8) => 0.5,
        (Mode::Envelopes, _, _) => 0.7,
        (Mode::Claims, "postgres", _) => 0.6,
        (Mode::Claims, _, _) => 1.0,
    };
    Some((ratio, None))
}
/// Payee accounts the payments are spread over.
const PAYEES: usize = 16;
/// How long the Ed25519 verify rate is measured.
const VERIFY_FOR: Duration = Duration::from_secs(1);

/// How the payments reach the server.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Mode {
    /// `POST /v1/claims`, as receivers upload them.
    Claims,
    /// `POST /v1/envelopes`, each payment sealed to the issuer, as bridges upload them.
    Envelopes,
}

impl Mode {
    fn name(self) -> &'static str {
        match self {
            Mode::Claims => "claims",
            Mode::Envelopes => "envelopes",
        }
    }
}

/// `ferry-bench settle` options.
#[derive(Args, Debug)]
pub struct SettleArgs {
    /// A running `ferry serve` (http://host:port). Without it, an in-process server is started on
    /// a fresh temporary directory.
    #[arg(long)]
    url: Option<String>,
    /// The admin token of the server at --url.
    #[arg(long, requires = "url", conflicts_with = "data_dir")]
    admin_token: Option<String>,
    /// Read the admin token of the server at --url from DIR/admin.token.
    #[arg(long, value_name = "DIR", requires = "url")]
    data_dir: Option<PathBuf>,
    /// Run the in-process server on PostgreSQL (postgres://user@host/db), in a fresh schema
    /// dropped at the end, instead of SQLite.
    #[arg(long, conflicts_with = "url")]
    database_url: Option<String>,
    /// Software wallets paying (raised to payments / the tier's payments-between-syncs limit).
    #[arg(long, default_value_t = 200)]
    wallets: usize,
    /// Payments signed for the timed phase (all are posted unless `--duration` ends it first).
    #[arg(long, default_value_t = 20_000)]
    payments: usize,
    /// Payments per request (at most 1000). Full batches with two in flight settle fastest on
    /// both databases (BENCHMARKS.md): one batch is verified while the other is written.
    #[arg(long, default_value_t = 1000)]
    batch: usize,
    /// Independent HTTP clients, each with its own connection and one request in flight (a
    /// phone or a bridge each).
    #[arg(long, visible_alias = "concurrency", default_value_t = 2)]
    clients: usize,
    /// Stop sending new requests after this many seconds (the payments not sent by then are not
    /// counted). Sign enough `--payments` to last.
    #[arg(long, value_name = "SECS")]
    duration: Option<f64>,
    /// Claims or sealed envelopes.
    #[arg(long, value_enum, default_value_t = Mode::Claims)]
    mode: Mode,
    /// Run the in-process server with one transaction per request (`ferry serve
    /// --no-group-commit`), to compare with group commit.
    #[arg(long, conflicts_with = "url")]
    no_group_commit: bool,
    /// Print one JSON object instead of a summary.
    #[arg(long)]
    json: bool,
}

/// The `p`-th percentile (0 < p ≤ 100) of `sorted` by the nearest-rank method; 0 when empty.
pub(crate) fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = (p / 100.0 * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// Amount of payment `k`, in minor units: 1.00 to 1.49, so 50 fit any software wallet.
fn amount_of(k: usize) -> i64 {
    1_00 + (k % 50) as i64
}

/// CPU time this process has used so far (user + system, all threads, finished ones included),
/// from `/proc/self/stat` in clock ticks of 1/100 s (Linux's `USER_HZ`). `None` elsewhere.
fn process_cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the parenthesized command name; utime and stime are fields 14 and 15.
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace().skip(11);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some((utime + stime) as f64 / 100.0)
}

/// CPU time this thread has run, from `/proc/thread-self/schedstat` (nanoseconds). `None`
/// elsewhere.
fn thread_cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    let ns: u64 = stat.split_whitespace().next()?.parse().ok()?;
    Some(ns as f64 / 1e9)
}

/// Single-signature `verify_strict` per second on this thread, over a journal entry's signed
/// bytes (what the server checks for every payment): per second of wall time (the yardstick),
/// and per second of this thread's CPU time when the platform tells it (on a shared machine
/// the two differ by the share of a core the thread got).
fn ed25519_verify_rate(duration: Duration) -> Result<(f64, Option<f64>)> {
    let key = SigningKey::generate();
    let entry = SignedEntry::sign(
        JournalEntry {
            j: 2,
            time: SystemClock.now(),
            prev_hash: ferry_proto::Hash32([7; 32]),
            amount: Money::new(1_23, Currency::BRL),
            kind: EntryKind::Pay {
                payee: AccountId::random(),
                nonce: RequestNonce::random(),
            },
        },
        &key,
    )?;
    let public = key.public();
    let started = Instant::now();
    let cpu_started = thread_cpu_seconds();
    let mut count = 0u64;
    while started.elapsed() < duration {
        for _ in 0..256 {
            public
                .verify(
                    JournalEntry::DOMAIN,
                    black_box(entry.signed_bytes()),
                    black_box(entry.signature()),
                )
                .map_err(|_| anyhow::anyhow!("a fresh signature did not verify"))?;
        }
        count += 256;
    }
    let wall = count as f64 / started.elapsed().as_secs_f64();
    let cpu = match (cpu_started, thread_cpu_seconds()) {
        (Some(a), Some(b)) if b > a => Some(count as f64 / (b - a)),
        _ => None,
    };
    Ok((wall, cpu))
}

/// The server under test and how to reach it.
struct Target {
    client: SettlementClient,
    admin_token: String,
    database: &'static str,
    server: Option<RunningServer>,
    _dir: Option<tempfile::TempDir>,
    /// PostgreSQL: the database URL and the schema, dropped at the end.
    schema: Option<(String, String)>,
}

impl Target {
    async fn open(args: &SettleArgs) -> Result<Target> {
        if let Some(url) = &args.url {
            let admin_token = match (&args.admin_token, &args.data_dir) {
                (Some(t), _) => t.clone(),
                (None, Some(dir)) => {
                    let path = dir.join(ADMIN_TOKEN_FILE);
                    std::fs::read_to_string(&path)
                        .with_context(|| format!("reading {}", path.display()))?
                        .trim()
                        .to_owned()
                }
                (None, None) => bail!("--url needs --admin-token or --data-dir"),
            };
            return Ok(Target {
                client: SettlementClient::new(url),
                admin_token,
                database: "unknown",
                server: None,
                _dir: None,
                schema: None,
            });
        }
        let dir = tempfile::tempdir().context("creating a temporary directory")?;
        let mut config = ServeConfig::new(dir.path().to_owned());
        config.listen = ([127, 0, 0, 1], 0).into();
        config.group_commit = !args.no_group_commit;
        let mut schema = None;
        if let Some(url) = &args.database_url {
            let name = format!("ferry_bench_{}", AccountId::random().to_hex());
            config.database_url = Some(
                postgres::create_schema(url, &name)
                    .await
                    .context("creating the benchmark schema in PostgreSQL")?,
            );
            schema = Some((url.clone(), name));
        }
        let database = if schema.is_some() {
            "postgres"
        } else {
            "sqlite"
        };
        let server = start(config).await.context("starting the server")?;
        Ok(Target {
            client: SettlementClient::new(&format!("http://{}", server.addr)),
            admin_token: server.admin_token.clone(),
            database,
            server: Some(server),
            _dir: Some(dir),
            schema,
        })
    }

    /// Stops the in-process server and drops the PostgreSQL schema.
    async fn close(self) -> Result<()> {
        if let Some(server) = self.server {
            server.stop().await.context("stopping the server")?;
        }
        if let Some((url, name)) = self.schema {
            postgres::drop_schema(&url, &name)
                .await
                .context("dropping the benchmark schema")?;
        }
        Ok(())
    }
}

/// The payments, signed and grouped into request bodies.
enum Batches {
    Claims(Vec<Vec<Claim>>),
    Envelopes(Vec<Vec<Envelope>>),
}

impl Batches {
    fn len(&self) -> usize {
        match self {
            Batches::Claims(b) => b.len(),
            Batches::Envelopes(b) => b.len(),
        }
    }

    /// Posts batch `i`: its size and the outcomes.
    async fn post(
        &self,
        client: &SettlementClient,
        i: usize,
    ) -> (usize, Result<Vec<Outcome>, ClientError>) {
        fn outcomes<T: HasOutcome>(
            r: Result<Vec<T>, ClientError>,
        ) -> Result<Vec<Outcome>, ClientError> {
            r.map(|v| v.iter().map(|o| o.outcome().clone()).collect())
        }
        match self {
            Batches::Claims(b) => (b[i].len(), outcomes(client.claim(&b[i]).await)),
            Batches::Envelopes(b) => (b[i].len(), outcomes(client.envelopes(&b[i]).await)),
        }
    }
}

/// Registers an account and a software wallet, and funds the wallet with `deposit`.
async fn funded_wallet(
    client: &SettlementClient,
    agent_token: &str,
    issuer_key: &ferry_proto::PublicKey,
    reference: &str,
    deposit: Money,
    cash: Money,
) -> Result<LightDevice> {
    let mut device = LightDevice::register(client, "ferry bench", SystemClock.now()).await?;
    device
        .cash_in_and_deposit(
            client,
            agent_token,
            issuer_key,
            cash,
            deposit,
            reference,
            SystemClock.now(),
        )
        .await?;
    Ok(device)
}

/// Runs `job(i)` for every `i < n` on `workers` tasks; results in order of `i`.
async fn in_parallel<T, F, Fut>(n: usize, workers: usize, job: F) -> Result<Vec<T>>
where
    T: Send + 'static,
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<T>> + Send,
{
    let job = Arc::new(job);
    let next = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for _ in 0..workers.max(1) {
        let (job, next) = (job.clone(), next.clone());
        tasks.push(tokio::spawn(async move {
            let mut done = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= n {
                    return Ok::<_, anyhow::Error>(done);
                }
                done.push((i, job(i).await?));
            }
        }));
    }
    let mut all = Vec::with_capacity(n);
    for t in tasks {
        all.extend(t.await.context("setup task")??);
    }
    all.sort_by_key(|(i, _)| *i);
    Ok(all.into_iter().map(|(_, t)| t).collect())
}

/// Untimed: wallets, payees, funding and signing. Returns the batches and the wallet count.
async fn prepare(target: &Target, args: &SettleArgs) -> Result<(Batches, usize)> {
    let client = &target.client;
    let params = client
        .params()
        .await
        .context("fetching network parameters")?;
    let p = params.unverified().clone();
    let limits = p.software_limits;
    let per_wallet = limits.max_payments_between_syncs as usize;
    ensure!(per_wallet > 0, "the software tier allows no payments");
    // Every wallet pays at least once (a wallet with nothing to pay could deposit nothing).
    let wallets = args
        .wallets
        .min(args.payments)
        .max(args.payments.div_ceil(per_wallet));
    if wallets > args.wallets {
        eprintln!(
            "bench: {} payments need at least {wallets} wallets ({per_wallet} payments each \
             between syncs); using {wallets}",
            args.payments
        );
    }
    // Each wallet deposits exactly what it will pay.
    let mut deposits = vec![0i64; wallets];
    for k in 0..args.payments {
        ensure!(
            amount_of(k) <= limits.max_payment,
            "payment above the tier's limit"
        );
        deposits[k % wallets] += amount_of(k);
    }
    ensure!(
        deposits.iter().all(|d| *d <= limits.max_balance),
        "deposits above the tier's balance limit"
    );
    let currency = p.currency;
    let money = move |minor| Money::new(minor, currency);
    let cash: Vec<i64> = deposits
        .iter()
        .map(|d| cash_for_deposit(*d, p.fees.deposit_bps, p.fees.cash_in_bps))
        .collect::<Option<_>>()
        .context("the cash-in fee leaves nothing to deposit")?;

    let run = AccountId::random().to_hex();
    let agent = format!("bench-{}", &run[..12]);
    let admin = &target.admin_token;
    let agent_token = client.create_agent(admin, &agent).await?;
    let r = client
        .fund(
            admin,
            &format!("agent:{agent}"),
            money(cash.iter().sum()),
            &format!("bench-{run}"),
        )
        .await?;
    ensure!(r == Outcome::Settled, "funding the agent: {r}");

    let payees = {
        let client = client.clone();
        in_parallel(PAYEES, args.clients, move |_| {
            let client = client.clone();
            async move {
                let key = SigningKey::generate();
                let cert = client.register_account(&key, SystemClock.now()).await?;
                Ok(cert.unverified().account_id)
            }
        })
        .await?
    };
    let mut funded = {
        let (client, issuer) = (client.clone(), p.issuer_key);
        let (deposits, cash) = (Arc::new(deposits), Arc::new(cash));
        in_parallel(wallets, args.clients, move |w| {
            let (client, agent_token, deposits, cash) = (
                client.clone(),
                agent_token.clone(),
                deposits.clone(),
                cash.clone(),
            );
            let reference = format!("bench-{run}-{w}");
            async move {
                funded_wallet(
                    &client,
                    &agent_token,
                    &issuer,
                    &reference,
                    money(deposits[w]),
                    money(cash[w]),
                )
                .await
                .with_context(|| format!("setting up wallet {w}"))
            }
        })
        .await?
    };

    // Payment k: wallet k mod N pays payee k mod 16, so every batch spans many wallets.
    let now = SystemClock.now();
    let mut claims = Vec::with_capacity(args.payments);
    for k in 0..args.payments {
        let (_, claim) = funded[k % wallets].pay(payees[k % PAYEES], money(amount_of(k)), now)?;
        claims.push(claim);
    }
    let batches = match args.mode {
        Mode::Claims => Batches::Claims(chunks(claims, args.batch)),
        Mode::Envelopes => {
            let expires = now.plus_secs(3600);
            let sealed = claims
                .into_iter()
                .map(|c| {
                    let content = SealedContent::Payment {
                        ta_cert: c.ta_cert,
                        payment: c.payment,
                        receipt: None,
                    };
                    seal(&p, &content, expires, 4)
                })
                .collect::<Result<Vec<_>, _>>()?;
            Batches::Envelopes(chunks(sealed, args.batch))
        }
    };
    Ok((batches, wallets))
}

/// `items` in consecutive groups of `size` (the last may be shorter).
fn chunks<T>(items: Vec<T>, size: usize) -> Vec<Vec<T>> {
    let mut out = Vec::with_capacity(items.len().div_ceil(size));
    let mut items = items.into_iter().peekable();
    while items.peek().is_some() {
        out.push(items.by_ref().take(size).collect());
    }
    out
}

/// What the timed phase saw.
#[derive(Debug, Default)]
struct Tally {
    settled: usize,
    duplicate: usize,
    other: usize,
    /// `outcome:reason` (or the request error) → count, for everything not settled.
    reasons: BTreeMap<String, usize>,
    /// Payments sent.
    posted: usize,
    /// Milliseconds per request.
    latencies: Vec<f64>,
}

impl Tally {
    fn add(&mut self, size: usize, result: Result<Vec<Outcome>, impl std::fmt::Display>) {
        self.posted += size;
        let outcomes = match result {
            Ok(o) => o,
            Err(e) => {
                self.other += size;
                *self.reasons.entry(format!("error: {e}")).or_default() += size;
                return;
            }
        };
        if outcomes.len() != size {
            self.other += size.saturating_sub(outcomes.len());
            *self.reasons.entry("missing_outcome".into()).or_default() +=
                size.saturating_sub(outcomes.len());
        }
        for o in outcomes {
            match o {
                Outcome::Settled => self.settled += 1,
                Outcome::Duplicate => self.duplicate += 1,
                _ => self.other += 1,
            }
            if o != Outcome::Settled {
                let key = format!("{}:{}", o.name(), o.reason().map_or("-", |r| r.as_str()));
                *self.reasons.entry(key).or_default() += 1;
            }
        }
    }

    fn merge(&mut self, other: Tally) {
        self.settled += other.settled;
        self.posted += other.posted;
        self.duplicate += other.duplicate;
        self.other += other.other;
        for (k, v) in other.reasons {
            *self.reasons.entry(k).or_default() += v;
        }
        self.latencies.extend(other.latencies);
    }
}

/// What the timed phase did.
struct Posted {
    tally: Tally,
    seconds: f64,
    /// Whether every batch was sent before `--duration` ran out.
    exhausted: bool,
}

/// Timed: `clients` independent clients of `base_url` post the batches, one request in flight
/// each, until the batches run out or `duration` has passed.
async fn post_all(
    base_url: &str,
    batches: Batches,
    clients: usize,
    duration: Option<Duration>,
) -> Result<Posted> {
    let batches = Arc::new(batches);
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let deadline = duration.map(|d| started + d);
    let mut tasks = Vec::new();
    for _ in 0..clients {
        let client = SettlementClient::new(base_url);
        let (batches, next) = (batches.clone(), next.clone());
        tasks.push(tokio::spawn(async move {
            let mut tally = Tally::default();
            loop {
                if deadline.is_some_and(|d| Instant::now() >= d) {
                    return tally;
                }
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= batches.len() {
                    return tally;
                }
                let t0 = Instant::now();
                let (size, result) = batches.post(&client, i).await;
                tally.latencies.push(t0.elapsed().as_secs_f64() * 1000.0);
                tally.add(size, result);
            }
        }));
    }
    let mut tally = Tally::default();
    for t in tasks {
        tally.merge(t.await.context("poster task")?);
    }
    let seconds = started.elapsed().as_secs_f64();
    let exhausted = next.load(Ordering::Relaxed) >= batches.len();
    Ok(Posted {
        tally,
        seconds,
        exhausted,
    })
}

pub fn run(args: SettleArgs) -> Result<()> {
    ensure!(args.payments > 0, "--payments must be positive");
    ensure!(args.wallets > 0, "--wallets must be positive");
    ensure!(
        (1..=ferry_ledger::engine::MAX_BATCH_ITEMS).contains(&args.batch),
        "--batch must be 1..={}",
        ferry_ledger::engine::MAX_BATCH_ITEMS
    );
    ensure!(args.clients > 0, "--clients must be positive");
    if let Some(d) = args.duration {
        ensure!(
            d.is_finite() && d > 0.0 && d <= 86_400.0,
            "--duration must be between 0 and 86400 seconds"
        );
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let target = rt.block_on(Target::open(&args))?;
    let measured = measure(&rt, &target, &args);
    let closed = rt.block_on(target.close());
    let report = measured?;
    closed?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print_summary(&report);
    }
    let posted = report["posted"].as_u64().unwrap_or(0);
    let lost = posted.saturating_sub(report["settled"].as_u64().unwrap_or(0));
    ensure!(
        lost == 0,
        "{lost} of the {posted} payments sent did not settle"
    );
    ensure!(
        report["audit_clean"] == Value::Bool(true),
        "the audit is not clean"
    );
    Ok(())
}

/// Setup, the verify rate, the timed phase and the audit, as the JSON report.
fn measure(rt: &tokio::runtime::Runtime, target: &Target, args: &SettleArgs) -> Result<Value> {
    let setup_started = Instant::now();
    eprintln!(
        "bench: setting up wallets and signing {} payments",
        args.payments
    );
    let (batches, wallets) = rt.block_on(prepare(target, args))?;
    let setup_seconds = setup_started.elapsed().as_secs_f64();
    // Measured on this thread while the server is idle, next to the timed phase.
    let (verify_per_sec, verify_per_cpu_sec) = ed25519_verify_rate(VERIFY_FOR)?;
    eprintln!(
        "bench: setup took {setup_seconds:.1} s; posting {} batches",
        batches.len()
    );
    let cpu_started = process_cpu_seconds();
    let grouped_before = target
        .server
        .as_ref()
        .map(|s| s.engine.group_commit_stats());
    let duration = args.duration.map(Duration::from_secs_f64);
    let Posted {
        mut tally,
        seconds,
        exhausted,
    } = rt.block_on(post_all(
        target.client.base_url(),
        batches,
        args.clients,
        duration,
    ))?;
    if duration.is_some() && exhausted {
        eprintln!(
            "bench: the {} payments ran out after {seconds:.1} s, before --duration; sign more \
             with --payments",
            args.payments
        );
    }
    // Client and in-process server together; `None` against a server at --url.
    let cpu_seconds = match (target.server.is_some(), cpu_started, process_cpu_seconds()) {
        (true, Some(a), Some(b)) => Some(b - a),
        _ => None,
    };
    // Requests per transaction (in process only: a server at --url keeps its engine).
    let grouping = match (grouped_before, target.server.as_ref()) {
        (Some(before), Some(server)) => {
            let after = server.engine.group_commit_stats();
            Some((
                after.transactions - before.transactions,
                after.requests - before.requests,
            ))
        }
        _ => None,
    };
    let audit = rt
        .block_on(target.client.audit(&target.admin_token))
        .context("fetching the audit")?;
    tally.latencies.sort_by(f64::total_cmp);
    let settled_per_sec = tally.settled as f64 / seconds;
    let ratio = settled_per_sec / verify_per_sec;
    let goal = budget(args.mode, target.database, args.batch);
    let round = |x: f64, places: i32| (x * 10f64.powi(places)).round() / 10f64.powi(places);
    Ok(json!({
        "mode": args.mode.name(),
        "group_commit": target.server.as_ref().map(|s| s.engine.config().group_commit),
        "database": target.database,
        "payments": args.payments,
        "wallets": wallets,
        "batch": args.batch,
        "clients": args.clients,
        "duration": args.duration,
        "posted": tally.posted,
        "ran_out": duration.is_some() && exhausted,
        "settled": tally.settled,
        "duplicate": tally.duplicate,
        "other": tally.other,
        "other_reasons": tally.reasons,
        "seconds": round(seconds, 3),
        "settled_per_sec": settled_per_sec.round() as u64,
        "requests": tally.latencies.len(),
        "request_p50_ms": round(percentile(&tally.latencies, 50.0), 1),
        "request_p99_ms": round(percentile(&tally.latencies, 99.0), 1),
        "ed25519_verify_per_sec": verify_per_sec.round() as u64,
        // Diagnostics for a shared machine: how much CPU the run got and used. Not the target.
        "ed25519_verify_per_cpu_sec": verify_per_cpu_sec.map(|v| v.round() as u64),
        "cpu_seconds": cpu_seconds.map(|c| round(c, 2)),
        "cpu_busy_cores": cpu_seconds.map(|c| round(c / seconds, 2)),
        "cpu_us_per_settled": cpu_seconds
            .filter(|_| tally.settled > 0)
            .map(|c| round(c * 1e6 / tally.settled as f64, 1)),
        "transactions": grouping.map(|(t, _)| t),
        "requests_per_transaction": grouping
            .filter(|(t, _)| *t > 0)
            .map(|(t, r)| round(r as f64 / t as f64, 2)),
        "ratio": round(ratio, 3),
        "target_ratio": goal.map(|(r, _)| r),
        "target_p99_ms": goal.and_then(|(_, p)| p),
        "target_met": goal.map(|(r, p99)| {
            ratio >= r && p99.is_none_or(|p| percentile(&tally.latencies, 99.0) <= p)
        }),
        "audit_clean": audit.clean,
        "setup_seconds": round(setup_seconds, 1),
        "machine": { "cores": std::thread::available_parallelism().map_or(1, |n| n.get()) },
        "unix_time": SystemClock.now().secs(),
    }))
}

fn print_summary(r: &Value) {
    let s = |k: &str| r[k].as_str().unwrap_or("?").to_owned();
    let n = |k: &str| r[k].as_f64().unwrap_or(f64::NAN);
    println!(
        "ferry-bench settle: {} on {}, {} of {} payments sent from {} wallets, {} per request, \
         {} clients",
        s("mode"),
        s("database"),
        r["posted"],
        r["payments"],
        r["wallets"],
        r["batch"],
        r["clients"]
    );
    println!(
        "settled {} (duplicate {}, other {}) in {:.2} s: {:.0} settled/s; {} requests, p50 \
         {:.1} ms, p99 {:.1} ms",
        r["settled"],
        r["duplicate"],
        r["other"],
        n("seconds"),
        n("settled_per_sec"),
        r["requests"],
        n("request_p50_ms"),
        n("request_p99_ms")
    );
    if r["other"] != 0 {
        println!("not settled: {}", r["other_reasons"]);
    }
    let met = match r["target_met"].as_bool() {
        Some(true) => "met",
        Some(false) => "NOT met",
        None => "none for a server at --url",
    };
    let goal = match (r["target_ratio"].as_f64(), r["target_p99_ms"].as_f64()) {
        (Some(ratio), Some(p99)) => format!("target {ratio} and p99 ≤ {p99} ms: {met}"),
        (Some(ratio), None) => format!("target {ratio}: {met}"),
        _ => format!("target {met}"),
    };
    println!(
        "Ed25519 verify_strict, one core: {:.0}/s; ratio {:.3} ({goal})",
        n("ed25519_verify_per_sec"),
        n("ratio"),
    );
    if let Some(per) = r["requests_per_transaction"].as_f64() {
        println!(
            "group commit: {} transactions, {per:.2} requests per transaction",
            r["transactions"]
        );
    }
    if let (Some(cores), Some(per)) = (
        r["cpu_busy_cores"].as_f64(),
        r["cpu_us_per_settled"].as_f64(),
    ) {
        println!(
            "CPU: {cores:.2} cores busy on average, {per:.1} µs per settled payment (client and \
             server); verify_strict {:.0}/s per CPU-second",
            n("ed25519_verify_per_cpu_sec")
        );
    }
    let clean = if r["audit_clean"] == true {
        "clean"
    } else {
        "NOT CLEAN"
    };
    println!("audit: {clean}");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentile_is_nearest_rank() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&v, 50.0), 50.0);
        assert_eq!(percentile(&v, 99.0), 99.0);
        assert_eq!(percentile(&v, 100.0), 100.0);
        assert_eq!(percentile(&v, 0.1), 1.0);
        assert_eq!(percentile(&[3.0, 7.0], 50.0), 3.0);
        assert_eq!(percentile(&[3.0, 7.0], 99.0), 7.0);
        assert_eq!(percentile(&[5.0], 99.0), 5.0);
        assert_eq!(percentile(&[], 50.0), 0.0);
    }

    #[test]
    fn fifty_payments_fit_a_software_wallet() {
        let most: i64 = (0..50).map(amount_of).sum();
        assert!(most <= 500_00 && (0..50).all(|k| amount_of(k) <= 100_00));
    }

    #[test]
    fn chunks_keep_order_and_the_remainder() {
        assert_eq!(
            chunks(vec![1, 2, 3, 4, 5], 2),
            vec![vec![1, 2], vec![3, 4], vec![5]]
        );
        assert!(chunks(Vec::<u8>::new(), 3).is_empty());
    }

    /// A tiny in-process run of each mode settles everything and leaves the audit clean.
    #[test]
    fn a_tiny_run_settles_everything() {
        #[derive(clap::Parser)]
        struct Cli {
            #[command(flatten)]
            args: SettleArgs,
        }
        for mode in ["claims", "envelopes"] {
            let argv = ["ferry-bench", "--payments", "60", "--wallets", "1"];
            let cli = <Cli as clap::Parser>::parse_from(
                argv.into_iter().chain(["--batch", "25", "--mode", mode]),
            );
            let args = cli.args;
            let rt = tokio::runtime::Runtime::new().unwrap();
            let target = rt.block_on(Target::open(&args)).unwrap();
            let report = measure(&rt, &target, &args).unwrap();
            rt.block_on(target.close()).unwrap();
            assert_eq!(report["settled"], 60, "{report}");
            assert_eq!(report["wallets"], 2, "raised to 50 payments per wallet");
            assert_eq!(report["audit_clean"], true);
            assert_eq!(report["mode"], mode);
        }
    }

    /// Independent clients sending one payment per request settle each exactly once; a
    /// `--duration` longer than the payments last reports that they ran out.
    #[test]
    fn single_payment_requests_from_many_clients_settle_once_each() {
        #[derive(clap::Parser)]
        struct Cli {
            #[command(flatten)]
            args: SettleArgs,
        }
        let argv = [
            "ferry-bench",
            "--payments",
            "40",
            "--wallets",
            "4",
            "--batch",
            "1",
        ];
        let cli = <Cli as clap::Parser>::parse_from(argv.into_iter().chain([
            "--clients",
            "8",
            "--duration",
            "600",
        ]));
        let args = cli.args;
        let rt = tokio::runtime::Runtime::new().unwrap();
        let target = rt.block_on(Target::open(&args)).unwrap();
        let report = measure(&rt, &target, &args).unwrap();
        rt.block_on(target.close()).unwrap();
        assert_eq!(report["posted"], 40, "{report}");
        assert_eq!(report["settled"], 40, "{report}");
        assert_eq!(report["requests"], 40, "{report}");
        assert_eq!(report["group_commit"], true, "{report}");
        let transactions = report["transactions"].as_u64().expect("in process");
        assert!((1..=40).contains(&transactions), "{report}");
        assert_eq!(report["ran_out"], true);
        assert_eq!(report["target_ratio"], 0.25);
        assert_eq!(report["audit_clean"], true);
    }

    #[test]
    fn targets_follow_the_shape() {
        assert_eq!(budget(Mode::Claims, "sqlite", 1), Some((0.25, Some(50.0))));
        assert_eq!(budget(Mode::Claims, "postgres", 8), Some((0.5, None)));
        assert_eq!(budget(Mode::Claims, "sqlite", 1000), Some((1.0, None)));
        assert_eq!(budget(Mode::Claims, "postgres", 1000), Some((0.6, None)));
        assert_eq!(budget(Mode::Envelopes, "sqlite", 1000), Some((0.7, None)));
        assert_eq!(budget(Mode::Claims, "unknown", 1000), None);
    }

    #[test]
    fn the_verify_rate_is_positive() {
        let (wall, cpu) = ed25519_verify_rate(Duration::from_millis(20)).unwrap();
        assert!(wall > 0.0);
        if let Some(cpu) = cpu {
            assert!(cpu > 0.0);
        }
        if cfg!(target_os = "linux") {
            assert!(process_cpu_seconds().is_some());
        }
    }
}
