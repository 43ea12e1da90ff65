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
use ferry_ledger::{Engine, EngineConfig, Store, StoreError};
use ferry_proto::cert::{FeeSchedule, Limits, software_attestation_key};
use ferry_proto::verify::AttestationRoots;
use ferry_proto::{Clock, Currency, PublicKey, SystemClock, UnixTime};
use thiserror::Error;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::api::auth;
use crate::issuer::{IssuerKeyring, KeyringError};
use crate::metrics::Metrics;
use crate::router::router;
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
    /// The USSD gateway, phone accounts and SMS notices.
    pub ussd: crate::ussd::UssdConfig,
}

impl ServeConfig {
    /// The defaults: `./ferry-data`, 127.0.0.1:8080, SQLite, BRL, no fees, software tier on.
    pub fn new(data_dir: PathBuf) -> Self {
        ServeConfig {
            data_dir,
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            database_url: None,
            currency: Currency::BRL,
            fees: FeeSchedule::default(),
            hardware_roots: Vec::new(),
            software_tier: true,
            sweep_every: Duration::from_secs(60),
            ussd: crate::ussd::UssdConfig::default(),
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
                software_limits: limits(500_00, 100_00, 50, 7),
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
    /// Stops accepting connections, finishes requests in flight, and returns.
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

/// Opens the store the configuration names.
pub async fn open_store(config: &ServeConfig) -> Result<Store, ServeError> {
    match &config.database_url {
        Some(url) => Ok(Store::open(url).await?),
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
    let engine = Engine::new(store, keys.signing, keys.sealing, config.engine_config());
    let ussd = Arc::new(crate::ussd::UssdService::new(
        engine.clone(),
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
            }
        })
    };
    let upkeep = crate::ussd::spawn_upkeep(state.ussd.clone(), &config.ussd, state.clock.clone());
    let app = router(state);
    let task = tokio::spawn(async move {
        let result = axum::serve(listener, app)
            .with_graceful_shutdown(async {
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
