//! Deferred orders (the mesh design's IOU): settle if the payer's online balance covers them
//! when they arrive, else `rejected{insufficient_funds}`. The receiver has no guarantee.

use ferry_proto::UnixTime;
use ferry_proto::order::{FreshnessError, OrderError, SignedOrder, check_freshness, verify_order};
use ferry_proto::verify::verify_client_cert;

use super::group::{Settled, Work};
use super::settler::Settler;
use super::{Engine, EngineError, fee, push_fee};
use crate::accounts::LedgerAccount;
use crate::store::StoreError;
use crate::transfer::{Posting, Transfer};
use ferry_proto::outcome::{Outcome, Reason};

impl Engine {
    /// Settles a batch of deferred orders, one outcome each, atomically (in one transaction,
    /// which concurrent requests may share: see `group`).
    pub async fn submit_orders(
        &self,
        orders: Vec<SignedOrder>,
        now: UnixTime,
    ) -> Result<Vec<Outcome>, EngineError> {
        match self.settle_grouped(Work::Orders(orders), now).await? {
            Settled::Orders(outcomes) => Ok(outcomes),
            other => Err(other.mismatch()),
        }
    }
}

impl Settler<'_> {
    /// Verifies and settles one order.
    pub(crate) async fn settle_order(
        &mut self,
        order: &SignedOrder,
    ) -> Result<Outcome, EngineError> {
        let claimed = order.unverified();
        let config = &self.inner.config;
        // Freshness first: it needs no lookup, and a stale order is refused whoever signed it.
        match check_freshness(
            claimed.signed_at,
            self.now,
            config.order_max_age_secs,
            config.order_max_skew_secs,
        ) {
            Ok(()) => {}
            Err(FreshnessError::Stale { .. }) => return Ok(Outcome::Invalid(Reason::Expired)),
            Err(FreshnessError::FromFuture { .. }) => {
                return Ok(Outcome::Invalid(Reason::FromFuture));
            }
        }
        let Some(cert) = self.client_certificate(claimed.from).await? else {
            return Ok(Outcome::Invalid(Reason::UnknownPayer));
        };
        let Ok(cert) = verify_client_cert(&cert, &self.inner.issuers, claimed.signed_at) else {
            return Ok(Outcome::Invalid(Reason::BadCertificate));
        };
        let body = match verify_order(
            order,
            &cert.account_key,
            self.now,
            config.order_max_age_secs,
            config.order_max_skew_secs,
        ) {
            Ok(b) => b,
            Err(OrderError::BadSignature) => return Ok(Outcome::Invalid(Reason::BadSignature)),
            Err(OrderError::Freshness(FreshnessError::Stale { .. })) => {
                return Ok(Outcome::Invalid(Reason::Expired));
            }
            Err(OrderError::Freshness(FreshnessError::FromFuture { .. })) => {
                return Ok(Outcome::Invalid(Reason::FromFuture));
            }
        };
        if body.amount.currency() != config.currency {
            return Ok(Outcome::Invalid(Reason::CurrencyMismatch));
        }
        if body.amount.minor() <= 0 {
            return Ok(Outcome::Invalid(Reason::Malformed));
        }
        if self.client_certificate(body.to).await?.is_none() {
            return Ok(Outcome::Rejected(Reason::UnknownPayee));
        }
        let id = body.id();
        if !self.tx.insert_order(&id, body, self.now).await? {
            return Ok(Outcome::Duplicate);
        }
        let amount = body.amount.minor();
        let fee = fee(body.amount, config.fees.order_bps);
        let mut postings = vec![
            Posting::debit(LedgerAccount::Online(body.from), amount),
            Posting::credit(LedgerAccount::Online(body.to), amount - fee),
        ];
        push_fee(&mut postings, fee);
        let transfer = Transfer {
            reference: format!("order:{id}"),
            kind: "order",
            currency: body.amount.currency(),
            postings,
        };
        match self.ledger.post(&mut self.tx, &transfer).await {
            Ok(()) => Ok(Outcome::Settled),
            Err(StoreError::InsufficientFunds { .. }) => {
                // Not settled: release the identity so the order can settle on a retry.
                self.tx.delete_order(&id).await?;
                Ok(Outcome::Rejected(Reason::InsufficientFunds))
            }
            Err(e) => Err(e.into()),
        }
    }
}
