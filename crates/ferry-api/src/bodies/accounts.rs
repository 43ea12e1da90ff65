//! Bodies of the routes account holders call: registration, deposits, bonds, balances.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::Amount;
use crate::{B64, B64Array};

/// `POST /v1/accounts`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterAccount {
    /// The account's Ed25519 public key (the request is signed with it).
    pub account_key: B64Array<32>,
}

/// A registered account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct AccountRegistered {
    /// The new account id (hex).
    pub account_id: String,
    /// The client certificate.
    pub client_certificate: B64,
}

/// `POST /v1/wallets`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterWallet {
    /// The attestation statement vouching for the secure wallet's key.
    pub attestation: B64,
}

/// A registered secure wallet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct WalletRegistered {
    /// The wallet id (hex).
    pub ta_id: String,
    /// Its TA certificate, with the limits of its tier.
    pub ta_certificate: B64,
}

/// `POST /v1/deposits`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DepositRequest {
    /// The wallet (hex), which must belong to the signing account.
    pub ta_id: String,
    /// The wallet's next serial (its last serial + 1).
    #[serde(deserialize_with = "crate::integers::u32_field")]
    pub serial: u32,
    /// Minor units.
    #[serde(deserialize_with = "crate::integers::i64_field")]
    pub amount: i64,
    /// ISO 4217 code.
    pub currency: String,
}

/// A deposit authorization for the wallet to apply.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct DepositIssued {
    /// The serial.
    pub serial: u32,
    /// The issuer-signed authorization.
    pub authorization: B64,
}

/// An amount with an idempotency reference (`POST /v1/bonds`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BondRequest {
    /// Minor units.
    #[serde(deserialize_with = "crate::integers::i64_field")]
    pub amount: i64,
    /// ISO 4217 code.
    pub currency: String,
    /// The caller's idempotency key (1–64 printable ASCII).
    pub reference: String,
}

/// A secure wallet's standing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct WalletBody {
    /// The wallet (hex).
    pub ta_id: String,
    /// Its float on the ledger.
    pub float: Amount,
    /// The next journal position the server expects.
    pub next_j: u32,
    /// Whether it is revoked.
    pub revoked: bool,
}

/// An account's balances.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct AccountBody {
    /// The account (hex).
    pub account_id: String,
    /// Online balance.
    pub online: Amount,
    /// Penalty bond.
    pub bond: Amount,
    /// Secure wallets.
    pub wallets: Vec<WalletBody>,
}

/// Payments an account received, in the order the server saw them
/// (`GET /v1/accounts/{id}/payments`): how a payee learns of payments made while it was not
/// there, such as remote payments carried by the mesh.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ReceivedPaymentsBody {
    /// At most one page of payments.
    pub payments: Vec<ReceivedPaymentBody>,
    /// Pass as `after` to read the next page; absent on the last page.
    pub next: Option<String>,
}

/// One payment an account received.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ReceivedPaymentBody {
    /// `<ta>/<j>`.
    pub payment_id: String,
    /// Where it stands.
    pub status: crate::PaymentState,
    /// When the server first saw it (unix seconds).
    pub received_at: u64,
    /// The payment (a Pay entry) exactly as the payer's wallet signed it: the payee verifies it.
    pub payment: B64,
    /// The payer wallet's certificate, signed by the issuer (its key verifies the payment).
    pub ta_certificate: B64,
}

/// How money reached or left an online balance, from the ledger transfer's kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    /// An offline payment settled from the payer wallet's float (face to face, or carried by
    /// the mesh; the ledger does not tell them apart, the payee's wallet does).
    Offline,
    /// An offline payment the holder's secure wallet had collected, moved between balance and
    /// float.
    Collect,
    /// A feature-phone (USSD) transfer.
    Ussd,
    /// An Offline Pix voucher: created, redeemed or returned.
    Voucher,
    /// A deferred order.
    Order,
    /// Value moved into a secure wallet (or a deposit voided and refunded).
    Deposit,
    /// Value moved from a secure wallet back online.
    Withdrawal,
    /// Cash handed to an agent.
    CashIn,
    /// Cash paid out by an agent.
    CashOut,
    /// The holder's penalty bond.
    Bond,
    /// A payout to an honest receiver of a revoked wallet.
    FraudPayout,
    /// Any other movement (a kind this client does not know).
    #[serde(other)]
    Other,
}

impl Channel {
    /// The channel of a ledger transfer kind (`payment`, `ussd_send`, …).
    pub fn of_kind(kind: &str) -> Channel {
        match kind {
            "payment" => Channel::Offline,
            "collect" | "collect_advance" => Channel::Collect,
            "ussd_send" => Channel::Ussd,
            "voucher_create" | "voucher_redeem" | "voucher_return" => Channel::Voucher,
            "order" => Channel::Order,
            "deposit" | "deposit_void" => Channel::Deposit,
            "withdrawal" => Channel::Withdrawal,
            "cash_in" => Channel::CashIn,
            "cash_out" | "ussd_cash_out" => Channel::CashOut,
            "bond" => Channel::Bond,
            "fraud_payout" => Channel::FraudPayout,
            _ => Channel::Other,
        }
    }

    /// The wire name (`offline`, `cash_in`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Offline => "offline",
            Channel::Collect => "collect",
            Channel::Ussd => "ussd",
            Channel::Voucher => "voucher",
            Channel::Order => "order",
            Channel::Deposit => "deposit",
            Channel::Withdrawal => "withdrawal",
            Channel::CashIn => "cash_in",
            Channel::CashOut => "cash_out",
            Channel::Bond => "bond",
            Channel::FraudPayout => "fraud_payout",
            Channel::Other => "other",
        }
    }
}

/// `GET /v1/accounts/{id}/statement?day=YYYY-MM-DD`: the account's online balance over one
/// UTC day. Every amount is in minor units of `currency`; `opening + totals.net == closing`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct StatementBody {
    /// The account (hex).
    pub account_id: String,
    /// ISO 4217 code of every amount.
    pub currency: String,
    /// The day, `YYYY-MM-DD` (UTC).
    pub day: String,
    /// Start of the day (Unix seconds, included).
    pub from: u64,
    /// Start of the next day (Unix seconds, excluded).
    pub to: u64,
    /// When the server produced the statement (Unix seconds).
    pub created_at: u64,
    /// Balance at the start of the day.
    pub opening_balance: i64,
    /// Balance at the end of the day (now, for today).
    pub closing_balance: i64,
    /// Every transfer that moved the balance during the day, in booking order.
    pub entries: Vec<StatementEntryBody>,
    /// Their totals.
    pub totals: StatementTotalsBody,
}

/// One transfer on a statement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct StatementEntryBody {
    /// The transfer's unique reference (e.g. `payment:<ta>/<j>` for an offline payment).
    pub reference: String,
    /// How the money moved.
    pub channel: Channel,
    /// The ledger's kind of transfer (`payment`, `ussd_send`, …).
    pub kind: String,
    /// Signed: positive credited the balance, negative debited it (after any fee).
    pub amount: i64,
    /// The fee the holder bore (negative for a refunded fee).
    pub fee: i64,
    /// When it was booked (Unix seconds).
    pub booked_at: u64,
}

/// What a statement adds up to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct StatementTotalsBody {
    /// How many entries.
    pub count: u64,
    /// Sum of the credits.
    pub credits: i64,
    /// Sum of the debits (positive).
    pub debits: i64,
    /// Sum of the fees borne.
    pub fees: i64,
    /// `credits - debits` (= closing - opening).
    pub net: i64,
}

/// The signing account's mesh postage for the current UTC day
/// (`GET /v1/accounts/{id}/mesh-postage`): relays carry envelopes that bear the postage and the
/// postage key's postmark ([`ferry_proto::postage`]). The same all day; valid for three days
/// from the day's start.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct MeshPostageBody {
    /// The issuer-signed postage (105 bytes).
    pub postage: B64,
    /// The postage key's secret seed (32 bytes): postmarks envelopes. Keep it like a key.
    pub postage_key: B64,
    /// Not valid from this unix time on.
    pub valid_until: u64,
}
