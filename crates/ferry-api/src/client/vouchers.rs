//! The Offline Pix voucher routes, each signed by the account.

use ferry_proto::{AccountId, SigningKey, UnixTime};

use super::{Auth, ClientError, SettlementClient};
use crate::{
    CreateVoucherRequest, RedeemVoucherRequest, RiskAlertsBody, VoucherBlockBody,
    VoucherBlockRequest, VoucherBody, VoucherCreated, VoucherListBody, VoucherRedeemResult,
};

impl SettlementClient {
    /// Creates a voucher from the account's online balance.
    pub async fn create_voucher(
        &self,
        key: &SigningKey,
        account: AccountId,
        request: &CreateVoucherRequest,
        now: UnixTime,
    ) -> Result<VoucherCreated, ClientError> {
        self.post("/v1/vouchers", request, Auth::Account(key, account), now)
            .await
    }

    /// Redeems an amount of a voucher to the account.
    pub async fn redeem_voucher(
        &self,
        key: &SigningKey,
        account: AccountId,
        request: &RedeemVoucherRequest,
        now: UnixTime,
    ) -> Result<VoucherRedeemResult, ClientError> {
        self.post(
            "/v1/vouchers/redeem",
            request,
            Auth::Account(key, account),
            now,
        )
        .await
    }

    /// The account's vouchers, newest first, with their history.
    pub async fn vouchers(
        &self,
        key: &SigningKey,
        account: AccountId,
        now: UnixTime,
    ) -> Result<VoucherListBody, ClientError> {
        self.get("/v1/vouchers", Auth::Account(key, account), now)
            .await
    }

    /// Invalidates one of the account's vouchers; the rest of its reserve comes back.
    pub async fn invalidate_voucher(
        &self,
        key: &SigningKey,
        account: AccountId,
        voucher_id: &str,
        now: UnixTime,
    ) -> Result<VoucherBody, ClientError> {
        let path = format!("/v1/vouchers/{voucher_id}/invalidate");
        self.call::<(), _>(
            reqwest::Method::POST,
            &path,
            None,
            Auth::Account(key, account),
            now,
        )
        .await
    }

    /// Admin: the newest risk alerts, of every account or of `account`.
    pub async fn risk_alerts(
        &self,
        admin_token: &str,
        account: Option<AccountId>,
    ) -> Result<RiskAlertsBody, ClientError> {
        let path = match account {
            Some(a) => format!("/v1/fraud/alerts?account={}", a.to_hex()),
            None => "/v1/fraud/alerts".to_owned(),
        };
        self.get(&path, Auth::Bearer(admin_token), UnixTime(0))
            .await
    }

    /// Blocks (or unblocks) voucher creation on the account.
    pub async fn block_vouchers(
        &self,
        key: &SigningKey,
        account: AccountId,
        blocked: bool,
        now: UnixTime,
    ) -> Result<VoucherBlockBody, ClientError> {
        self.post(
            "/v1/vouchers/block",
            &VoucherBlockRequest { blocked },
            Auth::Account(key, account),
            now,
        )
        .await
    }
}
