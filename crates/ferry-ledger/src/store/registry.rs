//! Registered account keys (`accounts`) and attested secure wallets (`wallets`), with the
//! certificates issued to them. Keys are unique: a second registration of one is refused.

use ferry_proto::{
    AccountId, ClientCertificate, Document, PublicKey, Signed, TaCertificate, TaId, Tier, UnixTime,
};
use sqlx::Row;

use super::rows::{corrupt, secs};
use super::{Store, StoreError, WriteTx};

/// Loads and strictly decodes the signed document that `sql` selects by `key`.
async fn stored<'c, T: Document>(
    conn: impl sqlx::Executor<'c, Database = sqlx::Any>,
    sql: &'static str,
    key: &[u8],
) -> Result<Option<Signed<T>>, StoreError> {
    let row = sqlx::query(sql)
        .bind(key.to_vec())
        .fetch_optional(conn)
        .await?;
    row.map(|r| {
        Signed::<T>::from_bytes(&r.try_get::<Vec<u8>, _>(0)?)
            .map_err(|e| corrupt(format!("stored certificate: {e}")))
    })
    .transpose()
}

const CLIENT_CERTIFICATE: &str = "SELECT certificate FROM accounts WHERE account_id = $1";
const WALLET_CERTIFICATE: &str = "SELECT certificate FROM wallets WHERE ta_id = $1";

impl Store {
    /// Records a registered account. False when its key (or id) was registered before.
    pub async fn insert_account(
        &self,
        cert: &ClientCertificate,
        account_key: &PublicKey,
        now: UnixTime,
    ) -> Result<bool, StoreError> {
        let inserted = sqlx::query(
            "INSERT INTO accounts (account_id, account_key, certificate, registered_at)
             VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING RETURNING account_id",
        )
        .bind(cert.unverified().account_id.as_bytes().to_vec())
        .bind(account_key.as_bytes().to_vec())
        .bind(cert.to_bytes())
        .bind(secs(now))
        .fetch_optional(self.reader().await?)
        .await?;
        Ok(inserted.is_some())
    }

    /// Records a registered secure wallet. False when its key was registered before.
    pub async fn insert_wallet(
        &self,
        cert: &TaCertificate,
        tier: Tier,
        now: UnixTime,
    ) -> Result<bool, StoreError> {
        let body = cert.unverified();
        let inserted = sqlx::query(
            "INSERT INTO wallets (ta_id, ta_key, account_id, tier, certificate, registered_at)
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING RETURNING ta_id",
        )
        .bind(body.ta_id().as_bytes().to_vec())
        .bind(body.ta_key.as_bytes().to_vec())
        .bind(body.account_id.as_bytes().to_vec())
        .bind(tier.as_str())
        .bind(cert.to_bytes())
        .bind(secs(now))
        .fetch_optional(self.reader().await?)
        .await?;
        if inserted.is_some() {
            self.keep_wallet_certificate(cert).await?;
        }
        Ok(inserted.is_some())
    }

    /// Replaces a wallet's stored certificate (a renewal after sync), keeping the old one in
    /// the wallet's certificate history.
    pub async fn set_wallet_certificate(&self, cert: &TaCertificate) -> Result<(), StoreError> {
        sqlx::query("UPDATE wallets SET certificate = $1 WHERE ta_id = $2")
            .bind(cert.to_bytes())
            .bind(cert.unverified().ta_id().as_bytes().to_vec())
            .execute(self.reader().await?)
            .await?;
        self.keep_wallet_certificate(cert).await
    }

    /// Adds `cert` to its wallet's certificate history (`wallet_certificates`). One per
    /// `issued_at`: a second certificate issued in the same second replaces the first, as it
    /// replaced it in `wallets`.
    async fn keep_wallet_certificate(&self, cert: &TaCertificate) -> Result<(), StoreError> {
        let body = cert.unverified();
        sqlx::query(
            "INSERT INTO wallet_certificates (ta_id, issued_at, expires_at, certificate)
             VALUES ($1, $2, $3, $4)
             ON CONFLICT (ta_id, issued_at)
             DO UPDATE SET expires_at = excluded.expires_at, certificate = excluded.certificate",
        )
        .bind(body.ta_id().as_bytes().to_vec())
        .bind(secs(body.issued_at))
        .bind(secs(body.expires_at))
        .bind(cert.to_bytes())
        .execute(self.reader().await?)
        .await?;
        Ok(())
    }

    /// The certificate of wallet `ta` that was valid at `at` (the latest issued among those
    /// valid then), for a remote payment signed at `at` that names its wallet by id. When none
    /// was valid then, the current certificate (whose check then says why the payment is
    /// refused); `None` for a wallet never registered.
    pub async fn wallet_certificate_at(
        &self,
        ta: TaId,
        at: UnixTime,
    ) -> Result<Option<TaCertificate>, StoreError> {
        let Some(current) = self.wallet_certificate(ta).await? else {
            return Ok(None);
        };
        let body = current.unverified();
        if body.issued_at <= at && at < body.expires_at {
            return Ok(Some(current));
        }
        let row = sqlx::query(
            "SELECT certificate FROM wallet_certificates
             WHERE ta_id = $1 AND issued_at <= $2 AND expires_at > $2
             ORDER BY issued_at DESC LIMIT 1",
        )
        .bind(ta.as_bytes().to_vec())
        .bind(secs(at))
        .fetch_optional(self.reader().await?)
        .await?;
        match row {
            Some(r) => Ok(Some(
                TaCertificate::from_bytes(&r.try_get::<Vec<u8>, _>(0)?)
                    .map_err(|e| corrupt(format!("stored certificate: {e}")))?,
            )),
            None => Ok(Some(current)),
        }
    }

    /// The client certificate of `account`, if registered.
    pub async fn client_certificate(
        &self,
        account: AccountId,
    ) -> Result<Option<ClientCertificate>, StoreError> {
        stored(self.reader().await?, CLIENT_CERTIFICATE, account.as_bytes()).await
    }

    /// The TA certificate of wallet `ta`, if registered.
    pub async fn wallet_certificate(&self, ta: TaId) -> Result<Option<TaCertificate>, StoreError> {
        stored(self.reader().await?, WALLET_CERTIFICATE, ta.as_bytes()).await
    }

    /// An account's wallets with where the server's copy of each journal stands and whether it
    /// is revoked, in registration order.
    pub async fn wallets_of(&self, account: AccountId) -> Result<Vec<WalletRow>, StoreError> {
        let rows = sqlx::query(
            "SELECT w.ta_id, COALESCE(s.next_j, 1), f.id FROM wallets w
             LEFT JOIN wallet_sync s ON s.ta_id = w.ta_id
             LEFT JOIN fraud_cases f ON f.ta_id = w.ta_id
             WHERE w.account_id = $1 ORDER BY w.registered_at, w.ta_id",
        )
        .bind(account.as_bytes().to_vec())
        .fetch_all(self.reader().await?)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(WalletRow {
                    ta: super::rows::ta_id(&r.try_get::<Vec<u8>, _>(0)?)?,
                    next_j: u32::try_from(r.try_get::<i64, _>(1)?).unwrap_or(0),
                    revoked: r.try_get::<Option<i64>, _>(2)?.is_some(),
                })
            })
            .collect()
    }
}

/// One of an account's wallets, as [`Store::wallets_of`] lists it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WalletRow {
    /// The wallet.
    pub ta: TaId,
    /// The next journal position the server expects.
    pub next_j: u32,
    /// Whether it is revoked.
    pub revoked: bool,
}

impl WriteTx {
    /// The client certificate of `account`, read inside the transaction.
    pub async fn client_certificate(
        &mut self,
        account: AccountId,
    ) -> Result<Option<ClientCertificate>, StoreError> {
        stored(&mut **self, CLIENT_CERTIFICATE, account.as_bytes()).await
    }
}
