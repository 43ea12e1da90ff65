//! Sync: a secure wallet uploads its journal since its last sync. The server replays it from
//! where its copy stands with the same rules the wallet signs by ([`ChainPoint::apply`]):
//! deposits must match the authorizations issued, withdrawals move value online, payments
//! debit the float, collects move value from the payer's float into this wallet's. A fork or a
//! broken rule in a signed, chained entry opens a fraud case.

use ferry_proto::cert::{TaCertBody, Tier};
use ferry_proto::verify::{ChainPoint, JournalRule};
use ferry_proto::{
    EntryKind, Hash32, Money, PaymentId, SignedEntry, TaCertificate, TaId, UnixTime,
};

use ferry_proto::outcome::{Outcome, Reason};

use super::group::{JournalWork, Settled, Work};
use super::payments::{CheckedPayment, PaymentSubmission};
use super::settler::{Debit, EntryRow, Recorded, Settler};
use super::{Engine, EngineError, fee};
use crate::accounts::LedgerAccount;
use crate::kinds::{CaseKind, DebitKind, DebitState, DepositState};
use crate::transfer::{Posting, Transfer};

/// A journal upload.
#[derive(Debug, Clone)]
pub struct JournalUpload {
    /// The wallet's certificate.
    pub ta_cert: TaCertificate,
    /// Consecutive entries, in journal order; entries the server has are skipped.
    pub entries: Vec<SignedEntry>,
    /// The payments this wallet collected in these entries (the server needs their bytes to
    /// settle them, unless it has them already).
    pub collected: Vec<PaymentSubmission>,
}

/// What a sync did.
#[derive(Debug, Clone)]
pub struct SyncReport {
    /// The wallet.
    pub ta: TaId,
    /// The position the server expects next.
    pub next_j: u32,
    /// The offline balance the verified journal leaves.
    pub balance: Money,
    /// The last deposit/withdraw serial applied.
    pub last_serial: u32,
    /// One outcome per uploaded entry that was looked at, by position.
    pub entries: Vec<(u32, Outcome)>,
    /// Where and why processing stopped early.
    pub stopped: Option<(u32, Reason)>,
    /// A fraud case opened by this upload.
    pub fraud_case: Option<i64>,
    /// A renewed certificate with a new sync deadline (none for a revoked wallet).
    pub certificate: Option<TaCertificate>,
}

impl Engine {
    /// Verifies and applies a journal upload atomically (in one transaction, which concurrent
    /// requests may share: see `group`).
    pub async fn sync_journal(
        &self,
        upload: JournalUpload,
        now: UnixTime,
    ) -> Result<Result<SyncReport, Reason>, EngineError> {
        let Some(cert) = self.verified_cert(&upload.ta_cert) else {
            return Ok(Err(Reason::BadCertificate));
        };
        if cert.limits.currency != self.inner.config.currency {
            return Ok(Err(Reason::CurrencyMismatch));
        }
        let collected = self.check_payments(upload.collected.clone()).await?;
        let signed_by_wallet = signatures(self, &upload.entries, &cert).await?;
        let work = Work::Journal(Box::new(JournalWork {
            upload,
            cert,
            signed_by_wallet,
            collected,
        }));
        match self.settle_grouped(work, now).await? {
            Settled::Journal(report) => Ok(Ok(*report)),
            other => Err(other.mismatch()),
        }
    }

    /// A renewed certificate for an honest wallet after a sync: same key and account, limits of
    /// its tier, a new sync deadline.
    async fn renew(&self, cert: &TaCertBody, now: UnixTime) -> Result<TaCertificate, EngineError> {
        let policy = &self.inner.config.registration;
        let template = match cert.tier {
            Tier::Software => policy.software_limits,
            Tier::Hardware => policy.hardware_limits,
        };
        let body = TaCertBody {
            limits: ferry_proto::Limits {
                sync_by: now.plus_secs(template.sync_by.secs()),
                ..template
            },
            issued_at: now.minus_secs(ferry_proto::time::CLOCK_SKEW_SECS),
            expires_at: now.plus_secs(policy.ta_cert_validity_secs),
            issuer: self.inner.issuer.public().key_id(),
            ..cert.clone()
        };
        let signed = TaCertificate::sign(body, &self.inner.issuer).map_err(EngineError::Signing)?;
        self.inner.store.set_wallet_certificate(&signed).await?;
        Ok(signed)
    }

    /// [`Self::sync_journal`], then a renewed certificate when the wallet is in good standing.
    pub async fn sync_and_renew(
        &self,
        upload: JournalUpload,
        now: UnixTime,
    ) -> Result<Result<SyncReport, Reason>, EngineError> {
        let cert = self.verified_cert(&upload.ta_cert);
        let mut report = match self.sync_journal(upload, now).await? {
            Ok(r) => r,
            Err(reason) => return Ok(Err(reason)),
        };
        let revoked = self.inner.store.is_revoked(report.ta).await?;
        if let Some(cert) = cert
            && report.stopped.is_none()
            && !revoked
        {
            report.certificate = Some(self.renew(&cert, now).await?);
        }
        Ok(Ok(report))
    }
}

/// Whether each entry's signature verifies under the wallet's key, on every core for long
/// uploads, before any transaction.
async fn signatures(
    engine: &Engine,
    entries: &[SignedEntry],
    cert: &TaCertBody,
) -> Result<Vec<bool>, EngineError> {
    let key = cert.ta_key;
    engine
        .parallel_map(entries.to_vec(), move |_, e| e.verify(&key).is_ok())
        .await
}

impl Settler<'_> {
    async fn load_point(&mut self, ta: TaId) -> Result<ChainPoint, EngineError> {
        Ok(self.tx.chain_point(ta, self.now).await?)
    }

    async fn store_point(&mut self, ta: TaId, p: &ChainPoint) -> Result<(), EngineError> {
        Ok(self.tx.set_chain_point(ta, p, self.now).await?)
    }

    /// Replays `entries` from the server's copy of the wallet's journal.
    ///
    /// `signed_by_wallet[i]` says whether entry `i`'s signature verified under the wallet's key
    /// (checked before the transaction, see [`signatures`]); `None` checks them here.
    pub(crate) async fn sync(
        &mut self,
        ta_cert: &TaCertificate,
        cert: &TaCertBody,
        entries: &[SignedEntry],
        signed_by_wallet: Option<&[bool]>,
        collected: &[Result<CheckedPayment, Reason>],
    ) -> Result<SyncReport, EngineError> {
        let ta = cert.ta_id();
        let start = self.load_point(ta).await?;
        let mut point = start;
        let mut outcomes = Vec::new();
        let mut stopped = None;
        for (i, signed) in entries.iter().enumerate() {
            let j = signed.unverified().j;
            let verified = match signed_by_wallet {
                Some(checked) => checked.get(i).copied().unwrap_or(false),
                None => signed.verify(&cert.ta_key).is_ok(),
            };
            if !verified {
                stopped = Some((j, Reason::BadSignature));
                break;
            }
            let entry = signed.unverified();
            if j < point.next_j {
                match self.stored_entry(ta, j).await? {
                    Some(s) if s.to_bytes() == signed.to_bytes() => {
                        outcomes.push((j, Outcome::Duplicate));
                        continue;
                    }
                    Some(other) => {
                        self.open_fork_case(ta_cert, cert, &other, signed).await?;
                        stopped = Some((j, Reason::Fork));
                    }
                    None => stopped = Some((j, Reason::JournalGap)),
                }
                break;
            }
            let next = match point.apply(&cert.limits, entry, signed.hash()) {
                Ok(next) => next,
                Err(JournalRule::Gap { .. }) => {
                    stopped = Some((j, Reason::JournalGap));
                    break;
                }
                Err(JournalRule::BrokenChain) => {
                    if let Some(other) = self.stored_entry(ta, j).await? {
                        self.open_fork_case(ta_cert, cert, &other, signed).await?;
                        stopped = Some((j, Reason::Fork));
                    } else {
                        stopped = Some((j, Reason::JournalRule));
                    }
                    break;
                }
                Err(rule) => {
                    // A chained entry the wallet signed that breaks the rules: the secure wallet
                    // is not enforcing them.
                    self.open_case(
                        cert,
                        CaseKind::JournalRule,
                        Some(signed.to_bytes()),
                        &rule.to_string(),
                    )
                    .await?;
                    stopped = Some((j, Reason::JournalRule));
                    break;
                }
            };
            // Collects need the collected payment; check before anything is written.
            if let EntryKind::Collect {
                payment,
                payment_hash,
            } = &entry.kind
                && !self
                    .collect_available(*payment, *payment_hash, cert, collected)
                    .await?
            {
                stopped = Some((j, Reason::MissingCollectedPayment));
                break;
            }
            let row = EntryRow {
                ta,
                entry: signed.clone(),
            };
            if let Some(Recorded::Conflict(other)) = self.record_entries(&[row]).await?.pop() {
                self.open_fork_case(ta_cert, cert, &other, signed).await?;
                stopped = Some((j, Reason::Fork));
                break;
            }
            match self.apply_effects(cert, signed, collected).await? {
                Ok(outcome) => outcomes.push((j, outcome)),
                Err(reason) => {
                    stopped = Some((j, reason));
                    break;
                }
            }
            point = next;
        }
        if point != start {
            self.store_point(ta, &point).await?;
        }
        Ok(SyncReport {
            ta,
            next_j: point.next_j,
            balance: Money::new(point.balance, cert.limits.currency),
            last_serial: point.last_serial,
            entries: outcomes,
            stopped,
            fraud_case: None,
            certificate: None,
        })
    }

    async fn collect_available(
        &mut self,
        payment: PaymentId,
        hash: Hash32,
        cert: &TaCertBody,
        collected: &[Result<CheckedPayment, Reason>],
    ) -> Result<bool, EngineError> {
        if self.stored_debit(payment).await?.is_some() {
            return Ok(true);
        }
        Ok(find_collected(collected, payment, hash, cert).is_some())
    }

    /// What an applied entry does to the ledger.
    async fn apply_effects(
        &mut self,
        cert: &TaCertBody,
        signed: &SignedEntry,
        collected: &[Result<CheckedPayment, Reason>],
    ) -> Result<Result<Outcome, Reason>, EngineError> {
        let ta = cert.ta_id();
        let entry = signed.unverified();
        let id = PaymentId { ta, j: entry.j };
        match &entry.kind {
            EntryKind::Deposit { serial } => {
                let matches = self
                    .tx
                    .deposit(ta, *serial)
                    .await?
                    .is_some_and(|d| d.amount == entry.amount && d.state != DepositState::Void);
                if !matches {
                    self.open_case(
                        cert,
                        CaseKind::UnauthorizedDeposit,
                        Some(signed.to_bytes()),
                        &format!("deposit serial {serial} was never authorized for this amount"),
                    )
                    .await?;
                    return Ok(Err(Reason::JournalRule));
                }
                self.tx
                    .set_deposit_state(ta, *serial, DepositState::Applied)
                    .await?;
                Ok(Ok(Outcome::Settled))
            }
            EntryKind::Withdraw { serial } => {
                self.void_deposit(ta, cert, *serial).await?;
                if self.stored_debit(id).await?.is_some() {
                    return Ok(Ok(Outcome::Duplicate));
                }
                let debit = Debit {
                    id,
                    kind: DebitKind::Withdrawal,
                    payer_account: cert.account_id,
                    payee_account: cert.account_id,
                    amount: entry.amount,
                    hash: signed.hash(),
                    credit_to: LedgerAccount::Online(cert.account_id),
                };
                Ok(Ok(self.new_debit(debit).await?))
            }
            EntryKind::Pay { payee, .. } => {
                if self.stored_debit(id).await?.is_some() {
                    return Ok(Ok(Outcome::Duplicate));
                }
                let credit_to = self
                    .collector_of(id)
                    .await?
                    .map_or(LedgerAccount::Online(*payee), LedgerAccount::Float);
                let debit = Debit {
                    id,
                    kind: DebitKind::Payment,
                    payer_account: cert.account_id,
                    payee_account: *payee,
                    amount: entry.amount,
                    hash: signed.hash(),
                    credit_to,
                };
                Ok(Ok(self.new_debit(debit).await?))
            }
            EntryKind::Collect {
                payment,
                payment_hash,
            } => {
                self.collect(cert, signed, *payment, *payment_hash, collected)
                    .await
            }
        }
    }

    /// A Withdraw entry with serial `s` makes an outstanding deposit authorization with the same
    /// serial unusable (the wallet can never apply it): refund it to the online balance.
    async fn void_deposit(
        &mut self,
        ta: TaId,
        cert: &TaCertBody,
        serial: u32,
    ) -> Result<(), EngineError> {
        let Some(issued) = self
            .tx
            .deposit(ta, serial)
            .await?
            .filter(|d| d.state == DepositState::Issued)
        else {
            return Ok(());
        };
        let amount = issued.amount.minor();
        let transfer = Transfer {
            reference: format!("deposit-void:{ta}/{serial}"),
            kind: "deposit_void",
            currency: cert.limits.currency,
            postings: vec![
                Posting::debit(LedgerAccount::Float(ta), amount),
                Posting::credit(LedgerAccount::Online(cert.account_id), amount),
            ],
        };
        self.ledger.post(&mut self.tx, &transfer).await?;
        self.tx
            .set_deposit_state(ta, serial, DepositState::Void)
            .await?;
        Ok(())
    }

    /// A Collect entry: the payment now settles into this wallet's float.
    async fn collect(
        &mut self,
        cert: &TaCertBody,
        signed: &SignedEntry,
        payment: PaymentId,
        hash: Hash32,
        collected: &[Result<CheckedPayment, Reason>],
    ) -> Result<Result<Outcome, Reason>, EngineError> {
        let ta = cert.ta_id();
        let to = LedgerAccount::Float(ta);
        let inserted = self.tx.record_collect(payment, ta).await?;
        if !inserted && self.tx.collector_of(payment).await? != Some(ta) {
            self.open_case(
                cert,
                CaseKind::DoubleCollect,
                Some(signed.to_bytes()),
                &format!("payment {payment} was collected by another wallet"),
            )
            .await?;
            return Ok(Err(Reason::JournalRule));
        }
        match self.stored_debit(payment).await? {
            Some((status, debit)) => {
                let current = debit.credit_to.clone();
                if debit.hash != hash {
                    return Ok(Err(Reason::JournalRule));
                }
                if current == to {
                    return Ok(Ok(Outcome::Duplicate));
                }
                if status == DebitState::Pending {
                    self.advance_collect(&debit, ta).await?;
                    return Ok(Ok(Outcome::Settled));
                }
                // Settled to the payee's online balance before the wallet's collect was known:
                // the value is in the wallet now, so move it from the online balance (which may
                // go below zero: the holder received the payment twice) and refund the fee.
                let fee = fee(debit.amount, self.inner.config.fees.payment_bps);
                let mut postings = vec![
                    Posting {
                        may_overdraw: true,
                        ..Posting::debit(current, debit.amount.minor() - fee)
                    },
                    Posting::credit(to, debit.amount.minor()),
                ];
                if fee > 0 {
                    postings.push(Posting {
                        may_overdraw: true,
                        ..Posting::debit(LedgerAccount::Fees, fee)
                    });
                }
                self.ledger
                    .post(
                        &mut self.tx,
                        &Transfer {
                            reference: format!("collect:{ta}/{}", signed.unverified().j),
                            kind: "collect",
                            currency: debit.amount.currency(),
                            postings,
                        },
                    )
                    .await?;
                self.redirect_debit(payment, &LedgerAccount::Float(ta))
                    .await?;
                self.funded(ta);
                Ok(Ok(Outcome::Settled))
            }
            None => {
                let Some(p) = find_collected(collected, payment, hash, cert) else {
                    return Ok(Err(Reason::MissingCollectedPayment));
                };
                let outcome = self
                    .settle_payments(&[Ok(p.clone())], Some(&to))
                    .await?
                    .pop()
                    .unwrap_or(Outcome::Invalid(Reason::Malformed));
                if let Outcome::Pending(_) = outcome
                    && let Some((_, debit)) = self.stored_debit(payment).await?
                {
                    self.advance_collect(&debit, ta).await?;
                    return Ok(Ok(Outcome::Settled));
                }
                Ok(match outcome {
                    Outcome::Invalid(r) | Outcome::Rejected(r) => Err(r),
                    other => Ok(other),
                })
            }
        }
    }
}

impl Settler<'_> {
    /// Wallet `collector` collected `pending`, which its payer's float cannot fund yet: credit
    /// the collector now (its journal already holds the value, and may re-spend it) against the
    /// payer's in-transit account, and let the payment repay that account when it settles.
    /// Without this advance, two wallets that paid each other could each wait for the other.
    async fn advance_collect(
        &mut self,
        pending: &Debit,
        collector: TaId,
    ) -> Result<(), EngineError> {
        let in_transit = LedgerAccount::InTransit(pending.id.ta);
        self.redirect_debit(pending.id, &in_transit).await?;
        let transfer = Transfer {
            reference: format!("advance:{}", pending.id),
            kind: "collect_advance",
            currency: pending.amount.currency(),
            postings: vec![
                Posting {
                    may_overdraw: true,
                    ..Posting::debit(in_transit, pending.amount.minor())
                },
                Posting::credit(LedgerAccount::Float(collector), pending.amount.minor()),
            ],
        };
        self.ledger.post(&mut self.tx, &transfer).await?;
        self.funded(collector);
        Ok(())
    }
}

/// The collected payment with identity `id` and hash `hash`, paid to `cert`'s holder.
fn find_collected<'a>(
    collected: &'a [Result<CheckedPayment, Reason>],
    id: PaymentId,
    hash: Hash32,
    cert: &TaCertBody,
) -> Option<&'a CheckedPayment> {
    collected.iter().filter_map(|c| c.as_ref().ok()).find(|c| {
        c.sub.payment.id(c.ta) == id && c.sub.payment.hash() == hash && c.payee == cert.account_id
    })
}
