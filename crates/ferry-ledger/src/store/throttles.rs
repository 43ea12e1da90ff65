//! Fixed-window attempt counters (`throttles`), shared by every server process on one database:
//! each attempt is counted by one atomic upsert, so concurrent attempts cannot slip past a
//! limit by reading the same count.

use ferry_proto::UnixTime;
use sqlx::Row;

use super::rows::{secs, time};
use super::{Store, StoreError};

/// The window an attempt was counted in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WindowHits {
    /// Attempts in the window, this one included.
    pub hits: u64,
    /// When the window ends (the count starts again after it).
    pub window_ends: UnixTime,
}

impl Store {
    /// Counts one attempt by `subject` in `scope` at `now`, in a window of `window_secs` that
    /// starts with the first attempt after the previous window ended.
    pub async fn hit_throttle(
        &self,
        scope: &str,
        subject: &str,
        window_secs: u64,
        now: UnixTime,
    ) -> Result<WindowHits, StoreError> {
        let now_s = secs(now);
        let stale_before = now_s.saturating_sub(i64::try_from(window_secs).unwrap_or(i64::MAX));
        let mut tx = self.begin().await?;
        let row = sqlx::query(
            "INSERT INTO throttles (scope, subject, window_start, hits) VALUES ($1, $2, $3, 1)
             ON CONFLICT (scope, subject) DO UPDATE SET
               hits = CASE WHEN throttles.window_start <= $4 THEN 1 ELSE throttles.hits + 1 END,
               window_start = CASE WHEN throttles.window_start <= $4 THEN excluded.window_start
                                   ELSE throttles.window_start END
             RETURNING window_start, hits",
        )
        .bind(scope.to_owned())
        .bind(subject.to_owned())
        .bind(now_s)
        .bind(stale_before)
        .fetch_one(&mut *tx)
        .await?;
        tx.commit().await?;
        let start: i64 = row.try_get(0)?;
        let hits: i64 = row.try_get(1)?;
        Ok(WindowHits {
            hits: u64::try_from(hits).unwrap_or(0),
            window_ends: time(start).plus_secs(window_secs),
        })
    }

    /// Takes back one attempt of `subject` in `scope` (it turned out to be legitimate), while
    /// the window it was counted in (`window_secs` long) is still open at `now`.
    pub async fn refund_throttle(
        &self,
        scope: &str,
        subject: &str,
        window_secs: u64,
        now: UnixTime,
    ) -> Result<(), StoreError> {
        let stale_before = secs(now).saturating_sub(i64::try_from(window_secs).unwrap_or(i64::MAX));
        let mut tx = self.begin().await?;
        sqlx::query(
            "UPDATE throttles SET hits = hits - 1
             WHERE scope = $1 AND subject = $2 AND hits > 0 AND window_start > $3",
        )
        .bind(scope.to_owned())
        .bind(subject.to_owned())
        .bind(stale_before)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Deletes the counters whose window started before `before` (they no longer limit
    /// anything when every window is shorter than the age); returns how many.
    pub async fn purge_throttles(&self, before: UnixTime) -> Result<u64, StoreError> {
        let mut tx = self.begin().await?;
        let done = sqlx::query("DELETE FROM throttles WHERE window_start < $1")
            .bind(secs(before))
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(done.rows_affected())
    }
}
