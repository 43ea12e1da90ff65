//! Cash agents (`agents`): a name and the digest of its bearer token (never the token).

use ferry_proto::UnixTime;
use sqlx::Row;

use super::rows::secs;
use super::{Store, StoreError};

impl Store {
    /// Registers agent `name`. False when the name (or the token digest) is taken.
    pub async fn insert_agent(
        &self,
        name: &str,
        token_digest: [u8; 32],
        now: UnixTime,
    ) -> Result<bool, StoreError> {
        let inserted = sqlx::query(
            "INSERT INTO agents (name, token_digest, created_at) VALUES ($1, $2, $3)
             ON CONFLICT DO NOTHING RETURNING name",
        )
        .bind(name)
        .bind(token_digest.to_vec())
        .bind(secs(now))
        .fetch_optional(self.reader().await?)
        .await?;
        Ok(inserted.is_some())
    }

    /// The agent whose token has digest `token_digest`.
    pub async fn agent_by_token(
        &self,
        token_digest: [u8; 32],
    ) -> Result<Option<String>, StoreError> {
        let row = sqlx::query("SELECT name FROM agents WHERE token_digest = $1")
            .bind(token_digest.to_vec())
            .fetch_optional(self.reader().await?)
            .await?;
        row.map(|r| r.try_get(0)).transpose().map_err(Into::into)
    }

    /// Whether agent `name` exists.
    pub async fn agent_exists(&self, name: &str) -> Result<bool, StoreError> {
        Ok(sqlx::query("SELECT name FROM agents WHERE name = $1")
            .bind(name)
            .fetch_optional(self.reader().await?)
            .await?
            .is_some())
    }
}
