//! `ferry wallet …`: a device wallet kept in a directory, driven from the command line. The
//! face-to-face link is TCP here, standing in for Bluetooth: the payee listens (`receive`),
//! the payer connects (`pay`).

use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use clap::{ArgGroup, Args, Subcommand};
use ferry_link::tcp::TcpLink;
use ferry_mesh::runtime::{HandOverConfig, hand_over};
use ferry_mesh::wire::Posted;
use ferry_pay::{PayPlan, SessionError};
use ferry_proto::qr::request_from_emv;
use ferry_proto::request::{MAX_CITY_LEN, MAX_NAME_LEN, MAX_REFERENCE_LEN};
use ferry_proto::{AccountId, Clock, Currency, Message, Money, PaymentRequest, SystemClock};
use ferry_wallet::atomic_file::write_atomically;
use ferry_wallet::client::ClientError;
use ferry_wallet::qr_image;
use ferry_wallet::secure::SecureWallet;
use ferry_wallet::secure::pkcs11::Pkcs11Config;
use ferry_wallet::store::MovementKind;
use ferry_wallet::wallet::{
    HistoryItem, KeyBackend, PlannedPayment, RemoteOptions, SyncProgress, Wallet, WalletConfig,
    WalletError, drop_into_inbox,
};
use serde_json::{Value, json};
use zeroize::Zeroizing;

/// Environment variable holding the PKCS#11 user PIN (never a flag: flags show in `ps`).
pub const PIN_ENV: &str = "FERRY_PKCS11_PIN";

/// `ferry wallet` options.
#[derive(Args, Debug)]
pub struct WalletArgs {
    /// The wallet directory.
    #[arg(
        long,
        global = true,
        value_name = "DIR",
        default_value = "ferry-wallet"
    )]
    wallet: PathBuf,
    #[command(subcommand)]
    command: WalletCommand,
}

/// What to do with the wallet.
#[derive(Subcommand, Debug)]
enum WalletCommand {
    /// Create a wallet directory (keys generated on this device).
    New(NewArgs),
    /// Register the account and the secure wallet with the server; prints the account id.
    Register,
    /// Move AMOUNT from the online balance into the secure wallet (needs the server).
    Deposit {
        /// e.g. 100.00
        amount: String,
    },
    /// Move AMOUNT from the secure wallet back online (settles at the next sync).
    Withdraw {
        /// e.g. 20.00
        amount: String,
    },
    /// Move AMOUNT from the online balance into the holder's penalty bond, which covers losses
    /// from this holder's compromised wallets before the insurance fund (needs the server).
    Bond {
        /// e.g. 50.00
        amount: String,
        /// Idempotency key: the same reference again posts nothing more (default: a new one).
        #[arg(long)]
        reference: Option<String>,
    },
    /// Offline balance, payments held, online balance at the last sync.
    Balance,
    /// Create a payment request and show it as a QR code and as text.
    Request(RequestArgs),
    /// Show a request and wait on TCP for one payment (TCP stands in for Bluetooth).
    Receive(ReceiveArgs),
    /// Pay a request over TCP (TCP stands in for Bluetooth).
    Pay(PayArgs),
    /// Pay an account whose holder is not here, through the mesh: the payment is signed and
    /// sealed now and handed to a mesh node; the payee is credited when a bridge delivers it
    /// (and this wallet's next sync settles it in any case).
    Send(SendArgs),
    /// Collect held payments into the secure wallet (OPS Collect) to re-spend them offline.
    Collect,
    /// Upload the journal, claim held payments, learn statuses and the online balance.
    Sync {
        /// Use (and remember) this server address instead of the stored one.
        #[arg(long, value_name = "URL")]
        server: Option<String>,
    },
    /// The merchant's end-of-day report: syncs (so held payments are claimed in one batch),
    /// then fetches the server's statement of the online balance for one UTC day and joins it
    /// with the payments this wallet received that day, each with its status.
    Report(ReportArgs),
    /// Payments, deposits and withdrawals, newest first.
    History {
        /// Print a JSON array.
        #[arg(long)]
        json: bool,
    },
    /// Link a phone number to this account, so feature phones pay it by number: first without
    /// --code (the server texts a code to the phone), then with the code it received.
    LinkPhone {
        /// The number, international form (+5581999990001).
        phone: String,
        /// The 6-digit code the phone received.
        #[arg(long)]
        code: Option<String>,
    },
    /// Offline Pix vouchers: create, redeem, list, invalidate, block, unblock.
    #[command(subcommand)]
    Voucher(crate::voucher_cmd::VoucherCommand),
}

/// `ferry wallet new`.
#[derive(Args, Debug)]
#[command(group(ArgGroup::new("pkcs11").args(["pkcs11_module", "pkcs11_token", "pkcs11_key"]).multiple(true)))]
struct NewArgs {
    /// The settlement server, e.g. http://127.0.0.1:8080.
    #[arg(long, value_name = "URL")]
    server: String,
    /// Name shown on payment requests (at most 25 bytes).
    #[arg(long)]
    name: Option<String>,
    /// City shown on payment requests (at most 15 bytes).
    #[arg(long)]
    city: Option<String>,
    /// PKCS#11 module holding the secure wallet's key (PIN from FERRY_PKCS11_PIN).
    #[arg(long, value_name = "PATH", requires_all = ["pkcs11_token", "pkcs11_key"])]
    pkcs11_module: Option<PathBuf>,
    /// Label of the PKCS#11 token.
    #[arg(long, value_name = "LABEL", requires = "pkcs11_module")]
    pkcs11_token: Option<String>,
    /// Label of the key pair to generate on the token.
    #[arg(long, value_name = "LABEL", requires = "pkcs11_module")]
    pkcs11_key: Option<String>,
}

/// What a new request holds.
#[derive(Args, Debug)]
struct RequestSpec {
    /// Amount asked (the payer chooses when omitted).
    #[arg(long)]
    amount: Option<String>,
    /// Reference shown to the payer (at most 12 bytes).
    #[arg(long)]
    reference: Option<String>,
    /// Seconds the request stays valid.
    #[arg(long, value_name = "SECS", default_value_t = 600)]
    expires_in: u64,
}

/// `ferry wallet request`.
#[derive(Args, Debug)]
struct RequestArgs {
    #[command(flatten)]
    spec: RequestSpec,
    /// Also write the QR code as a PNG image.
    #[arg(long, value_name = "FILE")]
    png: Option<PathBuf>,
}

/// `ferry wallet receive`.
#[derive(Args, Debug)]
struct ReceiveArgs {
    /// Address to listen on for the payer, e.g. 0.0.0.0:7000.
    #[arg(long, value_name = "ADDR")]
    listen: SocketAddr,
    #[command(flatten)]
    spec: RequestSpec,
    /// Show the newest open request instead of creating one.
    #[arg(long, conflicts_with_all = ["amount", "reference", "expires_in"])]
    use_open: bool,
    /// Write the request text to FILE (atomically) once listening.
    #[arg(long, value_name = "FILE")]
    request_out: Option<PathBuf>,
}

/// `ferry wallet pay`.
#[derive(Args, Debug)]
#[command(group(ArgGroup::new("source").required(true).args(["request", "request_file", "request_png"])))]
struct PayArgs {
    /// The request text (as shown by the payee).
    #[arg(long, value_name = "TEXT")]
    request: Option<String>,
    /// A file holding the request text.
    #[arg(long, value_name = "FILE")]
    request_file: Option<PathBuf>,
    /// A PNG image of the request's QR code.
    #[arg(long, value_name = "FILE")]
    request_png: Option<PathBuf>,
    /// The payee's address, e.g. 192.168.1.20:7000.
    #[arg(long, value_name = "ADDR")]
    connect: String,
    /// Amount to pay, when the request names none (or the same one).
    #[arg(long)]
    amount: Option<String>,
}

/// `ferry wallet send`.
#[derive(Args, Debug)]
struct SendArgs {
    /// The payee's account id (hex, as `ferry wallet register` printed it).
    #[arg(long, value_name = "ACCOUNT", required_unless_present_any = ["resend", "journal"])]
    to: Option<String>,
    /// Amount to pay, e.g. 50.00.
    #[arg(long, required_unless_present_any = ["resend", "journal"])]
    amount: Option<String>,
    /// Hand the mesh this wallet's journal entries the server has not acknowledged (sealed
    /// segments), so its payments settle when any bridge delivers them even if this phone
    /// never comes online. Nothing new is signed.
    #[arg(long, conflicts_with_all = ["to", "amount", "resend"])]
    journal: bool,
    /// Seal again a remote payment this wallet sent (`TA/J`, as `send` printed it) and hand
    /// the new envelope to the mesh: for an envelope lost or expired before this wallet could
    /// sync. Nothing new is signed; the server settles the payment once.
    #[arg(long, value_name = "PAYMENT", conflicts_with_all = ["to", "amount"])]
    resend: Option<String>,
    /// The mesh node: its inbox directory (`ferry mesh node --inbox DIR`), or its address
    /// (HOST:PORT) to hand the envelope over by the relay protocol. Default: the wallet's
    /// `mesh-inbox` directory.
    #[arg(long, value_name = "DIR|ADDR")]
    via: Option<String>,
    /// Seconds until the envelope expires (relays refuse more than a day).
    #[arg(long, value_name = "SECS", default_value_t = ferry_wallet::wallet::DEFAULT_REMOTE_LIFETIME_SECS)]
    lifetime: u64,
    /// Relay hops the envelope may make.
    #[arg(long, default_value_t = ferry_wallet::wallet::DEFAULT_REMOTE_TTL)]
    ttl: u8,
    /// With an address: the node's spray-and-wait L and stamp bits.
    #[arg(long, default_value_t = ferry_mesh::runtime::HandOverConfig::default().copies)]
    copies: u16,
    /// With an address: hashcash bits the node demands.
    #[arg(long, default_value_t = ferry_mesh::runtime::HandOverConfig::default().stamp_bits)]
    stamp_bits: u8,
    /// Also write the envelope's bytes to FILE.
    #[arg(long, value_name = "FILE")]
    envelope_out: Option<PathBuf>,
    /// Print a JSON object.
    #[arg(long)]
    json: bool,
}

/// Parses a positive amount of `currency` strictly (`12.34`; no sign, exponent or comma).
pub fn parse_amount(text: &str, currency: Currency) -> Result<Money> {
    Money::parse(text, currency)
        .and_then(Money::require_positive)
        .map_err(|e| {
            anyhow!(
                "amount {text:?}: {e} (expected e.g. 12.34; {} has {} decimals)",
                currency.code(),
                currency.exponent()
            )
        })
}

/// A current-thread runtime: every command is one short sequence of I/O.
pub fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")
}

/// Runs one `ferry wallet` command, writing what it has to say to `out`.
pub fn run(args: WalletArgs, out: &mut dyn Write) -> Result<()> {
    runtime()?.block_on(dispatch(args, out))
}

async fn dispatch(args: WalletArgs, out: &mut dyn Write) -> Result<()> {
    let dir = args.wallet.as_path();
    if let WalletCommand::New(new) = args.command {
        return create(dir, new, out).await;
    }
    let mut wallet = open(dir).await?;
    match args.command {
        WalletCommand::New(_) => bail!("{} holds a wallet already", dir.display()),
        WalletCommand::Register => register(&mut wallet, out).await,
        WalletCommand::Deposit { amount } => {
            let amount = parse_amount(&amount, currency(&wallet)?)?;
            let balance = wallet.deposit(amount).await.map_err(wallet_error)?;
            writeln!(out, "deposited {amount}; offline balance {balance}")?;
            Ok(())
        }
        WalletCommand::Withdraw { amount } => {
            let amount = parse_amount(&amount, currency(&wallet)?)?;
            let balance = wallet.withdraw(amount).await.map_err(wallet_error)?;
            writeln!(
                out,
                "withdrew {amount}; offline balance {balance}\n\
                 the server credits it online at this wallet's next sync"
            )?;
            Ok(())
        }
        WalletCommand::Bond { amount, reference } => {
            let amount = parse_amount(&amount, currency(&wallet)?)?;
            let reference = match reference {
                Some(r) => r,
                None => format!("bond-{}", SystemClock.now().secs()),
            };
            match wallet
                .post_bond(amount, &reference)
                .await
                .map_err(wallet_error)?
            {
                ferry_api::Outcome::Settled => {
                    writeln!(out, "bonded {amount} (reference {reference})")?
                }
                ferry_api::Outcome::Duplicate => writeln!(
                    out,
                    "reference {reference} was already posted: nothing more moved"
                )?,
                other => anyhow::bail!("the server did not post the bond: {other}"),
            }
            Ok(())
        }
        WalletCommand::Balance => balance(&wallet, out).await,
        WalletCommand::Request(a) => request(&wallet, a, out).await,
        WalletCommand::Receive(a) => receive(&mut wallet, a, out).await,
        WalletCommand::Pay(a) => pay(&mut wallet, a, out).await,
        WalletCommand::Send(a) => send(&mut wallet, a, out).await,
        WalletCommand::Collect => collect(&mut wallet, out).await,
        WalletCommand::Sync { server } => sync(&mut wallet, server, out).await,
        WalletCommand::History { json } => history(&wallet, json, out).await,
        WalletCommand::Report(a) => report(&mut wallet, a, out).await,
        WalletCommand::LinkPhone { phone, code } => {
            crate::ussd_cmd::link_phone(&wallet, &phone, code.as_deref(), out).await
        }
        WalletCommand::Voucher(cmd) => crate::voucher_cmd::run(&wallet, cmd, out).await,
    }
}

/// `ferry wallet report`.
#[derive(Args, Debug)]
struct ReportArgs {
    /// The UTC day, YYYY-MM-DD.
    #[arg(long, value_name = "YYYY-MM-DD")]
    day: String,
    /// table (for people), csv (RFC 4180) or camt053 (ISO 20022 camt.053.001.08 XML).
    #[arg(long, value_enum, default_value_t = ReportFormat::Table)]
    format: ReportFormat,
    /// Write the report to FILE (atomically) instead of standard output.
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
}

/// Output formats of `ferry wallet report`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum ReportFormat {
    Table,
    Csv,
    Camt053,
}

async fn report(wallet: &mut Wallet, a: ReportArgs, out: &mut dyn Write) -> Result<()> {
    let day: ferry_api::UtcDay = a
        .day
        .parse()
        .map_err(|e: ferry_api::DayError| anyhow!("--day {}: {e}", a.day))?;
    let synced = wallet.sync(|_| {}).await.map_err(wallet_error)?;
    let report = wallet.day_report(day).await.map_err(wallet_error)?;
    let format = match a.format {
        ReportFormat::Table => ferry_wallet::report::Format::Table,
        ReportFormat::Csv => ferry_wallet::report::Format::Csv,
        ReportFormat::Camt053 => ferry_wallet::report::Format::Camt053,
    };
    let text = report.render(format)?;
    let Some(path) = a.out else {
        write!(out, "{text}")?;
        return Ok(());
    };
    write_atomically(&path, text.as_bytes())
        .with_context(|| format!("writing {}", path.display()))?;
    let s = &report.statement;
    let cur = report.currency()?;
    writeln!(
        out,
        "synced (claimed {}, settled {}); {}: {} entries, net {}, fees {}, closing balance {}; \
         {} payments received that day\nwrote {}",
        synced.claimed,
        synced.settled,
        day,
        s.totals.count,
        Money::new(s.totals.net, cur),
        Money::new(s.totals.fees, cur),
        Money::new(s.closing_balance, cur),
        report.received.len(),
        path.display()
    )?;
    Ok(())
}

fn clock() -> Arc<dyn Clock> {
    Arc::new(SystemClock)
}

fn pin_from_env() -> Option<Zeroizing<String>> {
    std::env::var(PIN_ENV).ok().map(Zeroizing::new)
}

/// A library error as one line; the messages already say what to do next.
pub(crate) fn wallet_error(e: WalletError) -> anyhow::Error {
    match e {
        WalletError::Server(ClientError::Transport(_)) => {
            anyhow!("{e} (is the server up? if it moved: `ferry wallet sync --server URL`)")
        }
        e => anyhow!("{e}"),
    }
}

async fn open(dir: &Path) -> Result<Wallet> {
    Wallet::open(dir, clock(), pin_from_env())
        .await
        .map_err(wallet_error)
}

pub(crate) fn currency(wallet: &Wallet) -> Result<Currency> {
    wallet
        .secure()
        .status()
        .currency()
        .context("register the wallet first (`ferry wallet register`)")
}

fn check_server_url(url: &str) -> Result<()> {
    if url.starts_with("http://") || url.starts_with("https://") {
        Ok(())
    } else {
        bail!("--server {url}: expected http://HOST:PORT or https://…")
    }
}

fn check_text(flag: &str, value: &str, max: usize) -> Result<()> {
    if value.len() > max {
        bail!("{flag}: at most {max} bytes");
    }
    if value.chars().any(char::is_control) {
        bail!("{flag}: control characters are not allowed");
    }
    Ok(())
}

async fn create(dir: &Path, args: NewArgs, out: &mut dyn Write) -> Result<()> {
    check_server_url(&args.server)?;
    let name = args.name.unwrap_or_default();
    let city = args.city.unwrap_or_default();
    check_text("--name", &name, MAX_NAME_LEN)?;
    check_text("--city", &city, MAX_CITY_LEN)?;
    let key = match (args.pkcs11_module, args.pkcs11_token, args.pkcs11_key) {
        (Some(module), Some(token_label), Some(key_label)) => {
            let pin = pin_from_env().with_context(|| {
                format!("the PKCS#11 token's PIN goes in the {PIN_ENV} environment variable")
            })?;
            KeyBackend::Pkcs11(Pkcs11Config {
                module,
                token_label,
                key_label,
                pin,
            })
        }
        (None, None, None) => KeyBackend::Sealed,
        _ => bail!("--pkcs11-module, --pkcs11-token and --pkcs11-key go together"),
    };
    let config = WalletConfig {
        server_url: args.server,
        name,
        city,
        key,
    };
    let existed = dir.exists();
    let created = Wallet::create(dir, config, clock()).await;
    let wallet = match created {
        Ok(w) => w,
        Err(e) => {
            // Leave nothing half-made behind, but only what this command created.
            if !existed {
                let _ = std::fs::remove_dir_all(dir);
            }
            return Err(wallet_error(e));
        }
    };
    writeln!(
        out,
        "wallet created in {}\nnext: `ferry wallet --wallet {} register`",
        wallet.dir().display(),
        wallet.dir().display()
    )?;
    Ok(())
}

async fn register(wallet: &mut Wallet, out: &mut dyn Write) -> Result<()> {
    let account = wallet.register().await.map_err(wallet_error)?;
    writeln!(out, "account {account}")?;
    if let Some(cert) = wallet.secure().status().certificate {
        let body = cert.unverified();
        let l = &body.limits;
        writeln!(
            out,
            "secure wallet {} ({:?} tier): holds at most {}, pays at most {} at a time, \
             {} payments between syncs, sync by {}",
            body.ta_id(),
            body.tier,
            Money::new(l.max_balance, l.currency),
            Money::new(l.max_payment, l.currency),
            l.max_payments_between_syncs,
            l.sync_by.utc()
        )?;
    }
    Ok(())
}

async fn balance(wallet: &Wallet, out: &mut dyn Write) -> Result<()> {
    let b = wallet.balances().await.map_err(wallet_error)?;
    let Some(offline) = b.offline else {
        writeln!(
            out,
            "not registered yet (`ferry wallet register`): no balance"
        )?;
        return Ok(());
    };
    let cur = offline.currency();
    writeln!(out, "offline: {offline}")?;
    writeln!(
        out,
        "held:    {} (received, not yet collected or claimed)",
        Money::new(b.held, cur)
    )?;
    match b.online {
        Some(online) => writeln!(
            out,
            "online:  {} (at the last sync)",
            Money::new(online, cur)
        )?,
        None => writeln!(out, "online:  unknown (not synced yet)")?,
    }
    if let Some(cert) = wallet.secure().status().certificate {
        writeln!(out, "sync by: {}", cert.unverified().limits.sync_by.utc())?;
    }
    Ok(())
}

/// Creates a request from `spec` and returns its text.
async fn new_request(wallet: &Wallet, spec: &RequestSpec) -> Result<String> {
    let amount = match &spec.amount {
        Some(a) => Some(parse_amount(a, currency(wallet)?)?),
        None => None,
    };
    let reference = spec.reference.as_deref().unwrap_or_default();
    check_text("--reference", reference, MAX_REFERENCE_LEN)?;
    if spec.expires_in == 0 {
        bail!("--expires-in: at least 1 second");
    }
    let shown = wallet
        .request(amount, reference, Duration::from_secs(spec.expires_in))
        .await
        .map_err(wallet_error)?;
    Ok(shown.text)
}

/// Prints a request: QR code, a summary and its text.
fn show_request(text: &str, out: &mut dyn Write) -> Result<PaymentRequest> {
    let request = request_from_emv(text).map_err(|e| anyhow!("stored request: {e}"))?;
    let qr = qr_image::terminal(text)?;
    write!(out, "{qr}")?;
    let amount = request
        .amount
        .map_or_else(|| "any amount".to_owned(), |a| a.to_string());
    writeln!(
        out,
        "request for {amount} to {} ({}), valid until {}",
        if request.payee_name.is_empty() {
            "this wallet"
        } else {
            &request.payee_name
        },
        request.payee,
        request.expires_at.utc()
    )?;
    writeln!(out, "{text}")?;
    Ok(request)
}

async fn request(wallet: &Wallet, args: RequestArgs, out: &mut dyn Write) -> Result<()> {
    let text = new_request(wallet, &args.spec).await?;
    show_request(&text, out)?;
    if let Some(png) = &args.png {
        qr_image::write_png(&text, png)?;
        writeln!(out, "QR image written to {}", png.display())?;
    }
    Ok(())
}

async fn receive(wallet: &mut Wallet, args: ReceiveArgs, out: &mut dyn Write) -> Result<()> {
    let text =
        if args.use_open {
            wallet.open_request().await.map_err(wallet_error)?.context(
                "no open request: create one (`ferry wallet request`) or drop --use-open",
            )?
        } else {
            new_request(wallet, &args.spec).await?
        };
    let request = show_request(&text, out)?;
    // Listen before the request is handed out, so a payer who reads it can connect at once.
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("listening on {}", args.listen))?;
    let local = listener.local_addr()?;
    if let Some(path) = &args.request_out {
        write_atomically(path, text.as_bytes())
            .with_context(|| format!("writing the request to {}", path.display()))?;
    }
    writeln!(out, "waiting for the payer on {local}")?;
    out.flush()?;
    let now = SystemClock.now();
    let wait = Duration::from_secs(request.expires_at.0.saturating_sub(now.0).max(1));
    let (stream, peer) = tokio::time::timeout(wait, listener.accept())
        .await
        .map_err(|_| anyhow!("the request expired before a payer connected"))?
        .context("accepting the payer's connection")?;
    drop(listener);
    let mut link = TcpLink::from_stream(stream);
    match wallet.receive(&text, &mut link).await {
        Ok(r) => {
            writeln!(
                out,
                "received {} from {} (payment {}) — connected from {peer}",
                r.amount, r.payer, r.id
            )?;
            writeln!(
                out,
                "held on this device: collect it to re-spend offline, or sync to claim it"
            )?;
            Ok(())
        }
        Err(WalletError::Session(SessionError::Refused(reason))) => {
            bail!("payment refused: {reason}")
        }
        Err(e) => Err(wallet_error(e)),
    }
}

async fn pay(wallet: &mut Wallet, args: PayArgs, out: &mut dyn Write) -> Result<()> {
    let text = match (&args.request, &args.request_file, &args.request_png) {
        (Some(t), _, _) => t.clone(),
        (_, Some(f), _) => std::fs::read_to_string(f)
            .with_context(|| format!("reading the request from {}", f.display()))?,
        (_, _, Some(p)) => qr_image::read_png(p)?,
        (None, None, None) => bail!("give --request, --request-file or --request-png"),
    };
    let text = text.trim();
    let amount = match &args.amount {
        Some(a) => Some(parse_amount(a, currency(wallet)?)?),
        None => None,
    };
    // A payment is signed as soon as the session starts and settles even if the session then
    // fails, so what paying does is decided here, before the payee's device hears anything,
    // by the same rules `Wallet::pay` follows.
    let PlannedPayment {
        request,
        plan,
        receipt_held,
    } = wallet
        .plan_payment(text, amount)
        .await
        .map_err(wallet_error)?;
    if let PayPlan::Redeliver { id, amount } = plan {
        if receipt_held {
            writeln!(
                out,
                "this request was already paid by payment {id} ({amount}); the payee's receipt \
                 is held, so nothing is sent again"
            )?;
            writeln!(out, "payment {id}")?;
            return offline_balance(wallet, out);
        }
        writeln!(
            out,
            "this request was already paid by payment {id}; delivering it again"
        )?;
    }
    let mut link = tokio::time::timeout(wallet.session_timeout, TcpLink::connect(&args.connect))
        .await
        .map_err(|_| anyhow!("no answer from the payee at {}", args.connect))?
        .map_err(|e| anyhow!("cannot reach the payee at {}: {e}", args.connect))?;
    match wallet.pay(text, amount, &mut link).await {
        Ok(paid) => {
            writeln!(
                out,
                "paid {} to {}; receipt verified",
                paid.payment.amount(),
                request.payee
            )?;
            writeln!(out, "payment {}", paid.id)?;
            offline_balance(wallet, out)
        }
        Err(WalletError::Interrupted { payment, error }) => bail!(
            "payment {payment} was signed but not confirmed by the payee ({error}); \
             it is in this wallet's journal and settles to the payee at the next sync, \
             or pay the same request again to deliver it (it is never paid twice)"
        ),
        Err(e) => Err(wallet_error(e)),
    }
}

/// Prints the offline balance, once the wallet holds one.
fn offline_balance(wallet: &Wallet, out: &mut dyn Write) -> Result<()> {
    if let Some(balance) = wallet.secure().status().balance {
        writeln!(out, "offline balance {balance}")?;
    }
    Ok(())
}

async fn collect(wallet: &mut Wallet, out: &mut dyn Write) -> Result<()> {
    let (done, refused) = wallet.collect().await.map_err(wallet_error)?;
    writeln!(
        out,
        "collected {} payment(s), refused {}",
        done.len(),
        refused.len()
    )?;
    for (id, why) in &refused {
        writeln!(out, "refused {id}: {why}")?;
    }
    offline_balance(wallet, out)
}

async fn sync(wallet: &mut Wallet, server: Option<String>, out: &mut dyn Write) -> Result<()> {
    if let Some(url) = &server {
        check_server_url(url)?;
        wallet.set_server_url(url).await.map_err(wallet_error)?;
    }
    let report = wallet
        .sync(|p| {
            // Progress is best effort; a closed stdout shows up at the summary.
            let _ = match p {
                SyncProgress::Documents => writeln!(out, "documents fetched"),
                SyncProgress::Journal(a, b) => writeln!(out, "journal {a}/{b}"),
                SyncProgress::Claims(a, b) => writeln!(out, "claims {a}/{b}"),
                SyncProgress::Statuses(a, b) => writeln!(out, "statuses {a}/{b}"),
            };
        })
        .await
        .map_err(wallet_error)?;
    writeln!(
        out,
        "uploaded {} journal entries, claimed {}, settled {}, pending {}, rejected {}",
        report.entries_uploaded,
        report.claimed,
        report.settled,
        report.pending,
        report.rejected.len()
    )?;
    for (id, why) in &report.rejected {
        writeln!(out, "rejected {id}: {why}")?;
    }
    if report.received > 0 {
        writeln!(
            out,
            "received {} payments made while away (remote payments)",
            report.received
        )?;
    }
    if let (Some(online), Ok(cur)) = (report.online_balance, currency(wallet)) {
        writeln!(out, "online balance {}", Money::new(online, cur))?;
    }
    if report.renewed {
        writeln!(out, "certificate renewed")?;
    }
    if let Some(until) = report.postage_valid_until {
        // Postage ends at a UTC midnight.
        writeln!(
            out,
            "mesh postage valid until {} 00:00 UTC (remote payments sent before then carry it)",
            ferry_api::UtcDay::containing(until)
        )?;
    }
    Ok(())
}

async fn history(wallet: &Wallet, as_json: bool, out: &mut dyn Write) -> Result<()> {
    let items = wallet.history().await.map_err(wallet_error)?;
    if as_json {
        let rows: Vec<Value> = items.iter().map(history_json).collect();
        writeln!(out, "{}", serde_json::to_string_pretty(&rows)?)?;
        return Ok(());
    }
    if items.is_empty() {
        writeln!(out, "no payments or movements yet")?;
    }
    for item in &items {
        match item {
            HistoryItem::Payment(p) => {
                let status = match &p.reason {
                    Some(r) => format!("{} ({r})", p.status),
                    None => p.status.to_string(),
                };
                writeln!(
                    out,
                    "{}  {:<8}  {:>16}  {}  {}  [{}]  {}",
                    p.created_at.utc(),
                    p.direction.as_str(),
                    p.amount.to_string(),
                    p.counterparty,
                    status,
                    p.disposition.as_str(),
                    p.id
                )?;
            }
            HistoryItem::Movement(m) => writeln!(
                out,
                "{}  {:<8}  {:>16}  {}  {}  [serial {}]",
                m.created_at.utc(),
                m.kind.as_str(),
                m.amount.to_string(),
                if m.kind == MovementKind::Deposit {
                    "from online"
                } else {
                    "to online"
                },
                m.status,
                m.serial
            )?,
        }
    }
    Ok(())
}

fn history_json(item: &HistoryItem) -> Value {
    match item {
        HistoryItem::Payment(p) => json!({
            "kind": "payment",
            "direction": p.direction.as_str(),
            "id": p.id.to_string(),
            "amount": p.amount.to_decimal_string(),
            "amount_minor": p.amount.minor(),
            "currency": p.amount.currency().code(),
            "counterparty": p.counterparty,
            "status": p.status.as_str(),
            "reason": p.reason,
            "disposition": p.disposition.as_str(),
            "receipt": p.receipt.is_some(),
            "created_at": p.created_at.0,
        }),
        HistoryItem::Movement(m) => json!({
            "kind": m.kind.as_str(),
            "serial": m.serial,
            "amount": m.amount.to_decimal_string(),
            "amount_minor": m.amount.minor(),
            "currency": m.amount.currency().code(),
            "status": m.status.as_str(),
            "created_at": m.created_at.0,
        }),
    }
}

/// `ferry wallet send`: sign, seal, hand to the mesh.
async fn send(wallet: &mut Wallet, args: SendArgs, out: &mut dyn Write) -> Result<()> {
    if args.lifetime == 0 || args.lifetime > 24 * 3600 {
        bail!("--lifetime: 1 to 86400 seconds (relays refuse envelopes that expire later)");
    }
    let options = RemoteOptions {
        lifetime_secs: args.lifetime,
        ttl: args.ttl,
    };
    let via = args
        .via
        .clone()
        .unwrap_or_else(|| wallet.dir().join("mesh-inbox").display().to_string());
    if args.journal {
        return send_journal(wallet, &args, options, &via, out).await;
    }
    let sent = match (&args.resend, &args.to, &args.amount) {
        (Some(id), _, _) => {
            let bad = || anyhow!("--resend {id}: expected a payment id TA/J");
            let (ta, j) = id.trim().split_once('/').ok_or_else(bad)?;
            let id = ferry_proto::PaymentId {
                ta: ta.parse().map_err(|_| bad())?,
                j: j.parse().map_err(|_| bad())?,
            };
            wallet
                .reseal_remote(id, options)
                .await
                .map_err(wallet_error)?
        }
        (None, Some(to), Some(amount)) => {
            let payee: AccountId = to
                .trim()
                .parse()
                .map_err(|_| anyhow!("--to {to}: expected an account id (32 hex characters)"))?;
            let amount = parse_amount(amount, currency(wallet)?)?;
            wallet
                .send_remote(payee, amount, options)
                .await
                .map_err(wallet_error)?
        }
        _ => bail!("give --to and --amount, or --resend PAYMENT"),
    };
    let payee = sent.payment.payee();
    let amount = sent.payment.amount();
    let bytes = sent.envelope.to_bytes();
    // From here the payment is signed and recorded: a failure below loses nothing.
    let signed = |e: anyhow::Error| {
        anyhow!(
            "payment {} was signed but not handed to the mesh ({e:#}); it is not lost: this \
             wallet's next sync settles it",
            sent.id
        )
    };
    if let Some(file) = &args.envelope_out {
        write_atomically(file, &bytes)
            .with_context(|| format!("writing {}", file.display()))
            .map_err(signed)?;
    }
    let (handed, posted) = hand_to_mesh(wallet, &via, &sent.envelope, &args)
        .await
        .map_err(signed)?;
    if args.json {
        let v = json!({
            "payment": sent.id.to_string(),
            "to": payee.to_hex(),
            "amount": amount.minor(),
            "currency": amount.currency().code(),
            "envelope": sent.envelope.id().to_hex(),
            "envelope_bytes": bytes.len(),
            "expires_at": sent.envelope.expires_at().secs(),
            "via": via,
            "postage": posted,
        });
        writeln!(out, "{v}")?;
    } else {
        writeln!(
            out,
            "sent {amount} to {payee} as payment {}: envelope {} ({} bytes) {handed}\n\
             the payee is credited when a bridge delivers it; this wallet's next sync settles it in any case",
            sent.id,
            sent.envelope.id(),
            bytes.len()
        )?;
    }
    Ok(())
}

/// Hands `envelope` to the mesh node at `via` (an address: by the relay protocol; else an inbox
/// directory), with this wallet's postage and postmark when it holds valid postage; says where
/// it went and whether it carried postage.
async fn hand_to_mesh(
    wallet: &Wallet,
    via: &str,
    envelope: &ferry_proto::envelope::Envelope,
    args: &SendArgs,
) -> Result<(String, bool)> {
    let mut posted = wallet.postmark(envelope).await.map_err(wallet_error)?;
    // No postage held, or postage that ends before the envelope does (relays would drop the
    // envelope then): if the server answers, fetch today's, as a sync would.
    let outlived = posted
        .as_ref()
        .is_none_or(|(p, _)| p.unverified().valid_until < envelope.expires_at());
    if outlived && wallet.fetch_postage().await.is_ok() {
        posted = wallet.postmark(envelope).await.map_err(wallet_error)?;
    }
    let has_postage = posted.is_some();
    let note = if has_postage {
        ""
    } else {
        " without mesh postage (sync online first: relays that know the issuer carry only \
         envelopes with today's postage)"
    };
    match via.parse::<SocketAddr>() {
        Ok(addr) => {
            let cfg = HandOverConfig {
                copies: args.copies,
                stamp_bits: args.stamp_bits,
                ..HandOverConfig::default()
            };
            let posted = posted.map(|(postage, postmark)| Posted { postage, postmark });
            hand_over(addr, envelope.clone(), posted, cfg, clock()).await?;
            Ok((
                format!("handed to the mesh node at {addr}{note}"),
                has_postage,
            ))
        }
        Err(_) => {
            let path = drop_into_inbox(Path::new(via), envelope, posted.as_ref())
                .with_context(|| format!("dropping the envelope into {via}"))?;
            Ok((
                format!("dropped into {}{note}", path.display()),
                has_postage,
            ))
        }
    }
}

/// `ferry wallet send --journal`: seal the unacknowledged journal, hand it to the mesh.
async fn send_journal(
    wallet: &Wallet,
    args: &SendArgs,
    options: RemoteOptions,
    via: &str,
    out: &mut dyn Write,
) -> Result<()> {
    let envelopes = wallet.seal_journal(options).await.map_err(wallet_error)?;
    let mut handed = Vec::new();
    for (i, env) in envelopes.iter().enumerate() {
        if let Some(file) = &args.envelope_out {
            let file = if envelopes.len() == 1 {
                file.clone()
            } else {
                file.with_extension(format!("{}", i + 1))
            };
            write_atomically(&file, &env.to_bytes())
                .with_context(|| format!("writing {}", file.display()))?;
        }
        handed.push((env, hand_to_mesh(wallet, via, env, args).await?));
    }
    if args.json {
        let v = json!({
            "journal_envelopes": handed.iter().map(|(e, (_, posted))| json!({
                "envelope": e.id().to_hex(),
                "envelope_bytes": e.to_bytes().len(),
                "expires_at": e.expires_at().secs(),
                "postage": posted,
            })).collect::<Vec<_>>(),
            "via": via,
        });
        writeln!(out, "{v}")?;
    } else {
        for (e, (how, _)) in &handed {
            writeln!(
                out,
                "journal segment: envelope {} ({} bytes) {how}",
                e.id(),
                e.to_bytes().len()
            )?;
        }
        writeln!(
            out,
            "the payments in it settle when a bridge delivers it; sync when you can for their statuses"
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_parse_strictly_and_positive() {
        let brl = Currency::BRL;
        assert_eq!(parse_amount("12.34", brl).unwrap().minor(), 1234);
        for bad in ["12.345", "-1", "0", "0.00", "1e3", "1,00", " 1", ""] {
            assert!(parse_amount(bad, brl).is_err(), "{bad:?}");
        }
        let e = parse_amount("12.345", brl).unwrap_err().to_string();
        assert!(e.contains("too many decimal places"), "{e}");
    }
}
