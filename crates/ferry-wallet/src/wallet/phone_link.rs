//! Linking a phone number to this wallet's account, so feature phones pay the account by
//! number over USSD: the server sends a one-time code to the phone by SMS; the holder types it
//! here, proving the phone is theirs; the request is signed with the account key.

use ferry_api::LinkPhoneResult;

use super::{Wallet, WalletError};

impl Wallet {
    /// Asks the server for a phone-link code for `phone` (`code` = `None`; the code goes to the
    /// phone by SMS), or links `phone` to this account with the code it received.
    pub async fn link_phone(
        &self,
        phone: &str,
        code: Option<&str>,
    ) -> Result<LinkPhoneResult, WalletError> {
        let account = self.require_account().await?;
        let client = self.client().await?;
        Ok(client
            .link_phone(&self.account_key, account, phone, code, self.now())
            .await?)
    }
}
