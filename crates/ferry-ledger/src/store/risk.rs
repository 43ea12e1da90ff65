//! Risk alerts (`risk_alerts`) and the counts the velocity rule reads.

use ferry_proto::{AccountId, UnixTime};
use sqlx::Row;
use sqlx::any::AnyRow;

use super::rows::{account_id, secs, time};
use super::{Store, StoreError, WriteTx};

/// A new alert.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewAlert<'a> {
    /// The account the rule fired on.
    pub account: AccountId,
    /// The channel (`voucher`, `ussd`).
    pub channel: &'a str,
    /// The rule (`brute_force`, `impossible_travel`, `receiver_failures`, `velocity`).
    pub rule: &'a str,
    /// `alert` (recorded only) or `blocked` (the operation was refused).
    pub action: &'a str,
    /// What the user is told.
    pub message: &'a str,
    /// The evidence, as JSON.
    pub evidence: &'a str,
}

/// An alert as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlertRow {
    /// Its number.
    pub id: i64,
    /// The account the rule fired on.
    pub account: AccountId,
    /// The channel.
    pub channel: String,
    /// The rule.
    pub rule: String,
    /// `alert` or `blocked`.
    pub action: String,
    /// What the user is told.
    pub message: String,
    /// The evidence, as JSON.
    pub evidence: String,
    /// When.
    pub at: UnixTime,
}

const ALERT_COLUMNS: &str = "id, account_id, channel, rule, action, message, evidence, created_at";

fn alert_row(r: &AnyRow) -> Result<AlertRow, StoreError> {
    Ok(AlertRow {
        id: r.try_get(0)?,
        account: account_id(&r.try_get::<Vec<u8>, _>(1)?)?,
        channel: r.try_get(2)?,
        rule: r.try_get(3)?,
        action: r.try_get(4)?,
        message: r.try_get(5)?,
        evidence: r.try_get(6)?,
        at: time(r.try_get(7)?),
    })
}

impl Store {
    /// The newest `limit` alerts, of every account or of `account`.
    pub async fn risk_alerts(
        &self,
        account: Option<AccountId>,
        limit: usize,
    ) -> Result<Vec<AlertRow>, StoreError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows = match account {
            Some(a) => {
                let sql = format!(
                    "SELECT {ALERT_COLUMNS} FROM risk_alerts WHERE account_id = $1
                     ORDER BY id DESC LIMIT $2"
                );
                sqlx::query(sqlx::AssertSqlSafe(sql))
                    .bind(a.as_bytes().to_vec())
                    .bind(limit)
                    .fetch_all(self.reader().await?)
                    .await?
            }
            None => {
                let sql =
                    format!("SELECT {ALERT_COLUMNS} FROM risk_alerts ORDER BY id DESC LIMIT $1");
                sqlx::query(sqlx::AssertSqlSafe(sql))
                    .bind(limit)
                    .fetch_all(self.reader().await?)
                    .await?
            }
        };
        rows.iter().map(alert_row).collect()
    }

    /// Records an alert in its own transaction, unless the same rule fired on the same account
    /// at or after `quiet_since` (one alert per burst). True when recorded.
    pub async fn record_risk_alert(
        &self,
        alert: &NewAlert<'_>,
        quiet_since: UnixTime,
        now: UnixTime,
    ) -> Result<bool, StoreError> {
        let mut tx = self.begin().await?;
        let recent = sqlx::query(
            "SELECT 1 FROM risk_alerts WHERE account_id = $1 AND rule = $2 AND created_at >= $3",
        )
        .bind(alert.account.as_bytes().to_vec())
        .bind(alert.rule.to_owned())
        .bind(secs(quiet_since))
        .fetch_optional(&mut *tx)
        .await?
        .is_some();
        if recent {
            return Ok(false);
        }
        tx.insert_risk_alert(alert, now).await?;
        tx.commit().await?;
        Ok(true)
    }
}

impl Store {
    /// Whether a rule refused an operation of `account` on `channel` at or after `since` (an
    /// alert with action `blocked` of a rule that blames the account: brute force, impossible
    /// travel, velocity).
    pub async fn blocking_alert_since(
        &self,
        account: AccountId,
        channel: &str,
        since: UnixTime,
    ) -> Result<bool, StoreError> {
        Ok(sqlx::query(
            "SELECT 1 FROM risk_alerts WHERE account_id = $1 AND channel = $2 AND action = 'blocked'
             AND rule IN ('brute_force', 'impossible_travel', 'velocity') AND created_at >= $3
             LIMIT 1",
        )
        .bind(account.as_bytes().to_vec())
        .bind(channel.to_owned())
        .bind(secs(since))
        .fetch_optional(self.reader().await?)
        .await?
        .is_some())
    }
}

impl WriteTx {
    /// Records an alert in this transaction.
    pub async fn insert_risk_alert(
        &mut self,
        alert: &NewAlert<'_>,
        now: UnixTime,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO risk_alerts (account_id, channel, rule, action, message, evidence,
                 created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(alert.account.as_bytes().to_vec())
        .bind(alert.channel.to_owned())
        .bind(alert.rule.to_owned())
        .bind(alert.action.to_owned())
        .bind(alert.message.to_owned())
        .bind(alert.evidence.to_owned())
        .bind(secs(now))
        .execute(&mut **self)
        .await?;
        Ok(())
    }

    /// How many vouchers `emitter` created at or after `since`, their total value, and when the
    /// oldest of them was created (what the creation velocity rule reads).
    pub async fn vouchers_created_since(
        &mut self,
        emitter: AccountId,
        since: UnixTime,
    ) -> Result<(u64, i64, Option<UnixTime>), StoreError> {
        let row = sqlx::query(
            "SELECT COUNT(*), CAST(COALESCE(SUM(initial_amount), 0) AS BIGINT),
                 MIN(created_at) FROM vouchers WHERE emitter = $1 AND created_at >= $2",
        )
        .bind(emitter.as_bytes().to_vec())
        .bind(secs(since))
        .fetch_one(&mut **self)
        .await?;
        let n: i64 = row.try_get(0)?;
        let oldest: Option<i64> = row.try_get(2)?;
        Ok((
            u64::try_from(n).unwrap_or(0),
            row.try_get(1)?,
            oldest.and_then(|t| u64::try_from(t).ok()).map(UnixTime),
        ))
    }

    /// How many redemptions `receiver` made at or after `since`, and their total.
    pub async fn redemptions_since(
        &mut self,
        receiver: AccountId,
        since: UnixTime,
    ) -> Result<(u64, i64), StoreError> {
        let row = sqlx::query(
            "SELECT COUNT(*), CAST(COALESCE(SUM(amount), 0) AS BIGINT) FROM voucher_redemptions
             WHERE receiver = $1 AND at >= $2",
        )
        .bind(receiver.as_bytes().to_vec())
        .bind(secs(since))
        .fetch_one(&mut **self)
        .await?;
        let n: i64 = row.try_get(0)?;
        Ok((u64::try_from(n).unwrap_or(0), row.try_get(1)?))
    }
}
