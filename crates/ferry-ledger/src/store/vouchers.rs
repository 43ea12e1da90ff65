//! Offline Pix vouchers (`vouchers`), their redemptions (`voucher_redemptions`), failed
//! redemption attempts (`voucher_failures`) and accounts that blocked voucher creation
//! (`voucher_blocks`). The reserved money itself is the ledger account `voucher:<id>`.
//!
//! A decision about a voucher is taken under its row's lock ([`WriteTx::lock_voucher`]: `FOR
//! UPDATE` on PostgreSQL; SQLite write transactions hold the database's write lock already).

use ferry_proto::voucher::VoucherId;
use ferry_proto::{AccountId, Currency, Hash32, Money, UnixTime};
use sqlx::Row;
use sqlx::any::AnyRow;

use super::rows::{account_id, corrupt, currency, hash, numeric, secs, time};
use super::{Dialect, Store, StoreError, WriteTx};

/// Where a voucher stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VoucherState {
    /// Redeemable until it expires.
    Active,
    /// Expired; the rest of the reserve went back to the emitter.
    Expired,
    /// Invalidated (by the emitter or a security exception); the rest went back.
    Invalidated,
    /// Its whole value was redeemed; the unused fee reserve went back.
    UsedUp,
}

impl VoucherState {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            VoucherState::Active => "active",
            VoucherState::Expired => "expired",
            VoucherState::Invalidated => "invalidated",
            VoucherState::UsedUp => "used_up",
        }
    }

    fn from_name(s: &str) -> Result<Self, StoreError> {
        match s {
            "active" => Ok(VoucherState::Active),
            "expired" => Ok(VoucherState::Expired),
            "invalidated" => Ok(VoucherState::Invalidated),
            "used_up" => Ok(VoucherState::UsedUp),
            _ => Err(corrupt("voucher status")),
        }
    }
}

/// A place, in millionths of a degree (latitude −90..=90, longitude −180..=180).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MicroDegrees {
    /// Latitude × 10⁶.
    pub lat: i32,
    /// Longitude × 10⁶.
    pub lon: i32,
}

/// A voucher as stored. Its `Debug` leaves out the password verifier.
#[derive(Clone, PartialEq, Eq)]
pub struct VoucherRow {
    /// The voucher.
    pub id: VoucherId,
    /// Whose reserve backs it.
    pub emitter: AccountId,
    /// The spending limit at creation.
    pub initial_amount: Money,
    /// What receivers may still take.
    pub remaining: i64,
    /// The creation fee the emitter paid.
    pub creation_fee: i64,
    /// The part of the reserve that pays the transfer fees of redemptions.
    pub fee_reserve: i64,
    /// When it was created.
    pub created_at: UnixTime,
    /// It is redeemable strictly before this instant.
    pub expires_at: UnixTime,
    /// SHA-256 of the sealed voucher's bytes.
    pub sealed_hash: Hash32,
    /// The password's Argon2id verifier (salt, parameters, hash).
    pub verifier: Vec<u8>,
    /// Where it stands.
    pub state: VoucherState,
    /// Why it was invalidated (`emitter`, `brute_force`, `impossible_travel`).
    pub state_reason: Option<String>,
    /// Wrong passwords (and tampered payloads) so far.
    pub failures: u32,
    /// Where it was created, if the emitter said.
    pub created_place: Option<MicroDegrees>,
    /// Where and when it was last redeemed with a place.
    pub last_place: Option<(MicroDegrees, UnixTime)>,
    /// What went back to the emitter when it closed.
    pub returned: Option<i64>,
    /// When it closed.
    pub closed_at: Option<UnixTime>,
}

impl std::fmt::Debug for VoucherRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VoucherRow")
            .field("id", &self.id)
            .field("emitter", &self.emitter)
            .field("initial_amount", &self.initial_amount)
            .field("remaining", &self.remaining)
            .field("state", &self.state)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

impl VoucherRow {
    /// The currency of the voucher.
    pub fn currency(&self) -> Currency {
        self.initial_amount.currency()
    }
}

/// One redemption as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedemptionRow {
    /// Derived from the voucher, the receiver and the receiver's request id.
    pub id: String,
    /// The voucher.
    pub voucher: VoucherId,
    /// Who was paid.
    pub receiver: AccountId,
    /// What the receiver got.
    pub amount: i64,
    /// The transfer fee taken from the reserve.
    pub fee: i64,
    /// Where, if the receiver said.
    pub place: Option<MicroDegrees>,
    /// When.
    pub at: UnixTime,
}

const VOUCHER_COLUMNS: &str = "id, emitter, currency, initial_amount, remaining, creation_fee, \
     fee_reserve, created_at, expires_at, sealed_hash, verifier, status, status_reason, failures, \
     created_lat, created_lon, last_lat, last_lon, last_at, returned, closed_at";

fn voucher_id(bytes: &[u8]) -> Result<VoucherId, StoreError> {
    let arr: [u8; 16] = bytes.try_into().map_err(|_| corrupt("voucher id"))?;
    Ok(VoucherId(arr))
}

fn degrees(lat: Option<i64>, lon: Option<i64>) -> Result<Option<MicroDegrees>, StoreError> {
    match (lat, lon) {
        (Some(lat), Some(lon)) => Ok(Some(MicroDegrees {
            lat: i32::try_from(lat).map_err(|_| corrupt("latitude"))?,
            lon: i32::try_from(lon).map_err(|_| corrupt("longitude"))?,
        })),
        (None, None) => Ok(None),
        _ => Err(corrupt("half a place")),
    }
}

fn voucher_row(r: &AnyRow) -> Result<VoucherRow, StoreError> {
    let c = currency(r.try_get(2)?)?;
    let failures: i64 = r.try_get(13)?;
    let last = degrees(r.try_get(16)?, r.try_get(17)?)?;
    let last_at: Option<i64> = r.try_get(18)?;
    let last_place = match (last, last_at) {
        (Some(p), Some(at)) => Some((p, time(at))),
        (None, None) => None,
        _ => return Err(corrupt("last redemption place")),
    };
    Ok(VoucherRow {
        id: voucher_id(&r.try_get::<Vec<u8>, _>(0)?)?,
        emitter: account_id(&r.try_get::<Vec<u8>, _>(1)?)?,
        initial_amount: Money::new(r.try_get(3)?, c),
        remaining: r.try_get(4)?,
        creation_fee: r.try_get(5)?,
        fee_reserve: r.try_get(6)?,
        created_at: time(r.try_get(7)?),
        expires_at: time(r.try_get(8)?),
        sealed_hash: hash(r.try_get(9)?)?,
        verifier: r.try_get(10)?,
        state: VoucherState::from_name(&r.try_get::<String, _>(11)?)?,
        state_reason: r.try_get(12)?,
        failures: u32::try_from(failures).map_err(|_| corrupt("voucher failures"))?,
        created_place: degrees(r.try_get(14)?, r.try_get(15)?)?,
        last_place,
        returned: r.try_get(19)?,
        closed_at: r.try_get::<Option<i64>, _>(20)?.map(time),
    })
}

const REDEMPTION_COLUMNS: &str = "id, voucher_id, receiver, amount, fee, lat, lon, at";

fn redemption_row(r: &AnyRow) -> Result<RedemptionRow, StoreError> {
    Ok(RedemptionRow {
        id: r.try_get(0)?,
        voucher: voucher_id(&r.try_get::<Vec<u8>, _>(1)?)?,
        receiver: account_id(&r.try_get::<Vec<u8>, _>(2)?)?,
        amount: r.try_get(3)?,
        fee: r.try_get(4)?,
        place: degrees(r.try_get(5)?, r.try_get(6)?)?,
        at: time(r.try_get(7)?),
    })
}

fn lat(p: Option<MicroDegrees>) -> Option<i64> {
    p.map(|p| i64::from(p.lat))
}

fn lon(p: Option<MicroDegrees>) -> Option<i64> {
    p.map(|p| i64::from(p.lon))
}

/// A failed redemption attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VoucherFailure<'a> {
    /// The voucher attacked, when it exists here.
    pub voucher: Option<VoucherId>,
    /// The voucher id presented (known or not), when the text had one.
    pub presented: Option<VoucherId>,
    /// The attacked voucher's emitter, when it exists here.
    pub emitter: Option<AccountId>,
    /// Who asked.
    pub receiver: AccountId,
    /// `malformed`, `unknown`, `wrong_password` or `mismatch`.
    pub kind: &'a str,
}

/// The first 8 hex digits of a voucher id: what the id-prefix rule groups by.
pub fn id_prefix(id: VoucherId) -> String {
    id.to_string()[..8].to_owned()
}

impl Store {
    /// Failed attempts at or after `since` on vouchers of `emitter`.
    pub async fn voucher_failures_of_emitter_since(
        &self,
        emitter: AccountId,
        since: UnixTime,
    ) -> Result<u64, StoreError> {
        let n: i64 =
            sqlx::query("SELECT COUNT(*) FROM voucher_failures WHERE emitter = $1 AND at >= $2")
                .bind(emitter.as_bytes().to_vec())
                .bind(secs(since))
                .fetch_one(self.reader().await?)
                .await?
                .try_get(0)?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    /// Failed attempts at or after `since` presenting ids that start with `prefix`.
    pub async fn voucher_failures_with_prefix_since(
        &self,
        prefix: &str,
        since: UnixTime,
    ) -> Result<u64, StoreError> {
        let n: i64 =
            sqlx::query("SELECT COUNT(*) FROM voucher_failures WHERE id_prefix = $1 AND at >= $2")
                .bind(prefix.to_owned())
                .bind(secs(since))
                .fetch_one(self.reader().await?)
                .await?
                .try_get(0)?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    /// The voucher `id`, if it exists.
    pub async fn voucher(&self, id: VoucherId) -> Result<Option<VoucherRow>, StoreError> {
        let sql = format!("SELECT {VOUCHER_COLUMNS} FROM vouchers WHERE id = $1");
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(id.as_bytes().to_vec())
            .fetch_optional(self.reader().await?)
            .await?
            .as_ref()
            .map(voucher_row)
            .transpose()
    }

    /// The newest `limit` vouchers of every emitter, newest first (the operator's dashboard).
    pub async fn latest_vouchers(&self, limit: usize) -> Result<Vec<VoucherRow>, StoreError> {
        let sql =
            format!("SELECT {VOUCHER_COLUMNS} FROM vouchers ORDER BY created_at DESC, id LIMIT $1");
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(i64::try_from(limit).unwrap_or(i64::MAX))
            .fetch_all(self.reader().await?)
            .await?
            .iter()
            .map(voucher_row)
            .collect()
    }

    /// The newest `limit` vouchers of `emitter`, newest first.
    pub async fn vouchers_of(
        &self,
        emitter: AccountId,
        limit: usize,
    ) -> Result<Vec<VoucherRow>, StoreError> {
        let sql = format!(
            "SELECT {VOUCHER_COLUMNS} FROM vouchers WHERE emitter = $1
             ORDER BY created_at DESC, id LIMIT $2"
        );
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(emitter.as_bytes().to_vec())
            .bind(i64::try_from(limit).unwrap_or(i64::MAX))
            .fetch_all(self.reader().await?)
            .await?
            .iter()
            .map(voucher_row)
            .collect()
    }

    /// Every redemption of `voucher`, oldest first.
    pub async fn voucher_redemptions(
        &self,
        voucher: VoucherId,
    ) -> Result<Vec<RedemptionRow>, StoreError> {
        let sql = format!(
            "SELECT {REDEMPTION_COLUMNS} FROM voucher_redemptions WHERE voucher_id = $1
             ORDER BY at, id"
        );
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(voucher.as_bytes().to_vec())
            .fetch_all(self.reader().await?)
            .await?
            .iter()
            .map(redemption_row)
            .collect()
    }

    /// The redemption `id`, if recorded.
    pub async fn voucher_redemption(&self, id: &str) -> Result<Option<RedemptionRow>, StoreError> {
        let sql = format!("SELECT {REDEMPTION_COLUMNS} FROM voucher_redemptions WHERE id = $1");
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(id.to_owned())
            .fetch_optional(self.reader().await?)
            .await?
            .as_ref()
            .map(redemption_row)
            .transpose()
    }

    /// Active vouchers that expired at `now` (at most `limit`), soonest first.
    pub async fn lapsed_vouchers(
        &self,
        now: UnixTime,
        limit: usize,
    ) -> Result<Vec<VoucherId>, StoreError> {
        let rows = sqlx::query(
            "SELECT id FROM vouchers WHERE status = 'active' AND expires_at <= $1
             ORDER BY expires_at, id LIMIT $2",
        )
        .bind(secs(now))
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .fetch_all(self.reader().await?)
        .await?;
        rows.iter()
            .map(|r| voucher_id(&r.try_get::<Vec<u8>, _>(0)?))
            .collect()
    }

    /// Failed redemption attempts by `receiver` at or after `since`.
    pub async fn voucher_failures_since(
        &self,
        receiver: AccountId,
        since: UnixTime,
    ) -> Result<u64, StoreError> {
        let n: i64 =
            sqlx::query("SELECT COUNT(*) FROM voucher_failures WHERE receiver = $1 AND at >= $2")
                .bind(receiver.as_bytes().to_vec())
                .bind(secs(since))
                .fetch_one(self.reader().await?)
                .await?
                .try_get(0)?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    /// Whether `account` blocked voucher creation.
    pub async fn voucher_blocked(&self, account: AccountId) -> Result<bool, StoreError> {
        Ok(
            sqlx::query("SELECT 1 FROM voucher_blocks WHERE account_id = $1")
                .bind(account.as_bytes().to_vec())
                .fetch_optional(self.reader().await?)
                .await?
                .is_some(),
        )
    }

    /// Blocks (or unblocks) voucher creation on `account`. True when that changed something.
    pub async fn set_voucher_block(
        &self,
        account: AccountId,
        blocked: bool,
        now: UnixTime,
    ) -> Result<bool, StoreError> {
        let mut tx = self.begin().await?;
        let done = if blocked {
            sqlx::query(
                "INSERT INTO voucher_blocks (account_id, blocked_at) VALUES ($1, $2)
                 ON CONFLICT (account_id) DO NOTHING",
            )
            .bind(account.as_bytes().to_vec())
            .bind(secs(now))
            .execute(&mut *tx)
            .await?
        } else {
            sqlx::query("DELETE FROM voucher_blocks WHERE account_id = $1")
                .bind(account.as_bytes().to_vec())
                .execute(&mut *tx)
                .await?
        };
        tx.commit().await?;
        Ok(done.rows_affected() > 0)
    }

    /// Records a failed attempt in its own transaction.
    pub async fn record_voucher_failure(
        &self,
        failure: &VoucherFailure<'_>,
        now: UnixTime,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        tx.insert_voucher_failure(failure, now).await?;
        tx.commit().await?;
        Ok(())
    }
}

impl WriteTx {
    /// Whether `account` blocked voucher creation (read inside the transaction).
    pub async fn voucher_blocked(&mut self, account: AccountId) -> Result<bool, StoreError> {
        Ok(
            sqlx::query("SELECT 1 FROM voucher_blocks WHERE account_id = $1")
                .bind(account.as_bytes().to_vec())
                .fetch_optional(&mut **self)
                .await?
                .is_some(),
        )
    }

    /// Records a new voucher. False when the id exists.
    pub async fn insert_voucher(&mut self, v: &VoucherRow) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "INSERT INTO vouchers (id, emitter, currency, initial_amount, remaining, creation_fee,
                 fee_reserve, created_at, expires_at, sealed_hash, verifier, status, failures,
                 created_lat, created_lon)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)
             ON CONFLICT (id) DO NOTHING",
        )
        .bind(v.id.as_bytes().to_vec())
        .bind(v.emitter.as_bytes().to_vec())
        .bind(numeric(v.currency()))
        .bind(v.initial_amount.minor())
        .bind(v.remaining)
        .bind(v.creation_fee)
        .bind(v.fee_reserve)
        .bind(secs(v.created_at))
        .bind(secs(v.expires_at))
        .bind(v.sealed_hash.0.to_vec())
        .bind(v.verifier.clone())
        .bind(v.state.as_str())
        .bind(i64::from(v.failures))
        .bind(lat(v.created_place))
        .bind(lon(v.created_place))
        .execute(&mut **self)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// The voucher `id`, its row locked until the transaction ends.
    pub async fn lock_voucher(&mut self, id: VoucherId) -> Result<Option<VoucherRow>, StoreError> {
        let mut sql = format!("SELECT {VOUCHER_COLUMNS} FROM vouchers WHERE id = $1");
        if self.dialect() == Dialect::Postgres {
            sql.push_str(" FOR UPDATE");
        }
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(id.as_bytes().to_vec())
            .fetch_optional(&mut **self)
            .await?
            .as_ref()
            .map(voucher_row)
            .transpose()
    }

    /// Sets the wrong-password count of `id`.
    pub async fn set_voucher_failures(
        &mut self,
        id: VoucherId,
        failures: u32,
    ) -> Result<(), StoreError> {
        sqlx::query("UPDATE vouchers SET failures = $1 WHERE id = $2")
            .bind(i64::from(failures))
            .bind(id.as_bytes().to_vec())
            .execute(&mut **self)
            .await?;
        Ok(())
    }

    /// After a redemption: the remaining value and, with a place, the last place and time.
    pub async fn set_voucher_remaining(
        &mut self,
        id: VoucherId,
        remaining: i64,
        place: Option<(MicroDegrees, UnixTime)>,
    ) -> Result<(), StoreError> {
        match place {
            Some((p, at)) => {
                sqlx::query(
                    "UPDATE vouchers SET remaining = $1, last_lat = $2, last_lon = $3, last_at = $4
                     WHERE id = $5",
                )
                .bind(remaining)
                .bind(i64::from(p.lat))
                .bind(i64::from(p.lon))
                .bind(secs(at))
                .bind(id.as_bytes().to_vec())
                .execute(&mut **self)
                .await?
            }
            None => {
                sqlx::query("UPDATE vouchers SET remaining = $1 WHERE id = $2")
                    .bind(remaining)
                    .bind(id.as_bytes().to_vec())
                    .execute(&mut **self)
                    .await?
            }
        };
        Ok(())
    }

    /// Closes active voucher `id` in `state`, recording what went back. False when it was not
    /// active.
    pub async fn close_voucher(
        &mut self,
        id: VoucherId,
        state: VoucherState,
        reason: Option<&str>,
        returned: i64,
        now: UnixTime,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE vouchers SET status = $1, status_reason = $2, returned = $3, closed_at = $4
             WHERE id = $5 AND status = 'active'",
        )
        .bind(state.as_str())
        .bind(reason.map(str::to_owned))
        .bind(returned)
        .bind(secs(now))
        .bind(id.as_bytes().to_vec())
        .execute(&mut **self)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// The redemption `id`, if recorded.
    pub async fn voucher_redemption(
        &mut self,
        id: &str,
    ) -> Result<Option<RedemptionRow>, StoreError> {
        let sql = format!("SELECT {REDEMPTION_COLUMNS} FROM voucher_redemptions WHERE id = $1");
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(id.to_owned())
            .fetch_optional(&mut **self)
            .await?
            .as_ref()
            .map(redemption_row)
            .transpose()
    }

    /// Records a redemption. False when its id exists.
    pub async fn insert_voucher_redemption(
        &mut self,
        r: &RedemptionRow,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "INSERT INTO voucher_redemptions (id, voucher_id, receiver, amount, fee, lat, lon, at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (id) DO NOTHING",
        )
        .bind(r.id.clone())
        .bind(r.voucher.as_bytes().to_vec())
        .bind(r.receiver.as_bytes().to_vec())
        .bind(r.amount)
        .bind(r.fee)
        .bind(lat(r.place))
        .bind(lon(r.place))
        .bind(secs(r.at))
        .execute(&mut **self)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Records a failed redemption attempt.
    pub async fn insert_voucher_failure(
        &mut self,
        f: &VoucherFailure<'_>,
        now: UnixTime,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO voucher_failures (voucher_id, receiver, kind, at, emitter, id_prefix)
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(f.voucher.map(|v| v.as_bytes().to_vec()))
        .bind(f.receiver.as_bytes().to_vec())
        .bind(f.kind.to_owned())
        .bind(secs(now))
        .bind(f.emitter.map(|e| e.as_bytes().to_vec()))
        .bind(f.presented.map(id_prefix))
        .execute(&mut **self)
        .await?;
        Ok(())
    }
}
