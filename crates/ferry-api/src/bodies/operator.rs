//! Bodies of the routes cash agents (bearer token) and the operator (admin token) call.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::Amount;
use crate::B64;

/// `POST /v1/agents/cash-in`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CashInRequest {
    /// The account credited (hex).
    pub account_id: String,
    /// Minor units.
    #[serde(deserialize_with = "crate::integers::i64_field")]
    pub amount: i64,
    /// ISO 4217 code.
    pub currency: String,
    /// The agent's idempotency key (1–64 printable ASCII).
    pub reference: String,
}

/// `POST /v1/agents/cash-out`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CashOutRequest {
    /// The holder's signed consent (`ferry_proto::cash::CashOut`).
    pub consent: B64,
}

/// `POST /v1/admin/agents`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateAgent {
    /// 1–64 characters of `[a-z0-9_-]`.
    pub name: String,
}

/// A new agent and its bearer token (shown once; stored hashed).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct AgentCreated {
    /// The agent.
    pub name: String,
    /// Its bearer token.
    pub token: String,
}

/// `POST /v1/admin/fund`: issue money into an agent's float or the insurance fund.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FundRequest {
    /// `insurance` or `agent:<name>`.
    pub account: String,
    /// Minor units.
    #[serde(deserialize_with = "crate::integers::i64_field")]
    pub amount: i64,
    /// ISO 4217 code.
    pub currency: String,
    /// Idempotency key (1–64 printable ASCII).
    pub reference: String,
}

/// A currency's ledger sum.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct CurrencySum {
    /// ISO 4217 code.
    pub currency: String,
    /// Sum of every balance (must be "0"; a string because it is computed in 128 bits).
    pub sum: String,
}

/// A negative balance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct NegativeBalance {
    /// Ledger account key.
    pub account: String,
    /// ISO 4217 code.
    pub currency: String,
    /// The balance.
    pub balance: i64,
}

/// The audit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct AuditBody {
    /// True when every currency sums to zero, no transfer is unbalanced, no balance drifted
    /// from its postings and no float is negative outside an open fraud case.
    pub clean: bool,
    /// Per-currency sums.
    pub sums: Vec<CurrencySum>,
    /// Accounts below zero that should not be.
    pub negative: Vec<NegativeBalance>,
    /// Transfers whose postings do not sum to zero.
    pub unbalanced_transfers: Vec<i64>,
    /// Accounts whose balance differs from their postings.
    pub drifted_accounts: Vec<String>,
}

/// Why a fraud case was opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum FraudKind {
    /// Two different entries at one journal position or after one predecessor.
    Fork,
    /// A journal entry that breaks a journal rule.
    JournalRule,
    /// A deposit the server never authorized.
    UnauthorizedDeposit,
    /// One payment collected twice.
    DoubleCollect,
    /// Payments still unfunded after the wallet's sync deadline and grace.
    UnfundedAfterDeadline,
    /// A kind this client does not know (a newer server).
    #[serde(other)]
    Unknown,
}

/// A fraud case.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct FraudCaseBody {
    /// Case number.
    pub id: i64,
    /// The revoked wallet (hex).
    pub ta_id: String,
    /// Its holder (hex).
    pub account_id: String,
    /// Why it was opened.
    pub kind: FraudKind,
    /// Detail.
    pub detail: String,
    /// Most the case may pay out.
    pub exposure: Amount,
    /// Paid out to receivers so far.
    pub covered: Amount,
    /// Unix seconds.
    pub opened_at: u64,
    /// The evidence (a canonical fraud proof for forks, the offending entry otherwise).
    pub evidence: Option<B64>,
}

/// Fraud cases opened by a sweep.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct SweepResult {
    /// Case numbers.
    pub opened: Vec<i64>,
}
