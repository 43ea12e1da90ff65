//! Deposits: online balance → a secure wallet's float, as an issuer-signed authorization with
//! the wallet's next serial `i`. The wallet applies only `i + 1`, so serials are allocated here
//! one at a time: a request must name the next serial; a retry of the same request (same
//! serial, same amount) returns the same authorization; anything else is refused.

use ferry_proto::journal::{DepositAuthBody, DepositAuthorization};
use ferry_proto::{AccountId, Money, TaId, UnixTime};
use thiserror::Error;

use super::settler::Settler;
use super::{Engine, EngineError, push_fee, retry_transient};
use crate::accounts::LedgerAccount;
use crate::kinds::DepositState;
use crate::store::StoreError;
use crate::transfer::{Posting, Transfer};

/// Why a deposit was refused. Nothing moved.
#[derive(Debug, Error)]
pub enum DepositError {
    /// The wallet is not registered.
    #[error("unknown secure wallet")]
    UnknownWallet,
    /// The wallet belongs to another account.
    #[error("the secure wallet belongs to another account")]
    NotYourWallet,
    /// The wallet is revoked.
    #[error("the secure wallet is revoked")]
    Revoked,
    /// Not the server's currency.
    #[error("currency mismatch")]
    CurrencyMismatch,
    /// Zero or negative.
    #[error("amount must be positive")]
    NotPositive,
    /// More than the wallet may hold.
    #[error("amount above the wallet's balance limit")]
    OverBalanceLimit,
    /// The serial is not the next one.
    #[error("expected serial {expected}, got {got}")]
    SerialOutOfOrder {
        /// The serial the server will issue next.
        expected: u32,
        /// The serial asked for.
        got: u32,
    },
    /// The serial was issued before for a different amount (or voided).
    #[error("serial {0} was already used for a different deposit")]
    SerialUsed(u32),
    /// The online balance does not cover amount and fee.
    #[error("insufficient online balance")]
    InsufficientFunds,
    /// The operation failed as a whole.
    #[error(transparent)]
    Engine(#[from] EngineError),
}

impl From<StoreError> for DepositError {
    fn from(e: StoreError) -> Self {
        DepositError::Engine(e.into())
    }
}

impl Engine {
    /// Moves `amount` from `account`'s online balance to wallet `ta`'s float and returns the
    /// signed authorization with `serial`.
    pub async fn deposit(
        &self,
        account: AccountId,
        ta: TaId,
        serial: u32,
        amount: Money,
        now: UnixTime,
    ) -> Result<DepositAuthorization, DepositError> {
        if amount.currency() != self.inner.config.currency {
            return Err(DepositError::CurrencyMismatch);
        }
        if amount.minor() <= 0 {
            return Err(DepositError::NotPositive);
        }
        let cert = self
            .inner
            .store
            .wallet_certificate(ta)
            .await?
            .ok_or(DepositError::UnknownWallet)?;
        let cert = cert.unverified().clone();
        if cert.account_id != account {
            return Err(DepositError::NotYourWallet);
        }
        if amount.minor() > cert.limits.max_balance {
            return Err(DepositError::OverBalanceLimit);
        }
        let fee = amount
            .basis_points(self.inner.config.fees.deposit_bps)
            .map_err(|_| DepositError::OverBalanceLimit)?
            .minor();
        let auth = DepositAuthorization::sign(
            DepositAuthBody {
                ta,
                serial,
                amount,
                issued_at: now,
            },
            &self.inner.issuer,
        )
        .map_err(EngineError::Signing)?;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let result = retry_transient(|| async {
                let mut s = Settler::begin(&self.inner, now).await?;
                let r = s.deposit(account, ta, serial, amount, fee, &auth).await;
                match r {
                    Ok(Ok(auth)) => {
                        s.commit().await?;
                        Ok(Ok(auth))
                    }
                    Ok(Err(e)) => Ok(Err(e)),
                    Err(e) => Err(e),
                }
            })
            .await;
            match result {
                Ok(r) => return r,
                // A concurrent identical request won the serial between our read and insert:
                // once more, to return its authorization.
                Err(EngineError::Store(StoreError::DuplicateReference(_))) if attempt < 2 => {}
                Err(e) => return Err(e.into()),
            }
        }
    }
}

impl Settler<'_> {
    async fn deposit(
        &mut self,
        account: AccountId,
        ta: TaId,
        serial: u32,
        amount: Money,
        fee: i64,
        auth: &DepositAuthorization,
    ) -> Result<Result<DepositAuthorization, DepositError>, EngineError> {
        if self.case(ta).await?.is_some() {
            return Ok(Err(DepositError::Revoked));
        }
        if let Some(d) = self.tx.deposit(ta, serial).await? {
            let same = d.amount == amount && d.state != DepositState::Void && d.account == account;
            if !same {
                return Ok(Err(DepositError::SerialUsed(serial)));
            }
            return Ok(Ok(d.authorization));
        }
        let expected = self.tx.next_deposit_serial(ta).await?;
        if serial != expected {
            return Ok(Err(DepositError::SerialOutOfOrder {
                expected,
                got: serial,
            }));
        }
        // The identity first: a concurrent request for the same serial waits here, then
        // finds ours.
        if !self
            .tx
            .insert_deposit(ta, serial, account, amount, auth, self.now)
            .await?
        {
            return Err(StoreError::DuplicateReference(format!("deposit:{ta}/{serial}")).into());
        }
        let mut postings = vec![
            Posting::debit(
                LedgerAccount::Online(account),
                amount.minor().saturating_add(fee),
            ),
            Posting::credit(LedgerAccount::Float(ta), amount.minor()),
        ];
        push_fee(&mut postings, fee);
        let transfer = Transfer {
            reference: format!("deposit:{ta}/{serial}"),
            kind: "deposit",
            currency: amount.currency(),
            postings,
        };
        match self.ledger.post(&mut self.tx, &transfer).await {
            Ok(()) => {}
            Err(StoreError::InsufficientFunds { .. }) => {
                return Ok(Err(DepositError::InsufficientFunds));
            }
            Err(e) => return Err(e.into()),
        }
        self.funded(ta);
        Ok(Ok(auth.clone()))
    }
}
