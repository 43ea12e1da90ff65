//! Bodies of the routes receivers, wallets and bridges call: claims, journal sync, envelopes,
//! deferred orders and payment status. Batches answer one [`Outcome`] per item, in order.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::{B64, Outcome, Reason};

/// One payment as a receiver or bridge uploads it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
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
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ClaimsRequest {
    /// Up to 1000 payments.
    #[serde(deserialize_with = "crate::bounded::at_most::<_, _, 1000>")]
    #[schema(max_items = 1000)]
    pub items: Vec<ClaimItem>,
}

/// The outcome of one claimed payment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ClaimOutcome {
    /// The payment's identity `<ta>/<j>`, when it decoded.
    pub payment: Option<String>,
    /// What happened.
    #[serde(flatten)]
    pub outcome: Outcome,
}

/// Outcomes of a claims batch, in request order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ClaimsResponse {
    /// One per item.
    pub outcomes: Vec<ClaimOutcome>,
}

/// `POST /v1/journals`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct JournalRequest {
    /// The wallet's certificate.
    pub ta_certificate: B64,
    /// Journal entries since the last sync, in order (at most 1000).
    #[serde(deserialize_with = "crate::bounded::at_most::<_, _, 1000>")]
    #[schema(max_items = 1000)]
    pub entries: Vec<B64>,
    /// The payments collected by these entries (at most 1000).
    #[serde(default, deserialize_with = "crate::bounded::at_most::<_, _, 1000>")]
    #[schema(max_items = 1000)]
    pub collected: Vec<ClaimItem>,
}

/// The outcome of one journal entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct EntryOutcome {
    /// Journal position.
    pub j: u32,
    /// What happened.
    #[serde(flatten)]
    pub outcome: Outcome,
}

/// Where a sync stopped early.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Stopped {
    /// The position of the entry that stopped it.
    pub j: u32,
    /// Why.
    pub reason: Reason,
}

/// What a sync did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct JournalResponse {
    /// The wallet (hex).
    pub ta_id: String,
    /// The next position the server expects.
    pub next_j: u32,
    /// The offline balance the verified journal leaves (minor units).
    pub balance: i64,
    /// Its currency.
    pub currency: String,
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

/// `POST /v1/envelopes`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EnvelopesRequest {
    /// Up to 1000 sealed envelopes (and at most 4 MiB in all).
    #[serde(deserialize_with = "crate::bounded::at_most::<_, _, 1000>")]
    #[schema(max_items = 1000)]
    pub envelopes: Vec<B64>,
}

/// What an envelope carried.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SealedKind {
    /// A payment with its certificate (and the receipt when the sender had it).
    Payment,
    /// A journal segment.
    JournalSegment,
    /// A deferred order.
    Order,
    /// A kind this client does not know (a newer server).
    #[serde(other)]
    Unknown,
}

/// The outcome of one envelope.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct EnvelopeOutcome {
    /// The envelope id (hex), when it decoded.
    pub envelope_id: Option<String>,
    /// What it carried, when it opened.
    pub kind: Option<SealedKind>,
    /// What happened.
    #[serde(flatten)]
    pub outcome: Outcome,
    /// With `?acks=true`, for a decided envelope (settled, duplicate, pending, invalid): the
    /// issuer's delivery acknowledgement (64-byte signature over the envelope id in the domain
    /// `mesh-delivered`), which relays holding copies act on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ack: Option<crate::B64Array<64>>,
}

/// Outcomes of an envelope batch, in request order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct EnvelopesResponse {
    /// One per envelope.
    pub outcomes: Vec<EnvelopeOutcome>,
}

/// `POST /v1/orders`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OrdersRequest {
    /// Up to 1000 signed deferred orders. The receiver has no guarantee until one settles.
    #[serde(deserialize_with = "crate::bounded::at_most::<_, _, 1000>")]
    #[schema(max_items = 1000)]
    pub orders: Vec<B64>,
}

/// Outcomes of an orders batch, in request order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct OrdersResponse {
    /// One per order.
    pub outcomes: Vec<Outcome>,
}

/// What a settled debit of a wallet's float paid for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PaymentKind {
    /// A payment to another account.
    Payment,
    /// A withdrawal back to the holder's online balance.
    Withdrawal,
}

/// Where a known payment stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PaymentState {
    /// The payee has been credited.
    Settled,
    /// Recorded; it settles when the payer wallet's float is funded.
    Pending,
}

/// A payment's final status.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct PaymentStatusBody {
    /// `<ta>/<j>`.
    pub payment: String,
    /// What it paid for.
    pub kind: PaymentKind,
    /// Where it stands.
    pub status: PaymentState,
    /// Minor units.
    pub amount: i64,
    /// ISO 4217 code.
    pub currency: String,
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
