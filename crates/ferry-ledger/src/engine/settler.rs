//! One settlement transaction: the database transaction, the in-memory ledger batch, and the
//! steps every kind of item shares — recording journal entries (dedupe and fork detection),
//! settling float debits, opening fraud cases, and settling what a newly funded float unblocks.

use std::collections::{BTreeSet, HashMap};

use ferry_proto::cert::TaCertBody;
use ferry_proto::fraud::FraudProof;
use ferry_proto::{
    AccountId, Currency, Hash32, Money, PaymentId, SignedEntry, TaCertificate, TaId, UnixTime,
};
use sqlx::AssertSqlSafe;
use sqlx::Row;

use ferry_proto::outcome::{Outcome, Reason};

use super::kinds::{CaseKind, DebitKind, DebitState};
use super::{EngineError, Inner, fee, push_fee};
use crate::accounts::LedgerAccount;
use crate::store::{CHUNK, LedgerBatch, Params, StoreError, WriteTx};
use crate::transfer::{Posting, Transfer};

/// Database time for `t`.
pub(crate) fn secs(t: UnixTime) -> i64 {
    i64::try_from(t.secs()).unwrap_or(i64::MAX)
}

/// A journal entry to record: its identity, hashes and exact bytes.
#[derive(Debug, Clone)]
pub(crate) struct EntryRow {
    pub ta: TaId,
    pub entry: SignedEntry,
}

/// What recording an entry found.
#[derive(Debug, Clone)]
pub(crate) enum Recorded {
    /// First time seen.
    New,
    /// The same entry was recorded before.
    Known,
    /// A different entry with the same position or predecessor was recorded before.
    Conflict(Box<SignedEntry>),
}

/// A debit of a wallet's float: a payment or a withdrawal, identified by its journal entry.
#[derive(Debug, Clone)]
pub(crate) struct Debit {
    pub id: PaymentId,
    pub kind: DebitKind,
    pub payer_account: AccountId,
    pub payee_account: AccountId,
    pub amount: Money,
    pub hash: Hash32,
    pub credit_to: LedgerAccount,
}

/// An open fraud case, as the settler needs it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Case {
    pub id: i64,
    pub account: AccountId,
    pub exposure: i64,
    pub covered: i64,
}

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
            opened_cases: Vec::new(),
        })
    }

    /// Settles what newly funded floats unblock, writes everything, and commits.
    pub async fn commit(mut self) -> Result<Vec<i64>, EngineError> {
        self.cascade().await?;
        self.write_debits().await?;
        let ledger = std::mem::replace(
            &mut self.ledger,
            LedgerBatch::new(self.inner.store.dialect(), self.now),
        );
        ledger.flush(&mut self.tx).await?;
        self.tx.commit().await.map_err(StoreError::from)?;
        Ok(self.opened_cases)
    }

    /// Records journal entries (all of distinct positions are written with one statement).
    /// Duplicates within `rows` are compared in memory.
    pub async fn record_entries(
        &mut self,
        rows: &[EntryRow],
    ) -> Result<Vec<Recorded>, EngineError> {
        let mut out = vec![Recorded::New; rows.len()];
        let mut first: HashMap<(TaId, u32), usize> = HashMap::new();
        let mut to_insert = Vec::new();
        for (i, row) in rows.iter().enumerate() {
            let key = (row.ta, row.entry.unverified().j);
            match first.get(&key) {
                Some(&f) if rows[f].entry.hash() == row.entry.hash() => out[i] = Recorded::Known,
                Some(&f) => out[i] = Recorded::Conflict(Box::new(rows[f].entry.clone())),
                None => {
                    first.insert(key, i);
                    to_insert.push(i);
                }
            }
        }
        for chunk in to_insert.chunks(CHUNK) {
            let values = Params::new(self.inner.store.dialect()).rows(chunk.len(), 5);
            let sql = format!(
                "INSERT INTO journal_entries (ta_id, j, hash, prev_hash, entry) VALUES {values}
                 ON CONFLICT DO NOTHING RETURNING ta_id, j"
            );
            let mut q = sqlx::query(AssertSqlSafe(sql));
            for &i in chunk {
                let e = &rows[i].entry;
                q = q
                    .bind(rows[i].ta.as_bytes().to_vec())
                    .bind(i64::from(e.unverified().j))
                    .bind(e.hash().as_bytes().to_vec())
                    .bind(e.unverified().prev_hash.as_bytes().to_vec())
                    .bind(e.to_bytes());
            }
            let inserted: BTreeSet<(Vec<u8>, i64)> = q
                .fetch_all(&mut *self.tx)
                .await?
                .iter()
                .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
                .collect::<Result<_, sqlx::Error>>()?;
            for &i in chunk {
                let row = &rows[i];
                let j = row.entry.unverified().j;
                if !inserted.contains(&(row.ta.as_bytes().to_vec(), i64::from(j))) {
                    out[i] = self.compare_stored(row).await?;
                }
            }
        }
        Ok(out)
    }

    async fn compare_stored(&mut self, row: &EntryRow) -> Result<Recorded, EngineError> {
        let body = row.entry.unverified();
        let stored = sqlx::query(
            "SELECT entry FROM journal_entries WHERE ta_id = $1 AND (j = $2 OR prev_hash = $3)
             ORDER BY j",
        )
        .bind(row.ta.as_bytes().to_vec())
        .bind(i64::from(body.j))
        .bind(body.prev_hash.as_bytes().to_vec())
        .fetch_all(&mut *self.tx)
        .await?;
        let mut conflict = None;
        for r in stored {
            let bytes: Vec<u8> = r.try_get(0)?;
            if bytes == row.entry.to_bytes() {
                return Ok(Recorded::Known);
            }
            let entry = SignedEntry::from_bytes(&bytes)
                .map_err(|e| EngineError::Corrupt(format!("journal entry: {e}")))?;
            conflict.get_or_insert(entry);
        }
        Ok(match conflict {
            Some(e) => Recorded::Conflict(Box::new(e)),
            // Only possible if the row vanished between the insert and this read.
            None => Recorded::Known,
        })
    }

    /// The stored entry of `ta` at `j`, if any.
    pub async fn stored_entry(
        &mut self,
        ta: TaId,
        j: u32,
    ) -> Result<Option<SignedEntry>, EngineError> {
        let row = sqlx::query("SELECT entry FROM journal_entries WHERE ta_id = $1 AND j = $2")
            .bind(ta.as_bytes().to_vec())
            .bind(i64::from(j))
            .fetch_optional(&mut *self.tx)
            .await?;
        match row {
            Some(r) => Ok(Some(
                SignedEntry::from_bytes(&r.try_get::<Vec<u8>, _>(0)?)
                    .map_err(|e| EngineError::Corrupt(format!("journal entry: {e}")))?,
            )),
            None => Ok(None),
        }
    }

    /// The open fraud case against `ta`, if any.
    pub async fn case(&mut self, ta: TaId) -> Result<Option<Case>, EngineError> {
        if let Some(c) = self.cases.get(&ta) {
            return Ok(*c);
        }
        let row = sqlx::query(
            "SELECT id, account_id, exposure, covered FROM fraud_cases WHERE ta_id = $1",
        )
        .bind(ta.as_bytes().to_vec())
        .fetch_optional(&mut *self.tx)
        .await?;
        let case = match row {
            Some(r) => Some(Case {
                id: r.try_get(0)?,
                account: account_id(&r.try_get::<Vec<u8>, _>(1)?)?,
                exposure: r.try_get(2)?,
                covered: r.try_get(3)?,
            }),
            None => None,
        };
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
        let exposure = cert.limits.exposure().minor();
        let row = sqlx::query(
            "INSERT INTO fraud_cases (ta_id, account_id, kind, evidence, detail, exposure, currency, covered, opened_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, 0, $8) ON CONFLICT (ta_id) DO NOTHING RETURNING id",
        )
        .bind(ta.as_bytes().to_vec())
        .bind(cert.account_id.as_bytes().to_vec())
        .bind(kind.as_str())
        .bind(evidence)
        .bind(detail)
        .bind(exposure)
        .bind(i32::from(cert.limits.currency.numeric()))
        .bind(secs(self.now))
        .fetch_optional(&mut *self.tx)
        .await?;
        self.cases.remove(&ta);
        if let Some(r) = row {
            self.opened_cases.push(r.try_get(0)?);
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
        if let LedgerAccount::Float(collector) = d.credit_to {
            self.funded.insert(collector);
        }
        Ok(Outcome::Settled)
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
        let inserted = sqlx::query(
            "INSERT INTO payouts (hash, ta_id, j, payee_account, amount, paid_at)
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (hash) DO NOTHING RETURNING j",
        )
        .bind(hash.as_bytes().to_vec())
        .bind(ta.as_bytes().to_vec())
        .bind(i64::from(payment.body().j))
        .bind(payment.payee().as_bytes().to_vec())
        .bind(amount.minor())
        .bind(secs(self.now))
        .fetch_optional(&mut *self.tx)
        .await?;
        if inserted.is_none() {
            return Ok(Outcome::Duplicate);
        }
        let mut postings = match self
            .cover(ta, case, amount.minor(), amount.currency())
            .await?
        {
            Ok(p) => p,
            Err(outcome) => {
                // Not paid: release the identity so a later delivery can be paid.
                sqlx::query("DELETE FROM payouts WHERE hash = $1")
                    .bind(hash.as_bytes().to_vec())
                    .execute(&mut *self.tx)
                    .await?;
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
        sqlx::query("UPDATE fraud_cases SET covered = $1 WHERE id = $2")
            .bind(covered)
            .bind(case.id)
            .execute(&mut *self.tx)
            .await?;
        self.cases.insert(ta, Some(Case { covered, ..case }));
        Ok(())
    }

    async fn write_debits(&mut self) -> Result<(), EngineError> {
        let debits = std::mem::take(&mut self.new_debits);
        for chunk in debits.chunks(CHUNK) {
            let values = Params::new(self.inner.store.dialect()).rows(chunk.len(), 12);
            let sql = format!(
                "INSERT INTO debits (ta_id, j, kind, payer_account, payee_account, amount, currency,
                                     hash, credit_to, status, received_at, settled_at)
                 VALUES {values}"
            );
            let mut q = sqlx::query(AssertSqlSafe(sql));
            for (d, status) in chunk {
                let settled_at = (*status == DebitState::Settled).then(|| secs(self.now));
                q = q
                    .bind(d.id.ta.as_bytes().to_vec())
                    .bind(i64::from(d.id.j))
                    .bind(d.kind.as_str())
                    .bind(d.payer_account.as_bytes().to_vec())
                    .bind(d.payee_account.as_bytes().to_vec())
                    .bind(d.amount.minor())
                    .bind(i32::from(d.amount.currency().numeric()))
                    .bind(d.hash.as_bytes().to_vec())
                    .bind(d.credit_to.key())
                    .bind(status.as_str())
                    .bind(secs(self.now))
                    .bind(settled_at);
            }
            q.execute(&mut *self.tx).await?;
        }
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
        let row = sqlx::query(
            "SELECT status, credit_to, kind, payer_account, payee_account, amount, currency, hash
             FROM debits WHERE ta_id = $1 AND j = $2",
        )
        .bind(id.ta.as_bytes().to_vec())
        .bind(i64::from(id.j))
        .fetch_optional(&mut *self.tx)
        .await?;
        let Some(r) = row else { return Ok(None) };
        let status: String = r.try_get(0)?;
        let status =
            DebitState::from_name(&status).ok_or_else(|| EngineError::Corrupt("status".into()))?;
        Ok(Some((status, debit_from_row(id, &r, 1)?)))
    }

    /// Points a pending debit at a new account (a wallet collected the payment).
    pub async fn redirect_pending(
        &mut self,
        id: PaymentId,
        to: &LedgerAccount,
    ) -> Result<(), EngineError> {
        if let Some((d, _)) = self.new_debits.iter_mut().find(|(d, _)| d.id == id) {
            d.credit_to = to.clone();
            return Ok(());
        }
        sqlx::query("UPDATE debits SET credit_to = $1 WHERE ta_id = $2 AND j = $3")
            .bind(to.key())
            .bind(id.ta.as_bytes().to_vec())
            .bind(i64::from(id.j))
            .execute(&mut *self.tx)
            .await?;
        Ok(())
    }

    /// Settles, in journal order, the pending debits of every float credited in this
    /// transaction (and of floats those settlements credit in turn).
    async fn cascade(&mut self) -> Result<(), EngineError> {
        self.write_debits().await?;
        // Terminates: a float is re-queued only when one of the finitely many pending debits
        // settles.
        while let Some(ta) = self.funded.pop_first() {
            let rows = sqlx::query(
                "SELECT j, status, credit_to, kind, payer_account, payee_account, amount, currency, hash
                 FROM debits WHERE ta_id = $1 AND status = 'pending' ORDER BY j",
            )
            .bind(ta.as_bytes().to_vec())
            .fetch_all(&mut *self.tx)
            .await?;
            for r in rows {
                let j: i64 = r.try_get(0)?;
                let id = PaymentId {
                    ta,
                    j: u32::try_from(j).map_err(|_| EngineError::Corrupt("debit j".into()))?,
                };
                let debit = debit_from_row(id, &r, 2)?;
                match self.settle_debit(&debit).await? {
                    Outcome::Settled => {
                        sqlx::query(
                            "UPDATE debits SET status = 'settled', settled_at = $1 WHERE ta_id = $2 AND j = $3",
                        )
                        .bind(secs(self.now))
                        .bind(ta.as_bytes().to_vec())
                        .bind(j)
                        .execute(&mut *self.tx)
                        .await?;
                    }
                    // Debits settle in journal order: stop at the first that cannot.
                    _ => break,
                }
            }
        }
        Ok(())
    }
}

/// Decodes a debit from a row whose columns from `first` are: credit_to, kind, payer_account,
/// payee_account, amount, currency, hash.
fn debit_from_row(
    id: PaymentId,
    r: &sqlx::any::AnyRow,
    first: usize,
) -> Result<Debit, EngineError> {
    let corrupt = |what: &str| EngineError::Corrupt(format!("debit {id}: {what}"));
    let credit_to: String = r.try_get(first)?;
    let kind: String = r.try_get(first + 1)?;
    let payer: Vec<u8> = r.try_get(first + 2)?;
    let payee: Vec<u8> = r.try_get(first + 3)?;
    let amount: i64 = r.try_get(first + 4)?;
    let currency: i32 = r.try_get(first + 5)?;
    let hash: Vec<u8> = r.try_get(first + 6)?;
    let currency = u16::try_from(currency)
        .ok()
        .and_then(|c| Currency::from_numeric(c).ok())
        .ok_or_else(|| corrupt("currency"))?;
    Ok(Debit {
        id,
        kind: DebitKind::from_name(&kind).ok_or_else(|| corrupt("kind"))?,
        payer_account: account_id(&payer)?,
        payee_account: account_id(&payee)?,
        amount: Money::new(amount, currency),
        hash: Hash32(hash.try_into().map_err(|_| corrupt("hash"))?),
        credit_to: credit_to.parse().map_err(|_| corrupt("credit_to"))?,
    })
}

/// An account id from its stored bytes.
pub(crate) fn account_id(bytes: &[u8]) -> Result<AccountId, EngineError> {
    bytes
        .try_into()
        .map(AccountId)
        .map_err(|_| EngineError::Corrupt("account id".into()))
}

/// A wallet id from its stored bytes.
pub(crate) fn ta_id(bytes: &[u8]) -> Result<TaId, EngineError> {
    bytes
        .try_into()
        .map(TaId)
        .map_err(|_| EngineError::Corrupt("wallet id".into()))
}
