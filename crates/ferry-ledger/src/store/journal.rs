//! The server's copy of every secure wallet's journal: where each wallet's verified chain
//! stands (`wallet_sync`), every entry seen from syncs, claims or envelopes
//! (`journal_entries`, keyed by the payment identity `(TA id, j)` and unique on the
//! predecessor, so a second entry at one position or after one predecessor is a fork), and
//! which wallet collected which payment (`collects`).

use std::collections::{BTreeSet, HashMap};

use ferry_proto::journal::genesis_hash;
use ferry_proto::verify::ChainPoint;
use ferry_proto::{PaymentId, SignedEntry, TaId, UnixTime};
use sqlx::{AssertSqlSafe, Row};

use super::rows::{corrupt, hash, position, secs, ta_id};
use super::{CHUNK, Dialect, Params, StoreError, WriteTx};

/// A journal entry to record: the wallet that signed it and its exact bytes.
#[derive(Debug, Clone)]
pub struct EntryRow {
    /// The signing wallet.
    pub ta: TaId,
    /// The entry.
    pub entry: SignedEntry,
}

/// What recording an entry found.
#[derive(Debug, Clone)]
pub enum Recorded {
    /// First time seen.
    New,
    /// The same entry was recorded before.
    Known,
    /// A different entry with the same position or predecessor was recorded before.
    Conflict(Box<SignedEntry>),
}

fn decode_entry(bytes: &[u8]) -> Result<SignedEntry, StoreError> {
    SignedEntry::from_bytes(bytes).map_err(|e| corrupt(format!("journal entry: {e}")))
}

impl WriteTx {
    /// Where `ta`'s verified chain stands (genesis for a wallet never seen), locking the row on
    /// PostgreSQL until the transaction ends.
    pub async fn chain_point(&mut self, ta: TaId, now: UnixTime) -> Result<ChainPoint, StoreError> {
        sqlx::query(
            "INSERT INTO wallet_sync (ta_id, next_j, prev_hash, balance, last_serial, synced_at)
             VALUES ($1, 1, $2, 0, 0, $3) ON CONFLICT (ta_id) DO NOTHING",
        )
        .bind(ta.as_bytes().to_vec())
        .bind(genesis_hash(&ta).as_bytes().to_vec())
        .bind(secs(now))
        .execute(&mut **self)
        .await?;
        let lock = match self.dialect() {
            Dialect::Sqlite => "",
            Dialect::Postgres => " FOR UPDATE",
        };
        let r = sqlx::query(AssertSqlSafe(format!(
            "SELECT next_j, prev_hash, balance, last_serial FROM wallet_sync WHERE ta_id = $1{lock}"
        )))
        .bind(ta.as_bytes().to_vec())
        .fetch_one(&mut **self)
        .await?;
        Ok(ChainPoint {
            next_j: position(r.try_get(0)?)?,
            prev_hash: hash(r.try_get(1)?)?,
            balance: r.try_get(2)?,
            last_serial: position(r.try_get(3)?)?,
        })
    }

    /// Saves where `ta`'s verified chain stands.
    pub async fn set_chain_point(
        &mut self,
        ta: TaId,
        p: &ChainPoint,
        now: UnixTime,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE wallet_sync SET next_j = $1, prev_hash = $2, balance = $3, last_serial = $4, synced_at = $5
             WHERE ta_id = $6",
        )
        .bind(i64::from(p.next_j))
        .bind(p.prev_hash.as_bytes().to_vec())
        .bind(p.balance)
        .bind(i64::from(p.last_serial))
        .bind(secs(now))
        .bind(ta.as_bytes().to_vec())
        .execute(&mut **self)
        .await?;
        Ok(())
    }

    /// Records journal entries (all of distinct positions with one statement per chunk).
    /// Duplicates within `rows` are compared in memory; entries already stored are compared
    /// with what is stored.
    pub async fn record_entries(&mut self, rows: &[EntryRow]) -> Result<Vec<Recorded>, StoreError> {
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
            let values = Params::new(self.dialect()).rows(chunk.len(), 5);
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
                .fetch_all(&mut **self)
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

    async fn compare_stored(&mut self, row: &EntryRow) -> Result<Recorded, StoreError> {
        let body = row.entry.unverified();
        let stored = sqlx::query(
            "SELECT entry FROM journal_entries WHERE ta_id = $1 AND (j = $2 OR prev_hash = $3)
             ORDER BY j",
        )
        .bind(row.ta.as_bytes().to_vec())
        .bind(i64::from(body.j))
        .bind(body.prev_hash.as_bytes().to_vec())
        .fetch_all(&mut **self)
        .await?;
        let mut conflict = None;
        for r in stored {
            let bytes: Vec<u8> = r.try_get(0)?;
            if bytes == row.entry.to_bytes() {
                return Ok(Recorded::Known);
            }
            conflict.get_or_insert(decode_entry(&bytes)?);
        }
        Ok(match conflict {
            Some(e) => Recorded::Conflict(Box::new(e)),
            // Only possible if the row vanished between the insert and this read.
            None => Recorded::Known,
        })
    }

    /// The stored entry of `ta` at `j`, if any.
    pub async fn entry_at(&mut self, ta: TaId, j: u32) -> Result<Option<SignedEntry>, StoreError> {
        let row = sqlx::query("SELECT entry FROM journal_entries WHERE ta_id = $1 AND j = $2")
            .bind(ta.as_bytes().to_vec())
            .bind(i64::from(j))
            .fetch_optional(&mut **self)
            .await?;
        row.map(|r| decode_entry(&r.try_get::<Vec<u8>, _>(0)?))
            .transpose()
    }

    /// Records that wallet `collector` collected `payment`. Returns false when a collect of that
    /// payment was recorded before (by this wallet or another).
    pub async fn record_collect(
        &mut self,
        payment: PaymentId,
        collector: TaId,
    ) -> Result<bool, StoreError> {
        let inserted = sqlx::query(
            "INSERT INTO collects (payment_ta, payment_j, collector_ta) VALUES ($1, $2, $3)
             ON CONFLICT (payment_ta, payment_j) DO NOTHING RETURNING collector_ta",
        )
        .bind(payment.ta.as_bytes().to_vec())
        .bind(i64::from(payment.j))
        .bind(collector.as_bytes().to_vec())
        .fetch_optional(&mut **self)
        .await?;
        Ok(inserted.is_some())
    }

    /// The wallet that collected `payment`, if one did.
    pub async fn collector_of(&mut self, payment: PaymentId) -> Result<Option<TaId>, StoreError> {
        let row = sqlx::query(
            "SELECT collector_ta FROM collects WHERE payment_ta = $1 AND payment_j = $2",
        )
        .bind(payment.ta.as_bytes().to_vec())
        .bind(i64::from(payment.j))
        .fetch_optional(&mut **self)
        .await?;
        row.map(|r| ta_id(&r.try_get::<Vec<u8>, _>(0)?)).transpose()
    }

    /// The collectors of those of `payments` that a wallet collected.
    pub async fn collectors_of(
        &mut self,
        payments: &[PaymentId],
    ) -> Result<HashMap<PaymentId, TaId>, StoreError> {
        let mut out = HashMap::new();
        for chunk in payments.chunks(CHUNK) {
            let mut p = Params::new(self.dialect());
            let pairs = (0..chunk.len())
                .map(|_| format!("(payment_ta = {} AND payment_j = {})", p.next(), p.next()))
                .collect::<Vec<_>>()
                .join(" OR ");
            let sql =
                format!("SELECT payment_ta, payment_j, collector_ta FROM collects WHERE {pairs}");
            let mut q = sqlx::query(AssertSqlSafe(sql));
            for id in chunk {
                q = q.bind(id.ta.as_bytes().to_vec()).bind(i64::from(id.j));
            }
            for r in q.fetch_all(&mut **self).await? {
                let ta = ta_id(&r.try_get::<Vec<u8>, _>(0)?)?;
                let j = position(r.try_get(1)?)?;
                out.insert(PaymentId { ta, j }, ta_id(&r.try_get::<Vec<u8>, _>(2)?)?);
            }
        }
        Ok(out)
    }
}
