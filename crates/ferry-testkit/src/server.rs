//! A real settlement server in the test's process, and the parties that use it over HTTP.
//!
//! - [`TestServer`]: a real settlement server ([`ferry_server::serve::start`]) listening on a
//!   free port of 127.0.0.1, on a temporary data directory with the embedded SQLite database
//!   ([`TestServer::sqlite`]) or on a fresh PostgreSQL schema ([`TestServer::postgres`], which
//!   returns `None` without PostgreSQL, see [`crate::postgres`]). It can be stopped and started
//!   again on the same data directory ([`TestServer::restart`]).
//! - [`Account`] (a registered account key) and [`Holder`] (an account with a registered
//!   software-tier secure wallet, funded over HTTP through a cash [`Agent`], that pays offline).
//! - [`seal_payment`]: a payment in a sealed envelope, as a bridge carries it.
//! - Small checks every test repeats: [`assert_no_leak`], [`tally`], [`payment_transfers`].
//!
//! Everything talks to the server over HTTP with [`ferry_api::client::SettlementClient`]; only
//! the ledger row counts read the database directly. Setup helpers panic with context on
//! failure: they are for tests.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use ferry_api::client::{Claim, SettlementClient};
use ferry_api::{
    AccountBody, AuditBody, ClaimOutcome, EnvelopeOutcome, Outcome, PaymentStatusBody,
};
use ferry_ledger::{Engine, Store};
use ferry_proto::cert::{AttestationBody, NetworkParamsBody, Tier, software_attestation_key};
use ferry_proto::envelope::Envelope;
use ferry_proto::journal_writer::JournalWriter;
use ferry_proto::sealed::{SealedContent, seal};
use ferry_proto::{
    AccountId, AttestationStatement, Payment, PaymentId, PublicKey, RequestNonce, SigningKey,
    TaCertificate, TaId,
};
use ferry_proto::{Clock, SystemClock};
use ferry_server::serve::{RunningServer, ServeConfig, start_with_clock};

use crate::{brl, now, random_hex};

/// A settlement server running in this process, with a client and its admin token.
pub struct TestServer {
    running: Option<RunningServer>,
    /// A client of the server (rebuilt on restart: the port changes).
    pub client: SettlementClient,
    /// `http://127.0.0.1:<port>`.
    pub base_url: String,
    /// The admin bearer token (kept across restarts: it lives in the data directory).
    pub admin_token: String,
    data_dir: PathBuf,
    database_url: Option<String>,
    options: ServerOptions,
    _temp: Option<tempfile::TempDir>,
}

/// A change to a server's configuration, applied before each start.
pub type Configure = Arc<dyn Fn(&mut ServeConfig) + Send + Sync>;

/// How a [`TestServer`] differs from the defaults: its clock, and changes to its
/// configuration (kept across restarts).
#[derive(Clone, Default)]
pub struct ServerOptions {
    /// The server's clock (the system clock when `None`).
    pub clock: Option<Arc<dyn Clock>>,
    /// Applied to the configuration before each start.
    pub configure: Option<Configure>,
}

impl TestServer {
    /// A server on a new temporary data directory with the embedded SQLite database.
    pub async fn sqlite() -> TestServer {
        Self::sqlite_with(ServerOptions::default()).await
    }

    /// [`TestServer::sqlite`] with `options`.
    pub async fn sqlite_with(options: ServerOptions) -> TestServer {
        let temp = tempfile::tempdir().expect("temp dir");
        let mut s = Self::start_with(temp.path(), None, options).await;
        s._temp = Some(temp);
        s
    }

    /// [`TestServer::postgres`] with `options`.
    pub async fn postgres_with(options: ServerOptions) -> Option<TestServer> {
        let url = crate::postgres::fresh_schema().await?;
        let temp = tempfile::tempdir().expect("temp dir");
        let mut s = Self::start_with(temp.path(), Some(url), options).await;
        s._temp = Some(temp);
        Some(s)
    }

    /// A server on a new temporary data directory (for its keys) and a fresh PostgreSQL schema;
    /// `None` (after printing [`SKIPPED_POSTGRES`]) without [`POSTGRES_ENV`].
    pub async fn postgres() -> Option<TestServer> {
        Self::postgres_with(ServerOptions::default()).await
    }

    /// A server on `data_dir` (which the caller keeps alive), with SQLite in it or on
    /// `database_url`.
    ///
    /// # Panics
    /// If the server does not start.
    pub async fn start_on(data_dir: &Path, database_url: Option<String>) -> TestServer {
        Self::start_with(data_dir, database_url, ServerOptions::default()).await
    }

    /// [`TestServer::start_on`] with `options`.
    ///
    /// # Panics
    /// If the server does not start.
    pub async fn start_with(
        data_dir: &Path,
        database_url: Option<String>,
        options: ServerOptions,
    ) -> TestServer {
        let running = launch(data_dir, database_url.clone(), &options).await;
        let base_url = format!("http://{}", running.addr);
        TestServer {
            client: SettlementClient::new(&base_url),
            base_url,
            admin_token: running.admin_token.clone(),
            running: Some(running),
            data_dir: data_dir.to_owned(),
            database_url,
            options,
            _temp: None,
        }
    }

    /// The data directory.
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// The PostgreSQL URL, if the server runs on PostgreSQL.
    pub fn database_url(&self) -> Option<&str> {
        self.database_url.as_deref()
    }

    /// The running server's engine (for direct database reads).
    ///
    /// # Panics
    /// While the server is stopped.
    pub fn engine(&self) -> &Engine {
        &self.running.as_ref().expect("server is running").engine
    }

    /// The running server's store.
    pub fn store(&self) -> &Store {
        self.engine().store()
    }

    /// A new client of this server (its own connection pool, as a separate bridge has).
    pub fn new_client(&self) -> SettlementClient {
        SettlementClient::new(&self.base_url)
    }

    /// Stops the server (finishing requests in flight) and starts it again on the same data
    /// directory and database, on a new port.
    pub async fn restart(&mut self) {
        if let Some(r) = self.running.take() {
            r.stop().await.expect("server stopped cleanly");
        }
        let running = launch(&self.data_dir, self.database_url.clone(), &self.options).await;
        self.base_url = format!("http://{}", running.addr);
        self.client = SettlementClient::new(&self.base_url);
        assert_eq!(
            running.admin_token, self.admin_token,
            "the admin token survives a restart"
        );
        self.running = Some(running);
    }

    /// Stops the server.
    pub async fn stop(mut self) {
        if let Some(r) = self.running.take() {
            r.stop().await.expect("server stopped cleanly");
        }
    }

    /// The network parameters the server publishes (sealing key, issuer key, limits).
    pub async fn params(&self) -> NetworkParamsBody {
        self.client
            .params()
            .await
            .expect("GET /v1/params")
            .unverified()
            .clone()
    }

    /// A new cash agent whose float holds `float_minor` issued by the admin.
    pub async fn agent(&self, float_minor: i64) -> Agent {
        new_agent(&self.client, &self.admin_token, float_minor).await
    }

    /// `GET /v1/audit`, asserting `clean == true`; returns the audit body.
    pub async fn assert_audit_clean(&self) -> AuditBody {
        assert_audit_clean(&self.client, &self.admin_token).await
    }
}

async fn launch(
    data_dir: &Path,
    database_url: Option<String>,
    options: &ServerOptions,
) -> RunningServer {
    let mut config = ServeConfig::new(data_dir.to_owned());
    config.listen = "127.0.0.1:0".parse().expect("socket address");
    config.database_url = database_url;
    if let Some(configure) = &options.configure {
        configure(&mut config);
    }
    let clock = options
        .clock
        .clone()
        .unwrap_or_else(|| Arc::new(SystemClock));
    start_with_clock(config, clock)
        .await
        .expect("start the settlement server")
}

/// `GET /v1/audit` on any server, asserting `clean == true`; returns the audit body.
pub async fn assert_audit_clean(client: &SettlementClient, admin_token: &str) -> AuditBody {
    let audit = client.audit(admin_token).await.expect("GET /v1/audit");
    assert!(audit.clean, "audit: {audit:?}");
    audit
}

/// Creates a cash agent on the server at `client` and issues `float_minor` into its float.
pub async fn new_agent(client: &SettlementClient, admin_token: &str, float_minor: i64) -> Agent {
    let name = format!("agent-{}", &random_hex()[..12]);
    let token = client
        .create_agent(admin_token, &name)
        .await
        .expect("create agent");
    let funded = client
        .fund(
            admin_token,
            &format!("agent:{name}"),
            brl(float_minor),
            &format!("float-{}", random_hex()),
        )
        .await
        .expect("fund agent");
    assert_eq!(funded, Outcome::Settled, "funding the agent");
    Agent { name, token }
}

/// A cash agent: takes cash and credits online balances from its float.
#[derive(Debug, Clone)]
pub struct Agent {
    /// Its name (`[a-z0-9_-]`).
    pub name: String,
    /// Its bearer token.
    pub token: String,
}

/// A registered account: its key and id. A receiver without a secure wallet is just this.
pub struct Account {
    /// The account key (signs requests).
    pub key: SigningKey,
    /// The account id.
    pub id: AccountId,
}

impl Account {
    /// Registers a new account key over HTTP.
    pub async fn register(client: &SettlementClient) -> Account {
        let key = SigningKey::generate();
        let cert = client
            .register_account(&key, now())
            .await
            .expect("register account");
        Account {
            id: cert.unverified().account_id,
            key,
        }
    }

    /// `GET /v1/accounts/{id}`, signed.
    pub async fn view(&self, client: &SettlementClient) -> AccountBody {
        client
            .account(&self.key, self.id, now())
            .await
            .expect("GET /v1/accounts/{id}")
    }

    /// The online balance, in minor units.
    pub async fn online(&self, client: &SettlementClient) -> i64 {
        self.view(client).await.online.amount
    }

    /// `GET /v1/payments/{ta}/{j}`, signed by this account (its payer or payee).
    pub async fn payment_status(
        &self,
        client: &SettlementClient,
        id: PaymentId,
    ) -> PaymentStatusBody {
        client
            .payment_status(&self.key, self.id, id, now())
            .await
            .expect("GET /v1/payments/{ta}/{j}")
    }
}

/// An account holder with a registered software-tier secure wallet: funds it over HTTP and
/// pays offline with its journal.
pub struct Holder {
    /// The holder's account.
    pub account: Account,
    /// The wallet's TA certificate.
    pub ta_cert: TaCertificate,
    /// The wallet's journal.
    pub journal: JournalWriter,
    issuer_key: PublicKey,
}

impl Holder {
    /// Registers an account and a software-tier wallet (attested with the public software
    /// attestation key) over HTTP.
    pub async fn register(client: &SettlementClient) -> Holder {
        let account = Account::register(client).await;
        let ta_key = SigningKey::generate();
        let attestation = AttestationStatement::sign(
            AttestationBody {
                ta_key: ta_key.public(),
                tier: Tier::Software,
                device_model: "ferry-e2e".into(),
                issued_at: now(),
            },
            &software_attestation_key(),
        )
        .expect("attestation statement");
        let ta_cert = client
            .register_wallet(&account.key, account.id, &attestation, now())
            .await
            .expect("register wallet");
        let params = client.params().await.expect("GET /v1/params");
        let journal = JournalWriter::fresh(ta_key, ta_cert.unverified().clone());
        Holder {
            account,
            ta_cert,
            journal,
            issuer_key: params.unverified().issuer_key,
        }
    }

    /// The wallet's id.
    pub fn ta(&self) -> TaId {
        self.journal.ta_id()
    }

    /// The account id.
    pub fn id(&self) -> AccountId {
        self.account.id
    }

    /// Funds the wallet with `minor` over HTTP: the agent takes cash into the online balance,
    /// then a deposit authorization with the next serial moves it to the wallet, which applies
    /// it to its journal.
    pub async fn fund(&mut self, client: &SettlementClient, agent: &Agent, minor: i64) {
        let cashed = client
            .cash_in(
                &agent.token,
                self.account.id,
                brl(minor),
                &format!("cash-{}", random_hex()),
            )
            .await
            .expect("cash in");
        assert_eq!(cashed, Outcome::Settled, "cash in");
        let serial = self.journal.point().last_serial + 1;
        let auth = client
            .deposit(
                &self.account.key,
                self.account.id,
                self.ta(),
                serial,
                brl(minor),
                now(),
            )
            .await
            .expect("deposit");
        self.journal
            .deposit(&auth, &self.issuer_key, now())
            .expect("the wallet applies the deposit");
    }

    /// Pays `minor` to `payee` offline (a fresh request nonce, the real time).
    pub fn pay(&mut self, payee: AccountId, minor: i64) -> Payment {
        self.journal
            .pay(payee, RequestNonce::random(), brl(minor), now())
            .expect("payment within the wallet's limits")
    }

    /// The claim a receiver uploads for `payment` (no receipt).
    pub fn claim(&self, payment: &Payment) -> Claim {
        Claim {
            ta_cert: self.ta_cert.clone(),
            payment: payment.clone(),
            receipt: None,
        }
    }

    /// `payment` sealed to the server, as a bridge carries it.
    pub fn envelope(&self, params: &NetworkParamsBody, payment: &Payment) -> Envelope {
        seal_payment(params, &self.ta_cert, payment)
    }

    /// The wallet's float on the ledger, in minor units (from `GET /v1/accounts/{id}`).
    pub async fn float(&self, client: &SettlementClient) -> i64 {
        let v = self.account.view(client).await;
        let ta = self.ta().to_hex();
        v.wallets
            .iter()
            .find(|w| w.ta_id == ta)
            .map(|w| w.float.amount)
            .unwrap_or_else(|| panic!("wallet {ta} not in {v:?}"))
    }
}

/// Seals `payment` (with its payer's certificate, no receipt) to the sealing key in `params`,
/// valid for a day, 8 hops.
pub fn seal_payment(
    params: &NetworkParamsBody,
    ta_cert: &TaCertificate,
    payment: &Payment,
) -> Envelope {
    let content = SealedContent::Payment {
        ta_cert: ta_cert.clone(),
        payment: payment.clone(),
        receipt: None,
    };
    seal(params, &content, now().plus_secs(86_400), 8).expect("seal")
}

/// An item of a batch answer: it has an [`Outcome`].
pub trait HasOutcome {
    /// The item's outcome.
    fn outcome(&self) -> &Outcome;
}

impl HasOutcome for Outcome {
    fn outcome(&self) -> &Outcome {
        self
    }
}

impl HasOutcome for ClaimOutcome {
    fn outcome(&self) -> &Outcome {
        &self.outcome
    }
}

impl HasOutcome for EnvelopeOutcome {
    fn outcome(&self) -> &Outcome {
        &self.outcome
    }
}

/// Counts outcomes by name, with the reason when there is one (`invalid:tampered`).
pub fn tally<T: HasOutcome>(outcomes: &[T]) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    for o in outcomes {
        *out.entry(o.outcome().to_string()).or_insert(0) += 1;
    }
    out
}

/// Asserts a response is not a server failure and leaks nothing of the database: status is
/// not 500, and the body holds no `sql` (`SQL`, `sqlx`, `sqlite`...) or `syntax` in any case.
pub fn assert_no_leak(what: &str, status: u16, body: &[u8]) {
    let text = String::from_utf8_lossy(body);
    assert_ne!(status, 500, "{what}: 500 {text}");
    let lower = text.to_lowercase();
    for leak in ["sql", "syntax"] {
        assert!(
            !lower.contains(leak),
            "{what}: body mentions {leak:?}: {text}"
        );
    }
}

/// Ledger transfers of one kind, counted in the database.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TransferCount {
    /// Rows.
    pub rows: i64,
    /// Distinct references (idempotency keys): equal to `rows` when nothing was posted twice.
    pub distinct_references: i64,
}

/// Counts the `transfers` rows of `kind` (`payment`, `deposit`, ...) in `store`.
pub async fn transfers_of_kind(store: &Store, kind: &str) -> TransferCount {
    let (rows, distinct_references) = store.transfer_counts(kind).await.expect("count transfers");
    TransferCount {
        rows,
        distinct_references,
    }
}

/// Counts the settled payment transfers in `store` (see [`transfers_of_kind`]).
pub async fn payment_transfers(store: &Store) -> TransferCount {
    transfers_of_kind(store, "payment").await
}

/// Device wallets (`ferry_wallet::wallet::Wallet`) against a test server.
pub mod devices {
    use std::sync::Arc;

    use ferry_proto::{AccountId, Money, SystemClock, TaId};
    use ferry_wallet::secure::SecureWallet;
    use ferry_wallet::wallet::{KeyBackend, ShownRequest, SyncReport, Wallet, WalletConfig};

    use super::{Agent, SettlementClient, TestServer, brl, random_hex};

    /// A wallet in its own temporary directory.
    pub struct Device {
        /// The wallet.
        pub wallet: Wallet,
        /// Its directory (removed on drop).
        pub dir: tempfile::TempDir,
    }

    impl Device {
        /// Creates and registers a wallet with the server at `base_url`.
        ///
        /// # Panics
        /// If creation or registration fails.
        pub async fn register(base_url: &str, name: &str) -> Device {
            let dir = tempfile::tempdir().expect("temp dir");
            let mut wallet = Wallet::create(
                dir.path(),
                WalletConfig {
                    server_url: base_url.to_owned(),
                    name: name.to_owned(),
                    city: "Recife".into(),
                    key: KeyBackend::Sealed,
                },
                Arc::new(SystemClock),
            )
            .await
            .expect("create wallet");
            wallet.register().await.expect("register wallet");
            Device { wallet, dir }
        }

        /// Reopens the wallet from its directory (as after a restart of the app).
        ///
        /// # Panics
        /// If it does not open.
        pub async fn reopen(&mut self) {
            self.wallet = Wallet::open(self.dir.path(), Arc::new(SystemClock), None)
                .await
                .expect("reopen wallet");
        }

        /// Cash in `minor` at `agent` and deposit it into the secure wallet.
        ///
        /// # Panics
        /// If any step fails.
        pub async fn fund(&mut self, client: &SettlementClient, agent: &Agent, minor: i64) {
            let account = self
                .wallet
                .account_id()
                .await
                .expect("store")
                .expect("registered");
            let cashed = client
                .cash_in(
                    &agent.token,
                    account,
                    brl(minor),
                    &format!("cash-{}", random_hex()),
                )
                .await
                .expect("cash in");
            assert_eq!(cashed, ferry_api::Outcome::Settled, "cash in");
            self.wallet.deposit(brl(minor)).await.expect("deposit");
        }

        /// The offline balance in minor units.
        pub fn offline(&self) -> i64 {
            self.wallet
                .secure()
                .status()
                .balance
                .map_or(0, Money::minor)
        }

        /// The account id.
        ///
        /// # Panics
        /// If the wallet is not registered.
        pub async fn account(&self) -> AccountId {
            self.wallet
                .account_id()
                .await
                .expect("store")
                .expect("registered")
        }

        /// The secure wallet's id.
        pub fn ta(&self) -> TaId {
            self.wallet.secure().status().ta_id
        }

        /// A request for `minor` (or any amount), valid for ten minutes.
        ///
        /// # Panics
        /// If the wallet refuses.
        pub async fn request(&self, minor: Option<i64>) -> ShownRequest {
            self.wallet
                .request(minor.map(brl), "", std::time::Duration::from_secs(600))
                .await
                .expect("request")
        }

        /// Syncs with the server the wallet is configured for.
        ///
        /// # Panics
        /// If the sync fails.
        pub async fn sync(&mut self) -> SyncReport {
            self.wallet.sync(|_| {}).await.expect("sync")
        }

        /// A copy of this device, as a cloned phone would be: every file of the wallet
        /// directory (device key, secure-wallet state *and* its counter, store) copied to a new
        /// directory. Both wallets are reopened; they hold the same secure wallet.
        ///
        /// # Panics
        /// If a file cannot be copied or a wallet does not reopen.
        pub async fn clone_device(&mut self) -> Device {
            // Closing the store checkpoints its write-ahead log into the database file.
            self.wallet.store().close().await;
            let dir = tempfile::tempdir().expect("temp dir");
            for entry in std::fs::read_dir(self.dir.path()).expect("read wallet dir") {
                let entry = entry.expect("dir entry");
                if entry.file_type().expect("file type").is_file() {
                    std::fs::copy(entry.path(), dir.path().join(entry.file_name()))
                        .expect("copy wallet file");
                }
            }
            self.reopen().await;
            let wallet = Wallet::open(dir.path(), Arc::new(SystemClock), None)
                .await
                .expect("open the copy");
            Device { wallet, dir }
        }

        /// This wallet's float on the server's ledger, in minor units.
        ///
        /// # Panics
        /// If the server does not know the wallet.
        pub async fn float(&self, server: &TestServer) -> i64 {
            let ta = self.ta();
            let view = server
                .engine()
                .account_view(self.account().await)
                .await
                .expect("account view")
                .expect("registered account");
            view.wallets
                .iter()
                .find(|w| w.ta == ta)
                .unwrap_or_else(|| panic!("wallet {ta} not in {view:?}"))
                .float
                .minor()
        }

        /// This account's online balance on the server's ledger, in minor units.
        ///
        /// # Panics
        /// If the server does not know the account.
        pub async fn online(&self, server: &TestServer) -> i64 {
            server
                .engine()
                .account_view(self.account().await)
                .await
                .expect("account view")
                .expect("registered account")
                .online
                .minor()
        }
    }
}
