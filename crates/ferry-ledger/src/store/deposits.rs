//! Deposit authorizations the server issued (`deposits`), one per wallet and serial, and what
//! became of them.

use ferry_proto::{AccountId, DepositAuthorization, Money, TaId, UnixTime};
use sqlx::Row;

use super::rows::{account_id, corrupt, currency, numeric, secs};
use super::{StoreError, WriteTx};
use crate::kinds::DepositState;

/// A stored deposit authorization.
#[derive(Debug, Clone)]
pub struct DepositRecord {
    /// The holder it debited.
    pub account: AccountId,
    /// The amount authorized.
    pub amount: Money,
    /// Where it stands.
    pub state: DepositState,
    /// The issuer-signed authorization.
    pub authorization: DepositAuthorization,
}

impl WriteTx {
    /// The authorization issued to `ta` with `serial`, if any.
    pub async fn deposit(
        &mut self,
        ta: TaId,
        serial: u32,
    ) -> Result<Option<DepositRecord>, StoreError> {
        let row = sqlx::query(
            "SELECT amount, currency, status, authorization_doc, account_id FROM deposits
             WHERE ta_id = $1 AND serial = $2",
        )
        .bind(ta.as_bytes().to_vec())
        .bind(i64::from(serial))
        .fetch_optional(&mut **self)
        .await?;
        row.map(|r| {
            let state: String = r.try_get(2)?;
            Ok(DepositRecord {
                amount: Money::new(r.try_get(0)?, currency(r.try_get(1)?)?),
                state: DepositState::from_name(&state).ok_or_else(|| corrupt("deposit status"))?,
                authorization: DepositAuthorization::from_bytes(&r.try_get::<Vec<u8>, _>(3)?)
                    .map_err(|e| corrupt(format!("authorization: {e}")))?,
                account: account_id(&r.try_get::<Vec<u8>, _>(4)?)?,
            })
        })
        .transpose()
    }

    /// The next serial `ta` may be issued: one past the highest issued or synced.
    pub async fn next_deposit_serial(&mut self, ta: TaId) -> Result<u32, StoreError> {
        let issued: i64 = sqlx::query(
            "SELECT CAST(COALESCE(MAX(serial), 0) AS BIGINT) FROM deposits WHERE ta_id = $1",
        )
        .bind(ta.as_bytes().to_vec())
        .fetch_one(&mut **self)
        .await?
        .try_get(0)?;
        let synced: i64 = sqlx::query(
            "SELECT CAST(COALESCE(MAX(last_serial), 0) AS BIGINT) FROM wallet_sync WHERE ta_id = $1",
        )
        .bind(ta.as_bytes().to_vec())
        .fetch_one(&mut **self)
        .await?
        .try_get(0)?;
        Ok(u32::try_from(issued.max(synced).saturating_add(1)).unwrap_or(u32::MAX))
    }

    /// Records an issued authorization. False when one with the same serial exists (a
    /// concurrent request waits here on the unique key, then finds the other).
    pub async fn insert_deposit(
        &mut self,
        ta: TaId,
        serial: u32,
        account: AccountId,
        amount: Money,
        auth: &DepositAuthorization,
        now: UnixTime,
    ) -> Result<bool, StoreError> {
        let inserted = sqlx::query(
            "INSERT INTO deposits (ta_id, serial, account_id, amount, currency, authorization_doc, status, issued_at)
             VALUES ($1, $2, $3, $4, $5, $6, 'issued', $7) ON CONFLICT (ta_id, serial) DO NOTHING RETURNING serial",
        )
        .bind(ta.as_bytes().to_vec())
        .bind(i64::from(serial))
        .bind(account.as_bytes().to_vec())
        .bind(amount.minor())
        .bind(numeric(amount.currency()))
        .bind(auth.to_bytes())
        .bind(secs(now))
        .fetch_optional(&mut **self)
        .await?;
        Ok(inserted.is_some())
    }

    /// Moves `ta`'s authorization `serial` to `state`.
    pub async fn set_deposit_state(
        &mut self,
        ta: TaId,
        serial: u32,
        state: DepositState,
    ) -> Result<(), StoreError> {
        sqlx::query("UPDATE deposits SET status = $1 WHERE ta_id = $2 AND serial = $3")
            .bind(state.as_str())
            .bind(ta.as_bytes().to_vec())
            .bind(i64::from(serial))
            .execute(&mut **self)
            .await?;
        Ok(())
    }
}
