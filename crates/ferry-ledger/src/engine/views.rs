//! What the API shows: payment status for both parties, account balances, fraud cases, the
//! revoked wallets; and the periodic sweep that turns unfunded payments of wallets past their
//! sync deadline into fraud cases.

use ferry_proto::{AccountId, Currency, Money, PaymentId, TaCertificate, TaId, UnixTime};
use sqlx::Row;

use super::kinds::{CaseKind, DebitKind, DebitState};
use super::settler::{Settler, account_id, ta_id};
use super::{Engine, EngineError, retry_transient};
use crate::accounts::LedgerAccount;
use crate::store::Store;

/// A payment's (or withdrawal's) final status, as either party may ask for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaymentStatus {
    /// Its identity.
    pub id: PaymentId,
    /// What it paid for.
    pub kind: DebitKind,
    /// Where it stands.
    pub status: DebitState,
    /// The amount the payer's wallet signed.
    pub amount: Money,
    /// The payer.
    pub payer: AccountId,
    /// The payee.
    pub payee: AccountId,
    /// The ledger account credited (`online:…` or a collecting wallet's `float:…`).
    pub credited: String,
    /// When the server first saw it.
    pub received_at: UnixTime,
    /// When it settled.
    pub settled_at: Option<UnixTime>,
}

/// One of an account's secure wallets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WalletView {
    /// The wallet.
    pub ta: TaId,
    /// Its float on the ledger.
    pub float: Money,
    /// The next journal position the server expects.
    pub next_j: u32,
    /// Whether it is revoked.
    pub revoked: bool,
}

/// An account's balances.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountView {
    /// The account.
    pub account: AccountId,
    /// Its online balance.
    pub online: Money,
    /// Its penalty bond.
    pub bond: Money,
    /// Its secure wallets.
    pub wallets: Vec<WalletView>,
}

/// A fraud case.
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

fn currency(numeric: i32) -> Result<Currency, EngineError> {
    u16::try_from(numeric)
        .ok()
        .and_then(|n| Currency::from_numeric(n).ok())
        .ok_or_else(|| EngineError::Corrupt("currency".into()))
}

fn time(v: i64) -> UnixTime {
    UnixTime(u64::try_from(v).unwrap_or(0))
}

/// Every revoked wallet.
pub(crate) async fn revoked_wallets(store: &Store) -> Result<Vec<TaId>, EngineError> {
    sqlx::query("SELECT ta_id FROM fraud_cases ORDER BY ta_id")
        .fetch_all(store.pool())
        .await?
        .iter()
        .map(|r| ta_id(&r.try_get::<Vec<u8>, _>(0)?))
        .collect()
}

/// Whether `ta` is revoked.
pub(crate) async fn is_revoked(store: &Store, ta: TaId) -> Result<bool, EngineError> {
    Ok(sqlx::query("SELECT id FROM fraud_cases WHERE ta_id = $1")
        .bind(ta.as_bytes().to_vec())
        .fetch_optional(store.pool())
        .await?
        .is_some())
}

impl Engine {
    /// The status of payment (or withdrawal) `id`, if the server knows it.
    pub async fn payment_status(
        &self,
        id: PaymentId,
    ) -> Result<Option<PaymentStatus>, EngineError> {
        let row = sqlx::query(
            "SELECT kind, status, amount, currency, payer_account, payee_account, credit_to,
                    received_at, settled_at
             FROM debits WHERE ta_id = $1 AND j = $2",
        )
        .bind(id.ta.as_bytes().to_vec())
        .bind(i64::from(id.j))
        .fetch_optional(self.inner.store.pool())
        .await?;
        let Some(r) = row else { return Ok(None) };
        Ok(Some(PaymentStatus {
            id,
            kind: DebitKind::from_name(&r.try_get::<String, _>(0)?)
                .ok_or_else(|| EngineError::Corrupt("debit kind".into()))?,
            status: DebitState::from_name(&r.try_get::<String, _>(1)?)
                .ok_or_else(|| EngineError::Corrupt("debit status".into()))?,
            amount: Money::new(r.try_get(2)?, currency(r.try_get(3)?)?),
            payer: account_id(&r.try_get::<Vec<u8>, _>(4)?)?,
            payee: account_id(&r.try_get::<Vec<u8>, _>(5)?)?,
            credited: r.try_get(6)?,
            received_at: time(r.try_get(7)?),
            settled_at: r.try_get::<Option<i64>, _>(8)?.map(time),
        }))
    }

    /// The balances of `account`, or `None` if it is not registered.
    pub async fn account_view(
        &self,
        account: AccountId,
    ) -> Result<Option<AccountView>, EngineError> {
        let store = &self.inner.store;
        let c = self.inner.config.currency;
        if crate::registry::client_certificate(store, account)
            .await
            .map_err(|e| EngineError::Corrupt(e.to_string()))?
            .is_none()
        {
            return Ok(None);
        }
        let online = store.balance(&LedgerAccount::Online(account), c).await?;
        let bond = store.balance(&LedgerAccount::Bond(account), c).await?;
        let rows = sqlx::query(
            "SELECT w.ta_id, COALESCE(s.next_j, 1), f.id FROM wallets w
             LEFT JOIN wallet_sync s ON s.ta_id = w.ta_id
             LEFT JOIN fraud_cases f ON f.ta_id = w.ta_id
             WHERE w.account_id = $1 ORDER BY w.registered_at, w.ta_id",
        )
        .bind(account.as_bytes().to_vec())
        .fetch_all(store.pool())
        .await?;
        let mut wallets = Vec::with_capacity(rows.len());
        for r in rows {
            let ta = ta_id(&r.try_get::<Vec<u8>, _>(0)?)?;
            let float = store.balance(&LedgerAccount::Float(ta), c).await?;
            wallets.push(WalletView {
                ta,
                float: Money::new(float, c),
                next_j: u32::try_from(r.try_get::<i64, _>(1)?).unwrap_or(0),
                revoked: r.try_get::<Option<i64>, _>(2)?.is_some(),
            });
        }
        Ok(Some(AccountView {
            account,
            online: Money::new(online, c),
            bond: Money::new(bond, c),
            wallets,
        }))
    }

    /// Every fraud case, newest first.
    pub async fn fraud_cases(&self) -> Result<Vec<FraudCase>, EngineError> {
        let rows = sqlx::query(
            "SELECT id, ta_id, account_id, kind, detail, exposure, covered, currency, opened_at, evidence
             FROM fraud_cases ORDER BY id DESC",
        )
        .fetch_all(self.inner.store.pool())
        .await?;
        rows.iter()
            .map(|r| {
                let c = currency(r.try_get(7)?)?;
                Ok(FraudCase {
                    id: r.try_get(0)?,
                    ta: ta_id(&r.try_get::<Vec<u8>, _>(1)?)?,
                    account: account_id(&r.try_get::<Vec<u8>, _>(2)?)?,
                    kind: CaseKind::from_name(&r.try_get::<String, _>(3)?)
                        .ok_or_else(|| EngineError::Corrupt("case kind".into()))?,
                    detail: r.try_get(4)?,
                    exposure: Money::new(r.try_get(5)?, c),
                    covered: Money::new(r.try_get(6)?, c),
                    opened_at: time(r.try_get(8)?),
                    evidence: r.try_get(9)?,
                })
            })
            .collect()
    }

    /// Opens a fraud case for every wallet that still has unfunded payments after its sync
    /// deadline plus the grace period, which pays its receivers from bond and insurance.
    /// Returns the cases opened.
    pub async fn sweep(&self, now: UnixTime) -> Result<Vec<i64>, EngineError> {
        let rows = sqlx::query(
            "SELECT DISTINCT d.ta_id, w.certificate FROM debits d
             JOIN wallets w ON w.ta_id = d.ta_id
             WHERE d.status = 'pending'",
        )
        .fetch_all(self.inner.store.pool())
        .await?;
        let mut overdue = Vec::new();
        for r in rows {
            let cert = TaCertificate::from_bytes(&r.try_get::<Vec<u8>, _>(1)?)
                .map_err(|e| EngineError::Corrupt(format!("certificate: {e}")))?;
            let body = cert.unverified().clone();
            if now
                >= body
                    .limits
                    .sync_by
                    .plus_secs(self.inner.config.sync_grace_secs)
            {
                overdue.push(body);
            }
        }
        if overdue.is_empty() {
            return Ok(Vec::new());
        }
        retry_transient(|| async {
            let mut s = Settler::begin(&self.inner, now).await?;
            for cert in &overdue {
                s.open_case(
                    cert,
                    CaseKind::UnfundedAfterDeadline,
                    None,
                    "payments still unfunded after the wallet's sync deadline",
                )
                .await?;
            }
            s.commit().await
        })
        .await
    }

    /// Retries the pending payouts of every revoked wallet (after the insurance fund grew).
    pub(crate) async fn retry_fraud_payouts(&self, now: UnixTime) -> Result<(), EngineError> {
        let revoked = revoked_wallets(&self.inner.store).await?;
        retry_transient(|| async {
            let mut s = Settler::begin(&self.inner, now).await?;
            for ta in &revoked {
                s.funded(*ta);
            }
            s.commit().await.map(|_| ())
        })
        .await
    }

    /// The ledger audit ([`crate::store::Store::audit`]), where a float below zero is allowed
    /// only for a wallet with an open fraud case, and in-transit accounts (receivables) may be
    /// below zero.
    pub async fn audit(&self) -> Result<crate::store::Audit, EngineError> {
        audit(&self.inner.store).await
    }
}

/// The audit of the ledger in `store` (what [`Engine::audit`] runs; needs no keys).
pub async fn audit(store: &Store) -> Result<crate::store::Audit, EngineError> {
    let mut audit = store.audit().await?;
    let revoked = revoked_wallets(store).await?;
    // In-transit accounts are receivables (negative while a collected payment is
    // pending); a float may be negative only for a wallet with an open fraud case.
    audit
        .negative
        .retain(|(key, _, _)| match key.parse::<LedgerAccount>() {
            Ok(LedgerAccount::InTransit(_)) => false,
            Ok(LedgerAccount::Float(ta)) => !revoked.contains(&ta),
            _ => true,
        });
    Ok(audit)
}
