//! Deferred orders that settled (`orders`), keyed by their identity `(account, nonce)`.

use ferry_proto::UnixTime;
use ferry_proto::order::{DeferredOrder, OrderId};

use super::rows::{numeric, secs};
use super::{StoreError, WriteTx};

impl WriteTx {
    /// Takes the identity of order `id`. False when it was taken before.
    pub async fn insert_order(
        &mut self,
        id: &OrderId,
        body: &DeferredOrder,
        now: UnixTime,
    ) -> Result<bool, StoreError> {
        let inserted = sqlx::query(
            "INSERT INTO orders (from_account, nonce, to_account, amount, currency, settled_at)
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (from_account, nonce) DO NOTHING RETURNING amount",
        )
        .bind(id.from.as_bytes().to_vec())
        .bind(id.nonce.as_bytes().to_vec())
        .bind(body.to.as_bytes().to_vec())
        .bind(body.amount.minor())
        .bind(numeric(body.amount.currency()))
        .bind(secs(now))
        .fetch_optional(&mut **self)
        .await?;
        Ok(inserted.is_some())
    }

    /// Releases the identity of an order that did not settle, so a retry may.
    pub async fn delete_order(&mut self, id: &OrderId) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM orders WHERE from_account = $1 AND nonce = $2")
            .bind(id.from.as_bytes().to_vec())
            .bind(id.nonce.as_bytes().to_vec())
            .execute(&mut **self)
            .await?;
        Ok(())
    }
}
