//! The JSON bodies of the HTTP API. Binary values are base64url without padding ([`B64`]);
//! ids are lower-case hex; amounts are integers in minor units with an ISO 4217 currency code.
//! Every request type refuses unknown fields.

use ferry_ledger::engine::{AccountView, EnvelopeOutcome, FraudCase, PaymentStatus, SyncReport};
use ferry_ledger::{Audit, Outcome};
use ferry_proto::Money;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::api::json::{B64, B64Array};

/// `POST /v1/accounts`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterAccount {
    /// The account's Ed25519 public key (the request is signed with it).
    pub account_key: B64Array<32>,
}

/// A registered account.
#[derive(Debug, Serialize, ToSchema)]
pub struct AccountRegistered {
    /// The new account id (hex).
    pub account_id: String,
    /// The client certificate.
    pub client_certificate: B64,
}

/// `POST /v1/wallets`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterWallet {
    /// The attestation statement vouching for the secure wallet's key.
    pub attestation: B64,
}

/// A registered secure wallet.
#[derive(Debug, Serialize, ToSchema)]
pub struct WalletRegistered {
    /// The wallet id (hex).
    pub ta_id: String,
    /// Its TA certificate, with the limits of its tier.
    pub ta_certificate: B64,
}

/// `POST /v1/deposits`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DepositRequest {
    /// The wallet (hex), which must belong to the signing account.
    pub ta_id: String,
    /// The wallet's next serial (its last serial + 1).
    pub serial: u32,
    /// Minor units.
    pub amount: i64,
    /// ISO 4217 code.
    pub currency: String,
}

/// A deposit authorization for the wallet to apply.
#[derive(Debug, Serialize, ToSchema)]
pub struct DepositIssued {
    /// The serial.
    pub serial: u32,
    /// The issuer-signed authorization.
    pub authorization: B64,
}

/// An amount with an idempotency reference (`POST /v1/bonds`).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BondRequest {
    /// Minor units.
    pub amount: i64,
    /// ISO 4217 code.
    pub currency: String,
    /// The caller's idempotency key (1–64 printable ASCII).
    pub reference: String,
}

/// One payment as a receiver or bridge uploads it.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ClaimItem {
    /// The payer wallet's certificate.
    pub ta_certificate: B64,
    /// The payment.
    pub payment: B64,
    /// The payee's receipt, if the uploader has it.
    #[serde(default)]
    pub receipt: Option<B64>,
}

/// `POST /v1/claims`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ClaimsRequest {
    /// Up to 1000 payments.
    pub items: Vec<ClaimItem>,
}

/// The outcome of one item.
#[derive(Debug, Serialize, ToSchema)]
pub struct ItemOutcome {
    /// `settled`, `duplicate`, `pending`, `rejected` or `invalid`.
    pub outcome: &'static str,
    /// Why, for `pending`, `rejected` and `invalid` (snake_case).
    pub reason: Option<&'static str>,
}

impl From<Outcome> for ItemOutcome {
    fn from(o: Outcome) -> Self {
        ItemOutcome {
            outcome: o.name(),
            reason: o.reason().map(|r| r.as_str()),
        }
    }
}

/// The outcome of one claimed payment.
#[derive(Debug, Serialize, ToSchema)]
pub struct ClaimOutcome {
    /// The payment's identity `<ta>/<j>`, when it decoded.
    pub payment: Option<String>,
    /// What happened.
    #[serde(flatten)]
    pub outcome: ItemOutcome,
}

/// Outcomes of a claims batch, in request order.
#[derive(Debug, Serialize, ToSchema)]
pub struct ClaimsResponse {
    /// One per item.
    pub outcomes: Vec<ClaimOutcome>,
}

/// `POST /v1/journals`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct JournalRequest {
    /// The wallet's certificate.
    pub ta_certificate: B64,
    /// Journal entries since the last sync, in order (at most 1000).
    pub entries: Vec<B64>,
    /// The payments collected by these entries.
    #[serde(default)]
    pub collected: Vec<ClaimItem>,
}

/// The outcome of one journal entry.
#[derive(Debug, Serialize, ToSchema)]
pub struct EntryOutcome {
    /// Journal position.
    pub j: u32,
    /// What happened.
    #[serde(flatten)]
    pub outcome: ItemOutcome,
}

/// Where a sync stopped early.
#[derive(Debug, Serialize, ToSchema)]
pub struct Stopped {
    /// The position of the entry that stopped it.
    pub j: u32,
    /// Why.
    pub reason: &'static str,
}

/// What a sync did.
#[derive(Debug, Serialize, ToSchema)]
pub struct JournalResponse {
    /// The wallet (hex).
    pub ta_id: String,
    /// The next position the server expects.
    pub next_j: u32,
    /// The offline balance the verified journal leaves (minor units).
    pub balance: i64,
    /// Its currency.
    pub currency: &'static str,
    /// The last deposit/withdraw serial applied.
    pub last_serial: u32,
    /// One outcome per entry looked at.
    pub entries: Vec<EntryOutcome>,
    /// Where processing stopped, if it did.
    pub stopped: Option<Stopped>,
    /// A fraud case this upload opened.
    pub fraud_case: Option<i64>,
    /// A renewed certificate with a new sync deadline.
    pub ta_certificate: Option<B64>,
}

impl From<SyncReport> for JournalResponse {
    fn from(r: SyncReport) -> Self {
        JournalResponse {
            ta_id: r.ta.to_hex(),
            next_j: r.next_j,
            balance: r.balance.minor(),
            currency: r.balance.currency().code(),
            last_serial: r.last_serial,
            entries: r
                .entries
                .into_iter()
                .map(|(j, o)| EntryOutcome {
                    j,
                    outcome: o.into(),
                })
                .collect(),
            stopped: r.stopped.map(|(j, reason)| Stopped {
                j,
                reason: reason.as_str(),
            }),
            fraud_case: r.fraud_case,
            ta_certificate: r.certificate.map(|c| B64(c.to_bytes())),
        }
    }
}

/// `POST /v1/envelopes`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EnvelopesRequest {
    /// Up to 1000 sealed envelopes.
    pub envelopes: Vec<B64>,
}

/// The outcome of one envelope.
#[derive(Debug, Serialize, ToSchema)]
pub struct EnvelopeItemOutcome {
    /// The envelope id (hex), when it decoded.
    pub envelope_id: Option<String>,
    /// What it carried, when it opened.
    pub kind: Option<&'static str>,
    /// What happened.
    #[serde(flatten)]
    pub outcome: ItemOutcome,
}

impl From<EnvelopeOutcome> for EnvelopeItemOutcome {
    fn from(o: EnvelopeOutcome) -> Self {
        EnvelopeItemOutcome {
            envelope_id: Some(o.id.to_hex()),
            kind: o.kind,
            outcome: o.outcome.into(),
        }
    }
}

/// Outcomes of an envelope batch, in request order.
#[derive(Debug, Serialize, ToSchema)]
pub struct EnvelopesResponse {
    /// One per envelope.
    pub outcomes: Vec<EnvelopeItemOutcome>,
}

/// `POST /v1/orders`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OrdersRequest {
    /// Up to 1000 signed deferred orders. The receiver has no guarantee until one settles.
    pub orders: Vec<B64>,
}

/// Outcomes of an orders batch, in request order.
#[derive(Debug, Serialize, ToSchema)]
pub struct OrdersResponse {
    /// One per order.
    pub outcomes: Vec<ItemOutcome>,
}

/// A payment's final status.
#[derive(Debug, Serialize, ToSchema)]
pub struct PaymentStatusBody {
    /// `<ta>/<j>`.
    pub payment: String,
    /// `payment` or `withdrawal`.
    pub kind: String,
    /// `settled` or `pending`.
    pub status: String,
    /// Minor units.
    pub amount: i64,
    /// ISO 4217 code.
    pub currency: &'static str,
    /// Payer account (hex).
    pub payer: String,
    /// Payee account (hex).
    pub payee: String,
    /// The ledger account credited.
    pub credited: String,
    /// When the server first saw it (unix seconds).
    pub received_at: u64,
    /// When it settled (unix seconds).
    pub settled_at: Option<u64>,
}

impl From<PaymentStatus> for PaymentStatusBody {
    fn from(s: PaymentStatus) -> Self {
        PaymentStatusBody {
            payment: s.id.to_string(),
            kind: s.kind,
            status: s.status,
            amount: s.amount.minor(),
            currency: s.amount.currency().code(),
            payer: s.payer.to_hex(),
            payee: s.payee.to_hex(),
            credited: s.credited,
            received_at: s.received_at.secs(),
            settled_at: s.settled_at.map(|t| t.secs()),
        }
    }
}

/// An amount in a currency.
#[derive(Debug, Serialize, ToSchema)]
pub struct Amount {
    /// Minor units.
    pub amount: i64,
    /// ISO 4217 code.
    pub currency: &'static str,
}

impl From<Money> for Amount {
    fn from(m: Money) -> Self {
        Amount {
            amount: m.minor(),
            currency: m.currency().code(),
        }
    }
}

/// A secure wallet's standing.
#[derive(Debug, Serialize, ToSchema)]
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
#[derive(Debug, Serialize, ToSchema)]
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

impl From<AccountView> for AccountBody {
    fn from(v: AccountView) -> Self {
        AccountBody {
            account_id: v.account.to_hex(),
            online: v.online.into(),
            bond: v.bond.into(),
            wallets: v
                .wallets
                .into_iter()
                .map(|w| WalletBody {
                    ta_id: w.ta.to_hex(),
                    float: w.float.into(),
                    next_j: w.next_j,
                    revoked: w.revoked,
                })
                .collect(),
        }
    }
}

/// `POST /v1/agents/cash-in`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CashInRequest {
    /// The account credited (hex).
    pub account_id: String,
    /// Minor units.
    pub amount: i64,
    /// ISO 4217 code.
    pub currency: String,
    /// The agent's idempotency key (1–64 printable ASCII).
    pub reference: String,
}

/// `POST /v1/agents/cash-out`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CashOutRequest {
    /// The holder's signed consent (`ferry_proto::cash::CashOut`).
    pub consent: B64,
}

/// `POST /v1/admin/agents`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateAgent {
    /// 1–64 characters of `[a-z0-9_-]`.
    pub name: String,
}

/// A new agent and its bearer token (shown once; stored hashed).
#[derive(Debug, Serialize, ToSchema)]
pub struct AgentCreated {
    /// The agent.
    pub name: String,
    /// Its bearer token.
    pub token: String,
}

/// `POST /v1/admin/fund`: issue money into an agent's float or the insurance fund.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FundRequest {
    /// `insurance` or `agent:<name>`.
    pub account: String,
    /// Minor units.
    pub amount: i64,
    /// ISO 4217 code.
    pub currency: String,
    /// Idempotency key (1–64 printable ASCII).
    pub reference: String,
}

/// A currency's ledger sum.
#[derive(Debug, Serialize, ToSchema)]
pub struct CurrencySum {
    /// ISO 4217 code.
    pub currency: &'static str,
    /// Sum of every balance (must be "0"; a string because it is computed in 128 bits).
    pub sum: String,
}

/// A negative balance.
#[derive(Debug, Serialize, ToSchema)]
pub struct NegativeBalance {
    /// Ledger account key.
    pub account: String,
    /// ISO 4217 code.
    pub currency: &'static str,
    /// The balance.
    pub balance: i64,
}

/// The audit.
#[derive(Debug, Serialize, ToSchema)]
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

impl From<Audit> for AuditBody {
    fn from(a: Audit) -> Self {
        AuditBody {
            clean: a.is_clean(),
            sums: a
                .sums
                .iter()
                .map(|(c, s)| CurrencySum {
                    currency: c.code(),
                    sum: s.to_string(),
                })
                .collect(),
            negative: a
                .negative
                .into_iter()
                .map(|(account, c, balance)| NegativeBalance {
                    account,
                    currency: c.code(),
                    balance,
                })
                .collect(),
            unbalanced_transfers: a.unbalanced_transfers,
            drifted_accounts: a.drifted_accounts,
        }
    }
}

/// A fraud case.
#[derive(Debug, Serialize, ToSchema)]
pub struct FraudCaseBody {
    /// Case number.
    pub id: i64,
    /// The revoked wallet (hex).
    pub ta_id: String,
    /// Its holder (hex).
    pub account_id: String,
    /// `fork`, `journal_rule`, `unauthorized_deposit`, `double_collect` or
    /// `unfunded_after_deadline`.
    pub kind: String,
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

impl From<FraudCase> for FraudCaseBody {
    fn from(c: FraudCase) -> Self {
        FraudCaseBody {
            id: c.id,
            ta_id: c.ta.to_hex(),
            account_id: c.account.to_hex(),
            kind: c.kind,
            detail: c.detail,
            exposure: c.exposure.into(),
            covered: c.covered.into(),
            opened_at: c.opened_at.secs(),
            evidence: c.evidence.map(B64),
        }
    }
}

/// A signed issuer document (network parameters or revocation list).
#[derive(Debug, Serialize, ToSchema)]
pub struct SignedDocument {
    /// The document's canonical bytes, issuer-signed.
    pub document: B64,
}

/// Health.
#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    /// `ok` when the database answers.
    pub status: &'static str,
}

/// Fraud cases opened by a sweep.
#[derive(Debug, Serialize, ToSchema)]
pub struct SweepResult {
    /// Case numbers.
    pub opened: Vec<i64>,
}
