//! The demo mesh (`ferry serve --demo`): a small in-process mesh of `ferry_mesh` relay nodes —
//! six relays in a ring and two bridges — that a dashboard drives one step at a time through
//! `/v1/demo/mesh…`: inject a sealed envelope into a node, run a gossip round (one contact per
//! edge, the real relay protocol in memory), flush the bridges (their envelopes go to the real
//! settlement engine, exactly as `POST /v1/envelopes`), read the state, reset. Off unless
//! enabled: the routes answer 404 otherwise.

use std::sync::{Mutex, MutexGuard};

use ferry_mesh::node::{Node, NodeConfig, run_contact};
use ferry_mesh::stamp;
use ferry_mesh::strategy::Strategy;
use ferry_proto::UnixTime;
use ferry_proto::envelope::{Envelope, EnvelopeId};
use ferry_proto::ids::KeyId;

/// Relays in the ring.
pub const DEMO_RELAYS: u32 = 6;
/// Bridges (each hangs off one relay).
pub const DEMO_BRIDGES: u32 = 2;
/// Hashcash bits demo nodes demand (low: the server mints stamps for injected envelopes).
const DEMO_STAMP_BITS: u8 = 8;

/// The demo mesh's state.
#[derive(Debug)]
pub struct DemoMesh {
    issuer: KeyId,
    inner: Mutex<DemoState>,
}

/// Nodes, topology and counters.
#[derive(Debug)]
pub struct DemoState {
    /// The nodes: relays `0..DEMO_RELAYS`, then the bridges.
    pub nodes: Vec<Node>,
    /// Who meets whom in a round, in order.
    pub edges: Vec<(usize, usize)>,
    /// Rounds run since the last reset.
    pub round: u64,
    /// Envelopes injected since the last reset.
    pub injected: u64,
    /// Envelopes uploaded since the last reset.
    pub uploaded: u64,
    /// What settlement answered for them.
    pub outcomes: ferry_api::DemoOutcomes,
}

/// What one round did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RoundStats {
    /// Contacts run.
    pub contacts: u64,
    /// Envelopes handed over.
    pub items_moved: u64,
    /// Hello and summary bytes.
    pub summary_bytes: u64,
}

impl DemoState {
    fn new(issuer: KeyId) -> Self {
        let n = (DEMO_RELAYS + DEMO_BRIDGES) as usize;
        let nodes = (0..n)
            .map(|i| {
                Node::new(NodeConfig {
                    node_id: i as u64 + 1,
                    bridge: i >= DEMO_RELAYS as usize,
                    strategy: Strategy::SprayAndWait { copies: 4 },
                    stamp_bits: DEMO_STAMP_BITS,
                    issuer_key: Some(issuer),
                    ..NodeConfig::default()
                })
            })
            .collect();
        let relays = DEMO_RELAYS as usize;
        let mut edges: Vec<(usize, usize)> = (0..relays).map(|i| (i, (i + 1) % relays)).collect();
        // Bridges hang off opposite sides of the ring.
        edges.push((relays / 2, relays));
        edges.push((relays - 1, relays + 1));
        DemoState {
            nodes,
            edges,
            round: 0,
            injected: 0,
            uploaded: 0,
            outcomes: ferry_api::DemoOutcomes::default(),
        }
    }

    /// Runs one contact per edge, in order.
    pub fn round(&mut self, now: UnixTime) -> RoundStats {
        self.round += 1;
        let mut stats = RoundStats::default();
        for (k, &(a, b)) in self.edges.clone().iter().enumerate() {
            let (lo, hi) = (a.min(b), a.max(b));
            let (left, right) = self.nodes.split_at_mut(hi);
            let (x, y) = (&mut left[lo], &mut right[0]);
            let (initiator, responder) = if a < b { (x, y) } else { (y, x) };
            let salt = self.round.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ k as u64;
            // A contact that fails (it cannot between honest in-memory nodes) moves nothing.
            if let Ok((s1, s2)) = run_contact(initiator, responder, salt, now) {
                stats.contacts += 1;
                stats.items_moved += u64::from(s1.items_sent) + u64::from(s2.items_sent);
                stats.summary_bytes += (s1.summary_bytes_sent + s2.summary_bytes_sent) as u64;
            }
        }
        stats
    }

    /// What every bridge holds and has not delivered: (bridge index, envelope).
    pub fn to_upload(&self) -> Vec<(usize, Envelope)> {
        self.nodes
            .iter()
            .enumerate()
            .filter(|(_, n)| n.config().bridge)
            .flat_map(|(i, n)| n.undelivered().map(move |s| (i, s.envelope.clone())))
            .collect()
    }
}

impl DemoMesh {
    /// An empty demo mesh carrying envelopes sealed to `issuer`.
    pub fn new(issuer: KeyId) -> Self {
        DemoMesh {
            issuer,
            inner: Mutex::new(DemoState::new(issuer)),
        }
    }

    /// The state, locked (never held across an await).
    pub fn state(&self) -> MutexGuard<'_, DemoState> {
        // Every mutation leaves the state consistent; a poisoned lock keeps it.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Starts again with empty nodes.
    pub fn reset(&self) {
        *self.state() = DemoState::new(self.issuer);
    }

    /// Drops `envelope` into node `node`'s inbox (the server mints its stamp).
    pub fn inject(
        &self,
        node: usize,
        envelope: Envelope,
        now: UnixTime,
    ) -> Result<EnvelopeId, String> {
        let stamp = stamp::mint(
            &envelope.id(),
            envelope.expires_at(),
            DEMO_STAMP_BITS,
            0,
            u64::MAX,
        )
        .ok_or_else(|| "no stamp found".to_owned())?;
        let mut st = self.state();
        let target = st
            .nodes
            .get_mut(node)
            .ok_or_else(|| format!("no node {node}"))?;
        let id = target
            .inject(envelope, stamp, now)
            .map_err(|e| e.to_string())?;
        st.injected += 1;
        Ok(id)
    }

    /// Marks what the server answered for as delivered at bridge `bridge`, and counts the
    /// answer.
    pub fn delivered(&self, done: &[(usize, EnvelopeId, &ferry_api::Outcome)]) {
        let mut st = self.state();
        for (bridge, id, outcome) in done {
            if let Some(n) = st.nodes.get_mut(*bridge)
                && n.mark_delivered(id)
            {
                st.uploaded += 1;
            }
            let counts = &mut st.outcomes;
            let counter = match outcome {
                ferry_api::Outcome::Settled => &mut counts.settled,
                ferry_api::Outcome::Duplicate => &mut counts.duplicate,
                ferry_api::Outcome::Pending(_) => &mut counts.pending,
                ferry_api::Outcome::Rejected(_) => &mut counts.rejected,
                ferry_api::Outcome::Invalid(_) => &mut counts.invalid,
            };
            *counter += 1;
        }
    }
}
