//! The USSD gateway's server side: the menu engine (`ferry_ussd::Engine`) over the ledger's
//! phone accounts (`ferry_ledger::engine::PhoneBackend`), the PIN pepper kept in the data
//! directory, and the periodic upkeep (lapsed cash-out codes, old session records, SMS
//! delivery when a gateway is configured). The HTTP handlers are in `routes::ussd`.

use std::fs;
use std::io::{self, Write};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use ferry_ledger::Engine;
use ferry_ledger::engine::vouchers::Vouchers;
use ferry_ledger::engine::{PhoneBackend, PhoneConfig};
use ferry_proto::{Clock, UnixTime};
use ferry_ussd::gateway::UssdRequest;
use ferry_ussd::menu::{Engine as MenuEngine, EngineConfig as MenuConfig, Reply};
use tokio::task::JoinHandle;

use crate::serve::ServeError;
use crate::sms::{self, HttpSmsSender};

/// Name of the PIN pepper file in the data directory.
pub const PEPPER_FILE: &str = "pin.pepper";

/// How the USSD gateway, phone accounts and SMS notices run.
#[derive(Debug, Clone)]
pub struct UssdConfig {
    /// The menus: session timeout (180 s), record retention, default country of national
    /// numbers, first language.
    pub menu: MenuConfig,
    /// Phone accounts: PIN hashing and lock, tier limits, code validity. An empty pepper is
    /// replaced by the data directory's `pin.pepper` (created on first start).
    pub phones: PhoneConfig,
    /// Where to deliver SMS (`POST` of JSON); without it messages are stored and listed
    /// (`GET /v1/sms/outbox`) only.
    pub sms_gateway: Option<String>,
    /// How often lapsed codes are returned, old session records dropped and SMS delivered.
    pub upkeep_every: Duration,
}

impl Default for UssdConfig {
    fn default() -> Self {
        UssdConfig {
            menu: MenuConfig::default(),
            phones: PhoneConfig::default(),
            sms_gateway: None,
            upkeep_every: Duration::from_secs(5),
        }
    }
}

/// The gateway: the menu engine over the ledger's phone accounts.
#[derive(Debug)]
pub struct UssdService {
    menus: MenuEngine<PhoneBackend>,
}

impl UssdService {
    /// The gateway over `engine`'s ledger with `config`, reading (or creating) the PIN pepper
    /// in `data_dir` when the configuration has none. Phones create vouchers through
    /// `vouchers` (the API's voucher service).
    pub fn new(
        engine: Engine,
        vouchers: Vouchers,
        config: &UssdConfig,
        data_dir: &Path,
    ) -> Result<Self, ServeError> {
        let mut phones = config.phones.clone();
        if phones.pepper.is_empty() {
            phones.pepper = load_or_create_pepper(data_dir)?;
        }
        let backend = PhoneBackend::new(engine, phones).with_vouchers(vouchers);
        Ok(UssdService {
            menus: MenuEngine::new(backend, config.menu.clone()),
        })
    }

    /// The ledger's phone accounts.
    pub fn phones(&self) -> &PhoneBackend {
        self.menus.backend()
    }

    /// The menu settings.
    pub fn menu_config(&self) -> &MenuConfig {
        self.menus.config()
    }

    /// Answers one callback. A backend failure is logged (never the text: it holds PINs) and
    /// answered with the "service unavailable" screen, which ends the session and moves
    /// nothing.
    pub async fn answer(&self, req: &UssdRequest, now: UnixTime) -> Reply {
        match self.menus.handle(req, now).await {
            Ok(reply) => reply,
            Err(e) => {
                tracing::error!(error = %e, session = %req.session_id, "USSD backend failed");
                Reply::unavailable(self.menus.config().default_language)
            }
        }
    }

    /// One round of upkeep at `now`: lapsed cash-out codes return their reserve, session
    /// records past their retention go, so do operation keys and
    /// attempt counters, and (with a sender) due SMS are delivered.
    pub async fn upkeep(&self, now: UnixTime, sender: Option<&HttpSmsSender>) {
        let phones = self.phones();
        match phones.expire_cash_outs(now).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(count = n, "lapsed cash-out codes returned"),
            Err(e) => tracing::warn!(error = %e, "cash-out expiry failed; will retry"),
        }
        if let Err(e) = phones.purge_sessions(now).await {
            tracing::warn!(error = %e, "USSD session purge failed; will retry");
        }
        if let Err(e) = phones.purge_old(now).await {
            tracing::warn!(error = %e, "purge of old operation keys failed; will retry");
        }
        if let Some(sender) = sender
            && let Err(e) = sms::deliver_due(phones, sender, now).await
        {
            tracing::warn!(error = %e, "SMS delivery failed; will retry");
        }
    }
}

/// Runs [`UssdService::upkeep`] every `config.upkeep_every` until aborted.
pub fn spawn_upkeep(
    service: Arc<UssdService>,
    config: &UssdConfig,
    clock: Arc<dyn Clock>,
) -> JoinHandle<()> {
    let every = config.upkeep_every.max(Duration::from_millis(100));
    let sender = config.sms_gateway.as_deref().map(HttpSmsSender::new);
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            service.upkeep(clock.now(), sender.as_ref()).await;
        }
    })
}

/// Reads the PIN pepper from `dir`, creating 32 random bytes (0600) on first start. Servers
/// sharing a database must share it, like the issuer keys.
pub fn load_or_create_pepper(dir: &Path) -> Result<Vec<u8>, ServeError> {
    let path = dir.join(PEPPER_FILE);
    let io_err = |source| ServeError::Io {
        path: path.clone(),
        source,
    };
    match fs::read(&path) {
        Ok(b) if b.len() >= 16 => Ok(b),
        Ok(_) => Err(io_err(io::Error::other("PIN pepper file is too short"))),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            fs::create_dir_all(dir).map_err(io_err)?;
            let pepper = ferry_proto::random_bytes::<32>().to_vec();
            let mut options = fs::OpenOptions::new();
            options.write(true).create_new(true);
            #[cfg(unix)]
            {
                use std::os::unix::fs::OpenOptionsExt;
                options.mode(0o600);
            }
            match options.open(&path) {
                Ok(mut f) => {
                    f.write_all(&pepper).map_err(io_err)?;
                    f.sync_all().map_err(io_err)?;
                    Ok(pepper)
                }
                // Another server on the same directory created it first.
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                    fs::read(&path).map_err(io_err)
                }
                Err(e) => Err(io_err(e)),
            }
        }
        Err(e) => Err(io_err(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pepper_is_created_once_and_kept() {
        let dir = tempfile::tempdir().expect("temp dir");
        let first = load_or_create_pepper(dir.path()).expect("created");
        assert_eq!(first.len(), 32);
        assert_eq!(load_or_create_pepper(dir.path()).expect("read"), first);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(dir.path().join(PEPPER_FILE))
                .expect("metadata")
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        fs::write(dir.path().join(PEPPER_FILE), b"short").expect("write");
        assert!(load_or_create_pepper(dir.path()).is_err());
    }
}
