//! Phone-number accounts (`phone_accounts`), the first answers of their USSD operations
//! (`phone_ops`), cash-out codes (`ussd_cash_outs`) and phone-link challenges (`phone_links`).
//!
//! Reads that decide something inside a transaction lock their row on PostgreSQL
//! (`FOR UPDATE`); SQLite write transactions hold the database's write lock already.

use ferry_proto::{AccountId, Currency, Money, UnixTime};
use ferry_ussd::backend::Tier;
use ferry_ussd::i18n::Language;
use ferry_ussd::phone::Phone;
use ferry_ussd::pin::PinHash;
use sqlx::Row;
use sqlx::any::AnyRow;

use super::rows::{account_id, corrupt, currency, numeric, secs, time};
use super::{CHUNK, Dialect, Params, Store, StoreError, WriteTx};
use crate::accounts::LedgerAccount;

/// A phone account as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PhoneRow {
    /// The number (E.164).
    pub phone: Phone,
    /// The Ferry account it maps to.
    pub account: AccountId,
    /// KYC tier.
    pub tier: Tier,
    /// Language of its screens and SMS.
    pub language: Language,
    /// Name shown to senders.
    pub display_name: Option<String>,
    /// The PIN's Argon2id hash; `None` until the holder chose one.
    pub pin: Option<PinHash>,
    /// Wrong PINs in a row.
    pub pin_failures: u32,
    /// The USSD channel is locked until then.
    pub locked_until: Option<UnixTime>,
}

/// A new phone account.
#[derive(Debug, Clone)]
pub struct NewPhoneAccount<'a> {
    /// The number.
    pub phone: &'a Phone,
    /// Its account.
    pub account: AccountId,
    /// KYC tier.
    pub tier: Tier,
    /// Language.
    pub language: Language,
    /// Name shown to senders.
    pub display_name: Option<&'a str>,
    /// The PIN hash, if chosen.
    pub pin: Option<&'a PinHash>,
}

/// The first answer to a USSD operation key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpRow {
    /// What the operation was (`register`, `pin`, `send`, `cash_out`, `change_pin`).
    pub kind: String,
    /// Its answer, as JSON.
    pub answer: String,
}

/// A cash-out code's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CashOutState {
    /// Reserved; an agent may pay it out until it expires.
    Open,
    /// Paid out by an agent.
    Paid,
    /// Lapsed; the amount went back to the account.
    Expired,
}

impl CashOutState {
    fn as_str(self) -> &'static str {
        match self {
            CashOutState::Open => "open",
            CashOutState::Paid => "paid",
            CashOutState::Expired => "expired",
        }
    }

    fn from_name(s: &str) -> Result<Self, StoreError> {
        match s {
            "open" => Ok(CashOutState::Open),
            "paid" => Ok(CashOutState::Paid),
            "expired" => Ok(CashOutState::Expired),
            _ => Err(corrupt("cash-out status")),
        }
    }
}

/// A cash-out code as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CashOutRow {
    /// Its identity (derived from the operation key).
    pub id: String,
    /// The code the holder shows the agent.
    pub code: String,
    /// The account it was reserved from.
    pub account: AccountId,
    /// The holder's number.
    pub phone: Phone,
    /// The USSD operation key that issued it.
    pub op_key: String,
    /// The reserved amount (paid out in cash).
    pub amount: Money,
    /// The fee taken when it was issued.
    pub fee: Money,
    /// Where it stands.
    pub state: CashOutState,
    /// When it lapses.
    pub expires_at: UnixTime,
    /// The agent who paid it out.
    pub agent: Option<String>,
}

/// A pending phone-link challenge (its `Debug` leaves out the code's hash).
#[derive(Clone, PartialEq, Eq)]
pub struct LinkRow {
    /// The account asking for the number.
    pub account: AccountId,
    /// Hash of the one-time code sent to the number.
    pub code_hash: Vec<u8>,
    /// Tries left.
    pub attempts: u32,
    /// When the code lapses.
    pub expires_at: UnixTime,
}

impl std::fmt::Debug for LinkRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LinkRow")
            .field("account", &self.account)
            .field("attempts", &self.attempts)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

/// One movement of an online balance, for a history screen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BalanceMovement {
    /// The transfer.
    pub transfer_id: i64,
    /// The transfer's kind (`ussd_send`, `cash_in`, `payment`...).
    pub kind: String,
    /// When it was posted.
    pub at: UnixTime,
    /// Signed amount on the balance.
    pub amount: i64,
    /// The other online balances of the transfer.
    pub counterparts: Vec<AccountId>,
}

/// Stored form of a PIN hash: Argon2 m, t, p (big-endian u32 each), salt, hash.
pub fn encode_pin_hash(h: &PinHash) -> Vec<u8> {
    h.to_bytes()
}

/// Parses [`encode_pin_hash`]'s output.
pub fn decode_pin_hash(b: &[u8]) -> Result<PinHash, StoreError> {
    PinHash::from_bytes(b).map_err(|_| corrupt("PIN hash"))
}

fn tier_name(t: Tier) -> &'static str {
    match t {
        Tier::Tier0 => "tier0",
        Tier::Tier1 => "tier1",
    }
}

fn tier(s: &str) -> Result<Tier, StoreError> {
    match s {
        "tier0" => Ok(Tier::Tier0),
        "tier1" => Ok(Tier::Tier1),
        _ => Err(corrupt("phone tier")),
    }
}

/// A stored language code.
pub(crate) fn language(s: &str) -> Result<Language, StoreError> {
    Language::from_code(s).ok_or_else(|| corrupt("language"))
}

/// A stored phone number.
pub(crate) fn phone(s: &str) -> Result<Phone, StoreError> {
    Phone::parse(s, None).map_err(|_| corrupt("phone number"))
}

const PHONE_COLUMNS: &str =
    "phone, account_id, tier, language, display_name, pin_hash, pin_failures, locked_until";

fn phone_row(r: &AnyRow) -> Result<PhoneRow, StoreError> {
    let pin: Option<Vec<u8>> = r.try_get(5)?;
    let failures: i64 = r.try_get(6)?;
    let locked: Option<i64> = r.try_get(7)?;
    Ok(PhoneRow {
        phone: phone(&r.try_get::<String, _>(0)?)?,
        account: account_id(&r.try_get::<Vec<u8>, _>(1)?)?,
        tier: tier(&r.try_get::<String, _>(2)?)?,
        language: language(&r.try_get::<String, _>(3)?)?,
        display_name: r.try_get(4)?,
        pin: pin.as_deref().map(decode_pin_hash).transpose()?,
        pin_failures: u32::try_from(failures).map_err(|_| corrupt("PIN failures"))?,
        locked_until: locked.map(time),
    })
}

const CASH_OUT_COLUMNS: &str =
    "id, code, account_id, phone, op_key, amount, fee, currency, status, expires_at, agent";

fn cash_out_row(r: &AnyRow) -> Result<CashOutRow, StoreError> {
    let c = currency(r.try_get(7)?)?;
    Ok(CashOutRow {
        id: r.try_get(0)?,
        code: r.try_get(1)?,
        account: account_id(&r.try_get::<Vec<u8>, _>(2)?)?,
        phone: phone(&r.try_get::<String, _>(3)?)?,
        op_key: r.try_get(4)?,
        amount: Money::new(r.try_get(5)?, c),
        fee: Money::new(r.try_get(6)?, c),
        state: CashOutState::from_name(&r.try_get::<String, _>(8)?)?,
        expires_at: time(r.try_get(9)?),
        agent: r.try_get(10)?,
    })
}

/// `sql` with `FOR UPDATE` on PostgreSQL.
fn locking(dialect: Dialect, sql: &str) -> String {
    match dialect {
        Dialect::Sqlite => sql.to_owned(),
        Dialect::Postgres => format!("{sql} FOR UPDATE"),
    }
}

/// What a phone account is looked up by.
enum Key {
    Phone(String),
    Account(Vec<u8>),
}

async fn phone_by<'c>(
    conn: impl sqlx::Executor<'c, Database = sqlx::Any>,
    sql: &str,
    key: Key,
) -> Result<Option<PhoneRow>, StoreError> {
    let q = sqlx::query(sqlx::AssertSqlSafe(sql.to_owned()));
    let q = match key {
        Key::Phone(p) => q.bind(p),
        Key::Account(a) => q.bind(a),
    };
    q.fetch_optional(conn)
        .await?
        .as_ref()
        .map(phone_row)
        .transpose()
}

/// The phone accounts mapped to any of `accounts` (at most [`CHUNK`] of them).
async fn phones_in<'c>(
    conn: impl sqlx::Executor<'c, Database = sqlx::Any>,
    dialect: Dialect,
    accounts: &[AccountId],
) -> Result<Vec<PhoneRow>, StoreError> {
    if accounts.is_empty() {
        return Ok(Vec::new());
    }
    let list = Params::new(dialect).list(accounts.len());
    // Only placeholders are formatted into the statement; every value is bound.
    let sql = format!("SELECT {PHONE_COLUMNS} FROM phone_accounts WHERE account_id IN ({list})");
    let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
    for a in accounts {
        q = q.bind(a.as_bytes().to_vec());
    }
    q.fetch_all(conn).await?.iter().map(phone_row).collect()
}

impl Store {
    /// The account of `phone`, if any.
    pub async fn phone_account(&self, phone: &Phone) -> Result<Option<PhoneRow>, StoreError> {
        let sql = format!("SELECT {PHONE_COLUMNS} FROM phone_accounts WHERE phone = $1");
        phone_by(
            self.reader().await?,
            &sql,
            Key::Phone(phone.as_str().to_owned()),
        )
        .await
    }

    /// The phone account mapped to `account`, if any.
    pub async fn phone_of_account(
        &self,
        account: AccountId,
    ) -> Result<Option<PhoneRow>, StoreError> {
        let sql = format!("SELECT {PHONE_COLUMNS} FROM phone_accounts WHERE account_id = $1");
        phone_by(
            self.reader().await?,
            &sql,
            Key::Account(account.as_bytes().to_vec()),
        )
        .await
    }

    /// The phone numbers of those of `accounts` that have one.
    pub async fn phones_of_accounts(
        &self,
        accounts: &[AccountId],
    ) -> Result<Vec<(AccountId, Phone)>, StoreError> {
        let mut out = Vec::new();
        for chunk in accounts.chunks(CHUNK) {
            let rows = phones_in(self.reader().await?, self.dialect(), chunk).await?;
            out.extend(rows.into_iter().map(|r| (r.account, r.phone)));
        }
        Ok(out)
    }

    /// The first answer to operation `key`, if it was answered.
    pub async fn phone_op(&self, key: &str) -> Result<Option<OpRow>, StoreError> {
        op(self.reader().await?, key).await
    }

    /// The newest `limit` movements of `account`'s online balance, newest first.
    pub async fn online_movements(
        &self,
        account: AccountId,
        limit: usize,
    ) -> Result<Vec<BalanceMovement>, StoreError> {
        let key = LedgerAccount::Online(account).key();
        let rows = sqlx::query(
            "SELECT t.id, t.kind, t.posted_at, p.amount FROM postings p
             JOIN transfers t ON t.id = p.transfer_id
             WHERE p.account = $1 ORDER BY t.id DESC LIMIT $2",
        )
        .bind(key.clone())
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .fetch_all(self.reader().await?)
        .await?;
        let mut out = Vec::with_capacity(rows.len());
        for r in rows {
            let transfer_id: i64 = r.try_get(0)?;
            let others = sqlx::query(
                "SELECT account FROM postings WHERE transfer_id = $1 AND account <> $2",
            )
            .bind(transfer_id)
            .bind(key.clone())
            .fetch_all(self.reader().await?)
            .await?;
            let mut counterparts = Vec::new();
            for o in others {
                let k: String = o.try_get(0)?;
                if let Ok(LedgerAccount::Online(a)) = k.parse() {
                    counterparts.push(a);
                }
            }
            out.push(BalanceMovement {
                transfer_id,
                kind: r.try_get(1)?,
                at: time(r.try_get(2)?),
                amount: r.try_get(3)?,
                counterparts,
            });
        }
        Ok(out)
    }

    /// Sets the language of `phone`'s account.
    pub async fn set_phone_language(
        &self,
        phone: &Phone,
        language: Language,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        sqlx::query("UPDATE phone_accounts SET language = $1 WHERE phone = $2")
            .bind(language.code())
            .bind(phone.as_str().to_owned())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Open cash-out codes that lapsed before `now` (at most `limit`), by id.
    pub async fn lapsed_cash_outs(
        &self,
        now: UnixTime,
        limit: usize,
    ) -> Result<Vec<String>, StoreError> {
        let rows = sqlx::query(
            "SELECT id FROM ussd_cash_outs WHERE status = 'open' AND expires_at < $1
             ORDER BY expires_at LIMIT $2",
        )
        .bind(secs(now))
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .fetch_all(self.reader().await?)
        .await?;
        rows.iter()
            .map(|r| r.try_get(0).map_err(Into::into))
            .collect()
    }

    /// The cash out with code `code` for `phone` that `agent` paid out, the latest if several.
    pub async fn cash_out_paid_by(
        &self,
        code: &str,
        phone: &Phone,
        agent: &str,
    ) -> Result<Option<CashOutRow>, StoreError> {
        let sql = format!(
            "SELECT {CASH_OUT_COLUMNS} FROM ussd_cash_outs
             WHERE code = $1 AND phone = $2 AND agent = $3 AND status = 'paid'
             ORDER BY closed_at DESC LIMIT 1"
        );
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(code.to_owned())
            .bind(phone.as_str().to_owned())
            .bind(agent.to_owned())
            .fetch_optional(self.reader().await?)
            .await?
            .as_ref()
            .map(cash_out_row)
            .transpose()
    }

    /// The link challenge for `phone`, if any (read without locking it).
    pub async fn phone_link(&self, phone: &Phone) -> Result<Option<LinkRow>, StoreError> {
        link_by(self.reader().await?, phone, false).await
    }

    /// The cash out issued by operation `op_key`, if any.
    pub async fn cash_out_of_op(&self, op_key: &str) -> Result<Option<CashOutRow>, StoreError> {
        let sql = format!("SELECT {CASH_OUT_COLUMNS} FROM ussd_cash_outs WHERE op_key = $1");
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(op_key.to_owned())
            .fetch_optional(self.reader().await?)
            .await?
            .as_ref()
            .map(cash_out_row)
            .transpose()
    }
}

impl Store {
    /// Deletes the USSD operation keys recorded before `before` (past any retransmission and
    /// any per-day limit that could still read them); returns how many.
    pub async fn purge_phone_ops(&self, before: UnixTime) -> Result<u64, StoreError> {
        let mut tx = self.begin().await?;
        let done = sqlx::query("DELETE FROM phone_ops WHERE created_at < $1")
            .bind(secs(before))
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(done.rows_affected())
    }
}

async fn op<'c>(
    conn: impl sqlx::Executor<'c, Database = sqlx::Any>,
    key: &str,
) -> Result<Option<OpRow>, StoreError> {
    let row = sqlx::query("SELECT kind, answer FROM phone_ops WHERE op_key = $1")
        .bind(key.to_owned())
        .fetch_optional(conn)
        .await?;
    row.map(|r| {
        Ok(OpRow {
            kind: r.try_get(0)?,
            answer: r.try_get(1)?,
        })
    })
    .transpose()
}

impl WriteTx {
    /// The phone accounts mapped to any of `accounts` (read, not locked).
    pub async fn phones_of_accounts(
        &mut self,
        accounts: &[AccountId],
    ) -> Result<Vec<PhoneRow>, StoreError> {
        let dialect = self.dialect();
        let mut out = Vec::new();
        for chunk in accounts.chunks(CHUNK) {
            out.extend(phones_in(&mut **self, dialect, chunk).await?);
        }
        Ok(out)
    }

    /// The account of `phone`, its row locked until the transaction ends.
    pub async fn lock_phone_account(
        &mut self,
        phone: &Phone,
    ) -> Result<Option<PhoneRow>, StoreError> {
        let sql = locking(
            self.dialect(),
            &format!("SELECT {PHONE_COLUMNS} FROM phone_accounts WHERE phone = $1"),
        );
        phone_by(&mut **self, &sql, Key::Phone(phone.as_str().to_owned())).await
    }

    /// The account of `phone`, read without locking it.
    pub async fn phone_account(&mut self, phone: &Phone) -> Result<Option<PhoneRow>, StoreError> {
        let sql = format!("SELECT {PHONE_COLUMNS} FROM phone_accounts WHERE phone = $1");
        phone_by(&mut **self, &sql, Key::Phone(phone.as_str().to_owned())).await
    }

    /// The phone account mapped to `account`, read without locking it.
    pub async fn phone_of_account(
        &mut self,
        account: AccountId,
    ) -> Result<Option<PhoneRow>, StoreError> {
        let sql = format!("SELECT {PHONE_COLUMNS} FROM phone_accounts WHERE account_id = $1");
        phone_by(&mut **self, &sql, Key::Account(account.as_bytes().to_vec())).await
    }

    /// Records a phone account. False when the number (or the account) has one already.
    pub async fn insert_phone_account(
        &mut self,
        new: &NewPhoneAccount<'_>,
        now: UnixTime,
    ) -> Result<bool, StoreError> {
        let inserted = sqlx::query(
            "INSERT INTO phone_accounts
             (phone, account_id, tier, language, display_name, pin_hash, pin_failures, locked_until, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, 0, NULL, $7) ON CONFLICT DO NOTHING RETURNING phone",
        )
        .bind(new.phone.as_str().to_owned())
        .bind(new.account.as_bytes().to_vec())
        .bind(tier_name(new.tier))
        .bind(new.language.code())
        .bind(new.display_name.map(str::to_owned))
        .bind(new.pin.map(encode_pin_hash))
        .bind(secs(now))
        .fetch_optional(&mut **self)
        .await?;
        Ok(inserted.is_some())
    }

    /// Sets the PIN of `phone` (and its language), clearing failures.
    pub async fn set_phone_pin(
        &mut self,
        phone: &Phone,
        pin: &PinHash,
        language: Option<Language>,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE phone_accounts SET pin_hash = $1, pin_failures = 0,
             language = COALESCE($2, language) WHERE phone = $3",
        )
        .bind(encode_pin_hash(pin))
        .bind(language.map(|l| l.code()))
        .bind(phone.as_str().to_owned())
        .execute(&mut **self)
        .await?;
        Ok(())
    }

    /// Records the wrong-PIN count of `phone` and its lock.
    pub async fn set_pin_failures(
        &mut self,
        phone: &Phone,
        failures: u32,
        locked_until: Option<UnixTime>,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE phone_accounts SET pin_failures = $1, locked_until = $2 WHERE phone = $3",
        )
        .bind(i64::from(failures))
        .bind(locked_until.map(secs))
        .bind(phone.as_str().to_owned())
        .execute(&mut **self)
        .await?;
        Ok(())
    }

    /// Sets the tier (and the name, when given) of `phone`'s account.
    pub async fn set_phone_tier(
        &mut self,
        phone: &Phone,
        tier: Tier,
        display_name: Option<&str>,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE phone_accounts SET tier = $1, display_name = COALESCE($2, display_name)
             WHERE phone = $3",
        )
        .bind(tier_name(tier))
        .bind(display_name.map(str::to_owned))
        .bind(phone.as_str().to_owned())
        .execute(&mut **self)
        .await?;
        Ok(())
    }

    /// The first answer to operation `key`, if it was answered.
    pub async fn phone_op(&mut self, key: &str) -> Result<Option<OpRow>, StoreError> {
        op(&mut **self, key).await
    }

    /// Records the first answer to operation `key`. False when it was answered before.
    #[allow(clippy::too_many_arguments)]
    pub async fn insert_phone_op(
        &mut self,
        key: &str,
        account: AccountId,
        kind: &str,
        answer: &str,
        out_minor: i64,
        now: UnixTime,
    ) -> Result<bool, StoreError> {
        let inserted = sqlx::query(
            "INSERT INTO phone_ops (op_key, account_id, kind, answer, out_minor, day, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING RETURNING op_key",
        )
        .bind(key.to_owned())
        .bind(account.as_bytes().to_vec())
        .bind(kind.to_owned())
        .bind(answer.to_owned())
        .bind(out_minor)
        .bind(day(now))
        .bind(secs(now))
        .fetch_optional(&mut **self)
        .await?;
        Ok(inserted.is_some())
    }

    /// What left `account` on the UTC day of `now` through USSD (sends and cash outs, fees
    /// included).
    pub async fn phone_spent_today(
        &mut self,
        account: AccountId,
        now: UnixTime,
    ) -> Result<i64, StoreError> {
        let rows =
            sqlx::query("SELECT out_minor FROM phone_ops WHERE account_id = $1 AND day = $2")
                .bind(account.as_bytes().to_vec())
                .bind(day(now))
                .fetch_all(&mut **self)
                .await?;
        let mut total: i64 = 0;
        for r in rows {
            total = total.saturating_add(r.try_get::<i64, _>(0)?);
        }
        Ok(total)
    }

    /// How many USSD operations took money out of `account` at or after `since`, and how much
    /// (fees included): what the velocity rule reads.
    pub async fn phone_out_since(
        &mut self,
        account: AccountId,
        since: UnixTime,
    ) -> Result<(u64, i64), StoreError> {
        let row = sqlx::query(
            "SELECT COUNT(*), CAST(COALESCE(SUM(out_minor), 0) AS BIGINT) FROM phone_ops
             WHERE account_id = $1 AND created_at >= $2 AND out_minor > 0",
        )
        .bind(account.as_bytes().to_vec())
        .bind(secs(since))
        .fetch_one(&mut **self)
        .await?;
        let count: i64 = row.try_get(0)?;
        Ok((u64::try_from(count).unwrap_or(0), row.try_get(1)?))
    }

    /// The balance of `account` in `currency` inside this transaction (zero if it never moved).
    pub async fn balance_in(
        &mut self,
        account: &LedgerAccount,
        currency: Currency,
    ) -> Result<i64, StoreError> {
        balance_on(&mut **self, account, currency).await
    }

    /// Records a new open cash-out code. False when the id exists or the code is open already.
    pub async fn insert_cash_out(
        &mut self,
        row: &CashOutRow,
        now: UnixTime,
    ) -> Result<bool, StoreError> {
        let inserted = sqlx::query(
            "INSERT INTO ussd_cash_outs
             (id, code, account_id, phone, op_key, amount, fee, currency, status, created_at, expires_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) ON CONFLICT DO NOTHING RETURNING id",
        )
        .bind(row.id.clone())
        .bind(row.code.clone())
        .bind(row.account.as_bytes().to_vec())
        .bind(row.phone.as_str().to_owned())
        .bind(row.op_key.clone())
        .bind(row.amount.minor())
        .bind(row.fee.minor())
        .bind(numeric(row.amount.currency()))
        .bind(row.state.as_str())
        .bind(secs(now))
        .bind(secs(row.expires_at))
        .fetch_optional(&mut **self)
        .await?;
        Ok(inserted.is_some())
    }

    /// The open cash out with `code`, locked.
    pub async fn lock_open_cash_out(
        &mut self,
        code: &str,
    ) -> Result<Option<CashOutRow>, StoreError> {
        let sql = locking(
            self.dialect(),
            &format!(
                "SELECT {CASH_OUT_COLUMNS} FROM ussd_cash_outs WHERE code = $1 AND status = 'open'"
            ),
        );
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(code.to_owned())
            .fetch_optional(&mut **self)
            .await?
            .as_ref()
            .map(cash_out_row)
            .transpose()
    }

    /// The cash out `id`, locked.
    pub async fn lock_cash_out(&mut self, id: &str) -> Result<Option<CashOutRow>, StoreError> {
        let sql = locking(
            self.dialect(),
            &format!("SELECT {CASH_OUT_COLUMNS} FROM ussd_cash_outs WHERE id = $1"),
        );
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(id.to_owned())
            .fetch_optional(&mut **self)
            .await?
            .as_ref()
            .map(cash_out_row)
            .transpose()
    }

    /// Closes open cash out `id` as paid (by `agent`) or expired. False when it was not open.
    pub async fn close_cash_out(
        &mut self,
        id: &str,
        state: CashOutState,
        agent: Option<&str>,
        now: UnixTime,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE ussd_cash_outs SET status = $1, agent = $2, closed_at = $3
             WHERE id = $4 AND status = 'open'",
        )
        .bind(state.as_str())
        .bind(agent.map(str::to_owned))
        .bind(secs(now))
        .bind(id.to_owned())
        .execute(&mut **self)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Replaces any link challenge for `phone` with a new one.
    pub async fn put_phone_link(
        &mut self,
        phone: &Phone,
        link: &LinkRow,
        now: UnixTime,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO phone_links (phone, account_id, code_hash, attempts, expires_at, created_at)
             VALUES ($1, $2, $3, $4, $5, $6)
             ON CONFLICT (phone) DO UPDATE SET account_id = excluded.account_id,
               code_hash = excluded.code_hash, attempts = excluded.attempts,
               expires_at = excluded.expires_at, created_at = excluded.created_at",
        )
        .bind(phone.as_str().to_owned())
        .bind(link.account.as_bytes().to_vec())
        .bind(link.code_hash.clone())
        .bind(i64::from(link.attempts))
        .bind(secs(link.expires_at))
        .bind(secs(now))
        .execute(&mut **self)
        .await?;
        Ok(())
    }

    /// The link challenge for `phone`, locked.
    pub async fn lock_phone_link(&mut self, phone: &Phone) -> Result<Option<LinkRow>, StoreError> {
        let lock = self.dialect() == Dialect::Postgres;
        link_by(&mut **self, phone, lock).await
    }

    /// Sets the tries left of `phone`'s link challenge.
    pub async fn set_link_attempts(&mut self, phone: &Phone, left: u32) -> Result<(), StoreError> {
        sqlx::query("UPDATE phone_links SET attempts = $1 WHERE phone = $2")
            .bind(i64::from(left))
            .bind(phone.as_str().to_owned())
            .execute(&mut **self)
            .await?;
        Ok(())
    }

    /// Removes `phone`'s link challenge.
    pub async fn delete_phone_link(&mut self, phone: &Phone) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM phone_links WHERE phone = $1")
            .bind(phone.as_str().to_owned())
            .execute(&mut **self)
            .await?;
        Ok(())
    }
}

/// The link challenge for `phone` on `conn`, locked (`FOR UPDATE`) when `lock`.
async fn link_by<'c>(
    conn: impl sqlx::Executor<'c, Database = sqlx::Any>,
    phone: &Phone,
    lock: bool,
) -> Result<Option<LinkRow>, StoreError> {
    let sql =
        "SELECT account_id, code_hash, attempts, expires_at FROM phone_links WHERE phone = $1";
    let sql = if lock {
        format!("{sql} FOR UPDATE")
    } else {
        sql.to_owned()
    };
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(phone.as_str().to_owned())
        .fetch_optional(conn)
        .await?;
    row.map(|r| {
        Ok(LinkRow {
            account: account_id(&r.try_get::<Vec<u8>, _>(0)?)?,
            code_hash: r.try_get(1)?,
            attempts: u32::try_from(r.try_get::<i64, _>(2)?)
                .map_err(|_| corrupt("link attempts"))?,
            expires_at: time(r.try_get(3)?),
        })
    })
    .transpose()
}

/// The balance of `account` in `currency` on `conn` (zero if it never moved).
pub(crate) async fn balance_on<'c>(
    conn: impl sqlx::Executor<'c, Database = sqlx::Any>,
    account: &LedgerAccount,
    currency: Currency,
) -> Result<i64, StoreError> {
    let row =
        sqlx::query("SELECT balance FROM ledger_accounts WHERE account = $1 AND currency = $2")
            .bind(account.key())
            .bind(numeric(currency))
            .fetch_optional(conn)
            .await?;
    Ok(match row {
        Some(r) => r.try_get(0)?,
        None => 0,
    })
}

/// The UTC day of `t`.
fn day(t: UnixTime) -> i64 {
    secs(t) / 86_400
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferry_ussd::pin::{HASH_LEN, PinHashParams, SALT_LEN};

    #[test]
    fn pin_hashes_round_trip_and_bad_lengths_are_corrupt() {
        let h = PinHash {
            params: PinHashParams::RECOMMENDED,
            salt: [7; SALT_LEN],
            hash: [9; HASH_LEN],
        };
        assert_eq!(decode_pin_hash(&encode_pin_hash(&h)).unwrap(), h);
        let mut short = encode_pin_hash(&h);
        short.pop();
        assert!(matches!(
            decode_pin_hash(&short),
            Err(StoreError::Corrupt(_))
        ));
    }
}
