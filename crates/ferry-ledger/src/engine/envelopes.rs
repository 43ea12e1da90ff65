//! Bridge ingest: sealed envelopes in batches, from any bridge. The envelope id is checked
//! first (cheap, before opening), the semantic id inside is authoritative, and the envelope id
//! is recorded only after the envelope opened and its content settled, was a duplicate or is
//! pending — in the same transaction. A forged copy (same ciphertext, altered header) never
//! opens, so it can never get the real envelope dropped as a duplicate.

use std::collections::HashSet;

use ferry_proto::envelope::{Envelope, EnvelopeError, EnvelopeId};
use ferry_proto::sealed::{OpenError, SealedContent, open_with};
use ferry_proto::{PaymentId, UnixTime};

use super::group::{Settled, Work};
use super::payments::{CheckedPayment, PaymentSubmission};
use super::settler::Settler;
use super::{Engine, EngineError};

mod remote;
use crate::kinds::SealedKind;
use ferry_proto::outcome::{Outcome, Reason};

/// The outcome for one envelope.
#[derive(Debug, Clone)]
pub struct EnvelopeOutcome {
    /// The envelope's id.
    pub id: EnvelopeId,
    /// What it carried, when it opened.
    pub kind: Option<SealedKind>,
    /// What happened.
    pub outcome: Outcome,
}

/// An envelope after the work that needs no database.
#[derive(Clone)]
pub(crate) enum Opened {
    Known,
    Failed(Reason),
    Payment(Box<Result<CheckedPayment, Reason>>),
    Other(Box<SealedContent>),
}

impl Engine {
    fn open_one(&self, env: &Envelope, now: UnixTime) -> Opened {
        match open_with(env, &self.inner.opener, now) {
            Ok(SealedContent::Payment {
                ta_cert,
                payment,
                receipt,
            }) => Opened::Payment(Box::new(self.check_payment(PaymentSubmission {
                ta_cert,
                payment,
                receipt,
            }))),
            Ok(other) => Opened::Other(Box::new(other)),
            Err(OpenError::Envelope(EnvelopeError::WrongKey { .. })) => {
                Opened::Failed(Reason::WrongKey)
            }
            Err(OpenError::Envelope(EnvelopeError::Expired { .. })) => {
                Opened::Failed(Reason::Expired)
            }
            Err(OpenError::Envelope(EnvelopeError::DecryptFailed)) => {
                Opened::Failed(Reason::Tampered)
            }
            Err(_) => Opened::Failed(Reason::Malformed),
        }
    }

    /// Ingests a batch of envelopes: one outcome each, in order, atomically (in one
    /// transaction, which concurrent requests may share: see `group`).
    pub async fn ingest_envelopes(
        &self,
        envelopes: Vec<Envelope>,
        now: UnixTime,
    ) -> Result<Vec<EnvelopeOutcome>, EngineError> {
        let ids: Vec<EnvelopeId> = envelopes.iter().map(Envelope::id).collect();
        let known = self.known_envelopes(&ids).await?;
        let jobs: Vec<(Envelope, bool)> = envelopes
            .into_iter()
            .zip(&ids)
            .map(|(e, id)| {
                let k = known.contains(id);
                (e, k)
            })
            .collect();
        let mut opened = self
            .parallel_map(jobs, move |engine, (env, known)| {
                if known {
                    Opened::Known
                } else {
                    engine.open_one(&env, now)
                }
            })
            .await?;
        self.resolve_remote_payments(&mut opened).await?;
        match self
            .settle_grouped(Work::Envelopes { ids, opened }, now)
            .await?
        {
            Settled::Envelopes(outcomes) => Ok(outcomes),
            other => Err(other.mismatch()),
        }
    }

    async fn known_envelopes(
        &self,
        ids: &[EnvelopeId],
    ) -> Result<HashSet<EnvelopeId>, EngineError> {
        Ok(self.inner.store.known_envelopes(ids).await?)
    }
}

impl Settler<'_> {
    /// Settles opened envelopes and records the ids of those that settled, were duplicates or
    /// are pending.
    pub(crate) async fn ingest(
        &mut self,
        ids: &[EnvelopeId],
        opened: &[Opened],
    ) -> Result<Vec<EnvelopeOutcome>, EngineError> {
        let mut out: Vec<EnvelopeOutcome> = ids
            .iter()
            .map(|id| EnvelopeOutcome {
                id: *id,
                kind: None,
                outcome: Outcome::Duplicate,
            })
            .collect();
        // The first copy of an id that opened is the one processed; later copies are duplicates.
        let mut first_opened: HashSet<EnvelopeId> = HashSet::new();
        let mut payments = Vec::new();
        let mut payment_slots = Vec::new();
        let mut payment_ids: Vec<Option<PaymentId>> = vec![None; ids.len()];
        let mut others = Vec::new();
        for (i, o) in opened.iter().enumerate() {
            match o {
                Opened::Known => {}
                Opened::Failed(r) => out[i].outcome = Outcome::Invalid(*r),
                Opened::Payment(p) => {
                    out[i].kind = Some(SealedKind::Payment);
                    if first_opened.insert(ids[i]) {
                        if let Ok(checked) = &**p {
                            payment_ids[i] = Some(checked.sub.payment.id(checked.ta));
                        }
                        payments.push((**p).clone());
                        payment_slots.push(i);
                    }
                }
                Opened::Other(c) => {
                    out[i].kind = SealedKind::from_name(c.kind());
                    if first_opened.insert(ids[i]) {
                        others.push((i, c));
                    }
                }
            }
        }
        let settled = self.settle_payments(&payments, None).await?;
        for (slot, outcome) in payment_slots.into_iter().zip(settled) {
            out[slot].outcome = outcome;
        }
        for (i, content) in others {
            out[i].outcome = match &**content {
                SealedContent::Order(order) => self.settle_order(order).await?,
                SealedContent::JournalSegment { ta_cert, entries } => {
                    self.segment(ta_cert, entries).await?
                }
                SealedContent::Payment { .. } | SealedContent::RemotePayment { .. } => {
                    Outcome::Invalid(Reason::Malformed)
                }
            };
        }
        let mut seen = HashSet::new();
        // A payment envelope that settled its payment, or left it pending, is the channel that
        // brought it (a duplicate's payment came another way).
        let record: Vec<(EnvelopeId, Option<SealedKind>, Option<PaymentId>)> = out
            .iter()
            .zip(payment_ids)
            .filter(|(o, _)| {
                first_opened.contains(&o.id)
                    && matches!(
                        o.outcome,
                        Outcome::Settled | Outcome::Duplicate | Outcome::Pending(_)
                    )
            })
            .map(|(o, payment)| {
                let brought = matches!(o.outcome, Outcome::Settled | Outcome::Pending(_));
                (o.id, o.kind, payment.filter(|_| brought))
            })
            .filter(|(id, _, _)| seen.insert(*id))
            .collect();
        self.tx.record_envelopes(&record, self.now).await?;
        Ok(out)
    }

    /// A journal segment carried by the mesh.
    async fn segment(
        &mut self,
        ta_cert: &ferry_proto::TaCertificate,
        entries: &[ferry_proto::SignedEntry],
    ) -> Result<Outcome, EngineError> {
        let Some(cert) = self.inner.verified_cert(ta_cert) else {
            return Ok(Outcome::Invalid(Reason::BadCertificate));
        };
        let report = self.sync(ta_cert, &cert, entries, None, &[]).await?;
        Ok(match report.stopped {
            Some((_, r @ (Reason::JournalGap | Reason::MissingCollectedPayment))) => {
                Outcome::Rejected(r)
            }
            Some((_, r)) => Outcome::Invalid(r),
            None if report.entries.iter().all(|(_, o)| *o == Outcome::Duplicate) => {
                Outcome::Duplicate
            }
            None => Outcome::Settled,
        })
    }
}
