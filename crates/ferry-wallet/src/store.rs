//! The wallet store: one SQLite file per wallet (`wallet.db`).
//!
//! It holds what the app (not the secure wallet) remembers: settings and documents (`meta`:
//! server URL, account id, sealed account and link keys, certificates, network parameters,
//! revocation list), the payment requests it showed, every payment sent or received with its
//! receipt and status, and deposits/withdrawals. *The outbox* is not a separate copy of data:
//! it is the secure wallet's unsynced journal plus the received payments the server has not
//! yet answered ([`WalletStore::outbox`]), so nothing can be in one place and missing from the
//! other.

use std::path::Path;
use std::str::FromStr;

use ferry_proto::{Money, PaymentId, Receipt, TaId, UnixTime};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Row, SqlitePool};
use thiserror::Error;

/// A store failure.
#[derive(Debug, Error)]
pub enum StoreError {
    /// The database failed.
    #[error("wallet database: {0}")]
    Database(#[from] sqlx::Error),
    /// A stored value does not decode.
    #[error("wallet database holds a damaged value: {0}")]
    Damaged(String),
    /// The schema could not be brought up to date.
    #[error("wallet database migration: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

/// The wallet database's schema, version by version (`migrations/`).
static MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// Sent by this wallet, or received by it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// This wallet paid.
    Sent,
    /// This wallet was paid.
    Received,
}

impl Direction {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::Sent => "sent",
            Direction::Received => "received",
        }
    }
}

/// What happened to a received payment on this device.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Disposition {
    /// A payment this wallet sent.
    Sent,
    /// Received and kept; to be claimed at the next sync (or collected before it).
    Held,
    /// Collected into the secure wallet (OPS Collect); settles with this wallet's journal.
    Collected,
    /// Claimed online (OPS Claim).
    Claimed,
}

impl Disposition {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Disposition::Sent => "sent",
            Disposition::Held => "held",
            Disposition::Collected => "collected",
            Disposition::Claimed => "claimed",
        }
    }
    fn parse(s: &str) -> Result<Self, StoreError> {
        Ok(match s {
            "sent" => Disposition::Sent,
            "held" => Disposition::Held,
            "collected" => Disposition::Collected,
            "claimed" => Disposition::Claimed,
            other => return Err(StoreError::Damaged(format!("disposition {other}"))),
        })
    }
}

/// Where a payment this wallet sent or received stands with the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PaymentStatus {
    /// The server has not settled it yet (or has not seen it).
    Pending,
    /// Settled: the payee has been credited.
    Settled,
    /// Refused by the server (the record keeps the reason).
    Rejected,
}

impl PaymentStatus {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            PaymentStatus::Pending => "pending",
            PaymentStatus::Settled => "settled",
            PaymentStatus::Rejected => "rejected",
        }
    }
    fn parse(s: &str) -> Result<Self, StoreError> {
        Ok(match s {
            "pending" => PaymentStatus::Pending,
            "settled" => PaymentStatus::Settled,
            "rejected" => PaymentStatus::Rejected,
            other => return Err(StoreError::Damaged(format!("payment status {other}"))),
        })
    }
}

impl std::fmt::Display for PaymentStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A deposit (online balance → secure wallet) or a withdrawal (the reverse).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MovementKind {
    /// Online balance → secure wallet.
    Deposit,
    /// Secure wallet → online balance.
    Withdraw,
}

impl MovementKind {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            MovementKind::Deposit => "deposit",
            MovementKind::Withdraw => "withdraw",
        }
    }
    fn parse(s: &str) -> Result<Self, StoreError> {
        Ok(match s {
            "deposit" => MovementKind::Deposit,
            "withdraw" => MovementKind::Withdraw,
            other => return Err(StoreError::Damaged(format!("movement kind {other}"))),
        })
    }
}

/// Where a deposit or withdrawal stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MovementStatus {
    /// The server issued the deposit authorization; the secure wallet has not applied it.
    Authorized,
    /// The secure wallet applied the deposit; the server has not seen the entry yet.
    Applied,
    /// The secure wallet signed the withdrawal; the server has not applied it yet.
    Pending,
    /// The server applied the journal entry.
    Settled,
}

impl MovementStatus {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            MovementStatus::Authorized => "authorized",
            MovementStatus::Applied => "applied",
            MovementStatus::Pending => "pending",
            MovementStatus::Settled => "settled",
        }
    }
    fn parse(s: &str) -> Result<Self, StoreError> {
        Ok(match s {
            "authorized" => MovementStatus::Authorized,
            "applied" => MovementStatus::Applied,
            "pending" => MovementStatus::Pending,
            "settled" => MovementStatus::Settled,
            other => return Err(StoreError::Damaged(format!("movement status {other}"))),
        })
    }
}

impl std::fmt::Display for MovementStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A payment as the wallet remembers it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaymentRecord {
    /// Its identity.
    pub id: PaymentId,
    /// Sent or received.
    pub direction: Direction,
    /// The payment bytes.
    pub payment: Vec<u8>,
    /// The payer wallet's certificate bytes.
    pub ta_cert: Vec<u8>,
    /// The payee's receipt bytes, once held.
    pub receipt: Option<Vec<u8>>,
    /// The other party's account (hex).
    pub counterparty: String,
    /// The amount.
    pub amount: Money,
    /// When this device recorded it.
    pub created_at: UnixTime,
    /// What the device did with it.
    pub disposition: Disposition,
    /// Where it stands with the server.
    pub status: PaymentStatus,
    /// Why, when rejected.
    pub reason: Option<String>,
}

/// A deposit or withdrawal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Movement {
    /// Deposit or withdrawal.
    pub kind: MovementKind,
    /// OPS serial `i`.
    pub serial: u32,
    /// The amount.
    pub amount: Money,
    /// The issuer's authorization (deposits).
    pub authorization: Option<Vec<u8>>,
    /// Where it stands.
    pub status: MovementStatus,
    /// When.
    pub created_at: UnixTime,
}

/// What is still to sync, besides the secure wallet's journal.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Outbox {
    /// Received payments to claim.
    pub to_claim: Vec<PaymentRecord>,
    /// Payments (either direction) whose final status is not known yet.
    pub awaiting_status: Vec<PaymentRecord>,
}

/// The wallet's SQLite store.
#[derive(Debug, Clone)]
pub struct WalletStore {
    pool: SqlitePool,
}

fn currency_of(code: &str) -> Result<ferry_proto::Currency, StoreError> {
    ferry_proto::Currency::from_code(code)
        .map_err(|_| StoreError::Damaged(format!("currency {code}")))
}

fn to_i64(t: UnixTime) -> i64 {
    i64::try_from(t.0).unwrap_or(i64::MAX)
}

fn from_i64(v: i64) -> UnixTime {
    UnixTime(u64::try_from(v).unwrap_or(0))
}

impl WalletStore {
    /// Opens (creating if needed) `wallet.db` in `dir`.
    pub async fn open(dir: &Path) -> Result<Self, StoreError> {
        let url = format!("sqlite://{}", dir.join("wallet.db").display());
        let opts = SqliteConnectOptions::from_str(&url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(std::time::Duration::from_secs(10));
        let pool = SqlitePoolOptions::new()
            .max_connections(2)
            .connect_with(opts)
            .await?;
        // A wallet made before versioned migrations has version 1's tables and no record of
        // it: mark version 1 applied first.
        let legacy = sqlx::query(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'meta'
             AND NOT EXISTS (SELECT 1 FROM sqlite_master WHERE name = '_sqlx_migrations')",
        )
        .fetch_optional(&pool)
        .await?
        .is_some();
        if legacy {
            MIGRATIONS.skip(&pool, Some(1)).await?;
        }
        MIGRATIONS.run(&pool).await?;
        Ok(WalletStore { pool })
    }

    /// Closes the pool.
    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// Reads a setting or document.
    pub async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let row = sqlx::query("SELECT value FROM meta WHERE key = ?")
            .bind(key)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(|r| r.get::<Vec<u8>, _>(0)))
    }

    /// Reads a text setting.
    pub async fn get_text(&self, key: &str) -> Result<Option<String>, StoreError> {
        match self.get(key).await? {
            None => Ok(None),
            Some(b) => String::from_utf8(b)
                .map(Some)
                .map_err(|_| StoreError::Damaged(format!("setting {key}"))),
        }
    }

    /// Writes a setting or document.
    pub async fn set(&self, key: &str, value: &[u8]) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO meta (key, value) VALUES (?, ?) \
             ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        )
        .bind(key)
        .bind(value)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Records a request shown to payers.
    pub async fn add_request(
        &self,
        nonce_hex: &str,
        text: &str,
        amount: Option<i64>,
        expires_at: UnixTime,
        now: UnixTime,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO requests (nonce, text, amount, expires_at, created_at) \
             VALUES (?, ?, ?, ?, ?)",
        )
        .bind(nonce_hex)
        .bind(text)
        .bind(amount)
        .bind(to_i64(expires_at))
        .bind(to_i64(now))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The newest request still open (unpaid, unexpired) at `now`.
    pub async fn open_request(&self, now: UnixTime) -> Result<Option<String>, StoreError> {
        let row = sqlx::query(
            "SELECT text FROM requests WHERE paid_by IS NULL AND expires_at > ? \
             ORDER BY created_at DESC, rowid DESC LIMIT 1",
        )
        .bind(to_i64(now))
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|r| r.get(0)))
    }

    /// True when the request with this nonce was already paid.
    pub async fn request_paid(&self, nonce_hex: &str) -> Result<bool, StoreError> {
        let row = sqlx::query("SELECT paid_by FROM requests WHERE nonce = ?")
            .bind(nonce_hex)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.is_some_and(|r| r.get::<Option<String>, _>(0).is_some()))
    }

    /// Records a payment (sent or received) and, for a received one, marks its request paid,
    /// in one transaction. Recording the same payment again changes nothing and returns false.
    pub async fn add_payment(
        &self,
        rec: &PaymentRecord,
        request_nonce_hex: Option<&str>,
    ) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await?;
        let inserted = sqlx::query(
            "INSERT INTO payments (ta, j, direction, payment, ta_cert, receipt, counterparty, \
             amount, currency, created_at, disposition, status, reason) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (ta, j) DO NOTHING",
        )
        .bind(rec.id.ta.to_hex())
        .bind(i64::from(rec.id.j))
        .bind(rec.direction.as_str())
        .bind(&rec.payment)
        .bind(&rec.ta_cert)
        .bind(rec.receipt.as_deref())
        .bind(&rec.counterparty)
        .bind(rec.amount.minor())
        .bind(rec.amount.currency().code())
        .bind(to_i64(rec.created_at))
        .bind(rec.disposition.as_str())
        .bind(rec.status.as_str())
        .bind(rec.reason.as_deref())
        .execute(&mut *tx)
        .await?
        .rows_affected()
            == 1;
        if inserted && let Some(nonce) = request_nonce_hex {
            sqlx::query("UPDATE requests SET paid_by = ? WHERE nonce = ? AND paid_by IS NULL")
                .bind(rec.id.to_string())
                .bind(nonce)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(inserted)
    }

    /// A received payment this wallet learned of from the server's listing (no receipt yet),
    /// now delivered face to face for the request `request_nonce_hex`: stores the receipt the
    /// payee gives and marks the request paid, in one transaction. False when the record is
    /// not such a payment (then nothing changes).
    pub async fn adopt_listed(
        &self,
        id: &PaymentId,
        receipt: &[u8],
        request_nonce_hex: &str,
    ) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await?;
        let adopted = sqlx::query(
            "UPDATE payments SET receipt = ? WHERE ta = ? AND j = ? AND direction = 'received' \
             AND receipt IS NULL",
        )
        .bind(receipt)
        .bind(id.ta.to_hex())
        .bind(i64::from(id.j))
        .execute(&mut *tx)
        .await?
        .rows_affected()
            == 1;
        if adopted {
            sqlx::query("UPDATE requests SET paid_by = ? WHERE nonce = ? AND paid_by IS NULL")
                .bind(id.to_string())
                .bind(request_nonce_hex)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(adopted)
    }

    /// True when this payment is already recorded (the payee's received-payments log).
    pub async fn has_payment(&self, id: &PaymentId) -> Result<bool, StoreError> {
        let row = sqlx::query("SELECT 1 FROM payments WHERE ta = ? AND j = ?")
            .bind(id.ta.to_hex())
            .bind(i64::from(id.j))
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.is_some())
    }

    /// Stores the receipt of a sent payment.
    pub async fn set_receipt(&self, id: &PaymentId, receipt: &Receipt) -> Result<(), StoreError> {
        sqlx::query("UPDATE payments SET receipt = ? WHERE ta = ? AND j = ?")
            .bind(receipt.to_bytes())
            .bind(id.ta.to_hex())
            .bind(i64::from(id.j))
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Changes what the device did with a received payment.
    pub async fn set_disposition(
        &self,
        id: &PaymentId,
        disposition: Disposition,
    ) -> Result<(), StoreError> {
        sqlx::query("UPDATE payments SET disposition = ? WHERE ta = ? AND j = ?")
            .bind(disposition.as_str())
            .bind(id.ta.to_hex())
            .bind(i64::from(id.j))
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Records the server's word on a payment.
    pub async fn set_status(
        &self,
        id: &PaymentId,
        status: PaymentStatus,
        reason: Option<&str>,
    ) -> Result<(), StoreError> {
        sqlx::query("UPDATE payments SET status = ?, reason = ? WHERE ta = ? AND j = ?")
            .bind(status.as_str())
            .bind(reason)
            .bind(id.ta.to_hex())
            .bind(i64::from(id.j))
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// One payment.
    pub async fn payment(&self, id: &PaymentId) -> Result<Option<PaymentRecord>, StoreError> {
        let rows = self
            .payments_where("WHERE ta = ? AND j = ?", |q| {
                q.bind(id.ta.to_hex()).bind(i64::from(id.j))
            })
            .await?;
        Ok(rows.into_iter().next())
    }

    /// Every payment, newest first.
    pub async fn payments(&self) -> Result<Vec<PaymentRecord>, StoreError> {
        self.payments_where("", |q| q).await
    }

    /// The identity and bytes of every payment this wallet sent to `payee` (account id in hex).
    pub async fn sent_to(&self, payee_hex: &str) -> Result<Vec<(PaymentId, Vec<u8>)>, StoreError> {
        let rows = sqlx::query(
            "SELECT ta, j, payment FROM payments WHERE direction = 'sent' AND counterparty = ?",
        )
        .bind(payee_hex)
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter()
            .map(|r| {
                let ta = TaId::from_str(&r.get::<String, _>(0))
                    .map_err(|_| StoreError::Damaged("ta id".into()))?;
                let j = u32::try_from(r.get::<i64, _>(1))
                    .map_err(|_| StoreError::Damaged("j".into()))?;
                Ok((PaymentId { ta, j }, r.get(2)))
            })
            .collect()
    }

    /// What still has to reach the server, besides the secure wallet's journal.
    pub async fn outbox(&self) -> Result<Outbox, StoreError> {
        let awaiting_status = self
            .payments_where("WHERE status = 'pending'", |q| q)
            .await?;
        Ok(Outbox {
            to_claim: awaiting_status
                .iter()
                .filter(|p| p.disposition == Disposition::Held)
                .cloned()
                .collect(),
            awaiting_status,
        })
    }

    async fn payments_where(
        &self,
        clause: &str,
        bind: impl for<'q> FnOnce(
            sqlx::query::Query<'q, sqlx::Sqlite, sqlx::sqlite::SqliteArguments>,
        )
            -> sqlx::query::Query<'q, sqlx::Sqlite, sqlx::sqlite::SqliteArguments>,
    ) -> Result<Vec<PaymentRecord>, StoreError> {
        let sql = format!(
            "SELECT ta, j, direction, payment, ta_cert, receipt, counterparty, amount, currency, \
             created_at, disposition, status, reason FROM payments {clause} \
             ORDER BY created_at DESC, j DESC"
        );
        let rows = bind(sqlx::query(sqlx::AssertSqlSafe(sql)))
            .fetch_all(&self.pool)
            .await?;
        rows.into_iter()
            .map(|r| {
                let ta: String = r.get(0);
                let ta = TaId::from_str(&ta).map_err(|_| StoreError::Damaged("ta id".into()))?;
                let j = u32::try_from(r.get::<i64, _>(1))
                    .map_err(|_| StoreError::Damaged("j".into()))?;
                let direction = match r.get::<String, _>(2).as_str() {
                    "sent" => Direction::Sent,
                    _ => Direction::Received,
                };
                let currency = currency_of(&r.get::<String, _>(8))?;
                Ok(PaymentRecord {
                    id: PaymentId { ta, j },
                    direction,
                    payment: r.get(3),
                    ta_cert: r.get(4),
                    receipt: r.get(5),
                    counterparty: r.get(6),
                    amount: Money::new(r.get(7), currency),
                    created_at: from_i64(r.get(9)),
                    disposition: Disposition::parse(&r.get::<String, _>(10))?,
                    status: PaymentStatus::parse(&r.get::<String, _>(11))?,
                    reason: r.get(12),
                })
            })
            .collect()
    }

    /// Records a deposit authorization (before the secure wallet applies it) or a withdrawal.
    pub async fn put_movement(&self, m: &Movement) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO movements (kind, serial, amount, currency, authorization, status, \
             created_at) VALUES (?, ?, ?, ?, ?, ?, ?) \
             ON CONFLICT (kind, serial) DO UPDATE SET status = excluded.status, \
             authorization = COALESCE(excluded.authorization, movements.authorization)",
        )
        .bind(m.kind.as_str())
        .bind(i64::from(m.serial))
        .bind(m.amount.minor())
        .bind(m.amount.currency().code())
        .bind(m.authorization.as_deref())
        .bind(m.status.as_str())
        .bind(to_i64(m.created_at))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Deposits and withdrawals, newest first.
    pub async fn movements(&self) -> Result<Vec<Movement>, StoreError> {
        let rows = sqlx::query(
            "SELECT kind, serial, amount, currency, authorization, status, created_at \
             FROM movements ORDER BY created_at DESC, serial DESC",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter()
            .map(|r| {
                Ok(Movement {
                    kind: MovementKind::parse(&r.get::<String, _>(0))?,
                    serial: u32::try_from(r.get::<i64, _>(1))
                        .map_err(|_| StoreError::Damaged("serial".into()))?,
                    amount: Money::new(r.get(2), currency_of(&r.get::<String, _>(3))?),
                    authorization: r.get(4),
                    status: MovementStatus::parse(&r.get::<String, _>(5))?,
                    created_at: from_i64(r.get(6)),
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A wallet database made before versioned migrations (the same tables, no record of a
    /// version) opens with its data; a new one is created at the latest version.
    #[tokio::test]
    async fn a_wallet_from_before_versioned_migrations_opens_with_its_data() {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = WalletStore::open(dir.path()).await.expect("new store");
        store.set("server_url", b"http://x").await.expect("set");
        sqlx::query("DROP TABLE _sqlx_migrations")
            .execute(&store.pool)
            .await
            .expect("drop");
        store.close().await;
        let reopened = WalletStore::open(dir.path())
            .await
            .expect("legacy store opens");
        assert_eq!(
            reopened.get("server_url").await.expect("get"),
            Some(b"http://x".to_vec())
        );
        let applied: i64 = sqlx::query("SELECT COUNT(*) FROM _sqlx_migrations")
            .fetch_one(&reopened.pool)
            .await
            .expect("count")
            .get(0);
        assert_eq!(applied, MIGRATIONS.iter().count() as i64);
    }
}
