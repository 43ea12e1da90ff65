//! The USSD menu engine's session records (`ussd_sessions`), as JSON, kept until their
//! retention ends.

use ferry_proto::UnixTime;
use sqlx::Row;

use super::rows::secs;
use super::{Store, StoreError};

impl Store {
    /// The record of session `id`, as JSON, if one was stored.
    pub async fn ussd_session(&self, id: &str) -> Result<Option<String>, StoreError> {
        let row = sqlx::query("SELECT record FROM ussd_sessions WHERE session_id = $1")
            .bind(id.to_owned())
            .fetch_optional(self.reader().await?)
            .await?;
        row.map(|r| r.try_get(0).map_err(Into::into)).transpose()
    }

    /// Stores (or replaces) the record of session `id`, to keep until `expires_at`.
    pub async fn put_ussd_session(
        &self,
        id: &str,
        record: &str,
        expires_at: UnixTime,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        sqlx::query(
            "INSERT INTO ussd_sessions (session_id, record, expires_at) VALUES ($1, $2, $3)
             ON CONFLICT (session_id) DO UPDATE SET record = excluded.record,
               expires_at = excluded.expires_at",
        )
        .bind(id.to_owned())
        .bind(record.to_owned())
        .bind(secs(expires_at))
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// The `limit` session records kept longest (the newest sessions), as (session id, JSON
    /// record), newest first: the operator's dashboard.
    pub async fn latest_ussd_sessions(
        &self,
        limit: usize,
    ) -> Result<Vec<(String, String)>, StoreError> {
        let rows = sqlx::query(
            "SELECT session_id, record FROM ussd_sessions ORDER BY expires_at DESC, session_id
             LIMIT $1",
        )
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .fetch_all(self.reader().await?)
        .await?;
        rows.iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
            .collect()
    }

    /// Drops records kept past their retention; returns how many.
    pub async fn purge_ussd_sessions(&self, now: UnixTime) -> Result<u64, StoreError> {
        let mut tx = self.begin().await?;
        let done = sqlx::query("DELETE FROM ussd_sessions WHERE expires_at < $1")
            .bind(secs(now))
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(done.rows_affected())
    }
}
