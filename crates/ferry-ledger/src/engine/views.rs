//! What the API shows: payment status for both parties, account balances, fraud cases, the
//! revoked wallets; and the periodic sweep that turns unfunded payments of wallets past their
//! sync deadline into fraud cases.

use ferry_proto::{AccountId, Money, PaymentId, TaId, UnixTime};

use super::settler::Settler;
use super::{Engine, EngineError, retry_transient};
use crate::accounts::LedgerAccount;
use crate::kinds::{CaseKind, DebitKind, DebitState};
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

pub use crate::store::FraudCase;

impl Engine {
    /// The status of payment (or withdrawal) `id`, if the server knows it.
    pub async fn payment_status(
        &self,
        id: PaymentId,
    ) -> Result<Option<PaymentStatus>, EngineError> {
        Ok(self
            .inner
            .store
            .debit_record(id)
            .await?
            .map(|r| PaymentStatus {
                id,
                kind: r.kind,
                status: r.status,
                amount: r.amount,
                payer: r.payer,
                payee: r.payee,
                credited: r.credited,
                received_at: r.received_at,
                settled_at: r.settled_at,
            }))
    }

    /// Payments to `payee`, settled or pending, in the order the server saw them: at most
    /// `limit` after `after` (a payee learns this way of payments made while it was absent,
    /// such as remote payments carried by the mesh).
    pub async fn received_payments(
        &self,
        payee: AccountId,
        after: Option<crate::store::ReceivedCursor>,
        limit: u32,
    ) -> Result<Vec<crate::store::ReceivedRow>, EngineError> {
        Ok(self
            .inner
            .store
            .received_payments(payee, after, limit)
            .await?)
    }

    /// The balances of `account`, or `None` if it is not registered.
    pub async fn account_view(
        &self,
        account: AccountId,
    ) -> Result<Option<AccountView>, EngineError> {
        let store = &self.inner.store;
        let c = self.inner.config.currency;
        if store.client_certificate(account).await?.is_none() {
            return Ok(None);
        }
        let online = store.balance(&LedgerAccount::Online(account), c).await?;
        let bond = store.balance(&LedgerAccount::Bond(account), c).await?;
        let mut wallets = Vec::new();
        for w in store.wallets_of(account).await? {
            let float = store.balance(&LedgerAccount::Float(w.ta), c).await?;
            wallets.push(WalletView {
                ta: w.ta,
                float: Money::new(float, c),
                next_j: w.next_j,
                revoked: w.revoked,
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
        Ok(self.inner.store.fraud_cases().await?)
    }

    /// Opens a fraud case for every wallet that still has unfunded payments after its sync
    /// deadline plus the grace period, which pays its receivers from bond and insurance.
    /// Returns the cases opened.
    pub async fn sweep(&self, now: UnixTime) -> Result<Vec<i64>, EngineError> {
        let mut overdue = Vec::new();
        for cert in self.inner.store.wallets_with_pending_debits().await? {
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
        let revoked = self.inner.store.revoked_wallets().await?;
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
    let revoked = store.revoked_wallets().await?;
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
