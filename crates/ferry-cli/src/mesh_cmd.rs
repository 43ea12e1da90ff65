//! `ferry mesh …`: the mesh relay as real processes. `ferry mesh node` runs a long-lived relay
//! node (`ferry_mesh::runtime`) on loopback TCP — Bluetooth stays behind the same link trait
//! the wallet uses — with an inbox directory that `ferry wallet send --via DIR` drops sealed
//! payments into, and with `--bridge URL` uploads what it carries to `POST /v1/envelopes`.
//! `ferry mesh simulate` runs the discrete-event simulator (`ferry_mesh::sim`).

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand, ValueEnum};
use ferry_api::client::{ClientError, SettlementClient};
use ferry_mesh::bridge::{BridgeConfig, Outcome, UploadError, Uploaded, Uploader};
use ferry_mesh::node::NodeConfig;
use ferry_mesh::runtime::{RuntimeConfig, run_node_on};
use ferry_mesh::strategy::{ProphetParams, Strategy};
use ferry_proto::Message;
use ferry_proto::SystemClock;
use ferry_proto::envelope::Envelope;
use ferry_wallet::wallet::Wallet;
use tracing::{info, warn};

/// `ferry mesh` commands.
#[derive(Subcommand, Debug)]
pub enum Mesh {
    /// Run a relay node until SIGINT/SIGTERM: listen on TCP, dial peers, take envelopes from
    /// an inbox directory, and with --bridge upload what it holds to the server.
    Node(NodeArgs),
    /// Run the discrete-event simulator of a city of phones carrying payments.
    Simulate(Box<crate::mesh_sim::SimulateArgs>),
}

/// A forwarding strategy on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum StrategyName {
    /// Flooding with TTL.
    Epidemic,
    /// Binary spray-and-wait with --copies L.
    Spray,
    /// PRoPHET delivery predictabilities toward bridges.
    Prophet,
}

impl StrategyName {
    /// The strategy, with `copies` for spray-and-wait.
    pub fn strategy(self, copies: u16) -> Strategy {
        match self {
            StrategyName::Epidemic => Strategy::Epidemic,
            StrategyName::Spray => Strategy::SprayAndWait {
                copies: copies.max(1),
            },
            StrategyName::Prophet => Strategy::Prophet(ProphetParams::default()),
        }
    }
}

/// `ferry mesh node`.
#[derive(Args, Debug)]
pub struct NodeArgs {
    /// Address to listen on (port 0 picks one; the first line on stdout says which).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:0")]
    listen: SocketAddr,
    /// A peer to dial every --dial-interval (repeat for several).
    #[arg(long = "peer", value_name = "ADDR")]
    peers: Vec<SocketAddr>,
    /// Make this node a bridge: upload what it holds to this settlement server.
    #[arg(long, value_name = "URL")]
    bridge: Option<String>,
    /// Learn the issuer's keys from this server at start, and carry only envelopes sealed to
    /// it that bear the issuer's mesh postage (a bridge learns them from --bridge).
    #[arg(long, value_name = "URL")]
    server: Option<String>,
    /// Learn the issuer's keys from this wallet's last sync instead of a server: the node of
    /// a phone that relays offline (in a basement) still checks seals and postage.
    #[arg(long, value_name = "DIR", conflicts_with_all = ["server", "bridge"])]
    wallet: Option<PathBuf>,
    /// With --server, --bridge or --wallet: carry envelopes without postage too (postage is what lets
    /// relays give a junk flooder no more room than any one payer; see ARCHITECTURE.md).
    #[arg(long)]
    no_postage: bool,
    /// Envelopes of one postage key held for others at most.
    #[arg(long, value_name = "N", default_value_t = 4)]
    per_postage_key: u16,
    /// Directory polled for `*.env` and `*.posted` files to inject (`ferry wallet send --via
    /// DIR`). Write under another name and rename into place; a file that does not parse is
    /// renamed to `.bad` once unchanged for 2 s.
    #[arg(long, value_name = "DIR")]
    inbox: Option<PathBuf>,
    /// Forwarding strategy.
    #[arg(long, value_enum, default_value = "spray")]
    strategy: StrategyName,
    /// Spray-and-wait L.
    #[arg(long, default_value_t = 4)]
    copies: u16,
    /// Bytes of envelopes held at most, in KiB.
    #[arg(long, value_name = "KIB", default_value_t = 256)]
    budget_kib: usize,
    /// Hashcash bits every relayed envelope's stamp must have.
    #[arg(long, default_value_t = 16)]
    stamp_bits: u8,
    /// Envelopes accepted from one peer in one contact at most.
    #[arg(long, default_value_t = 64)]
    quota: u32,
    /// Seconds between dials of every peer.
    #[arg(long, value_name = "SECS", default_value_t = 10.0)]
    dial_interval: f64,
    /// Seconds between inbox polls and bridge uploads.
    #[arg(long, value_name = "SECS", default_value_t = 1.0)]
    poll_interval: f64,
    /// This node's id in hellos (random by default).
    #[arg(long)]
    node_id: Option<u64>,
    /// Log one JSON object per line on stderr (`ts`, `level`, `target`, `message`, fields).
    #[arg(long)]
    log_json: bool,
}

impl Mesh {
    /// Whether the command asked for JSON log lines.
    pub fn log_json(&self) -> bool {
        matches!(self, Mesh::Node(a) if a.log_json)
    }
}

fn secs(flag: &str, v: f64) -> Result<Duration> {
    if !(0.01..=86_400.0).contains(&v) {
        bail!("{flag}: 0.01 to 86400 seconds");
    }
    Ok(Duration::from_secs_f64(v))
}

/// A bridge's uploader: `POST /v1/envelopes` through the typed client. Every answer the
/// server gives ends the bridge's job for an envelope; transport errors, 5xx and answers it
/// cannot read are retried with back-off by the bridge.
struct HttpUploader {
    client: SettlementClient,
}

impl Uploader for HttpUploader {
    async fn upload(&self, envelopes: Vec<Vec<u8>>) -> Result<Vec<Uploaded>, UploadError> {
        let n = envelopes.len();
        let decoded: Vec<Envelope> = envelopes
            .iter()
            .map(|b| Envelope::from_bytes(b))
            .collect::<Result<_, _>>()
            .map_err(|e| UploadError::Malformed(format!("held envelope: {e}")))?;
        match self.client.envelopes_acked(&decoded).await {
            Ok(outcomes) if outcomes.len() == n => Ok(outcomes
                .into_iter()
                .map(|o| Uploaded {
                    outcome: match o.outcome {
                        ferry_api::Outcome::Settled => Outcome::Settled,
                        ferry_api::Outcome::Duplicate => Outcome::Duplicate,
                        ferry_api::Outcome::Pending(_) => Outcome::Pending,
                        ferry_api::Outcome::Rejected(_) => Outcome::Rejected,
                        ferry_api::Outcome::Invalid(_) => Outcome::Invalid,
                    },
                    ack: o.ack.map(|a| ferry_proto::Signature::from_bytes(&a.0)),
                })
                .collect()),
            Ok(outcomes) => Err(UploadError::Malformed(format!(
                "{} outcomes for {n} envelopes",
                outcomes.len()
            ))),
            Err(ClientError::Transport(e)) => Err(UploadError::Transport(e.to_string())),
            Err(ClientError::Api { status, .. } | ClientError::Status { status }) => {
                Err(UploadError::Unavailable(status))
            }
            Err(e) => Err(UploadError::Malformed(e.to_string())),
        }
    }
}

/// Fetches the network parameters from `url` until they come (a node may start before its
/// server), for at most a minute.
async fn issuer_keys(url: &str) -> Result<(ferry_proto::ids::KeyId, ferry_proto::PublicKey)> {
    let client = SettlementClient::new(url);
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        match client.params().await {
            Ok(p) => {
                let body = p.unverified();
                return Ok((body.sealing_key_id(), body.issuer_key));
            }
            Err(e) if Instant::now() < deadline => {
                warn!(server = url, error = %e, "network parameters not available yet");
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            Err(e) => return Err(e).with_context(|| format!("network parameters from {url}")),
        }
    }
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// Runs `ferry mesh node` until a signal; prints the address first and a JSON summary last.
async fn node(args: NodeArgs, out: &mut dyn Write) -> Result<()> {
    if args.per_postage_key == 0 {
        bail!("--per-postage-key: at least 1 (0 would refuse every envelope from others)");
    }
    let issuer_url = args.bridge.as_deref().or(args.server.as_deref());
    let keys = match (issuer_url, &args.wallet) {
        (Some(url), _) => Some(issuer_keys(url).await?),
        (None, Some(dir)) => {
            let wallet = Wallet::open(dir, Arc::new(SystemClock), None)
                .await
                .map_err(crate::wallet_cmd::wallet_error)?;
            Some(
                wallet
                    .mesh_keys()
                    .await
                    .map_err(crate::wallet_cmd::wallet_error)
                    .with_context(|| format!("issuer keys from the wallet {}", dir.display()))?,
            )
        }
        (None, None) => None,
    };
    let issuer_key = keys.map(|(sealing, _)| sealing);
    let postage_issuer = keys
        .filter(|_| !args.no_postage)
        .map(|(_, signing)| signing);
    let (issuer_known, postage_required) = (issuer_key.is_some(), postage_issuer.is_some());
    let node_id = args
        .node_id
        .unwrap_or_else(|| u64::from_be_bytes(ferry_proto::random_bytes::<8>()));
    let node_cfg = NodeConfig {
        node_id,
        bridge: args.bridge.is_some(),
        strategy: args.strategy.strategy(args.copies),
        budget_bytes: args.budget_kib.saturating_mul(1024),
        max_items_per_contact: args.quota,
        stamp_bits: args.stamp_bits,
        issuer_key,
        postage_issuer,
        max_per_postage_key: args.per_postage_key,
        // Delivery acknowledgements are the issuer's whether or not postage is required.
        ack_issuer: keys.map(|(_, signing)| signing),
        ..NodeConfig::default()
    };
    if let Some(dir) = &args.inbox {
        std::fs::create_dir_all(dir).with_context(|| format!("inbox {}", dir.display()))?;
    }
    let mut config = RuntimeConfig::new(args.listen, node_cfg);
    config.peers = args.peers.clone();
    config.inbox = args.inbox.clone();
    config.dial_interval = secs("--dial-interval", args.dial_interval)?;
    config.poll_interval = secs("--poll-interval", args.poll_interval)?;
    config.bridge = BridgeConfig {
        backoff_base_secs: 1,
        backoff_max_secs: 30,
        ..BridgeConfig::default()
    };
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("listening on {}", args.listen))?;
    let local = listener.local_addr()?;
    writeln!(out, "mesh node {node_id} listening on {local}")?;
    out.flush()?;
    info!(
        %local,
        node = node_id,
        bridge = ?args.bridge,
        peers = ?args.peers,
        issuer_known,
        postage_required,
        "starting"
    );
    let summary = match &args.bridge {
        Some(url) => {
            let uploader = HttpUploader {
                client: SettlementClient::new(url),
            };
            run_node_on(listener, config.with_uploader(uploader), shutdown_signal()).await?
        }
        None => run_node_on(listener, config, shutdown_signal()).await?,
    };
    writeln!(
        out,
        "{}",
        serde_json::json!({
            "node": node_id,
            "contacts": summary.contacts,
            "failed": summary.failed,
            "injected": summary.injected,
            "uploaded": summary.uploaded,
            "acks_taken": summary.acks_taken,
        })
    )?;
    Ok(())
}

/// Runs one `ferry mesh` command.
pub fn run(what: Mesh, out: &mut dyn Write) -> Result<()> {
    match what {
        Mesh::Node(args) => tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .context("starting the async runtime")?
            .block_on(node(args, out)),
        Mesh::Simulate(args) => crate::mesh_sim::simulate_cmd(*args, out),
    }
}
