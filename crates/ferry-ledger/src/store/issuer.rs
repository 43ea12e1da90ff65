//! Which issuer keys the database belongs to (`issuer`, one row). Servers sharing a database
//! must share the issuer's keys; a server started with other keys is refused before it serves,
//! instead of registering accounts that the other servers' wallets cannot verify.

use ferry_proto::{KeyId, UnixTime};
use sqlx::Row;

use super::rows::{corrupt, secs};
use super::{Store, StoreError};

/// What [`Store::bind_issuer`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IssuerBinding {
    /// The database belongs to these keys (now, or from before).
    Ours,
    /// The database belongs to the issuer key with this id.
    Other(KeyId),
}

impl Store {
    /// Records that the database belongs to `issuer` (with sealing key `sealing`), unless it
    /// belongs to another issuer key already.
    pub async fn bind_issuer(
        &self,
        issuer: KeyId,
        sealing: KeyId,
        now: UnixTime,
    ) -> Result<IssuerBinding, StoreError> {
        sqlx::query(
            "INSERT INTO issuer (id, issuer_key_id, sealing_key_id, bound_at) VALUES (1, $1, $2, $3)
             ON CONFLICT (id) DO NOTHING",
        )
        .bind(issuer.as_bytes().to_vec())
        .bind(sealing.as_bytes().to_vec())
        .bind(secs(now))
        .execute(self.reader().await?)
        .await?;
        let stored: Vec<u8> = sqlx::query("SELECT issuer_key_id FROM issuer WHERE id = 1")
            .fetch_one(self.reader().await?)
            .await?
            .try_get(0)?;
        let stored = KeyId(stored.try_into().map_err(|_| corrupt("issuer key id"))?);
        Ok(if stored == issuer {
            IssuerBinding::Ours
        } else {
            IssuerBinding::Other(stored)
        })
    }
}
