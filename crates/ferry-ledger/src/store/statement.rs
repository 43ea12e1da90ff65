//! One ledger account's statement over a period (the merchant's end-of-day report): its
//! balance before the period and every transfer that moved it during the period, with the
//! fee that transfer paid. Read-only; every statement runs on the pool.

use ferry_proto::{Currency, UnixTime};
use sqlx::Row;

use super::rows::{numeric, secs, time};
use super::{Store, StoreError};
use crate::accounts::LedgerAccount;

/// One transfer that moved the account during the period.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatementRow {
    /// Transfer number (increasing in posting order).
    pub id: i64,
    /// Its unique reference (e.g. `payment:<ta>/<j>`).
    pub reference: String,
    /// What it records (`payment`, `cash_in`, `voucher_redeem`, …).
    pub kind: String,
    /// When it was posted.
    pub posted_at: UnixTime,
    /// What it did to the account, minor units (positive: credited).
    pub amount: i64,
    /// What it credited to the `fees` account, minor units (negative for a refunded fee).
    pub fees: i64,
}

impl Store {
    /// The balance of `account` in `currency` from every transfer posted strictly before
    /// `before`.
    pub async fn balance_before(
        &self,
        account: &LedgerAccount,
        currency: Currency,
        before: UnixTime,
    ) -> Result<i64, StoreError> {
        Ok(sqlx::query(
            "SELECT CAST(COALESCE(SUM(p.amount), 0) AS BIGINT)
             FROM postings p JOIN transfers t ON t.id = p.transfer_id
             WHERE p.account = $1 AND t.currency = $2 AND t.posted_at < $3",
        )
        .bind(account.key())
        .bind(numeric(currency))
        .bind(secs(before))
        .fetch_one(self.reader().await?)
        .await?
        .try_get(0)?)
    }

    /// Every transfer in `currency` posted in `[from, to)` that moved `account`, in posting
    /// order, with what it did to the account and what it paid in fees.
    pub async fn statement_rows(
        &self,
        account: &LedgerAccount,
        currency: Currency,
        from: UnixTime,
        to: UnixTime,
    ) -> Result<Vec<StatementRow>, StoreError> {
        let rows = sqlx::query(
            "SELECT t.id, t.reference, t.kind, t.posted_at, a.amount,
                 (SELECT CAST(COALESCE(SUM(f.amount), 0) AS BIGINT) FROM postings f
                  WHERE f.transfer_id = t.id AND f.account = $2)
             FROM (SELECT transfer_id, CAST(SUM(amount) AS BIGINT) AS amount FROM postings
                   WHERE account = $1 GROUP BY transfer_id) a
             JOIN transfers t ON t.id = a.transfer_id
             WHERE t.currency = $3 AND t.posted_at >= $4 AND t.posted_at < $5
             ORDER BY t.id",
        )
        .bind(account.key())
        .bind(LedgerAccount::Fees.key())
        .bind(numeric(currency))
        .bind(secs(from))
        .bind(secs(to))
        .fetch_all(self.reader().await?)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(StatementRow {
                    id: r.try_get(0)?,
                    reference: r.try_get(1)?,
                    kind: r.try_get(2)?,
                    posted_at: time(r.try_get(3)?),
                    amount: r.try_get(4)?,
                    fees: r.try_get(5)?,
                })
            })
            .collect()
    }
}
