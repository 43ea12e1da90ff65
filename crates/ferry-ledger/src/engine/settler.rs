//! One settlement transaction: the database transaction, the in-memory ledger batch, and the
//! steps every kind of item shares — recording journal entries (dedupe and fork detection),
//! settling float debits, opening fraud cases, and settling what a newly funded float unblocks.

use std::collections::{BTreeSet, HashMap};

use ferry_proto::cert::TaCertBody;
use ferry_proto::fraud::FraudProof;
use ferry_proto::outcome::{Outcome, Reason};
use ferry_proto::{
    AccountId, Currency, Money, PaymentId, SignedEntry, TaCertificate, TaId, UnixTime,
};
use ferry_ussd::sms::{Notice, NoticeKind};

use super::{EngineError, Inner, fee, push_fee};
use crate::accounts::LedgerAccount;
use crate::kinds::{CaseKind, DebitKind, DebitState};
pub(crate) use crate::store::{Case, Debit, EntryRow, Recorded};
use crate::store::{Durable, LedgerBatch, NewCase, PhoneRow, StoreError, WriteTx};
use crate::transfer::{Posting, Transfer};

/// One settlement transaction.
pub(crate) struct Settler<'e> {
    pub inner: &'e Inner,
    pub tx: WriteTx,
    pub ledger: LedgerBatch,
    pub now: UnixTime,
    /// Floats credited in this transaction: their pending debits may now settle.
    funded: BTreeSet<TaId>,
    cases: HashMap<TaId, Option<Case>>,
    /// Debits decided in this transaction, written together before commit.
    new_debits: Vec<(Debit, DebitState)>,
    /// Payments settled onto an online balance in this transaction: an SMS to its phone, if
    /// the account has one.
    credited_online: Vec<(AccountId, PaymentId, Money)>,
    /// Payments settled in this transaction, by payer account (for their SMS notices).
    paid: Vec<(AccountId, PaymentId, Money)>,
    pub opened_cases: Vec<i64>,
}

impl<'e> Settler<'e> {
    pub async fn begin(inner: &'e Inner, now: UnixTime) -> Result<Settler<'e>, EngineError> {
        let tx = inner.store.begin().await?;
        Ok(Settler {
            inner,
            tx,
            ledger: LedgerBatch::new(inner.store.dialect(), now),
            now,
            funded: BTreeSet::new(),
            cases: HashMap::new(),
            new_debits: Vec::new(),
            credited_online: Vec::new(),
            paid: Vec::new(),
            opened_cases: Vec::new(),
        })
    }

    /// Settles what newly funded floats unblock, writes everything, and commits; returns once
    /// the commit is durable.
    pub async fn commit(self) -> Result<Vec<i64>, EngineError> {
        let (cases, durable) = self.commit_written().await?;
        durable.wait().await.map_err(StoreError::from)?;
        Ok(cases)
    }

    /// As [`Self::commit`], but returns as soon as the commit is written (the next
    /// transaction may start); nothing may be acknowledged before the [`Durable`] says so.
    pub async fn commit_written(mut self) -> Result<(Vec<i64>, Durable), EngineError> {
        self.cascade().await?;
        self.write_debits().await?;
        self.queue_payment_notices().await?;
        let ledger = std::mem::replace(
            &mut self.ledger,
            LedgerBatch::new(self.inner.store.dialect(), self.now),
        );
        ledger.flush(&mut self.tx).await?;
        let durable = self.tx.commit_written().await?;
        Ok((self.opened_cases, durable))
    }

    /// Records journal entries: new, known, or in conflict with a stored one (a fork).
    pub async fn record_entries(
        &mut self,
        rows: &[EntryRow],
    ) -> Result<Vec<Recorded>, EngineError> {
        Ok(self.tx.record_entries(rows).await?)
    }

    /// The stored entry of `ta` at `j`, if any.
    pub async fn stored_entry(
        &mut self,
        ta: TaId,
        j: u32,
    ) -> Result<Option<SignedEntry>, EngineError> {
        Ok(self.tx.entry_at(ta, j).await?)
    }

    /// The open fraud case against `ta`, if any.
    pub async fn case(&mut self, ta: TaId) -> Result<Option<Case>, EngineError> {
        if let Some(c) = self.cases.get(&ta) {
            return Ok(*c);
        }
        let case = self.tx.case(ta).await?;
        self.cases.insert(ta, case);
        Ok(case)
    }

    /// Opens a fraud case against the wallet `cert` certifies (once; later evidence is ignored):
    /// the wallet is revoked, and its unfunded payments are paid from bond and insurance.
    pub async fn open_case(
        &mut self,
        cert: &TaCertBody,
        kind: CaseKind,
        evidence: Option<Vec<u8>>,
        detail: &str,
    ) -> Result<(), EngineError> {
        let ta = cert.ta_id();
        if self.case(ta).await?.is_some() {
            return Ok(());
        }
        let opened = self
            .tx
            .insert_case(
                NewCase {
                    cert,
                    kind,
                    evidence,
                    detail,
                },
                self.now,
            )
            .await?;
        self.cases.remove(&ta);
        if let Some(id) = opened {
            self.opened_cases.push(id);
        }
        // Pending payments of the wallet are now owed from bond and insurance.
        self.funded.insert(ta);
        Ok(())
    }

    /// Opens a fork case from two conflicting entries signed by the wallet.
    pub async fn open_fork_case(
        &mut self,
        ta_cert: &TaCertificate,
        cert: &TaCertBody,
        a: &SignedEntry,
        b: &SignedEntry,
    ) -> Result<(), EngineError> {
        match FraudProof::detect(ta_cert, a, b) {
            Some(proof) => {
                let detail = format!(
                    "two entries signed at position {} / {}",
                    proof.first.unverified().j,
                    proof.second.unverified().j
                );
                self.open_case(
                    cert,
                    CaseKind::Fork,
                    Some(ferry_proto::Message::to_bytes(&proof)),
                    &detail,
                )
                .await
            }
            // Not signed by the wallet: nothing proves the wallet forked.
            None => Ok(()),
        }
    }

    /// Marks `ta`'s float as credited, so its pending debits are retried before commit.
    pub fn funded(&mut self, ta: TaId) {
        self.funded.insert(ta);
    }

    /// Decides a new debit now (settled, pending or rejected) and queues its row.
    pub async fn new_debit(&mut self, debit: Debit) -> Result<Outcome, EngineError> {
        let outcome = self.settle_debit(&debit).await?;
        match outcome {
            Outcome::Settled => self.new_debits.push((debit, DebitState::Settled)),
            Outcome::Pending(_) => self.new_debits.push((debit, DebitState::Pending)),
            _ => {}
        }
        Ok(outcome)
    }

    /// Tries to settle `debit` from its wallet's float (or, if the wallet is revoked, from the
    /// holder's bond and the insurance fund up to the certified exposure). Buffers the transfer.
    async fn settle_debit(&mut self, d: &Debit) -> Result<Outcome, EngineError> {
        let currency = d.amount.currency();
        let amount = d.amount.minor();
        let to_float = matches!(
            d.credit_to,
            LedgerAccount::Float(_) | LedgerAccount::InTransit(_)
        );
        let bps = match d.kind {
            // Value moving wallet to wallet stays whole: the collecting wallet's journal
            // credits the full amount, and its float must match.
            DebitKind::Payment if to_float => 0,
            DebitKind::Payment => self.inner.config.fees.payment_bps,
            DebitKind::Withdrawal => self.inner.config.fees.withdraw_bps,
        };
        let fee = fee(d.amount, bps);
        let float_account = LedgerAccount::Float(d.id.ta);
        let float = self
            .ledger
            .balance(&mut self.tx, &float_account, currency)
            .await?;
        let mut postings = Vec::with_capacity(5);
        let mut covered_now = 0;
        if float >= amount {
            postings.push(Posting::debit(float_account, amount));
        } else {
            let Some(case) = self.case(d.id.ta).await? else {
                return Ok(Outcome::Pending(Reason::PayerNotSynced));
            };
            if d.kind == DebitKind::Withdrawal {
                return Ok(Outcome::Rejected(Reason::Revoked));
            }
            if float > 0 {
                postings.push(Posting::debit(float_account, float));
            }
            let need = amount - float.max(0);
            match self.cover(d.id.ta, case, need, currency).await? {
                Ok(cover) => postings.extend(cover),
                Err(outcome) => return Ok(outcome),
            }
            covered_now = need;
        }
        postings.push(Posting::credit(d.credit_to.clone(), amount - fee));
        push_fee(&mut postings, fee);
        let transfer = Transfer {
            reference: format!("{}:{}", d.kind.as_str(), d.id),
            kind: d.kind.as_str(),
            currency,
            postings,
        };
        match self.ledger.post(&mut self.tx, &transfer).await {
            Ok(()) => {}
            Err(StoreError::InsufficientFunds { .. }) if covered_now == 0 => {
                return Ok(Outcome::Pending(Reason::PayerNotSynced));
            }
            Err(e) => return Err(e.into()),
        }
        match d.credit_to {
            LedgerAccount::Float(collector) => {
                self.funded.insert(collector);
            }
            LedgerAccount::Online(account) if d.kind == DebitKind::Payment => {
                self.credited_online
                    .push((account, d.id, Money::new(amount - fee, currency)));
            }
            _ => {}
        }
        if d.kind == DebitKind::Payment {
            self.paid.push((d.payer_account, d.id, d.amount));
        }
        Ok(Outcome::Settled)
    }

    /// Queues, in this transaction, an SMS for each payment settled onto the online balance
    /// of an account with a phone number (a feature-phone account, or a smartphone wallet that
    /// linked one), and one to the payer's number for each payment that settled, once per
    /// payment each.
    async fn queue_payment_notices(&mut self) -> Result<(), EngineError> {
        if self.credited_online.is_empty() && self.paid.is_empty() {
            return Ok(());
        }
        let credited = std::mem::take(&mut self.credited_online);
        let paid = std::mem::take(&mut self.paid);
        let mut accounts: Vec<AccountId> = credited
            .iter()
            .chain(paid.iter())
            .map(|(a, _, _)| *a)
            .collect();
        accounts.sort_unstable();
        accounts.dedup();
        let phones: HashMap<AccountId, PhoneRow> = self
            .tx
            .phones_of_accounts(&accounts)
            .await?
            .into_iter()
            .map(|row| (row.account, row))
            .collect();
        for (account, id, amount) in credited {
            let Some(holder) = phones.get(&account) else {
                continue;
            };
            let balance = self
                .ledger
                .balance(
                    &mut self.tx,
                    &LedgerAccount::Online(account),
                    amount.currency(),
                )
                .await?;
            let notice = Notice {
                event_id: format!("payment-settled:{id}"),
                to: holder.phone.clone(),
                language: holder.language,
                kind: NoticeKind::PaymentSettled {
                    amount,
                    balance: Money::new(balance, amount.currency()),
                },
            };
            self.tx.enqueue_sms(&notice, self.now).await?;
        }
        for (account, id, amount) in paid {
            let Some(holder) = phones.get(&account) else {
                continue;
            };
            let notice = Notice {
                event_id: format!("payment-sent-settled:{id}"),
                to: holder.phone.clone(),
                language: holder.language,
                kind: NoticeKind::PaymentSentSettled { amount },
            };
            self.tx.enqueue_sms(&notice, self.now).await?;
        }
        Ok(())
    }

    /// Postings that take `need` from the revoked wallet's holder's bond, then from the
    /// insurance fund, within the case's remaining exposure (and record it as covered).
    async fn cover(
        &mut self,
        ta: TaId,
        case: Case,
        need: i64,
        currency: Currency,
    ) -> Result<Result<Vec<Posting>, Outcome>, EngineError> {
        if case.covered.saturating_add(need) > case.exposure {
            return Ok(Err(Outcome::Rejected(Reason::ExposureExhausted)));
        }
        let bond_account = LedgerAccount::Bond(case.account);
        let bond = self
            .ledger
            .balance(&mut self.tx, &bond_account, currency)
            .await?;
        let from_bond = bond.clamp(0, need);
        let from_insurance = need - from_bond;
        let insurance = self
            .ledger
            .balance(&mut self.tx, &LedgerAccount::Insurance, currency)
            .await?;
        if from_insurance > insurance {
            return Ok(Err(Outcome::Pending(Reason::ExposureExhausted)));
        }
        let mut postings = Vec::with_capacity(2);
        if from_bond > 0 {
            postings.push(Posting::debit(bond_account, from_bond));
        }
        if from_insurance > 0 {
            postings.push(Posting::debit(LedgerAccount::Insurance, from_insurance));
        }
        self.set_covered(ta, case, need).await?;
        Ok(Ok(postings))
    }

    /// Pays the receiver of a payment that conflicts with one already recorded (the other
    /// branch of a fork) from bond and insurance: the receiver accepted a valid-looking payment.
    pub async fn payout_conflicting(
        &mut self,
        ta: TaId,
        payment: &ferry_proto::Payment,
    ) -> Result<Outcome, EngineError> {
        let Some(case) = self.case(ta).await? else {
            return Ok(Outcome::Invalid(Reason::Fork));
        };
        let hash = payment.hash();
        let amount = payment.amount();
        if !self.tx.insert_payout(ta, payment, self.now).await? {
            return Ok(Outcome::Duplicate);
        }
        let mut postings = match self
            .cover(ta, case, amount.minor(), amount.currency())
            .await?
        {
            Ok(p) => p,
            Err(outcome) => {
                // Not paid: release the identity so a later delivery can be paid.
                self.tx.delete_payout(hash).await?;
                return Ok(outcome);
            }
        };
        postings.push(Posting::credit(
            LedgerAccount::Online(payment.payee()),
            amount.minor(),
        ));
        let transfer = Transfer {
            reference: format!("payout:{}", hash.to_hex()),
            kind: "fraud_payout",
            currency: amount.currency(),
            postings,
        };
        self.ledger.post(&mut self.tx, &transfer).await?;
        Ok(Outcome::Settled)
    }

    async fn set_covered(&mut self, ta: TaId, case: Case, add: i64) -> Result<(), EngineError> {
        let covered = case.covered + add;
        self.tx.set_covered(case.id, covered).await?;
        self.cases.insert(ta, Some(Case { covered, ..case }));
        Ok(())
    }

    async fn write_debits(&mut self) -> Result<(), EngineError> {
        let debits = std::mem::take(&mut self.new_debits);
        self.tx.insert_debits(&debits, self.now).await?;
        Ok(())
    }

    /// The stored debit with identity `id`, and its status.
    pub async fn stored_debit(
        &mut self,
        id: PaymentId,
    ) -> Result<Option<(DebitState, Debit)>, EngineError> {
        if let Some((d, status)) = self.new_debits.iter().find(|(d, _)| d.id == id) {
            return Ok(Some((*status, d.clone())));
        }
        Ok(self.tx.debit(id).await?)
    }

    /// Points a debit at a new account (a wallet collected the payment), whether it is still
    /// in this transaction's buffer or stored.
    pub async fn redirect_debit(
        &mut self,
        id: PaymentId,
        to: &LedgerAccount,
    ) -> Result<(), EngineError> {
        if let Some((d, _)) = self.new_debits.iter_mut().find(|(d, _)| d.id == id) {
            d.credit_to = to.clone();
            return Ok(());
        }
        self.tx.set_debit_credit(id, to).await?;
        Ok(())
    }

    /// Settles, in journal order, the pending debits of every float credited in this
    /// transaction (and of floats those settlements credit in turn).
    async fn cascade(&mut self) -> Result<(), EngineError> {
        self.write_debits().await?;
        // Terminates: a float is re-queued only when one of the finitely many pending debits
        // settles.
        while let Some(ta) = self.funded.pop_first() {
            for debit in self.tx.pending_debits(ta).await? {
                match self.settle_debit(&debit).await? {
                    Outcome::Settled => self.tx.mark_debit_settled(debit.id, self.now).await?,
                    // Debits settle in journal order: stop at the first that cannot.
                    _ => break,
                }
            }
        }
        Ok(())
    }
}
