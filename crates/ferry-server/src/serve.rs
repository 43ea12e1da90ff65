//! Starting the server: the data directory (SQLite database, issuer keys, admin token), the
//! engine configuration, the listener, and a periodic fraud sweep. `ferry serve` is a thin
//! wrapper around [`start`].

use std::fs;
use std::io::{self, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use ferry_ledger::registry::RegistrationPolicy;
use ferry_ledger::store::IssuerBinding;
use ferry_ledger::{Engine, EngineConfig, Store, StoreError};
use ferry_proto::cert::{FeeSchedule, Limits, software_attestation_key};
use ferry_proto::verify::AttestationRoots;
use ferry_proto::{Clock, Currency, PublicKey, SystemClock, UnixTime};
use thiserror::Error;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::api::auth;
use crate::conn::{ConnLimits, raise_open_file_limit};
use crate::issuer::{IssuerKeyring, KeyringError};
use crate::metrics::Metrics;
use crate::router::{RouterLimits, router};
use crate::shed::BodyBudget;
use crate::state::AppState;

/// Name of the admin token file in the data directory.
pub const ADMIN_TOKEN_FILE: &str = "admin.token";

/// How the server runs.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    /// Holds the issuer keys, the admin token and (without `database_url`) the SQLite database.
    pub data_dir: PathBuf,
    /// Address to listen on.
    pub listen: SocketAddr,
    /// `postgres://…` to use PostgreSQL instead of the embedded SQLite database.
    pub database_url: Option<String>,
    /// The currency settled.
    pub currency: Currency,
    /// Fees in basis points.
    pub fees: FeeSchedule,
    /// OEM roots trusted for hardware-tier wallets.
    pub hardware_roots: Vec<PublicKey>,
    /// Whether software-tier wallets may register.
    pub software_tier: bool,
    /// How often unfunded payments past their wallets' deadlines are swept into fraud cases.
    pub sweep_every: Duration,
    /// Connection and request limits.
    pub limits: ServerLimits,
    /// How long to keep retrying a database that does not answer at start-up (zero: fail at
    /// once with the database's own error).
    pub database_retry: Duration,
    /// The USSD gateway, phone accounts and SMS notices.
    pub ussd: crate::ussd::UssdConfig,
    /// Enables the demo mesh routes (`/v1/demo/mesh…`).
    pub demo: bool,
    /// Offline Pix vouchers: brute-force and travel rules, password verifiers. An empty pepper
    /// is replaced by the data directory's `pin.pepper`.
    pub vouchers: ferry_ledger::engine::vouchers::VoucherConfig,
    /// Offline caps of software-tier wallets from a risk file (`--risk`); the defaults without.
    pub wallet_caps: Option<crate::risk::WalletCaps>,
    /// Settle concurrent small requests together in one transaction (on by default).
    pub group_commit: bool,
}

/// The server's limits and timeouts (defaults in ARCHITECTURE.md, "Limits and timeouts").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServerLimits {
    /// Connections: header timeout, cap, shutdown deadline.
    pub conn: ConnLimits,
    /// How long a whole request body may take to arrive.
    pub body_timeout: Duration,
    /// Body bytes the batch routes may hold at once before shedding load.
    pub inflight_body_bytes: usize,
}

impl Default for ServerLimits {
    /// Header timeout 10 s, 1024 connections, shutdown deadline 10 s, body timeout 30 s,
    /// 16 MiB of batch bodies in flight.
    fn default() -> Self {
        ServerLimits {
            conn: ConnLimits::default(),
            body_timeout: Duration::from_secs(30),
            inflight_body_bytes: 16 * 1024 * 1024,
        }
    }
}

/// The default fees: none, except the Pix RFC's voucher fees (1 % at creation, 0.3 % of each
/// redemption, from the emitter's reserve).
pub fn default_fees() -> FeeSchedule {
    FeeSchedule {
        voucher_create_bps: 100,
        voucher_redeem_bps: 30,
        ..FeeSchedule::default()
    }
}

impl ServeConfig {
    /// The defaults: `./ferry-data`, 127.0.0.1:8080, SQLite, BRL, no fees, software tier on.
    pub fn new(data_dir: PathBuf) -> Self {
        ServeConfig {
            data_dir,
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            database_url: None,
            currency: Currency::BRL,
            fees: default_fees(),
            hardware_roots: Vec::new(),
            software_tier: true,
            sweep_every: Duration::from_secs(60),
            limits: ServerLimits::default(),
            database_retry: Duration::ZERO,
            ussd: crate::ussd::UssdConfig::default(),
            demo: false,
            vouchers: ferry_ledger::engine::vouchers::VoucherConfig::default(),
            wallet_caps: None,
            group_commit: true,
        }
    }

    /// The engine configuration: limits per tier, freshness windows, sync grace.
    pub fn engine_config(&self) -> EngineConfig {
        let limits = |balance: i64, payment: i64, count: u32, sync_days: u64| Limits {
            currency: self.currency,
            max_balance: balance,
            max_payment: payment,
            max_payments_between_syncs: count,
            sync_by: UnixTime(sync_days * 86_400),
        };
        EngineConfig {
            currency: self.currency,
            fees: self.fees,
            registration: RegistrationPolicy {
                client_cert_validity_secs: 2 * 365 * 86_400,
                ta_cert_validity_secs: 90 * 86_400,
                software_limits: self.wallet_caps.map_or(limits(500_00, 100_00, 50, 7), |w| {
                    limits(
                        w.max_balance,
                        w.max_payment,
                        w.max_payments_between_syncs,
                        w.max_offline_days,
                    )
                }),
                hardware_limits: limits(5_000_00, 1_000_00, 200, 14),
                attestation_roots: AttestationRoots {
                    hardware: self.hardware_roots.clone(),
                    software: if self.software_tier {
                        vec![software_attestation_key().public()]
                    } else {
                        Vec::new()
                    },
                },
            },
            order_max_age_secs: ferry_proto::order::DEFAULT_MAX_AGE_SECS,
            order_max_skew_secs: ferry_proto::order::DEFAULT_MAX_SKEW_SECS,
            sync_grace_secs: 2 * 86_400,
            params_validity_secs: 86_400,
            group_commit: self.group_commit,
        }
    }
}

/// Why the server could not start.
#[derive(Debug, Error)]
pub enum ServeError {
    /// The issuer keys could not be loaded or created.
    #[error(transparent)]
    Keys(#[from] KeyringError),
    /// The database could not be opened or migrated.
    #[error("database: {0}")]
    Store(#[from] StoreError),
    /// The database belongs to a server with other issuer keys.
    #[error(
        "the database belongs to issuer key {stored} but this server's key is {ours}: \
         start it with that server's data directory (its keys), or use another database; \
         key rotation is a deliberate operation, not a start-up option"
    )]
    ForeignKeys {
        /// The issuer key id the database records.
        stored: String,
        /// This server's issuer key id.
        ours: String,
    },
    /// A file in the data directory could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        source: io::Error,
    },
}

/// A running server.
#[derive(Debug)]
pub struct RunningServer {
    /// The address it listens on.
    pub addr: SocketAddr,
    /// The admin token (also in the data directory's `admin.token`).
    pub admin_token: String,
    /// The engine, for in-process callers.
    pub engine: Engine,
    shutdown: Option<oneshot::Sender<()>>,
    task: JoinHandle<io::Result<()>>,
}

impl RunningServer {
    /// Stops accepting connections, lets requests in flight finish within the shutdown
    /// deadline (aborting what is left after it), and returns.
    pub async fn stop(mut self) -> io::Result<()> {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        self.task.await.unwrap_or_else(|e| Err(io::Error::other(e)))
    }

    /// Runs until the server fails (or forever).
    pub async fn wait(self) -> io::Result<()> {
        self.task.await.unwrap_or_else(|e| Err(io::Error::other(e)))
    }
}

/// Reads the admin token from `dir`, creating it (0600) on first start.
pub fn load_or_create_admin_token(dir: &Path) -> Result<String, ServeError> {
    let path = dir.join(ADMIN_TOKEN_FILE);
    let io_err = |source| ServeError::Io {
        path: path.clone(),
        source,
    };
    match fs::read_to_string(&path) {
        Ok(s) if !s.trim().is_empty() => Ok(s.trim().to_owned()),
        Ok(_) => Err(io_err(io::Error::other("admin token file is empty"))),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            fs::create_dir_all(dir).map_err(io_err)?;
            let token = auth::new_token();
            let mut options = fs::OpenOptions::new();
            options.write(true).create_new(true);
            #[cfg(unix)]
            {
                use std::os::unix::fs::OpenOptionsExt;
                options.mode(0o600);
            }
            let mut f = options.open(&path).map_err(io_err)?;
            f.write_all(token.as_bytes()).map_err(io_err)?;
            f.sync_all().map_err(io_err)?;
            Ok(token)
        }
        Err(e) => Err(io_err(e)),
    }
}

/// Opens the store the configuration names. A database that does not answer is retried with
/// back-off for up to `config.database_retry` (not at all by default), then reported with the
/// database's own error.
pub async fn open_store(config: &ServeConfig) -> Result<Store, ServeError> {
    match &config.database_url {
        Some(url) => {
            let deadline = tokio::time::Instant::now() + config.database_retry;
            let mut wait = Duration::from_millis(250);
            loop {
                match Store::open(url).await {
                    Ok(store) => return Ok(store),
                    Err(e)
                        if e.is_unreachable() && tokio::time::Instant::now() + wait <= deadline =>
                    {
                        tracing::warn!(error = %e, retry_in_ms = wait.as_millis() as u64, "database not answering; retrying");
                        tokio::time::sleep(wait).await;
                        wait = (wait * 2).min(Duration::from_secs(5));
                    }
                    Err(e) => return Err(e.into()),
                }
            }
        }
        None => {
            fs::create_dir_all(&config.data_dir).map_err(|source| ServeError::Io {
                path: config.data_dir.clone(),
                source,
            })?;
            Ok(Store::open_sqlite_dir(&config.data_dir).await?)
        }
    }
}

/// Starts the server with the system clock.
pub async fn start(config: ServeConfig) -> Result<RunningServer, ServeError> {
    start_with_clock(config, Arc::new(SystemClock)).await
}

/// Starts the server with `clock`.
pub async fn start_with_clock(
    config: ServeConfig,
    clock: Arc<dyn Clock>,
) -> Result<RunningServer, ServeError> {
    let keys = IssuerKeyring::load_or_create(&config.data_dir)?;
    let admin_token = load_or_create_admin_token(&config.data_dir)?;
    let store = open_store(&config).await?;
    let ours = keys.signing.public().key_id();
    match store
        .bind_issuer(ours, keys.sealing.public().key_id(), clock.now())
        .await?
    {
        IssuerBinding::Ours => {}
        IssuerBinding::Other(stored) => {
            return Err(ServeError::ForeignKeys {
                stored: stored.to_string(),
                ours: ours.to_string(),
            });
        }
    }
    let engine = Engine::new(store, keys.signing, keys.sealing, config.engine_config());
    let vouchers = {
        let mut vc = config.vouchers.clone();
        if vc.pepper.is_empty() {
            vc.pepper = crate::ussd::load_or_create_pepper(&config.data_dir)?;
        }
        ferry_ledger::engine::vouchers::Vouchers::new(engine.clone(), vc)
    };
    let ussd = Arc::new(crate::ussd::UssdService::new(
        engine.clone(),
        vouchers.clone(),
        &config.ussd,
        &config.data_dir,
    )?);
    let state = AppState {
        engine: engine.clone(),
        metrics: Arc::new(Metrics::new()),
        admin_token: Arc::new(admin_token.clone()),
        clock: clock.clone(),
        certificates: Arc::default(),
        ussd,
        demo: if config.demo {
            let params = engine
                .network_parameters(clock.now())
                .map_err(|e| ServeError::Io {
                    path: PathBuf::from("network parameters"),
                    source: std::io::Error::other(e.to_string()),
                })?;
            Some(Arc::new(crate::demo::DemoMesh::new(
                params.unverified().sealing_key_id(),
            )))
        } else {
            None
        },
        vouchers: vouchers.clone(),
    };
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|source| ServeError::Io {
            path: PathBuf::from(config.listen.to_string()),
            source,
        })?;
    let addr = listener.local_addr().map_err(|source| ServeError::Io {
        path: PathBuf::from(config.listen.to_string()),
        source,
    })?;
    let (tx, rx) = oneshot::channel::<()>();
    let sweeper = {
        let engine = engine.clone();
        let every = config.sweep_every;
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            loop {
                tick.tick().await;
                if let Err(e) = engine.sweep(clock.now()).await {
                    tracing::warn!(error = %e, "fraud sweep failed; will retry");
                }
                match vouchers.expire(clock.now()).await {
                    Ok(0) => {}
                    Ok(n) => {
                        tracing::info!(closed = n, "expired vouchers returned to their emitters")
                    }
                    Err(e) => tracing::warn!(error = %e, "voucher expiry sweep failed; will retry"),
                }
            }
        })
    };
    let upkeep = crate::ussd::spawn_upkeep(state.ussd.clone(), &config.ussd, state.clock.clone());
    let app = router(
        state,
        RouterLimits {
            body_timeout: config.limits.body_timeout,
            budget: BodyBudget::new(config.limits.inflight_body_bytes),
        },
    );
    let mut conn_limits = config.limits.conn;
    if let Some(files) = raise_open_file_limit() {
        // Keep descriptors for the database pool, log files and the listener.
        let room = usize::try_from(files.saturating_sub(64)).unwrap_or(usize::MAX);
        if room < conn_limits.max_connections {
            tracing::warn!(
                open_files = files,
                max_connections = room,
                "the open-file limit lowers the connection cap"
            );
            conn_limits.max_connections = room.max(1);
        }
    }
    let task = tokio::spawn(async move {
        let result = crate::conn::serve(listener, app, conn_limits, async {
            let _ = rx.await;
        })
        .await;
        sweeper.abort();
        upkeep.abort();
        result
    });
    tracing::info!(%addr, "ferry settlement server listening");
    Ok(RunningServer {
        addr,
        admin_token,
        engine,
        shutdown: Some(tx),
        task,
    })
}
