//! Envelope ids (`envelopes`), recorded only after the envelope opened and its content settled
//! (or was a duplicate), in the same transaction: the cheap first dedupe of bridge uploads.

use std::collections::HashSet;

use ferry_proto::envelope::EnvelopeId;
use ferry_proto::{Hash32, PaymentId, UnixTime};
use sqlx::{AssertSqlSafe, Row};

use super::rows::secs;
use super::{CHUNK, Params, Store, StoreError, WriteTx};
use crate::kinds::SealedKind;

impl Store {
    /// Which of `ids` were recorded before (possibly by a commit not yet flushed: ingesting
    /// answers only after its own commit is, see [`Store::reader_for_work`]).
    pub(crate) async fn known_envelopes(
        &self,
        ids: &[EnvelopeId],
    ) -> Result<HashSet<EnvelopeId>, StoreError> {
        let mut known = HashSet::new();
        for chunk in ids.chunks(CHUNK) {
            let list = Params::new(self.dialect()).list(chunk.len());
            let sql = format!("SELECT id FROM envelopes WHERE id IN ({list})");
            let mut q = sqlx::query(AssertSqlSafe(sql));
            for id in chunk {
                q = q.bind(id.as_bytes().to_vec());
            }
            for r in q.fetch_all(self.reader_for_work()).await? {
                let bytes: Vec<u8> = r.try_get(0)?;
                if let Ok(hash) = <[u8; 32]>::try_from(bytes.as_slice()) {
                    known.insert(EnvelopeId(Hash32(hash)));
                }
            }
        }
        Ok(known)
    }
}

impl WriteTx {
    /// Records envelope ids with what they carried (`None`: unknown) and, for a payment envelope
    /// that recorded its payment's debit, the payment. Ids recorded before are left as they are.
    pub async fn record_envelopes(
        &mut self,
        envelopes: &[(EnvelopeId, Option<SealedKind>, Option<PaymentId>)],
        now: UnixTime,
    ) -> Result<(), StoreError> {
        for chunk in envelopes.chunks(CHUNK) {
            let values = Params::new(self.dialect()).rows(chunk.len(), 5);
            let sql = format!(
                "INSERT INTO envelopes (id, kind, received_at, payment_ta, payment_j) VALUES {values}
                 ON CONFLICT (id) DO NOTHING"
            );
            let mut q = sqlx::query(AssertSqlSafe(sql));
            for (id, kind, payment) in chunk {
                q = q
                    .bind(id.as_bytes().to_vec())
                    .bind(kind.map_or("unknown", SealedKind::as_str))
                    .bind(secs(now))
                    .bind(payment.map(|p| p.ta.as_bytes().to_vec()))
                    .bind(payment.map(|p| i64::from(p.j)));
            }
            q.execute(&mut **self).await?;
        }
        Ok(())
    }
}
