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
