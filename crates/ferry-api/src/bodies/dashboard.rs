//! Bodies of the operator's read-only dashboard routes (admin token): the ledger overview and
//! the latest transfers with their postings.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// The total of one kind of ledger account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct KindTotalBody {
    /// `online`, `float`, `bond`, `insurance`, `in_transit`, `fees`, `agent`,
    /// `cash_out_reserve`, `voucher` or `issuance`.
    pub kind: String,
    /// How many accounts of this kind the ledger holds.
    pub accounts: u64,
    /// The sum of their balances, in minor units.
    pub balance: i64,
}

/// One ledger account's balance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct AccountBalanceBody {
    /// The ledger account key (`online:<hex>`, `float:<hex>`, `agent:<name>`, `fees`, …).
    pub account: String,
    /// Minor units.
    pub balance: i64,
}

/// How many transfers have one kind.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct KindCountBody {
    /// The transfer kind.
    pub kind: String,
    /// How many.
    pub count: i64,
}

/// How many payments (or withdrawals) have one status.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct DebitCountBody {
    /// `payment` or `withdrawal`.
    pub kind: String,
    /// `settled` or `pending`.
    pub status: String,
    /// How many.
    pub count: i64,
}

/// Payments of one channel and status.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ChannelCountBody {
    /// `face_to_face` (a wallet payment claimed by its payee or uploaded with its payer's
    /// journal), `mesh` (a remote payment a bridge brought first), `ussd`, `voucher` (a
    /// redemption) or `order`.
    pub channel: String,
    /// `settled`, or `pending` (a wallet payment its payer's float cannot fund yet).
    pub status: String,
    /// How many.
    pub count: i64,
    /// Their sum in minor units (what the payees were credited, fees apart).
    pub amount: i64,
}

/// `GET /v1/admin/overview`: the ledger re-derived from every account, in the server's
/// currency.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct OverviewBody {
    /// ISO 4217 code of every amount.
    pub currency: String,
    /// The currency's minor-unit digits (2 for BRL: 1234 is 12.34).
    pub exponent: u8,
    /// Every kind of account with its total.
    pub totals: Vec<KindTotalBody>,
    /// Money issued: minus the issuance account's balance (minor units).
    pub issued: i64,
    /// Money accounted for: the sum of every other account (minor units); equals `issued` in a
    /// balanced ledger.
    pub accounted: i64,
    /// Accounts with a non-zero balance, largest first (at most 200).
    pub accounts: Vec<AccountBalanceBody>,
    /// How many accounts have a non-zero balance.
    pub nonzero_accounts: u64,
    /// How many transfers the ledger holds.
    pub transfers: i64,
    /// Transfers counted by kind (how money moved: `payment`, `ussd_send`, `order`, …).
    pub transfer_kinds: Vec<KindCountBody>,
    /// Payments and withdrawals by kind and status.
    pub debits: Vec<DebitCountBody>,
    /// Payments by channel and status, with their amounts (channels without a payment left
    /// out).
    #[serde(default)]
    pub channels: Vec<ChannelCountBody>,
    /// Fraud cases opened.
    pub fraud_cases: u64,
    /// The revoked secure wallets (hex).
    pub revoked_wallets: Vec<String>,
}

/// One voucher as the operator sees it (never its password, verifier or sealed payload).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct AdminVoucherBody {
    /// The voucher id.
    pub id: String,
    /// The emitter's account (hex).
    pub emitter: String,
    /// Its spending limit at creation (minor units).
    pub initial_amount: i64,
    /// What receivers may still take (minor units).
    pub remaining: i64,
    /// `active`, `expired`, `invalidated` or `used_up`.
    pub state: String,
    /// Why it was invalidated (`emitter`, `brute_force`, `impossible_travel`).
    pub state_reason: Option<String>,
    /// Wrong passwords so far.
    pub failures: u32,
    /// Unix seconds.
    pub created_at: u64,
    /// Unix seconds; redeemable strictly before.
    pub expires_at: u64,
    /// What went back to the emitter when it closed (minor units).
    pub returned: Option<i64>,
}

/// `GET /v1/admin/vouchers`: the newest vouchers (at most 100), newest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct AdminVouchersBody {
    /// The vouchers.
    pub vouchers: Vec<AdminVoucherBody>,
}

/// One USSD session as the operator sees it (never what was typed: a PIN travels in it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct AdminUssdSessionBody {
    /// The aggregator's session id, all but its last 4 characters masked.
    pub session: String,
    /// The caller's number (E.164).
    pub phone: String,
    /// Unix seconds of the first callback.
    pub created_at: u64,
    /// Inputs answered so far.
    pub answered: u32,
    /// The caller's account at the first callback: `unregistered`, `no_pin`, `ready` or
    /// `locked` (too many wrong PINs).
    pub start: String,
}

/// `GET /v1/admin/ussd/sessions`: the newest USSD sessions still kept (at most 50).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct AdminUssdSessionsBody {
    /// Newest first.
    pub sessions: Vec<AdminUssdSessionBody>,
}

/// One posting of a transfer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct PostingBody {
    /// The ledger account key.
    pub account: String,
    /// Minor units: positive credits the account, negative debits it.
    pub amount: i64,
}

/// A transfer with its postings (they sum to zero).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct TransferBody {
    /// Transfer number.
    pub id: i64,
    /// Its unique reference (e.g. `pay:<ta>/<j>`).
    pub reference: String,
    /// What it records (`payment`, `cash_in`, `deposit`, …).
    pub kind: String,
    /// ISO 4217 code.
    pub currency: String,
    /// Unix seconds.
    pub posted_at: u64,
    /// Its postings.
    pub postings: Vec<PostingBody>,
}

/// `GET /v1/admin/transfers`: the latest transfers, newest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct TransfersBody {
    /// The transfers.
    pub transfers: Vec<TransferBody>,
}
