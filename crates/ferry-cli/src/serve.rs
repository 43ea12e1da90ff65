//! `ferry serve` and `ferry audit`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::Args;
use ferry_proto::cert::FeeSchedule;
use ferry_proto::{Currency, PublicKey};
use ferry_server::conn::ConnLimits;
use ferry_server::serve::{ServeConfig, ServerLimits, open_store, start};

/// Where the server keeps its state.
#[derive(Args, Debug, Clone)]
pub struct Storage {
    /// Data directory: issuer keys, admin token and (without --database-url) the SQLite database.
    #[arg(long, default_value = "ferry-data")]
    pub data_dir: PathBuf,
    /// Use PostgreSQL (postgres://user@host/db) instead of the embedded SQLite database. Several
    /// servers on one database (sharing the data directory's keys) behave as one.
    #[arg(long, env = "FERRY_DATABASE_URL")]
    pub database_url: Option<String>,
}

/// `ferry serve` options.
#[derive(Args, Debug)]
pub struct ServeArgs {
    #[command(flatten)]
    storage: Storage,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// ISO 4217 currency settled.
    #[arg(long, default_value = "BRL")]
    currency: String,
    /// A fee in basis points, e.g. `--fee payment=50` (kinds: payment, deposit, withdraw,
    /// cash_in, cash_out, order, voucher_create, voucher_redeem; the voucher fees default to 100
    /// and 30, the others to 0). Repeatable.
    #[arg(long = "fee", value_name = "KIND=BPS")]
    fees: Vec<String>,
    /// Risk rules for every channel (TOML: wallet caps, velocity, geo-velocity, brute force);
    /// presets in crates/ferry-server/risk/ (upi-lite, digital-euro, e-cny-anonymous), each in
    /// its own currency (give --currency to match).
    #[arg(long, value_name = "FILE")]
    risk: Option<std::path::PathBuf>,
    /// An OEM attestation root (hex Ed25519 key) trusted for hardware wallets. Repeatable.
    #[arg(long = "oem-root", value_name = "HEX")]
    oem_roots: Vec<String>,
    /// Refuse software-tier wallets.
    #[arg(long)]
    no_software_tier: bool,
    /// Seconds between fraud sweeps.
    #[arg(long, default_value_t = 60)]
    sweep_every: u64,
    /// Seconds a connection may take to send a complete request header, when it opens and
    /// again while kept alive between requests; then it is closed.
    #[arg(long, default_value_t = 10, value_name = "SECS")]
    header_timeout: u64,
    /// Seconds a whole request body may take to arrive (408 after).
    #[arg(long, default_value_t = 30, value_name = "SECS")]
    body_timeout: u64,
    /// Most connections served at once (idle ones are closed first to make room; lowered to
    /// fit the open-file limit, which `ferry serve` raises to the hard limit where allowed).
    #[arg(long, default_value_t = 1024, value_name = "N")]
    max_connections: usize,
    /// Mebibytes of batch request bodies held at once before new batches are refused with
    /// 503 and Retry-After.
    #[arg(long, default_value_t = 16, value_name = "MIB")]
    max_inflight_mib: usize,
    /// Seconds requests in flight may run after SIGTERM or Ctrl-C before they are aborted.
    #[arg(long, default_value_t = 10, value_name = "SECS")]
    shutdown_deadline: u64,
    /// Seconds to keep retrying a database that does not answer at start-up (0: report it
    /// at once).
    #[arg(long, default_value_t = 0, value_name = "SECS")]
    database_retry: u64,
    /// Deliver SMS notices by POSTing them as JSON to this URL (without it they are stored
    /// and listed only: `ferry sms outbox`).
    #[arg(long, value_name = "URL")]
    sms_gateway: Option<String>,
    /// Seconds a USSD session lasts from its first callback.
    #[arg(long, value_name = "SECS", default_value_t = 180)]
    ussd_session_timeout: u64,
    /// Country calling code of national numbers typed in the USSD menus (e.g. 55).
    #[arg(long, value_name = "CODE")]
    ussd_country: Option<u16>,
    /// Seconds the USSD channel stays locked after three wrong PINs.
    #[arg(long, value_name = "SECS", default_value_t = 1800)]
    ussd_lock_secs: u64,
    /// Unknown cash-out codes one agent may try per 15 minutes before its pay-outs are
    /// refused (429) for the rest of the window.
    #[arg(long, value_name = "N", default_value_t = 5)]
    agent_code_failures: u32,
    /// Phone-link codes sent to one number, or asked for by one account, per hour.
    #[arg(long, value_name = "N", default_value_t = 3)]
    link_codes_per_hour: u32,
    /// Enable the demo mesh routes (`/v1/demo/mesh…`): a small in-process mesh a dashboard
    /// drives (inject an envelope, run a gossip round, flush the bridges, reset, read it).
    #[arg(long)]
    demo: bool,
    /// Give every claim, envelope, journal and order request its own database transaction
    /// instead of settling concurrent ones together (for comparison; slower).
    #[arg(long)]
    no_group_commit: bool,
}

fn parse_fees(specs: &[String]) -> Result<FeeSchedule> {
    let mut fees = ferry_server::serve::default_fees();
    for spec in specs {
        let (kind, bps) = spec
            .split_once('=')
            .with_context(|| format!("--fee {spec}: expected KIND=BPS"))?;
        let bps: u16 = bps
            .parse()
            .ok()
            .filter(|b| *b <= 10_000)
            .with_context(|| format!("--fee {spec}: basis points must be 0..=10000"))?;
        let slot = match kind {
            "payment" => &mut fees.payment_bps,
            "deposit" => &mut fees.deposit_bps,
            "withdraw" => &mut fees.withdraw_bps,
            "cash_in" => &mut fees.cash_in_bps,
            "cash_out" => &mut fees.cash_out_bps,
            "order" => &mut fees.order_bps,
            "voucher_create" => &mut fees.voucher_create_bps,
            "voucher_redeem" => &mut fees.voucher_redeem_bps,
            other => bail!("--fee: unknown kind {other:?}"),
        };
        *slot = bps;
    }
    Ok(fees)
}

fn config(args: &ServeArgs) -> Result<ServeConfig> {
    let mut c = ServeConfig::new(args.storage.data_dir.clone());
    c.listen = args.listen;
    c.database_url = args.storage.database_url.clone();
    c.currency = Currency::from_code(&args.currency)
        .ok()
        .with_context(|| format!("--currency {}: not an ISO 4217 code", args.currency))?;
    c.fees = parse_fees(&args.fees)?;
    if let Some(path) = &args.risk {
        let file = ferry_server::risk::RiskFile::load(path)
            .with_context(|| format!("--risk {}", path.display()))?;
        file.apply(&mut c)
            .with_context(|| format!("--risk {}", path.display()))?;
    }
    c.hardware_roots = args
        .oem_roots
        .iter()
        .map(|h| {
            let bytes: [u8; 32] = data_encoding::HEXLOWER_PERMISSIVE
                .decode(h.as_bytes())
                .ok()
                .and_then(|b| b.try_into().ok())
                .with_context(|| format!("--oem-root {h}: expected 64 hex characters"))?;
            PublicKey::from_bytes(&bytes).map_err(|e| anyhow::anyhow!("--oem-root {h}: {e}"))
        })
        .collect::<Result<_>>()?;
    c.software_tier = !args.no_software_tier;
    c.demo = args.demo;
    c.group_commit = !args.no_group_commit;
    c.sweep_every = Duration::from_secs(args.sweep_every.max(1));
    if args.max_connections == 0 || args.max_inflight_mib == 0 {
        bail!("--max-connections and --max-inflight-mib must be at least 1");
    }
    c.limits = ServerLimits {
        conn: ConnLimits {
            header_timeout: Duration::from_secs(args.header_timeout.max(1)),
            max_connections: args.max_connections,
            shutdown_deadline: Duration::from_secs(args.shutdown_deadline),
        },
        body_timeout: Duration::from_secs(args.body_timeout.max(1)),
        inflight_body_bytes: args.max_inflight_mib.saturating_mul(1024 * 1024),
    };
    c.database_retry = Duration::from_secs(args.database_retry);
    c.ussd.sms_gateway = args.sms_gateway.clone();
    c.ussd.menu.session_timeout_secs = args.ussd_session_timeout;
    c.ussd.phones.lock_secs = args.ussd_lock_secs;
    c.ussd.phones.cash_out_failures_per_window = args.agent_code_failures.max(1);
    c.ussd.phones.link_codes_per_window = args.link_codes_per_hour.max(1);
    c.ussd.menu.default_country = args
        .ussd_country
        .map(|cc| {
            ferry_ussd::phone::CallingCode::new(cc)
                .with_context(|| format!("--ussd-country {cc}: not a calling code"))
        })
        .transpose()?;
    Ok(c)
}

/// Runs the settlement server until Ctrl-C or SIGTERM.
pub fn serve(args: ServeArgs) -> Result<()> {
    let config = config(&args)?;
    runtime()?.block_on(async move {
        let server = start(config.clone())
            .await
            .context("starting the settlement server")?;
        say(&format!(
            "ferry settlement server on http://{} ({}); admin token in {}",
            server.addr,
            match &config.database_url {
                Some(_) => "PostgreSQL".to_owned(),
                None => format!("SQLite in {}", config.data_dir.display()),
            },
            config
                .data_dir
                .join(ferry_server::serve::ADMIN_TOKEN_FILE)
                .display()
        ));
        shutdown_signal().await;
        say(&format!(
            "shutting down: requests in flight have {} s to finish",
            config.limits.conn.shutdown_deadline.as_secs()
        ));
        server.stop().await.context("server")?;
        say("stopped");
        Ok(())
    })
}

/// A line on stdout for whoever watches; a closed stdout (the watcher went away) must not stop
/// the server, so write errors are ignored.
fn say(line: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stdout(), "{line}");
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {},
            _ = term.recv() => {},
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")
}

/// Prints the ledger audit as JSON; exits non-zero when it is not clean.
pub fn audit(storage: Storage) -> Result<bool> {
    let mut config = ServeConfig::new(storage.data_dir);
    config.database_url = storage.database_url;
    runtime()?.block_on(async move {
        let store = open_store(&config).await.context("opening the database")?;
        let audit = ferry_ledger::engine::audit(&store)
            .await
            .context("auditing the ledger")?;
        let clean = audit.is_clean();
        let body = ferry_server::convert::audit(audit);
        println!("{}", serde_json::to_string_pretty(&body)?);
        Ok(clean)
    })
}
