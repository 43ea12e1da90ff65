//! Debits of wallet floats (`debits`): payments (to an online balance or a collecting wallet's
//! float) and withdrawals, keyed by the journal entry that signed them, `pending` until the
//! float can fund them.

use ferry_proto::{AccountId, Hash32, Money, PaymentId, TaId, UnixTime};
use sqlx::{AssertSqlSafe, Row};

use super::rows::{account_id, corrupt, currency, hash, numeric, position, secs, time};
use super::{CHUNK, Params, Store, StoreError, WriteTx};
use crate::accounts::LedgerAccount;
use crate::kinds::{DebitKind, DebitState};

/// A debit of a wallet's float: a payment or a withdrawal, identified by its journal entry.
#[derive(Debug, Clone)]
pub struct Debit {
    /// The journal entry's identity.
    pub id: PaymentId,
    /// Payment or withdrawal.
    pub kind: DebitKind,
    /// The paying wallet's holder.
    pub payer_account: AccountId,
    /// The payee (the holder itself for a withdrawal).
    pub payee_account: AccountId,
    /// The amount signed.
    pub amount: Money,
    /// The entry's hash.
    pub hash: Hash32,
    /// The ledger account the amount goes to.
    pub credit_to: LedgerAccount,
}

/// A stored debit as either party may ask for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DebitRecord {
    /// What it paid for.
    pub kind: DebitKind,
    /// Where it stands.
    pub status: DebitState,
    /// The amount.
    pub amount: Money,
    /// The payer.
    pub payer: AccountId,
    /// The payee.
    pub payee: AccountId,
    /// The ledger account credited (as its key).
    pub credited: String,
    /// When the server first saw it.
    pub received_at: UnixTime,
    /// When it settled.
    pub settled_at: Option<UnixTime>,
}

/// Decodes a debit from a row whose columns from `first` are: credit_to, kind, payer_account,
/// payee_account, amount, currency, hash.
fn debit_from_row(id: PaymentId, r: &sqlx::any::AnyRow, first: usize) -> Result<Debit, StoreError> {
    let bad = |what: &str| corrupt(format!("debit {id}: {what}"));
    let credit_to: String = r.try_get(first)?;
    let kind: String = r.try_get(first + 1)?;
    Ok(Debit {
        id,
        kind: DebitKind::from_name(&kind).ok_or_else(|| bad("kind"))?,
        payer_account: account_id(&r.try_get::<Vec<u8>, _>(first + 2)?)?,
        payee_account: account_id(&r.try_get::<Vec<u8>, _>(first + 3)?)?,
        amount: Money::new(r.try_get(first + 4)?, currency(r.try_get(first + 5)?)?),
        hash: hash(r.try_get(first + 6)?)?,
        credit_to: credit_to.parse().map_err(|_| bad("credit_to"))?,
    })
}

fn state(name: &str) -> Result<DebitState, StoreError> {
    DebitState::from_name(name).ok_or_else(|| corrupt("debit status"))
}

impl WriteTx {
    /// Writes new debits with their states (one statement per chunk).
    pub async fn insert_debits(
        &mut self,
        debits: &[(Debit, DebitState)],
        now: UnixTime,
    ) -> Result<(), StoreError> {
        for chunk in debits.chunks(CHUNK) {
            let values = Params::new(self.dialect()).rows(chunk.len(), 12);
            let sql = format!(
                "INSERT INTO debits (ta_id, j, kind, payer_account, payee_account, amount, currency,
                                     hash, credit_to, status, received_at, settled_at)
                 VALUES {values}"
            );
            let mut q = sqlx::query(AssertSqlSafe(sql));
            for (d, status) in chunk {
                let settled_at = (*status == DebitState::Settled).then(|| secs(now));
                q = q
                    .bind(d.id.ta.as_bytes().to_vec())
                    .bind(i64::from(d.id.j))
                    .bind(d.kind.as_str())
                    .bind(d.payer_account.as_bytes().to_vec())
                    .bind(d.payee_account.as_bytes().to_vec())
                    .bind(d.amount.minor())
                    .bind(numeric(d.amount.currency()))
                    .bind(d.hash.as_bytes().to_vec())
                    .bind(d.credit_to.key())
                    .bind(status.as_str())
                    .bind(secs(now))
                    .bind(settled_at);
            }
            q.execute(&mut **self).await?;
        }
        Ok(())
    }

    /// The stored debit with identity `id`, and its state.
    pub async fn debit(
        &mut self,
        id: PaymentId,
    ) -> Result<Option<(DebitState, Debit)>, StoreError> {
        let row = sqlx::query(
            "SELECT status, credit_to, kind, payer_account, payee_account, amount, currency, hash
             FROM debits WHERE ta_id = $1 AND j = $2",
        )
        .bind(id.ta.as_bytes().to_vec())
        .bind(i64::from(id.j))
        .fetch_optional(&mut **self)
        .await?;
        let Some(r) = row else { return Ok(None) };
        let status: String = r.try_get(0)?;
        Ok(Some((state(&status)?, debit_from_row(id, &r, 1)?)))
    }

    /// Points a stored debit at another ledger account.
    pub async fn set_debit_credit(
        &mut self,
        id: PaymentId,
        to: &LedgerAccount,
    ) -> Result<(), StoreError> {
        sqlx::query("UPDATE debits SET credit_to = $1 WHERE ta_id = $2 AND j = $3")
            .bind(to.key())
            .bind(id.ta.as_bytes().to_vec())
            .bind(i64::from(id.j))
            .execute(&mut **self)
            .await?;
        Ok(())
    }

    /// `ta`'s pending debits, in journal order.
    pub async fn pending_debits(&mut self, ta: TaId) -> Result<Vec<Debit>, StoreError> {
        let rows = sqlx::query(
            "SELECT j, credit_to, kind, payer_account, payee_account, amount, currency, hash
             FROM debits WHERE ta_id = $1 AND status = 'pending' ORDER BY j",
        )
        .bind(ta.as_bytes().to_vec())
        .fetch_all(&mut **self)
        .await?;
        rows.iter()
            .map(|r| {
                let id = PaymentId {
                    ta,
                    j: position(r.try_get(0)?)?,
                };
                debit_from_row(id, r, 1)
            })
            .collect()
    }

    /// Marks a pending debit settled at `now`.
    pub async fn mark_debit_settled(
        &mut self,
        id: PaymentId,
        now: UnixTime,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE debits SET status = 'settled', settled_at = $1 WHERE ta_id = $2 AND j = $3",
        )
        .bind(secs(now))
        .bind(id.ta.as_bytes().to_vec())
        .bind(i64::from(id.j))
        .execute(&mut **self)
        .await?;
        Ok(())
    }
}

impl Store {
    /// The stored debit `id`, as its payer or payee may see it.
    pub async fn debit_record(&self, id: PaymentId) -> Result<Option<DebitRecord>, StoreError> {
        let row = sqlx::query(
            "SELECT kind, status, amount, currency, payer_account, payee_account, credit_to,
                    received_at, settled_at
             FROM debits WHERE ta_id = $1 AND j = $2",
        )
        .bind(id.ta.as_bytes().to_vec())
        .bind(i64::from(id.j))
        .fetch_optional(self.reader().await?)
        .await?;
        let Some(r) = row else { return Ok(None) };
        Ok(Some(DebitRecord {
            kind: DebitKind::from_name(&r.try_get::<String, _>(0)?)
                .ok_or_else(|| corrupt("debit kind"))?,
            status: state(&r.try_get::<String, _>(1)?)?,
            amount: Money::new(r.try_get(2)?, currency(r.try_get(3)?)?),
            payer: account_id(&r.try_get::<Vec<u8>, _>(4)?)?,
            payee: account_id(&r.try_get::<Vec<u8>, _>(5)?)?,
            credited: r.try_get(6)?,
            received_at: time(r.try_get(7)?),
            settled_at: r.try_get::<Option<i64>, _>(8)?.map(time),
        }))
    }
}

/// A payment to an account, as its payee lists what it received
/// ([`Store::received_payments`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceivedRow {
    /// The payment's identity.
    pub id: PaymentId,
    /// Where it stands.
    pub status: DebitState,
    /// When the server first saw it (the listing's order, with the id).
    pub received_at: UnixTime,
    /// The payment as the payer's wallet signed it (a Pay entry).
    pub payment: Vec<u8>,
    /// The payer wallet's current certificate (its key verifies the payment).
    pub ta_certificate: Vec<u8>,
}

/// Where a listing of received payments resumes: after this `(received_at, id)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReceivedCursor {
    /// The last listed payment's `received_at`.
    pub received_at: UnixTime,
    /// The last listed payment.
    pub id: PaymentId,
}

impl Store {
    /// Payments to `payee` (not withdrawals), settled or pending, in the order the server saw
    /// them, `limit` at most, after `after`.
    pub async fn received_payments(
        &self,
        payee: AccountId,
        after: Option<ReceivedCursor>,
        limit: u32,
    ) -> Result<Vec<ReceivedRow>, StoreError> {
        let (t, ta, j) = match after {
            Some(c) => (
                secs(c.received_at),
                c.id.ta.as_bytes().to_vec(),
                i64::from(c.id.j),
            ),
            None => (-1, Vec::new(), -1),
        };
        let rows = sqlx::query(
            "SELECT d.ta_id, d.j, d.status, d.received_at, e.entry, w.certificate
             FROM debits d
             JOIN journal_entries e ON e.ta_id = d.ta_id AND e.j = d.j
             JOIN wallets w ON w.ta_id = d.ta_id
             WHERE d.payee_account = $1 AND d.kind = 'payment'
               AND (d.received_at > $2
                    OR (d.received_at = $2 AND (d.ta_id > $3 OR (d.ta_id = $3 AND d.j > $4))))
             ORDER BY d.received_at, d.ta_id, d.j
             LIMIT $5",
        )
        .bind(payee.as_bytes().to_vec())
        .bind(t)
        .bind(ta)
        .bind(j)
        .bind(i64::from(limit))
        .fetch_all(self.reader().await?)
        .await?;
        rows.iter()
            .map(|r| {
                let id = PaymentId {
                    ta: super::rows::ta_id(&r.try_get::<Vec<u8>, _>(0)?)?,
                    j: position(r.try_get(1)?)?,
                };
                Ok(ReceivedRow {
                    id,
                    status: state(&r.try_get::<String, _>(2)?)?,
                    received_at: time(r.try_get(3)?),
                    payment: r.try_get(4)?,
                    ta_certificate: r.try_get(5)?,
                })
            })
            .collect()
    }
}
