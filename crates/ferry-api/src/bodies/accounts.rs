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
