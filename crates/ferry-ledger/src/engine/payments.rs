//! Claims: offline payments uploaded by their receivers (or carried in envelopes), verified,
//! deduplicated on `(TA id, j)` and settled from the payer wallet's float.

use ferry_proto::cert::TaCertBody;
use ferry_proto::verify::verify_receipt;
use ferry_proto::{
    AccountId, ClientCertificate, EntryKind, Payment, PaymentId, Receipt, TaCertificate, TaId,
    UnixTime,
};

use ferry_proto::outcome::{Outcome, Reason};

use super::group::{Settled, Work};
use super::settler::{Debit, EntryRow, Recorded, Settler};
use super::{Engine, EngineError};
use crate::accounts::LedgerAccount;
use crate::kinds::{DebitKind, DebitState};

/// One payment as a receiver (or a bridge) submits it.
#[derive(Debug, Clone)]
pub struct PaymentSubmission {
    /// The payer wallet's certificate.
    pub ta_cert: TaCertificate,
    /// The payment (a Pay entry of the payer's journal).
    pub payment: Payment,
    /// The payee's receipt, when the submitter has it.
    pub receipt: Option<Receipt>,
}

/// A payment whose signatures and certificate checked out.
#[derive(Debug, Clone)]
pub(crate) struct CheckedPayment {
    pub sub: PaymentSubmission,
    pub cert: TaCertBody,
    pub ta: TaId,
    pub payee: AccountId,
}

impl Engine {
    /// Everything about a payment that needs no database: the issuer's signature on the payer's
    /// certificate, the wallet's signature, currency, limits and validity period.
    pub(crate) fn check_payment(&self, sub: PaymentSubmission) -> Result<CheckedPayment, Reason> {
        let cert = self
            .verified_cert(&sub.ta_cert)
            .ok_or(Reason::BadCertificate)?;
        let entry = sub
            .payment
            .verify(&cert.ta_key)
            .map_err(|_| Reason::BadSignature)?;
        let EntryKind::Pay { payee, .. } = entry.kind else {
            return Err(Reason::Malformed);
        };
        if entry.amount.currency() != cert.limits.currency
            || entry.amount.currency() != self.inner.config.currency
        {
            return Err(Reason::CurrencyMismatch);
        }
        if entry.amount.minor() > cert.limits.max_payment {
            return Err(Reason::OverPaymentLimit);
        }
        if entry.time < cert.issued_at || entry.time >= cert.expires_at {
            return Err(Reason::OutsideCertificateValidity);
        }
        let ta = cert.ta_id();
        Ok(CheckedPayment {
            sub,
            cert,
            ta,
            payee,
        })
    }

    /// Checks many payments, on every core for large batches.
    pub(crate) async fn check_payments(
        &self,
        subs: Vec<PaymentSubmission>,
    ) -> Result<Vec<Result<CheckedPayment, Reason>>, EngineError> {
        self.parallel_map(subs, |engine, s| engine.check_payment(s))
            .await
    }

    /// OPS Claim: settles a batch of payments, one outcome per item, atomically (in one
    /// transaction, which concurrent requests may share: see `group`).
    pub async fn claim(
        &self,
        subs: Vec<PaymentSubmission>,
        now: UnixTime,
    ) -> Result<Vec<Outcome>, EngineError> {
        let checked = self.check_payments(subs).await?;
        match self.settle_grouped(Work::Claims(checked), now).await? {
            Settled::Claims(outcomes) => Ok(outcomes),
            other => Err(other.mismatch()),
        }
    }
}

impl Settler<'_> {
    /// Settles checked payments (invalid ones keep their reason). `credit_to` overrides where
    /// the payments credit (a collecting wallet's float).
    pub(crate) async fn settle_payments(
        &mut self,
        items: &[Result<CheckedPayment, Reason>],
        credit_to: Option<&LedgerAccount>,
    ) -> Result<Vec<Outcome>, EngineError> {
        let mut outcomes: Vec<Outcome> = items
            .iter()
            .map(|r| match r {
                Ok(_) => Outcome::Settled,
                Err(reason) => Outcome::Invalid(*reason),
            })
            .collect();
        let valid: Vec<(usize, &CheckedPayment)> = items
            .iter()
            .enumerate()
            .filter_map(|(i, r)| r.as_ref().ok().map(|c| (i, c)))
            .collect();
        // Receipts are optional; a receipt that is present must be right.
        let mut payee_certs: std::collections::HashMap<AccountId, Option<ClientCertificate>> =
            std::collections::HashMap::new();
        let mut ok = Vec::with_capacity(valid.len());
        for (i, c) in valid {
            if let Some(receipt) = &c.sub.receipt {
                if let std::collections::hash_map::Entry::Vacant(slot) = payee_certs.entry(c.payee)
                {
                    slot.insert(self.client_certificate(c.payee).await?);
                }
                let good = payee_certs
                    .get(&c.payee)
                    .and_then(|x| x.as_ref())
                    .is_some_and(|cert| {
                        verify_receipt(receipt, &c.sub.payment, cert, &self.inner.issuers).is_ok()
                    });
                if !good {
                    outcomes[i] = Outcome::Invalid(Reason::BadReceipt);
                    continue;
                }
            }
            ok.push((i, c));
        }
        let rows: Vec<EntryRow> = ok
            .iter()
            .map(|(_, c)| EntryRow {
                ta: c.ta,
                entry: c.sub.payment.entry().clone(),
            })
            .collect();
        let recorded = self.record_entries(&rows).await?;
        // Lock every account the batch may touch up front, in one sorted pass.
        let new_ids: Vec<PaymentId> = ok
            .iter()
            .zip(&recorded)
            .filter(|(_, r)| matches!(r, Recorded::New))
            .map(|((_, c), _)| c.sub.payment.id(c.ta))
            .collect();
        let collectors = self.collectors_of(&new_ids).await?;
        let currency = self.inner.config.currency;
        let mut accounts = Vec::with_capacity(2 * ok.len() + 1);
        if self.inner.config.fees.payment_bps > 0 {
            // Every fee-paying batch writes this one row: lock it only when fees are charged.
            accounts.push((LedgerAccount::Fees, currency));
        }
        for (_, c) in &ok {
            accounts.push((LedgerAccount::Float(c.ta), currency));
            accounts.push((LedgerAccount::Online(c.payee), currency));
        }
        accounts.extend(
            collectors
                .values()
                .map(|t| (LedgerAccount::Float(*t), currency)),
        );
        if let Some(to) = credit_to {
            accounts.push((to.clone(), currency));
        }
        self.ledger.lock(&mut self.tx, &accounts).await?;
        for ((i, c), rec) in ok.into_iter().zip(recorded) {
            outcomes[i] = match rec {
                Recorded::Conflict(other) => {
                    self.open_fork_case(&c.sub.ta_cert, &c.cert, &other, c.sub.payment.entry())
                        .await?;
                    // Its receiver accepted a valid-looking payment: pay it from the case.
                    self.payout_conflicting(c.ta, &c.sub.payment).await?
                }
                Recorded::Known => self.settle_payment(c, credit_to).await?,
                Recorded::New => {
                    let id = c.sub.payment.id(c.ta);
                    let to = match credit_to {
                        Some(to) => to.clone(),
                        None => collectors
                            .get(&id)
                            .map_or(LedgerAccount::Online(c.payee), |t| LedgerAccount::Float(*t)),
                    };
                    self.new_payment_debit(c, to).await?
                }
            };
        }
        Ok(outcomes)
    }

    async fn new_payment_debit(
        &mut self,
        c: &CheckedPayment,
        credit_to: LedgerAccount,
    ) -> Result<Outcome, EngineError> {
        let debit = Debit {
            id: c.sub.payment.id(c.ta),
            kind: DebitKind::Payment,
            payer_account: c.cert.account_id,
            payee_account: c.payee,
            amount: c.sub.payment.amount(),
            hash: c.sub.payment.hash(),
            credit_to,
        };
        self.new_debit(debit).await
    }

    /// The collecting wallets of the payments `ids`, where known.
    async fn collectors_of(
        &mut self,
        ids: &[PaymentId],
    ) -> Result<std::collections::HashMap<PaymentId, TaId>, EngineError> {
        Ok(self.tx.collectors_of(ids).await?)
    }

    /// Settles one payment whose entry is recorded (new, or known from an earlier delivery).
    async fn settle_payment(
        &mut self,
        c: &CheckedPayment,
        credit_to: Option<&LedgerAccount>,
    ) -> Result<Outcome, EngineError> {
        let id = c.sub.payment.id(c.ta);
        if let Some((status, debit)) = self.stored_debit(id).await? {
            // Known: report what it is; a collecting wallet may still redirect a pending one.
            if let Some(to) = credit_to
                && status == DebitState::Pending
                && &debit.credit_to != to
            {
                self.redirect_debit(id, to).await?;
            }
            return Ok(Outcome::Duplicate);
        }
        let credit_to = match credit_to {
            Some(to) => to.clone(),
            None => self
                .collector_of(id)
                .await?
                .map_or(LedgerAccount::Online(c.payee), LedgerAccount::Float),
        };
        self.new_payment_debit(c, credit_to).await
    }

    /// The wallet that collected payment `id`, if its Collect entry has been synced.
    pub(crate) async fn collector_of(
        &mut self,
        id: PaymentId,
    ) -> Result<Option<TaId>, EngineError> {
        Ok(self.tx.collector_of(id).await?)
    }

    /// The client certificate of `account`, read inside the transaction.
    pub(crate) async fn client_certificate(
        &mut self,
        account: AccountId,
    ) -> Result<Option<ClientCertificate>, EngineError> {
        Ok(self.tx.client_certificate(account).await?)
    }
}
