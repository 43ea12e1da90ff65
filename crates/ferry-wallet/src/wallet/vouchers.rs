//! Offline Pix vouchers from this wallet's account: the emitter creates (from its online
//! balance), lists, invalidates and blocks; a receiver redeems to its online balance. Every
//! request is signed with the account key; the password travels only in the request body.

use ferry_api::{
    CreateVoucherRequest, PlaceBody, RedeemVoucherRequest, VoucherBlockBody, VoucherBody,
    VoucherCreated, VoucherListBody, VoucherRedeemResult,
};
use ferry_proto::Money;
use zeroize::Zeroize;

use super::{Wallet, WalletError};

impl Wallet {
    /// Creates a voucher of `amount` from the online balance, expiring in `expires_in_secs`,
    /// sealed under `password`.
    pub async fn create_voucher(
        &self,
        amount: Money,
        expires_in_secs: u64,
        password: &str,
        place: Option<PlaceBody>,
    ) -> Result<VoucherCreated, WalletError> {
        let account = self.require_account().await?;
        let client = self.client().await?;
        let mut request = CreateVoucherRequest {
            amount: amount.minor(),
            currency: amount.currency().code().to_owned(),
            expires_in_secs,
            password: password.to_owned(),
            place,
        };
        let r = client
            .create_voucher(&self.account_key, account, &request, self.now())
            .await;
        request.password.zeroize();
        Ok(r?)
    }

    /// Redeems `amount` of the voucher in `text` (its QR text) to this account's online
    /// balance. A fresh request id each call; the server answers a retry of one request once.
    pub async fn redeem_voucher(
        &self,
        text: &str,
        password: &str,
        amount: Money,
        place: Option<PlaceBody>,
    ) -> Result<VoucherRedeemResult, WalletError> {
        let account = self.require_account().await?;
        let client = self.client().await?;
        let mut request = RedeemVoucherRequest {
            voucher: text.trim().to_owned(),
            password: password.to_owned(),
            amount: amount.minor(),
            currency: amount.currency().code().to_owned(),
            request_id: data_encoding::HEXLOWER.encode(&ferry_proto::random_bytes::<16>()),
            place,
        };
        let r = client
            .redeem_voucher(&self.account_key, account, &request, self.now())
            .await;
        request.password.zeroize();
        Ok(r?)
    }

    /// This account's vouchers, newest first.
    pub async fn vouchers(&self) -> Result<VoucherListBody, WalletError> {
        let account = self.require_account().await?;
        let client = self.client().await?;
        Ok(client
            .vouchers(&self.account_key, account, self.now())
            .await?)
    }

    /// Invalidates voucher `id`; the rest of its reserve comes back.
    pub async fn invalidate_voucher(&self, id: &str) -> Result<VoucherBody, WalletError> {
        let account = self.require_account().await?;
        let client = self.client().await?;
        Ok(client
            .invalidate_voucher(&self.account_key, account, id, self.now())
            .await?)
    }

    /// Blocks (or unblocks) voucher creation on this account.
    pub async fn block_vouchers(&self, blocked: bool) -> Result<VoucherBlockBody, WalletError> {
        let account = self.require_account().await?;
        let client = self.client().await?;
        Ok(client
            .block_vouchers(&self.account_key, account, blocked, self.now())
            .await?)
    }
}
