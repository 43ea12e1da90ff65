//! The holder's penalty bond: money moved from the online balance into a bond that covers
//! losses from this holder's compromised wallets first (before the insurance fund), which is
//! what lets an operator grant a wallet higher offline limits.

use ferry_api::Outcome;
use ferry_proto::Money;

use super::{Wallet, WalletError};

impl Wallet {
    /// Moves `amount` from the online balance into the holder's bond. `reference` makes the
    /// request idempotent: the same reference again posts nothing more.
    pub async fn post_bond(&self, amount: Money, reference: &str) -> Result<Outcome, WalletError> {
        let account = self.require_account().await?;
        let client = self.client().await?;
        Ok(client
            .bond(&self.account_key, account, amount, reference, self.now())
            .await?)
    }
}
