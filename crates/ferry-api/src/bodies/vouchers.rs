//! Bodies of the Offline Pix voucher routes (every one signed by the account): create, redeem,
//! list, invalidate, block. Passwords travel only in request bodies, and no `Debug` here shows
//! one.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::Amount;

/// A place, in degrees (WGS 84): latitude −90..=90, longitude −180..=180.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PlaceBody {
    /// Degrees north.
    pub latitude: f64,
    /// Degrees east.
    pub longitude: f64,
}

/// `POST /v1/vouchers`: reserve `amount` (plus the creation fee and the transfer-fee reserve)
/// from the signer's online balance into a new voucher sealed under `password`.
#[derive(Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateVoucherRequest {
    /// The voucher's value, minor units.
    #[serde(deserialize_with = "crate::integers::i64_field")]
    pub amount: i64,
    /// ISO 4217 code.
    pub currency: String,
    /// Seconds from now until it expires: 1 to 43 200 (12 hours).
    #[serde(deserialize_with = "crate::integers::u64_field")]
    pub expires_in_secs: u64,
    /// Chosen by the emitter, 6–64 characters; never stored (the server keeps an Argon2id
    /// verifier).
    pub password: String,
    /// Where the emitter is (for the impossible-travel rule), optional.
    pub place: Option<PlaceBody>,
}

impl std::fmt::Debug for CreateVoucherRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CreateVoucherRequest")
            .field("amount", &self.amount)
            .field("currency", &self.currency)
            .field("expires_in_secs", &self.expires_in_secs)
            .field("place", &self.place)
            .finish_non_exhaustive()
    }
}

/// A new voucher.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct VoucherCreated {
    /// The voucher (a version-4 UUID).
    pub voucher_id: String,
    /// The QR payload: `FV1:` and the sealed voucher in base32 (216 characters).
    pub text: String,
    /// Its value.
    pub amount: Amount,
    /// The creation fee taken.
    pub creation_fee: Amount,
    /// Reserved for the transfer fees of its redemptions; the unused part comes back.
    pub fee_reserve: Amount,
    /// Unix seconds.
    pub created_at: u64,
    /// Redeemable strictly before this instant, Unix seconds.
    pub expires_at: u64,
}

/// `POST /v1/vouchers/redeem`: pay `amount` of the voucher to the signer.
#[derive(Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RedeemVoucherRequest {
    /// The QR text (`FV1:…`).
    pub voucher: String,
    /// The password the emitter gave.
    pub password: String,
    /// Minor units.
    #[serde(deserialize_with = "crate::integers::i64_field")]
    pub amount: i64,
    /// ISO 4217 code.
    pub currency: String,
    /// 32 lower-case hex characters chosen by the receiver; a retry with the same id gets the
    /// first answer and moves nothing.
    pub request_id: String,
    /// Where the receiver is (for the impossible-travel rule), optional.
    pub place: Option<PlaceBody>,
}

impl std::fmt::Debug for RedeemVoucherRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedeemVoucherRequest")
            .field("amount", &self.amount)
            .field("currency", &self.currency)
            .field("request_id", &self.request_id)
            .field("place", &self.place)
            .finish_non_exhaustive()
    }
}

/// What a redemption did (the Pix RFC's failure points are the last three). A client that
/// meets an outcome it does not know fails to decode the answer rather than guess.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum VoucherRedeemOutcome {
    /// Paid to the signer.
    Redeemed,
    /// The amount is over what is left; nothing moved.
    AmountExceedsVoucher,
    /// The voucher cannot be redeemed (`reason` says why); nothing moved.
    InvalidVoucher,
    /// A security rule fired (`reason` says which); nothing moved, and for `brute_force` and
    /// `impossible_travel` the voucher is now invalidated.
    SecurityException,
}

/// Why a redemption was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum VoucherReason {
    /// The text is not a voucher (changed or cut short).
    Malformed,
    /// No such voucher on this server.
    Unknown,
    /// Past its expiry.
    Expired,
    /// Invalidated by its emitter or a security exception.
    Invalidated,
    /// Its whole value was redeemed.
    UsedUp,
    /// Wrong password (`attempts_left` before the voucher is invalidated).
    WrongPassword,
    /// The payload is not the voucher issued (tampered or sealed again).
    Mismatch,
    /// Too many wrong passwords: the voucher is invalidated.
    BruteForce,
    /// Too far from where it was created or last used, too soon: the voucher is invalidated.
    ImpossibleTravel,
    /// This account failed too many redemptions recently; try again later.
    ReceiverFailures,
    /// This account redeemed too often or too much in a short time; try again later.
    Velocity,
    /// A security rule blocked this account's redemptions for a while.
    AccountBlocked,
}

/// The answer to `POST /v1/vouchers/redeem`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct VoucherRedeemResult {
    /// What happened.
    pub outcome: VoucherRedeemOutcome,
    /// Why (`invalid_voucher`, `security_exception`).
    pub reason: Option<VoucherReason>,
    /// A sentence for the user.
    pub message: String,
    /// The voucher, when the text named one.
    pub voucher_id: Option<String>,
    /// What the signer got (`redeemed`).
    pub amount: Option<Amount>,
    /// The transfer fee, paid from the emitter's reserve (`redeemed`).
    pub fee: Option<Amount>,
    /// What may still be redeemed (`redeemed`, `amount_exceeds_voucher`).
    pub remaining: Option<Amount>,
    /// Wrong passwords left (`wrong_password`).
    pub attempts_left: Option<u32>,
    /// The request id was answered before; nothing moved now.
    pub duplicate: bool,
}

/// Where a voucher stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum VoucherStateBody {
    /// Redeemable until it expires.
    Active,
    /// Expired; the rest went back.
    Expired,
    /// Invalidated; the rest went back.
    Invalidated,
    /// Fully redeemed; the unused fee reserve went back.
    UsedUp,
}

/// One redemption, in the emitter's history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct VoucherRedemptionBody {
    /// The receiver's account (hex).
    pub receiver: String,
    /// What it got.
    pub amount: Amount,
    /// The transfer fee.
    pub fee: Amount,
    /// Unix seconds.
    pub at: u64,
}

/// A voucher as its emitter sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct VoucherBody {
    /// The voucher.
    pub voucher_id: String,
    /// Where it stands.
    pub state: VoucherStateBody,
    /// Why it was invalidated: `emitter`, `brute_force` or `impossible_travel`.
    pub reason: Option<String>,
    /// Its value at creation.
    pub amount: Amount,
    /// What may still be redeemed (zero once closed).
    pub remaining: Amount,
    /// The creation fee paid.
    pub creation_fee: Amount,
    /// The transfer-fee reserve.
    pub fee_reserve: Amount,
    /// Unix seconds.
    pub created_at: u64,
    /// Unix seconds.
    pub expires_at: u64,
    /// What went back to the emitter when it closed.
    pub returned: Option<Amount>,
    /// When it closed, Unix seconds.
    pub closed_at: Option<u64>,
    /// Its redemptions, oldest first.
    pub redemptions: Vec<VoucherRedemptionBody>,
}

/// The answer to `GET /v1/vouchers`: the signer's newest vouchers (at most 200).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct VoucherListBody {
    /// Newest first.
    pub vouchers: Vec<VoucherBody>,
    /// Whether voucher creation is blocked on the account.
    pub creation_blocked: bool,
}

/// `POST /v1/vouchers/block`: block (or unblock) all future voucher creation on the signer's
/// account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VoucherBlockRequest {
    /// `true` to block, `false` to unblock.
    pub blocked: bool,
}

/// Whether voucher creation is blocked on the account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct VoucherBlockBody {
    /// Blocked now.
    pub blocked: bool,
    /// The request changed it.
    pub changed: bool,
}

/// One risk alert: which rule fired on which account, with the evidence.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct RiskAlertBody {
    /// Its number (newest highest).
    pub id: i64,
    /// The account the rule fired on (hex).
    pub account_id: String,
    /// The channel (`voucher` or `ussd`).
    pub channel: String,
    /// The rule: `brute_force`, `impossible_travel`, `receiver_failures` or `velocity`.
    pub rule: String,
    /// `alert` (recorded only) or `blocked` (the operation was refused).
    pub action: String,
    /// What the user was told.
    pub message: String,
    /// What made the rule fire.
    #[schema(value_type = Object)]
    pub evidence: serde_json::Value,
    /// Unix seconds.
    pub at: u64,
}

/// The answer to `GET /v1/fraud/alerts`: the newest alerts (at most 1000), newest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct RiskAlertsBody {
    /// Newest first.
    pub alerts: Vec<RiskAlertBody>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_never_show_the_password() {
        let c = CreateVoucherRequest {
            amount: 1,
            currency: "BRL".into(),
            expires_in_secs: 60,
            password: "s3cret-pass".into(),
            place: None,
        };
        let r = RedeemVoucherRequest {
            voucher: "FV1:X".into(),
            password: "s3cret-pass".into(),
            amount: 1,
            currency: "BRL".into(),
            request_id: "00".repeat(16),
            place: None,
        };
        assert!(!format!("{c:?}{r:?}").contains("s3cret"));
    }

    #[test]
    fn an_unknown_outcome_does_not_decode() {
        let ok = r#"{"outcome":"redeemed","reason":null,"message":"","voucher_id":null,"amount":null,"fee":null,"remaining":null,"attempts_left":null,"duplicate":false}"#;
        assert!(serde_json::from_str::<VoucherRedeemResult>(ok).is_ok());
        let new = ok.replace("\"redeemed\"", "\"partly_redeemed\"");
        assert!(serde_json::from_str::<VoucherRedeemResult>(&new).is_err());
    }

    #[test]
    fn places_refuse_strings_and_unknown_fields() {
        assert!(serde_json::from_str::<PlaceBody>(r#"{"latitude":1.5,"longitude":-2}"#).is_ok());
        assert!(serde_json::from_str::<PlaceBody>(r#"{"latitude":"1.5","longitude":2}"#).is_err());
        assert!(
            serde_json::from_str::<PlaceBody>(r#"{"latitude":1,"longitude":2,"x":1}"#).is_err()
        );
    }
}
