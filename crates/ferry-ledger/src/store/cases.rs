//! Fraud cases (`fraud_cases`, one per revoked wallet, with its certified exposure and what
//! has been paid out of it) and the payouts to receivers of the other branch of a fork
//! (`payouts`, once per payment hash).

use ferry_proto::cert::TaCertBody;
use ferry_proto::{AccountId, Hash32, Money, Payment, TaCertificate, TaId, UnixTime};
use sqlx::Row;

use super::rows::{account_id, corrupt, currency, numeric, secs, ta_id, time};
use super::{Store, StoreError, WriteTx};
use crate::kinds::CaseKind;

/// An open fraud case, as settlement needs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Case {
    /// Case number.
    pub id: i64,
    /// The revoked wallet's holder.
    pub account: AccountId,
    /// The most the case may pay out, in minor units.
    pub exposure: i64,
    /// Paid out so far, in minor units.
    pub covered: i64,
}

/// A fraud case as the operator sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FraudCase {
    /// Case number.
    pub id: i64,
    /// The revoked wallet.
    pub ta: TaId,
    /// Its holder.
    pub account: AccountId,
    /// Why it was opened.
    pub kind: CaseKind,
    /// Human-readable detail.
    pub detail: String,
    /// The most the case may pay out (the certificate's limits).
    pub exposure: Money,
    /// Paid out to receivers from bond and insurance so far.
    pub covered: Money,
    /// When it opened.
    pub opened_at: UnixTime,
    /// The evidence: a canonical fraud proof for forks, the offending entry otherwise.
    pub evidence: Option<Vec<u8>>,
}

/// A new fraud case.
#[derive(Debug, Clone)]
pub struct NewCase<'a> {
    /// The wallet's certificate body.
    pub cert: &'a TaCertBody,
    /// Why.
    pub kind: CaseKind,
    /// The evidence.
    pub evidence: Option<Vec<u8>>,
    /// Detail for people.
    pub detail: &'a str,
}

impl WriteTx {
    /// The open fraud case against `ta`, if any.
    pub async fn case(&mut self, ta: TaId) -> Result<Option<Case>, StoreError> {
        let row = sqlx::query(
            "SELECT id, account_id, exposure, covered FROM fraud_cases WHERE ta_id = $1",
        )
        .bind(ta.as_bytes().to_vec())
        .fetch_optional(&mut **self)
        .await?;
        row.map(|r| {
            Ok(Case {
                id: r.try_get(0)?,
                account: account_id(&r.try_get::<Vec<u8>, _>(1)?)?,
                exposure: r.try_get(2)?,
                covered: r.try_get(3)?,
            })
        })
        .transpose()
    }

    /// Opens a case (once per wallet). Returns its number, or `None` when one was open.
    pub async fn insert_case(
        &mut self,
        case: NewCase<'_>,
        now: UnixTime,
    ) -> Result<Option<i64>, StoreError> {
        let cert = case.cert;
        let row = sqlx::query(
            "INSERT INTO fraud_cases (ta_id, account_id, kind, evidence, detail, exposure, currency, covered, opened_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, 0, $8) ON CONFLICT (ta_id) DO NOTHING RETURNING id",
        )
        .bind(cert.ta_id().as_bytes().to_vec())
        .bind(cert.account_id.as_bytes().to_vec())
        .bind(case.kind.as_str())
        .bind(case.evidence)
        .bind(case.detail)
        .bind(cert.limits.exposure().minor())
        .bind(numeric(cert.limits.currency))
        .bind(secs(now))
        .fetch_optional(&mut **self)
        .await?;
        row.map(|r| r.try_get(0)).transpose().map_err(Into::into)
    }

    /// Records what case `id` has paid out in all.
    pub async fn set_covered(&mut self, id: i64, covered: i64) -> Result<(), StoreError> {
        sqlx::query("UPDATE fraud_cases SET covered = $1 WHERE id = $2")
            .bind(covered)
            .bind(id)
            .execute(&mut **self)
            .await?;
        Ok(())
    }

    /// Takes the payout identity of `payment` (the other branch of a fork of `ta`). False when
    /// it was paid out before.
    pub async fn insert_payout(
        &mut self,
        ta: TaId,
        payment: &Payment,
        now: UnixTime,
    ) -> Result<bool, StoreError> {
        let inserted = sqlx::query(
            "INSERT INTO payouts (hash, ta_id, j, payee_account, amount, paid_at)
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (hash) DO NOTHING RETURNING j",
        )
        .bind(payment.hash().as_bytes().to_vec())
        .bind(ta.as_bytes().to_vec())
        .bind(i64::from(payment.body().j))
        .bind(payment.payee().as_bytes().to_vec())
        .bind(payment.amount().minor())
        .bind(secs(now))
        .fetch_optional(&mut **self)
        .await?;
        Ok(inserted.is_some())
    }

    /// Releases a payout identity that was not paid, so a later delivery can be.
    pub async fn delete_payout(&mut self, hash: Hash32) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM payouts WHERE hash = $1")
            .bind(hash.as_bytes().to_vec())
            .execute(&mut **self)
            .await?;
        Ok(())
    }
}

impl Store {
    /// Every revoked wallet (one with a fraud case), in id order.
    pub async fn revoked_wallets(&self) -> Result<Vec<TaId>, StoreError> {
        sqlx::query("SELECT ta_id FROM fraud_cases ORDER BY ta_id")
            .fetch_all(self.reader().await?)
            .await?
            .iter()
            .map(|r| ta_id(&r.try_get::<Vec<u8>, _>(0)?))
            .collect()
    }

    /// Whether `ta` is revoked.
    pub async fn is_revoked(&self, ta: TaId) -> Result<bool, StoreError> {
        Ok(sqlx::query("SELECT id FROM fraud_cases WHERE ta_id = $1")
            .bind(ta.as_bytes().to_vec())
            .fetch_optional(self.reader().await?)
            .await?
            .is_some())
    }

    /// Every fraud case, newest first.
    pub async fn fraud_cases(&self) -> Result<Vec<FraudCase>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, ta_id, account_id, kind, detail, exposure, covered, currency, opened_at, evidence
             FROM fraud_cases ORDER BY id DESC",
        )
        .fetch_all(self.reader().await?)
        .await?;
        rows.iter()
            .map(|r| {
                let c = currency(r.try_get(7)?)?;
                Ok(FraudCase {
                    id: r.try_get(0)?,
                    ta: ta_id(&r.try_get::<Vec<u8>, _>(1)?)?,
                    account: account_id(&r.try_get::<Vec<u8>, _>(2)?)?,
                    kind: CaseKind::from_name(&r.try_get::<String, _>(3)?)
                        .ok_or_else(|| corrupt("case kind"))?,
                    detail: r.try_get(4)?,
                    exposure: Money::new(r.try_get(5)?, c),
                    covered: Money::new(r.try_get(6)?, c),
                    opened_at: time(r.try_get(8)?),
                    evidence: r.try_get(9)?,
                })
            })
            .collect()
    }

    /// The certificates of wallets that have pending debits (the deadline sweep's candidates).
    pub async fn wallets_with_pending_debits(&self) -> Result<Vec<TaCertificate>, StoreError> {
        let rows = sqlx::query(
            "SELECT DISTINCT d.ta_id, w.certificate FROM debits d
             JOIN wallets w ON w.ta_id = d.ta_id
             WHERE d.status = 'pending'",
        )
        .fetch_all(self.reader().await?)
        .await?;
        rows.iter()
            .map(|r| {
                TaCertificate::from_bytes(&r.try_get::<Vec<u8>, _>(1)?)
                    .map_err(|e| corrupt(format!("certificate: {e}")))
            })
            .collect()
    }
}
