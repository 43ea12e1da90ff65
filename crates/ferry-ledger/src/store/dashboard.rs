//! The operator's read-only views of the ledger (the dashboard): every account's balance, the
//! latest transfers with their postings, and debits counted by kind and status. Nothing here
//! writes; every statement runs on the pool, outside any write transaction.

use ferry_proto::{Currency, UnixTime};
use sqlx::{AssertSqlSafe, Row};

use super::rows::{currency, numeric, time};
use super::{Params, Store, StoreError};
use crate::kinds::{DebitKind, DebitState};

/// Most transfers one listing returns.
pub const MAX_TRANSFER_LIST: u32 = 500;

/// One ledger account's balance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountBalance {
    /// The account's key (`online:<hex>`, `float:<hex>`, `fees`, …).
    pub account: String,
    /// Its currency.
    pub currency: Currency,
    /// Minor units.
    pub balance: i64,
}

/// One posting of a transfer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostingRow {
    /// The account's key.
    pub account: String,
    /// Minor units (positive credits the account, negative debits it).
    pub amount: i64,
}

/// A transfer with its postings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransferRow {
    /// Transfer number (increasing in posting order).
    pub id: i64,
    /// Its unique reference (the idempotency key, e.g. `pay:<ta>/<j>`).
    pub reference: String,
    /// What it records (`payment`, `cash_in`, `deposit`, …).
    pub kind: String,
    /// Its currency.
    pub currency: Currency,
    /// When it was posted.
    pub posted_at: UnixTime,
    /// Its postings (they sum to zero), in account order.
    pub postings: Vec<PostingRow>,
}

/// Which transfers to list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TransferFilter {
    /// Only transfers of this kind.
    pub kind: Option<String>,
    /// Only transfers with a posting to this account key.
    pub account: Option<String>,
    /// At most this many (clamped to 1..=[`MAX_TRANSFER_LIST`]).
    pub limit: u32,
}

/// How many debits have one kind and status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DebitCount {
    /// What the debits pay for.
    pub kind: DebitKind,
    /// Where they stand.
    pub status: DebitState,
    /// How many.
    pub count: i64,
}

/// The ways a payment reaches the ledger, as the dashboard counts them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Channel {
    /// A secure wallet's payment claimed by its payee or uploaded with the payer's journal
    /// (face to face, over the BLE link or TCP).
    FaceToFace,
    /// A remote payment that a sealed envelope brought through the mesh to a bridge first.
    Mesh,
    /// A USSD send from a feature phone.
    Ussd,
    /// A voucher redemption.
    Voucher,
    /// A deferred order.
    Order,
}

impl Channel {
    /// Every channel, in the order the dashboard lists them.
    pub const ALL: [Channel; 5] = [
        Channel::FaceToFace,
        Channel::Mesh,
        Channel::Ussd,
        Channel::Voucher,
        Channel::Order,
    ];

    /// The snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::FaceToFace => "face_to_face",
            Channel::Mesh => "mesh",
            Channel::Ussd => "ussd",
            Channel::Voucher => "voucher",
            Channel::Order => "order",
        }
    }

    fn from_name(name: &str) -> Option<Channel> {
        Channel::ALL.into_iter().find(|c| c.as_str() == name)
    }
}

/// Payments of one channel and status: how many, and their amount (minor units; what the
/// payees were credited, fees apart).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChannelCount {
    /// How the payments came.
    pub channel: Channel,
    /// `settled`, or `pending` for a wallet payment its payer's float cannot fund yet.
    pub status: DebitState,
    /// How many.
    pub count: i64,
    /// Their sum.
    pub amount: i64,
}

impl Store {
    /// Payments in `currency` counted and summed by channel and status: wallet payments from
    /// `debits` (remote when an envelope recorded them, see `envelopes.payment_ta`), USSD sends
    /// from their transfers (the payee's credit), voucher redemptions and deferred orders from
    /// their tables. Channels without a payment are left out.
    pub async fn payment_channels(
        &self,
        currency: Currency,
    ) -> Result<Vec<ChannelCount>, StoreError> {
        let mut p = Params::new(self.dialect());
        let (c1, c2, c3, c4) = (p.next(), p.next(), p.next(), p.next());
        let sql = format!(
            "SELECT channel, status, COUNT(*), CAST(COALESCE(SUM(amount), 0) AS BIGINT) FROM (
                 SELECT CASE WHEN EXISTS (SELECT 1 FROM envelopes e
                                          WHERE e.payment_ta = d.ta_id AND e.payment_j = d.j)
                             THEN 'mesh' ELSE 'face_to_face' END AS channel,
                        d.status AS status, d.amount AS amount
                 FROM debits d WHERE d.kind = 'payment' AND d.currency = {c1}
                 UNION ALL
                 SELECT 'ussd', 'settled', (SELECT CAST(COALESCE(SUM(p.amount), 0) AS BIGINT)
                                            FROM postings p WHERE p.transfer_id = t.id
                                            AND p.amount > 0 AND p.account LIKE 'online:%')
                 FROM transfers t WHERE t.kind = 'ussd_send' AND t.currency = {c2}
                 UNION ALL
                 SELECT 'voucher', 'settled', r.amount
                 FROM voucher_redemptions r JOIN vouchers v ON v.id = r.voucher_id
                 WHERE v.currency = {c3}
                 UNION ALL
                 SELECT 'order', 'settled', o.amount FROM orders o WHERE o.currency = {c4}
             ) payments GROUP BY channel, status"
        );
        // Only placeholders are formatted into the statement; every value is bound.
        let code = numeric(currency);
        let rows = sqlx::query(AssertSqlSafe(sql))
            .bind(code)
            .bind(code)
            .bind(code)
            .bind(code)
            .fetch_all(self.reader().await?)
            .await?;
        let mut counts = rows
            .iter()
            .map(|r| {
                let channel: String = r.try_get(0)?;
                let status: String = r.try_get(1)?;
                Ok(ChannelCount {
                    channel: Channel::from_name(&channel)
                        .ok_or_else(|| StoreError::Corrupt(format!("channel {channel:?}")))?,
                    status: DebitState::from_name(&status)
                        .ok_or_else(|| StoreError::Corrupt(format!("debit status {status:?}")))?,
                    count: r.try_get(2)?,
                    amount: r.try_get(3)?,
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        counts.sort_by_key(|c| {
            (
                Channel::ALL.iter().position(|x| *x == c.channel),
                c.status.as_str(),
            )
        });
        Ok(counts)
    }

    /// How many transfers the ledger holds.
    pub async fn transfer_total(&self) -> Result<i64, StoreError> {
        Ok(sqlx::query("SELECT COUNT(*) FROM transfers")
            .fetch_one(self.reader().await?)
            .await?
            .try_get(0)?)
    }

    /// Transfers counted by kind (`payment`, `ussd_send`, `cash_in`, …), by kind.
    pub async fn transfer_kind_counts(&self) -> Result<Vec<(String, i64)>, StoreError> {
        let rows = sqlx::query("SELECT kind, COUNT(*) FROM transfers GROUP BY kind ORDER BY kind")
            .fetch_all(self.reader().await?)
            .await?;
        rows.iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
            .collect()
    }

    /// Debits (payments and withdrawals) counted by kind and status.
    pub async fn debit_counts(&self) -> Result<Vec<DebitCount>, StoreError> {
        let rows = sqlx::query(
            "SELECT kind, status, COUNT(*) FROM debits GROUP BY kind, status ORDER BY kind, status",
        )
        .fetch_all(self.reader().await?)
        .await?;
        rows.iter()
            .map(|r| {
                let kind: String = r.try_get(0)?;
                let status: String = r.try_get(1)?;
                Ok(DebitCount {
                    kind: DebitKind::from_name(&kind)
                        .ok_or_else(|| StoreError::Corrupt(format!("debit kind {kind:?}")))?,
                    status: DebitState::from_name(&status)
                        .ok_or_else(|| StoreError::Corrupt(format!("debit status {status:?}")))?,
                    count: r.try_get(2)?,
                })
            })
            .collect()
    }

    /// The latest transfers that match `filter`, newest first, with their postings.
    pub async fn latest_transfers(
        &self,
        filter: &TransferFilter,
    ) -> Result<Vec<TransferRow>, StoreError> {
        let limit = i64::from(filter.limit.clamp(1, MAX_TRANSFER_LIST));
        let mut p = Params::new(self.dialect());
        let mut sql =
            String::from("SELECT id, reference, kind, currency, posted_at FROM transfers");
        let mut conditions = Vec::new();
        if filter.kind.is_some() {
            conditions.push(format!("kind = {}", p.next()));
        }
        if filter.account.is_some() {
            conditions.push(format!(
                "id IN (SELECT transfer_id FROM postings WHERE account = {})",
                p.next()
            ));
        }
        if !conditions.is_empty() {
            sql.push_str(" WHERE ");
            sql.push_str(&conditions.join(" AND "));
        }
        sql.push_str(&format!(" ORDER BY id DESC LIMIT {}", p.next()));
        // Only placeholders are formatted into the statement; every value is bound.
        let mut query = sqlx::query(AssertSqlSafe(sql));
        if let Some(kind) = &filter.kind {
            query = query.bind(kind.clone());
        }
        if let Some(account) = &filter.account {
            query = query.bind(account.clone());
        }
        let rows = query.bind(limit).fetch_all(self.reader().await?).await?;
        let mut transfers = rows
            .iter()
            .map(|r| {
                Ok(TransferRow {
                    id: r.try_get(0)?,
                    reference: r.try_get(1)?,
                    kind: r.try_get(2)?,
                    currency: currency(r.try_get(3)?)?,
                    posted_at: time(r.try_get(4)?),
                    postings: Vec::new(),
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        if transfers.is_empty() {
            return Ok(transfers);
        }
        let mut p = Params::new(self.dialect());
        let sql = format!(
            "SELECT transfer_id, account, amount FROM postings WHERE transfer_id IN ({})
             ORDER BY transfer_id, account",
            p.list(transfers.len())
        );
        // Only placeholders are formatted into the statement; every value is bound.
        let mut query = sqlx::query(AssertSqlSafe(sql));
        for t in &transfers {
            query = query.bind(t.id);
        }
        for r in query.fetch_all(self.reader().await?).await? {
            let id: i64 = r.try_get(0)?;
            let posting = PostingRow {
                account: r.try_get(1)?,
                amount: r.try_get(2)?,
            };
            if let Some(t) = transfers.iter_mut().find(|t| t.id == id) {
                t.postings.push(posting);
            }
        }
        Ok(transfers)
    }

    /// Every ledger account's balance in currency `c`, ordered by key.
    pub async fn account_balances_in(
        &self,
        c: Currency,
    ) -> Result<Vec<AccountBalance>, StoreError> {
        let rows = sqlx::query(
            "SELECT account, balance FROM ledger_accounts WHERE currency = $1 ORDER BY account",
        )
        .bind(numeric(c))
        .fetch_all(self.reader().await?)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(AccountBalance {
                    account: r.try_get(0)?,
                    currency: c,
                    balance: r.try_get(1)?,
                })
            })
            .collect()
    }
}
