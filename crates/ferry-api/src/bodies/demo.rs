//! Bodies of the demo mesh routes (`/v1/demo/mesh…`), which answer only on a server started
//! with `ferry serve --demo`: a small in-process mesh of relay nodes and bridges that a
//! dashboard drives step by step.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::{B64, Outcome};

/// `POST /v1/demo/mesh/inject`: a sealed envelope (e.g. from `ferry wallet send
/// --envelope-out`) dropped into node `node`'s inbox.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DemoInject {
    /// Index of the node that takes it (as listed in the mesh state).
    pub node: u32,
    /// The envelope's bytes.
    pub envelope: B64,
}

/// One envelope a demo node holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct DemoHeld {
    /// The envelope id (hex).
    pub envelope_id: String,
    /// Spray-and-wait copies this node holds.
    pub copies: u16,
    /// Relay hops it made to get here.
    pub hops: u8,
    /// A bridge uploaded it and the server answered (kept as a tombstone).
    pub delivered: bool,
}

/// One node of the demo mesh.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct DemoNode {
    /// Its index.
    pub index: u32,
    /// Whether it is a bridge.
    pub bridge: bool,
    /// Envelope bytes held.
    pub used_bytes: u64,
    /// What it holds.
    pub held: Vec<DemoHeld>,
}

/// The demo mesh: nodes, who meets whom in a round, and what the bridges delivered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct DemoMeshBody {
    /// Rounds run since the last reset.
    pub round: u64,
    /// The nodes.
    pub nodes: Vec<DemoNode>,
    /// Pairs of node indexes that meet in every round, in order.
    pub edges: Vec<[u32; 2]>,
    /// Envelopes injected since the last reset.
    pub injected: u64,
    /// Envelopes uploaded by bridges since the last reset.
    pub uploaded: u64,
    /// What settlement answered for the uploads since the last reset (the end of the funnel).
    #[serde(default)]
    pub outcomes: DemoOutcomes,
}

/// Uploads since the last reset, counted by what settlement answered.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct DemoOutcomes {
    /// Settled: money moved.
    pub settled: u64,
    /// Settled before (by another bridge, or the payer's own sync): nothing moved.
    pub duplicate: u64,
    /// Valid but waiting for the payer's float.
    pub pending: u64,
    /// Refused by policy or funds.
    pub rejected: u64,
    /// Not a valid payment.
    pub invalid: u64,
}

/// What a gossip round did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct DemoRound {
    /// The round's number.
    pub round: u64,
    /// Contacts run (one per edge).
    pub contacts: u64,
    /// Envelopes handed from node to node.
    pub items_moved: u64,
    /// Reconciliation bytes exchanged (hellos and summaries).
    pub summary_bytes: u64,
}

/// One envelope a bridge uploaded in a flush, and the server's answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct DemoUpload {
    /// The bridge's index.
    pub bridge: u32,
    /// The envelope id (hex).
    pub envelope_id: String,
    /// What settlement said.
    pub outcome: Outcome,
}

/// What a flush of the bridges did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct DemoFlush {
    /// One entry per envelope uploaded.
    pub uploads: Vec<DemoUpload>,
}
