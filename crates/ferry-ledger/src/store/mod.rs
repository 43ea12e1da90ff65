//! The ledger store: all of the settlement server's SQL, one implementation over sqlx's `Any`
//! driver, on embedded SQLite (the default, a file in the data directory) or PostgreSQL (several
//! servers on one database). The engine decides; the store executes: each module here owns the
//! statements of a few tables (`journal`, `debits`, `cases`, `deposits`, `envelopes`,
//! `orders`, `agents`, `registry`, `phone` (phone accounts, USSD operations, cash-out codes,
//! phone links), `sms` (the outbox), `ussd_sessions`, the ledger itself in this file and
//! `batch`), and returns
//! typed rows. The schema is versioned migration files per dialect (`migrations/sqlite`,
//! `migrations/postgres`) run by `sqlx::migrate!` when a store opens.
//!
//! Exactly-once is enforced by the database, not by memory: a transfer's reference is a unique
//! key inserted in the same transaction that moves the balances, so two server processes racing
//! on the same payment post it once. SQLite writes take the write lock up front
//! (`BEGIN IMMEDIATE`); PostgreSQL relies on row locks, taken in account order so concurrent
//! transfers cannot deadlock.
//!
//! SQLite has one writer at a time. Rather than let concurrent write transactions poll for the
//! lock in SQLite's busy handler (which sleeps and retries, so one unlucky batch can wait behind
//! many later ones), a store on SQLite queues its write transactions on a fair in-process async
//! mutex, held from `BEGIN IMMEDIATE` to commit or rollback ([`WriteTx`]). The busy handler is
//! still there for writers outside the queue (another process, a statement run on the pool).

mod agents;
mod batch;
mod cases;
mod dashboard;
mod debits;
mod deposits;
mod durable;
mod envelopes;
mod issuer;
mod journal;
mod orders;
mod phone;
mod registry;
mod risk;
mod rows;
mod sms;
mod sql;
mod statement;
mod throttles;
mod ussd_sessions;
mod vouchers;

pub(crate) use batch::CHUNK;
pub use batch::LedgerBatch;
pub use cases::{Case, FraudCase, NewCase};
pub use dashboard::{
    AccountBalance, Channel, ChannelCount, DebitCount, MAX_TRANSFER_LIST, PostingRow,
    TransferFilter, TransferRow,
};
pub use debits::{Debit, DebitRecord, ReceivedCursor, ReceivedRow};
pub use deposits::DepositRecord;
pub use durable::{Durable, SyncFailed};
pub use issuer::IssuerBinding;
pub use journal::{EntryRow, Recorded};
pub use phone::{
    BalanceMovement, CashOutRow, CashOutState, LinkRow, NewPhoneAccount, OpRow, PhoneRow,
    decode_pin_hash, encode_pin_hash,
};
pub use registry::WalletRow;
pub use risk::{AlertRow, NewAlert};
pub use sms::{SmsRow, notice_kind};
pub use statement::StatementRow;
pub use throttles::WindowHits;
pub use vouchers::{
    MicroDegrees, RedemptionRow, VoucherFailure, VoucherRow, VoucherState, id_prefix,
};

pub(crate) use sql::Params;

use std::ops::{Deref, DerefMut};
use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;

use ferry_proto::{Currency, UnixTime};
use sqlx::any::{AnyPoolOptions, install_default_drivers};
use sqlx::{Any, AnyConnection, AnyPool, Row, Transaction};
use thiserror::Error;
use tokio::sync::{Mutex, OwnedMutexGuard};

use crate::accounts::LedgerAccount;
use crate::transfer::{Transfer, TransferError};

/// The SQLite schema, version by version.
static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("migrations/sqlite");
/// The PostgreSQL schema, version by version.
static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("migrations/postgres");

/// Which SQL dialect the store speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// Embedded SQLite.
    Sqlite,
    /// PostgreSQL.
    Postgres,
}

/// Why a store operation failed. Database details stay in logs, never in API answers.
#[derive(Debug, Error)]
pub enum StoreError {
    /// The transfer is malformed (a caller bug).
    #[error("malformed transfer: {0}")]
    Transfer(#[from] TransferError),
    /// Posting would take `account` below zero.
    #[error("insufficient funds in {account}")]
    InsufficientFunds {
        /// The account that would go negative.
        account: String,
    },
    /// A balance would overflow 64 bits.
    #[error("balance overflow in {account}")]
    Overflow {
        /// The account.
        account: String,
    },
    /// A transfer reference was posted before, where the caller had ruled that out.
    #[error("transfer reference {0} already posted")]
    DuplicateReference(String),
    /// A stored value does not decode (database damage).
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    /// The schema could not be brought up to date.
    #[error("database migration: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// The database URL is not one Ferry supports.
    #[error("unsupported database URL (use sqlite:// or postgres://)")]
    UnsupportedUrl,
    /// The database failed.
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// A commit could not be flushed to disk, so nothing more is acknowledged.
    #[error(transparent)]
    NotDurable(#[from] SyncFailed),
}

impl StoreError {
    /// True when the database could not be reached at all (refused, unresolvable, timed out):
    /// worth waiting for at start-up when asked to.
    pub fn is_unreachable(&self) -> bool {
        matches!(
            self,
            StoreError::Database(sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut)
        )
    }

    /// True when the same transaction may succeed if run again: a PostgreSQL deadlock
    /// (`40P01`) or serialization failure (`40001`), or SQLite still busy (`5`, `517`). A
    /// unique-key violation is not transient: identities are inserted with `ON CONFLICT DO
    /// NOTHING` and the engine decides what a conflict means, so one that still reaches here
    /// is a bug to report, not a race to retry.
    pub fn is_transient(&self) -> bool {
        let StoreError::Database(sqlx::Error::Database(db)) = self else {
            return false;
        };
        is_transient_code(db.code().as_deref())
    }
}

fn is_transient_code(code: Option<&str>) -> bool {
    matches!(code, Some("40P01" | "40001" | "5" | "517"))
}

/// What posting a transfer did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Posted {
    /// Posted now, as transfer `id`.
    New(i64),
    /// A transfer with the same reference was posted before, as `id`; nothing moved.
    Duplicate(i64),
}

impl Posted {
    /// The transfer id, new or old.
    pub fn id(self) -> i64 {
        match self {
            Posted::New(id) | Posted::Duplicate(id) => id,
        }
    }
}

/// The audit: the ledger sums to zero in every currency, and which accounts are negative.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Audit {
    /// Sum of all balances, per currency (must be zero).
    pub sums: Vec<(Currency, i128)>,
    /// Accounts below zero other than the issuance account.
    pub negative: Vec<(String, Currency, i64)>,
    /// Transfers whose postings do not sum to zero (must be empty).
    pub unbalanced_transfers: Vec<i64>,
    /// Accounts whose balance differs from the sum of their postings (must be empty).
    pub drifted_accounts: Vec<String>,
}

impl Audit {
    /// True when every sum is zero, no transfer is unbalanced, no balance drifted and no account
    /// other than issuance is negative.
    pub fn is_clean(&self) -> bool {
        self.sums.iter().all(|(_, s)| *s == 0)
            && self.negative.is_empty()
            && self.unbalanced_transfers.is_empty()
            && self.drifted_accounts.is_empty()
    }
}

/// The database file a SQLite URL opens, if it is a file (not `:memory:`).
fn sqlite_file(url: &str) -> Option<std::path::PathBuf> {
    let options = sqlx::sqlite::SqliteConnectOptions::from_str(url).ok()?;
    let file = options.get_filename();
    let name = file.to_str()?;
    (!name.is_empty() && !name.starts_with(':')).then(|| file.to_path_buf())
}

/// Read connections to a SQLite database (writes have their own one).
const SQLITE_READERS: u32 = 4;

/// How a SQLite connection commits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Commits {
    /// `synchronous = FULL`: every commit fsyncs the WAL itself.
    Durable,
    /// `synchronous = NORMAL`: commits only write the WAL; the store's [`durable::WalSyncer`]
    /// fsyncs it and nothing is acknowledged before that.
    Written,
}

/// Pool options for a SQLite database: every connection gets the store's settings.
fn sqlite_pool_options(max_connections: u32, commits: Commits) -> AnyPoolOptions {
    let synchronous = match commits {
        Commits::Durable => "PRAGMA synchronous = FULL",
        Commits::Written => "PRAGMA synchronous = NORMAL",
    };
    AnyPoolOptions::new()
        .max_connections(max_connections)
        .acquire_timeout(std::time::Duration::from_secs(5))
        .after_connect(move |conn, _| {
            Box::pin(async move {
                // busy_timeout first: a connection opened while another holds the write
                // lock must wait, not fail, on the pragmas that follow.
                for pragma in [
                    "PRAGMA busy_timeout = 10000",
                    "PRAGMA journal_mode = WAL",
                    synchronous,
                    // Checkpoint every 64 MiB of WAL instead of SQLite's 4 MiB. The
                    // committing writer checkpoints inside its turn (copying pages into
                    // the database file and fsyncing both), and a page many batches touch
                    // is copied once per checkpoint: settling measured 10-35 % faster in
                    // every request shape (BENCHMARKS.md, issue 13).
                    "PRAGMA wal_autocheckpoint = 16384",
                    // Multi-row upserts need a statement journal: keep it in memory, and
                    // give batches a page cache that does not spill mid-transaction.
                    "PRAGMA temp_store = MEMORY",
                    "PRAGMA cache_size = -65536",
                    "PRAGMA foreign_keys = ON",
                ] {
                    sqlx::query(pragma).execute(&mut *conn).await?;
                }
                Ok(())
            })
        })
}

/// The ledger store.
#[derive(Debug, Clone)]
pub struct Store {
    pool: AnyPool,
    /// SQLite only: the one connection every write transaction runs on. It never closes, so
    /// SQLite keeps the WAL file the syncer flushes, and its page cache stays warm (SQLite
    /// drops a connection's whole cache when another connection has written).
    writer: Option<AnyPool>,
    /// SQLite on a file: flushes the WAL behind the writer (see [`durable`]).
    syncer: Option<Arc<durable::WalSyncer>>,
    dialect: Dialect,
    /// SQLite only: the queue of write transactions (tokio's mutex is FIFO-fair).
    write_queue: Option<Arc<Mutex<()>>>,
}

/// A write transaction from [`Store::begin`]. It dereferences to the connection, so statements
/// run on `&mut *tx`. On SQLite it also holds the store's write queue until it commits or is
/// dropped (which rolls it back), so the next queued transaction starts only then.
#[derive(Debug)]
pub struct WriteTx {
    tx: Transaction<'static, Any>,
    dialect: Dialect,
    syncer: Option<Arc<durable::WalSyncer>>,
    /// Held for the whole transaction, released after commit or rollback was sent.
    turn: Option<OwnedMutexGuard<()>>,
}

impl WriteTx {
    /// Commits the transaction, lets the next queued one start, and returns once the commit
    /// is on disk.
    pub async fn commit(self) -> Result<(), StoreError> {
        self.commit_written().await?.wait().await?;
        Ok(())
    }

    /// Commits the transaction and lets the next queued one start at once; the commit is
    /// durable when the returned [`Durable`] says so, and must not be acknowledged before.
    /// (Group commit answers its requests from there while the next group writes.)
    pub async fn commit_written(self) -> Result<Durable, StoreError> {
        let WriteTx {
            tx, turn, syncer, ..
        } = self;
        let Some(syncer) = syncer else {
            let result = tx.commit().await;
            drop(turn);
            return result.map(|()| Durable::now()).map_err(StoreError::from);
        };
        // Numbered in the writer's turn, so numbers follow the order of the WAL.
        let seq = syncer.starting();
        let result = tx.commit().await;
        let durable = syncer.written(seq);
        drop(turn);
        result?;
        Ok(durable)
    }

    /// Rolls the transaction back, then lets the next queued one start. (Dropping a `WriteTx`
    /// also rolls back.)
    pub async fn rollback(self) -> Result<(), sqlx::Error> {
        let WriteTx { tx, turn, .. } = self;
        let result = tx.rollback().await;
        drop(turn);
        result
    }
}

impl WriteTx {
    /// The dialect the transaction speaks.
    pub fn dialect(&self) -> Dialect {
        self.dialect
    }
}

impl Deref for WriteTx {
    type Target = AnyConnection;
    fn deref(&self) -> &AnyConnection {
        &self.tx
    }
}

impl DerefMut for WriteTx {
    fn deref_mut(&mut self) -> &mut AnyConnection {
        &mut self.tx
    }
}

impl Store {
    /// Opens (creating if needed) the SQLite database `ferry.db` in `dir`, and migrates it.
    pub async fn open_sqlite_dir(dir: &Path) -> Result<Store, StoreError> {
        let path = dir.join("ferry.db");
        let url = format!("sqlite://{}?mode=rwc", path.display());
        Self::open(&url).await
    }

    /// Opens `url` (`sqlite://…` or `postgres://…`) and migrates it.
    pub async fn open(url: &str) -> Result<Store, StoreError> {
        install_default_drivers();
        let dialect = if url.starts_with("sqlite:") {
            Dialect::Sqlite
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Dialect::Postgres
        } else {
            return Err(StoreError::UnsupportedUrl);
        };
        // A database that is down is reported at once with its own error (connection refused,
        // unknown host, authentication...), not as the pool's "timed out" after 30 s: one
        // connection is opened directly first.
        if dialect == Dialect::Postgres {
            let conn = tokio::time::timeout(
                std::time::Duration::from_secs(10),
                <AnyConnection as sqlx::Connection>::connect(url),
            )
            .await
            .map_err(|_| sqlx::Error::PoolTimedOut)??;
            let _ = sqlx::Connection::close(conn).await;
        }
        let pool = match dialect {
            Dialect::Sqlite => sqlite_pool_options(SQLITE_READERS, Commits::Durable),
            Dialect::Postgres => AnyPoolOptions::new()
                .max_connections(16)
                .acquire_timeout(std::time::Duration::from_secs(5)),
        }
        .connect(url)
        .await?;
        let mut store = Store {
            pool,
            writer: None,
            syncer: None,
            dialect,
            write_queue: None,
        };
        store.migrate().await?;
        if dialect == Dialect::Sqlite {
            // Migrated on the read pool, whose open connections keep the WAL file in place.
            let syncer = sqlite_file(url).and_then(|db| match durable::WalSyncer::start(&db) {
                Ok(s) => Some(Arc::new(s)),
                Err(e) => {
                    tracing::warn!(error = %e, db = %db.display(), "cannot hold the SQLite WAL open: every commit fsyncs on its own");
                    None
                }
            });
            let commits = match syncer {
                Some(_) => Commits::Written,
                None => Commits::Durable,
            };
            let writer = sqlite_pool_options(1, commits)
                .min_connections(1)
                .idle_timeout(None)
                .max_lifetime(None)
                .connect(url)
                .await?;
            store.writer = Some(writer);
            store.syncer = syncer;
            store.write_queue = Some(Arc::new(Mutex::new(())));
        }
        Ok(store)
    }

    /// The dialect in use.
    pub fn dialect(&self) -> Dialect {
        self.dialect
    }

    /// The connection pool for reads (and writes outside a [`WriteTx`]), once every commit
    /// that had started is durable: a reader never sees a commit that a power cut could still
    /// take back, and so never shows what was not acknowledged.
    pub async fn reader(&self) -> Result<&AnyPool, StoreError> {
        if let Some(syncer) = &self.syncer {
            syncer.settled().await?;
        }
        Ok(&self.pool)
    }

    /// The read pool without waiting for the WAL flush, for reads that only prepare work whose
    /// answer goes out through a later commit of this store: that answer waits for a flush
    /// begun after its own commit, which covers every commit such a read could have seen.
    pub(crate) fn reader_for_work(&self) -> &AnyPool {
        &self.pool
    }

    /// Closes every connection (the store's clones stop working).
    pub async fn close(&self) {
        if let Some(writer) = &self.writer {
            writer.close().await;
        }
        self.pool.close().await;
    }

    /// Starts a write transaction. On SQLite it first waits its turn in the store's write
    /// queue, then takes the database's write lock from the start (`BEGIN IMMEDIATE`).
    ///
    /// Never call this while the same task holds another [`WriteTx`] of the store: on SQLite
    /// it would wait for itself.
    pub async fn begin(&self) -> Result<WriteTx, StoreError> {
        if let Some(syncer) = self.syncer.as_ref().filter(|s| s.failed()) {
            syncer.settled().await?;
        }
        let turn = match &self.write_queue {
            Some(queue) => Some(queue.clone().lock_owned().await),
            None => None,
        };
        let tx = match self.dialect {
            Dialect::Sqlite => {
                let writer = self.writer.as_ref().unwrap_or(&self.pool);
                writer.begin_with("BEGIN IMMEDIATE").await?
            }
            Dialect::Postgres => self.pool.begin().await?,
        };
        Ok(WriteTx {
            tx,
            turn,
            dialect: self.dialect,
            syncer: self.syncer.clone(),
        })
    }

    /// Brings the schema up to date with the dialect's migration files. A database made
    /// before migrations were files recorded its versions in `ferry_schema`; those versions
    /// are marked applied first (their SQL is the same as files 0001–0003).
    async fn migrate(&self) -> Result<(), StoreError> {
        let migrator = match self.dialect {
            Dialect::Sqlite => &SQLITE_MIGRATIONS,
            Dialect::Postgres => &POSTGRES_MIGRATIONS,
        };
        let mut conn = self.pool.acquire().await?;
        if let Some(version) = self.legacy_schema_version(&mut conn).await? {
            migrator.skip(&mut *conn, Some(version)).await?;
        }
        migrator.run(&mut *conn).await?;
        Ok(())
    }

    /// The highest version in a legacy `ferry_schema` table, if there is one.
    async fn legacy_schema_version(
        &self,
        conn: &mut AnyConnection,
    ) -> Result<Option<i64>, StoreError> {
        let exists = match self.dialect {
            Dialect::Sqlite => sqlx::query(
                "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'ferry_schema'",
            ),
            Dialect::Postgres => {
                sqlx::query("SELECT 1 WHERE to_regclass('ferry_schema') IS NOT NULL")
            }
        }
        .fetch_optional(&mut *conn)
        .await?
        .is_some();
        if !exists {
            return Ok(None);
        }
        let version: i64 =
            sqlx::query("SELECT CAST(COALESCE(MAX(version), 0) AS BIGINT) FROM ferry_schema")
                .fetch_one(&mut *conn)
                .await?
                .try_get(0)?;
        Ok((version > 0).then_some(version))
    }

    /// How many transfers of `kind` are posted, and with how many distinct references (equal
    /// when nothing was posted twice).
    pub async fn transfer_counts(&self, kind: &str) -> Result<(i64, i64), StoreError> {
        let row = sqlx::query(
            "SELECT COUNT(*), COUNT(DISTINCT reference) FROM transfers WHERE kind = $1",
        )
        .bind(kind.to_owned())
        .fetch_one(self.reader().await?)
        .await?;
        Ok((row.try_get(0)?, row.try_get(1)?))
    }

    /// Posts one transfer in its own database transaction.
    pub async fn post(&self, transfer: &Transfer, at: UnixTime) -> Result<Posted, StoreError> {
        let mut tx = self.begin().await?;
        let posted = post_in(&mut tx, self.dialect, transfer, at).await?;
        tx.commit().await?;
        Ok(posted)
    }

    /// The balance of `account` in `currency` (zero if it never moved).
    pub async fn balance(
        &self,
        account: &LedgerAccount,
        currency: Currency,
    ) -> Result<i64, StoreError> {
        phone::balance_on(self.reader().await?, account, currency).await
    }

    /// Checks the whole ledger (see [`Audit`]).
    pub async fn audit(&self) -> Result<Audit, StoreError> {
        let mut sums = Vec::new();
        let mut negative = Vec::new();
        // Sum in Rust, in i128: a database SUM of BIGINT may not fit a BIGINT.
        let rows = sqlx::query(
            "SELECT account, currency, balance FROM ledger_accounts ORDER BY currency, account",
        )
        .fetch_all(self.reader().await?)
        .await?;
        for row in rows {
            let key: String = row.try_get(0)?;
            let numeric: i32 = row.try_get(1)?;
            let balance: i64 = row.try_get(2)?;
            let currency = u16::try_from(numeric)
                .ok()
                .and_then(|n| Currency::from_numeric(n).ok())
                .ok_or_else(|| sqlx::Error::Decode("unknown currency in ledger".into()))?;
            match sums.last_mut() {
                Some((c, s)) if *c == currency => *s += i128::from(balance),
                _ => sums.push((currency, i128::from(balance))),
            }
            let may = LedgerAccount::from_str(&key)
                .map(|a| a.may_go_negative())
                .unwrap_or(false);
            if balance < 0 && !may {
                negative.push((key, currency, balance));
            }
        }
        let unbalanced_transfers = sqlx::query(
            "SELECT transfer_id FROM postings GROUP BY transfer_id HAVING SUM(amount) <> 0 ORDER BY transfer_id",
        )
        .fetch_all(self.reader().await?)
        .await?
        .iter()
        .map(|r| r.try_get::<i64, _>(0))
        .collect::<Result<_, _>>()?;
        let drifted_accounts = sqlx::query(
            "SELECT a.account FROM ledger_accounts a
             LEFT JOIN (SELECT p.account, t.currency, SUM(p.amount) AS total
                        FROM postings p JOIN transfers t ON t.id = p.transfer_id
                        GROUP BY p.account, t.currency) s
               ON s.account = a.account AND s.currency = a.currency
             WHERE a.balance <> COALESCE(s.total, 0)
             ORDER BY a.account",
        )
        .fetch_all(self.reader().await?)
        .await?
        .iter()
        .map(|r| r.try_get::<String, _>(0))
        .collect::<Result<_, _>>()?;
        Ok(Audit {
            sums,
            negative,
            unbalanced_transfers,
            drifted_accounts,
        })
    }
}

/// Posts `transfer` inside the caller's transaction (so the settlement engine can dedupe and
/// settle in one commit). On an error, the caller must roll back (or roll back to its savepoint).
pub async fn post_in(
    tx: &mut WriteTx,
    dialect: Dialect,
    transfer: &Transfer,
    at: UnixTime,
) -> Result<Posted, StoreError> {
    transfer.validate()?;
    let currency = i32::from(transfer.currency.numeric());
    let at = i64::try_from(at.secs()).unwrap_or(i64::MAX);
    let inserted = sqlx::query(
        "INSERT INTO transfers (reference, kind, currency, posted_at) VALUES ($1, $2, $3, $4)
         ON CONFLICT (reference) DO NOTHING RETURNING id",
    )
    .bind(&transfer.reference)
    .bind(transfer.kind)
    .bind(currency)
    .bind(at)
    .fetch_optional(&mut **tx)
    .await?;
    let id: i64 = match inserted {
        Some(row) => row.try_get(0)?,
        None => {
            let id = sqlx::query("SELECT id FROM transfers WHERE reference = $1")
                .bind(&transfer.reference)
                .fetch_one(&mut **tx)
                .await?
                .try_get(0)?;
            return Ok(Posted::Duplicate(id));
        }
    };
    // Lock rows in a fixed order so concurrent transfers cannot deadlock.
    let mut postings: Vec<_> = transfer.postings.iter().collect();
    postings.sort_by_key(|p| p.account.key());
    for p in postings {
        let key = p.account.key();
        sqlx::query(
            "INSERT INTO ledger_accounts (account, currency, balance) VALUES ($1, $2, 0)
             ON CONFLICT (account, currency) DO NOTHING",
        )
        .bind(&key)
        .bind(currency)
        .execute(&mut **tx)
        .await?;
        // SQLite transactions already hold the write lock; PostgreSQL locks the row here.
        let select = match dialect {
            Dialect::Sqlite => {
                "SELECT balance FROM ledger_accounts WHERE account = $1 AND currency = $2"
            }
            Dialect::Postgres => {
                "SELECT balance FROM ledger_accounts WHERE account = $1 AND currency = $2 FOR UPDATE"
            }
        };
        let old: i64 = sqlx::query(select)
            .bind(&key)
            .bind(currency)
            .fetch_one(&mut **tx)
            .await?
            .try_get(0)?;
        let new = old
            .checked_add(p.amount)
            .ok_or_else(|| StoreError::Overflow {
                account: key.clone(),
            })?;
        if new < 0 && !p.account.may_go_negative() && !p.may_overdraw {
            return Err(StoreError::InsufficientFunds { account: key });
        }
        sqlx::query("UPDATE ledger_accounts SET balance = balance + $1 WHERE account = $2 AND currency = $3")
            .bind(p.amount)
            .bind(&key)
            .bind(currency)
            .execute(&mut **tx)
            .await?;
        sqlx::query("INSERT INTO postings (transfer_id, account, amount) VALUES ($1, $2, $3)")
            .bind(id)
            .bind(&key)
            .bind(p.amount)
            .execute(&mut **tx)
            .await?;
    }
    Ok(Posted::New(id))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use sqlx::AssertSqlSafe;

    use super::*;

    #[test]
    fn conflicts_and_busy_databases_are_transient_but_unique_violations_are_not() {
        for code in ["40P01", "40001", "5", "517"] {
            assert!(is_transient_code(Some(code)), "{code}");
        }
        // PostgreSQL unique_violation and foreign_key_violation; SQLite
        // SQLITE_CONSTRAINT_UNIQUE and SQLITE_CONSTRAINT_PRIMARYKEY.
        for code in ["23505", "23503", "2067", "1555"] {
            assert!(!is_transient_code(Some(code)), "{code}");
        }
        assert!(!is_transient_code(None));
        assert!(!StoreError::Corrupt("x".into()).is_transient());
    }

    /// A database made before migrations were files (versions recorded in `ferry_schema`, no
    /// `_sqlx_migrations`) opens: its versions are marked applied, not run again, and its data
    /// stays.
    #[tokio::test]
    async fn a_database_from_before_migration_files_opens_with_its_data() {
        // What the old runner left: the tables of versions 1-3, their numbers in ferry_schema,
        // no _sqlx_migrations.
        let dir = tempfile::tempdir().expect("temp dir");
        install_default_drivers();
        let url = format!(
            "sqlite://{}?mode=rwc",
            dir.path().join("ferry.db").display()
        );
        let pool = AnyPoolOptions::new().connect(&url).await.expect("pool");
        SQLITE_MIGRATIONS
            .run_to(3, &pool)
            .await
            .expect("versions 1-3");
        for sql in [
            "DROP TABLE _sqlx_migrations",
            "CREATE TABLE ferry_schema (version BIGINT PRIMARY KEY)",
            "INSERT INTO ferry_schema (version) VALUES (1), (2), (3)",
            "INSERT INTO agents (name, token_digest, created_at) VALUES ('kiosk', x'07', 1)",
        ] {
            sqlx::query(sql).execute(&pool).await.expect(sql);
        }
        pool.close().await;
        let reopened = Store::open_sqlite_dir(dir.path()).await.expect("reopens");
        assert!(reopened.agent_exists("kiosk").await.expect("read"));
        let applied: i64 = sqlx::query("SELECT COUNT(*) FROM _sqlx_migrations")
            .fetch_one(reopened.reader().await.expect("reader"))
            .await
            .expect("count")
            .try_get(0)
            .expect("count");
        assert_eq!(applied, SQLITE_MIGRATIONS.iter().count() as i64);
        // The versions after 3 ran: the issuer table exists.
        assert_eq!(
            reopened
                .bind_issuer(
                    ferry_proto::KeyId([1; 8]),
                    ferry_proto::KeyId([2; 8]),
                    UnixTime(5)
                )
                .await
                .expect("bind"),
            IssuerBinding::Ours
        );
        // And again: nothing left to do.
        reopened.close().await;
        Store::open_sqlite_dir(dir.path())
            .await
            .expect("third open");
    }

    async fn pragma(conn: &mut AnyConnection, pragma: &str) -> String {
        let row = sqlx::query(AssertSqlSafe(pragma.to_string()))
            .fetch_one(conn)
            .await
            .expect(pragma);
        row.try_get::<String, _>(0)
            .or_else(|_| row.try_get::<i64, _>(0).map(|v| v.to_string()))
            .expect(pragma)
    }

    /// Every pooled SQLite connection runs with the settings the store chose (WAL, checkpoints
    /// every 64 MiB of WAL), not SQLite's defaults: readers commit durably on their own
    /// (`synchronous = FULL`), the writer leaves the fsync to the store's WAL syncer
    /// (`NORMAL`).
    #[tokio::test]
    async fn sqlite_connections_get_the_store_settings() {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = Store::open_sqlite_dir(dir.path()).await.expect("store");
        assert!(store.syncer.is_some(), "a file database has a WAL syncer");
        // Hold several connections at once, so more than the first one is checked.
        let mut held = Vec::new();
        for _ in 0..3 {
            let mut conn = store.pool.acquire().await.expect("connection");
            assert_eq!(pragma(&mut conn, "PRAGMA journal_mode").await, "wal");
            assert_eq!(pragma(&mut conn, "PRAGMA synchronous").await, "2");
            assert_eq!(
                pragma(&mut conn, "PRAGMA wal_autocheckpoint").await,
                "16384"
            );
            held.push(conn);
        }
        let mut tx = store.begin().await.expect("writer");
        assert_eq!(pragma(&mut tx, "PRAGMA journal_mode").await, "wal");
        assert_eq!(pragma(&mut tx, "PRAGMA synchronous").await, "1");
        assert_eq!(pragma(&mut tx, "PRAGMA wal_autocheckpoint").await, "16384");
        tx.rollback().await.expect("rollback");
    }

    /// A commit through the store is acknowledged only once the WAL syncer has flushed it, and
    /// a reader asking after the commit started waits for that flush too.
    #[tokio::test]
    async fn sqlite_commits_wait_for_the_wal_flush() {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = Store::open_sqlite_dir(dir.path()).await.expect("store");
        let syncer = store.syncer.clone().expect("syncer");
        let mut tx = store.begin().await.expect("begin");
        sqlx::query("INSERT INTO agents (name, token_digest, created_at) VALUES ('a', x'01', 0)")
            .execute(&mut *tx)
            .await
            .expect("insert");
        let durable = tx.commit_written().await.expect("commit");
        assert!(!syncer.failed());
        tokio::time::timeout(Duration::from_secs(10), durable.wait())
            .await
            .expect("the syncer flushed the commit")
            .expect("durable");
        let row = sqlx::query("SELECT count(*) FROM agents")
            .fetch_one(store.reader().await.expect("reader"))
            .await
            .expect("count");
        assert_eq!(row.try_get::<i64, _>(0).expect("count"), 1);
        store.close().await;
    }

    /// While the WAL syncer is held, a commit is written (the next transaction may start) but
    /// not acknowledged, and a reader waits rather than see it; both go on once it flushes.
    #[tokio::test]
    async fn nothing_is_acknowledged_or_read_before_the_wal_flush() {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = Store::open_sqlite_dir(dir.path()).await.expect("store");
        let syncer = store.syncer.clone().expect("syncer");
        syncer.hold(true);
        let mut tx = store.begin().await.expect("begin");
        sqlx::query("INSERT INTO agents (name, token_digest, created_at) VALUES ('a', x'01', 0)")
            .execute(&mut *tx)
            .await
            .expect("insert");
        let commit = tokio::spawn(tx.commit());
        for _ in 0..5000 {
            if syncer.started() > 0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        assert_eq!(syncer.started(), 1, "the commit never started");
        let reader = {
            let store = store.clone();
            tokio::spawn(async move {
                let pool = store.reader().await.expect("reader");
                let row = sqlx::query("SELECT count(*) FROM agents")
                    .fetch_one(pool)
                    .await
                    .expect("count");
                row.try_get::<i64, _>(0).expect("count")
            })
        };
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(
            !commit.is_finished(),
            "a commit was acknowledged before its flush"
        );
        assert!(!reader.is_finished(), "a reader passed an unflushed commit");
        // The writer's turn was released at the commit: the next transaction can write.
        let next = tokio::time::timeout(Duration::from_secs(5), store.begin())
            .await
            .expect("the next writer waited for the flush")
            .expect("begin");
        next.rollback().await.expect("rollback");
        syncer.hold(false);
        tokio::time::timeout(Duration::from_secs(10), commit)
            .await
            .expect("acknowledged after the flush")
            .expect("task")
            .expect("commit");
        let seen = tokio::time::timeout(Duration::from_secs(10), reader)
            .await
            .expect("read after the flush")
            .expect("task");
        assert_eq!(seen, 1);
        store.close().await;
    }

    /// On SQLite a second write transaction waits in the store's queue (not in SQLite's busy
    /// handler) until the first commits or is dropped, and queued transactions start in the
    /// order they asked.
    #[tokio::test]
    async fn sqlite_write_transactions_queue_in_order() {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = Store::open_sqlite_dir(dir.path()).await.expect("store");
        let first = store.begin().await.expect("first");
        let order = Arc::new(std::sync::Mutex::new(Vec::new()));
        let mut waiting = Vec::new();
        for n in 0..3i64 {
            let (store, order) = (store.clone(), order.clone());
            waiting.push(tokio::spawn(async move {
                let mut tx = store.begin().await.expect("queued");
                order.lock().expect("order").push(n);
                sqlx::query(
                    "INSERT INTO agents (name, token_digest, created_at) VALUES ($1, $2, 0)",
                )
                .bind(format!("queued-{n}"))
                .bind(vec![u8::try_from(n).expect("small"); 32])
                .execute(&mut *tx)
                .await
                .expect("insert");
                tx.commit().await.expect("commit");
            }));
            // Let task n join the queue before task n + 1.
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(
            order.lock().expect("order").is_empty(),
            "ran past the queue"
        );
        // Dropping the first transaction rolls it back and lets the queue move.
        drop(first);
        for task in waiting {
            tokio::time::timeout(Duration::from_secs(5), task)
                .await
                .expect("queue moved")
                .expect("task");
        }
        assert_eq!(*order.lock().expect("order"), vec![0, 1, 2]);
        let rows: i64 = sqlx::query("SELECT COUNT(*) FROM agents WHERE name LIKE 'queued-%'")
            .fetch_one(store.reader().await.expect("reader"))
            .await
            .expect("count")
            .try_get(0)
            .expect("count");
        assert_eq!(rows, 3);
    }
}
