//! The relay node, sans IO: a store of sealed envelopes within a byte budget, and the
//! [`Session`] state machine that runs one contact with a peer.
//!
//! A contact goes:
//!
//! ```text
//! initiator                               responder
//!   Hello {id, bridge, p, salt}  ───────▶
//!                                ◀───────  HelloReply {id, bridge, p, root summary}
//!   Turn {entries, [], items}    ───────▶     (entries answer the responder's root)
//!                                ◀───────  Turn {entries, wants, items}
//!   ...                                    ...
//!   an empty Turn ends the contact
//! ```
//!
//! Each turn answers the peer's reconciliation entries ([`crate::recon`]), asks for the ids it
//! learned it lacks, and carries the envelopes the peer asked for or was learned to lack, as far
//! as the strategy, the contact's byte allowance and the peer's quotas allow. A contact between
//! nodes holding the same set is the two hellos and one empty turn.
//!
//! Relay metadata travels beside the envelope ([`Item`]): spray-and-wait copies (a separate
//! counter, so the envelope's ttl byte keeps meaning "hops left" for every strategy), hops made,
//! and the hashcash stamp ([`crate::stamp`]). None of it is authenticated; it steers honest
//! relays only. The payer's postage and postmark ([`ferry_proto::postage`]) travel there too and
//! are authenticated: a node that knows the issuer key carries only envelopes that bear them,
//! holds at most [`NodeConfig::max_per_postage_key`] envelopes of one postage key for others,
//! and sends every postage key's first envelope before anyone's second.

use std::collections::{HashMap, VecDeque};

use ferry_proto::codec::{DecodeError, Message};
use ferry_proto::envelope::{Envelope, EnvelopeId};
use ferry_proto::hash::Hash32;
use ferry_proto::ids::KeyId;
use ferry_proto::keys::PublicKey;
use ferry_proto::postage::{self, PostageError};
use ferry_proto::time::UnixTime;
use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::recon::{Answer, Reconciler};
use crate::stamp;
use crate::strategy::{
    Forward, RelayView, Strategy, decide, p_from_wire, p_to_wire, prophet_age, prophet_direct,
    prophet_transitive,
};
use crate::wire::{
    Ack, Frame, Hello, HelloReply, ITEM_OVERHEAD, Item, MAX_ACKS, MAX_ENTRIES, MAX_ITEM_ENVELOPE,
    MAX_ITEMS, MAX_WANTS, POSTED_LEN, Posted, ShortId, Turn, short_id,
};

/// Most turns in one contact (an honest one needs at most about 20).
pub const MAX_TURNS: u32 = 64;
/// PRoPHET peers remembered for transitivity.
const PEER_MEMORY: usize = 8;
/// Postage whose issuer signature verified, remembered (cleared when full).
const POSTAGE_CACHE_MAX: usize = 4096;

/// A node's settings.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeConfig {
    /// This node's id in hellos (random per device; not an identity anyone can verify).
    pub node_id: u64,
    /// The node uploads what it holds (it never forwards).
    pub bridge: bool,
    /// Forwarding strategy.
    pub strategy: Strategy,
    /// Bytes of envelopes the node keeps at most.
    pub budget_bytes: usize,
    /// Bytes the node sends in one contact at most (reconciliation always goes; items stop).
    pub contact_bytes: usize,
    /// Envelopes accepted from one peer in one contact at most.
    pub max_items_per_contact: u32,
    /// Share of the budget, in percent, that envelopes received from one peer may fill.
    pub peer_share_percent: u8,
    /// Hashcash bits every relayed envelope's stamp must have.
    pub stamp_bits: u8,
    /// Only envelopes sealed to this key are carried (`None`: any key).
    pub issuer_key: Option<KeyId>,
    /// Envelopes expiring further ahead than this are refused.
    pub max_lifetime_secs: u64,
    /// A leaf carries nothing for others: it says so in its hello and peers send it no
    /// items (a wallet handing over its own payment, `runtime::hand_over`).
    pub leaf: bool,
    /// The issuer's signing key. When set, every envelope must bear postage signed by it and
    /// the postage key's postmark; when `None`, postage is not checked.
    pub postage_issuer: Option<PublicKey>,
    /// Envelopes of one postage key this node holds for others at most (its own are not
    /// counted against it).
    pub max_per_postage_key: u16,
    /// The issuer's signing key, against which delivery acknowledgements are checked
    /// (`None`: acknowledgements are neither taken nor passed on).
    pub ack_issuer: Option<PublicKey>,
}

impl Default for NodeConfig {
    fn default() -> Self {
        NodeConfig {
            node_id: 0,
            bridge: false,
            strategy: Strategy::SprayAndWait { copies: 4 },
            budget_bytes: 256 * 1024,
            contact_bytes: 64 * 1024,
            max_items_per_contact: 64,
            peer_share_percent: 25,
            stamp_bits: 16,
            issuer_key: None,
            max_lifetime_secs: 24 * 3600,
            leaf: false,
            postage_issuer: None,
            max_per_postage_key: 4,
            ack_issuer: None,
        }
    }
}

/// An envelope held by a node, with its relay metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stored {
    /// Its short id.
    pub short: ShortId,
    /// The envelope.
    pub envelope: Envelope,
    /// Spray-and-wait copies this node holds.
    pub copies: u16,
    /// Relay hops it made to get here.
    pub hops: u8,
    /// Its stamp.
    pub stamp: u64,
    /// Its postage and postmark, if it came with them.
    pub posted: Option<Posted>,
    /// When this node got it.
    pub received_at: UnixTime,
    /// The peer it came from (`None`: injected here).
    pub source: Option<u64>,
    /// A bridge uploaded it and the server decided: it is kept as a tombstone until it expires,
    /// so peers see it in this node's summary and do not send it again, and it is never
    /// forwarded or uploaded again.
    pub delivered: bool,
    /// The issuer's acknowledgement that it decided the envelope (then `delivered` too): this
    /// node passes it to peers that still hold the envelope.
    pub ack: Option<ferry_proto::Signature>,
    len: usize,
}

impl Stored {
    /// The postage key it was posted with (what fairness between payers counts by).
    pub fn postage_key(&self) -> Option<&PublicKey> {
        self.posted.as_ref().map(|p| &p.postage.unverified().key)
    }

    /// Encoded length of the envelope.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Never true: an envelope has at least a header.
    pub fn is_empty(&self) -> bool {
        false
    }
}

/// Why an envelope was not taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum RefuseReason {
    /// Sealed to another key than the configured issuer's.
    #[error("sealed to another key")]
    WrongKey,
    /// Already expired.
    #[error("expired")]
    Expired,
    /// Expires further ahead than the node accepts.
    #[error("expires too far ahead")]
    TooFarAhead,
    /// The stamp does not have the required work.
    #[error("stamp has too little work")]
    BadStamp,
    /// Larger than a relay carries.
    #[error("envelope too large")]
    TooLarge,
    /// No room in the budget even after evicting what may be evicted.
    #[error("budget full")]
    Full,
    /// The peer already filled its share of the budget.
    #[error("peer's share of the budget is full")]
    PeerShare,
    /// The peer already sent its quota for this contact.
    #[error("peer's quota for this contact is used up")]
    ContactQuota,
    /// The node requires postage and the envelope has none.
    #[error("no postage")]
    NoPostage,
    /// The postage is not the issuer's, or the postmark is not over this envelope.
    #[error("forged postage: {0}")]
    ForgedPostage(PostageError),
    /// The postage expired or is valid too far ahead.
    #[error("postage not valid now: {0}")]
    StalePostage(PostageError),
    /// The node already holds as many envelopes of this postage key for others as it will.
    #[error("enough envelopes of this postage key held")]
    PostageKeyFull,
}

/// Counters a node keeps.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeStats {
    /// Envelopes accepted from peers.
    pub accepted: u64,
    /// Envelopes received that were already held.
    pub duplicates: u64,
    /// Envelopes refused (any [`RefuseReason`]).
    pub refused: u64,
    /// Envelopes evicted to make room.
    pub evicted: u64,
    /// Envelopes dropped at expiry.
    pub expired: u64,
    /// Items handed to peers.
    pub forwarded: u64,
    /// Delivery acknowledgements taken (from a bridge's server or a peer) for envelopes held.
    pub acks_taken: u64,
    /// Delivery acknowledgements sent to peers that still held the envelope.
    pub acks_sent: u64,
}

/// A relay node's state.
#[derive(Debug, Clone)]
pub struct Node {
    cfg: NodeConfig,
    items: Vec<Stored>,
    used: usize,
    p: f64,
    p_at: UnixTime,
    peers: VecDeque<(u64, f64, UnixTime)>,
    stats: NodeStats,
    /// Hash of postage bytes whose issuer signature verified → its validity end.
    postage_ok: HashMap<Hash32, UnixTime>,
}

impl Node {
    /// An empty node.
    pub fn new(cfg: NodeConfig) -> Self {
        Node {
            p: if cfg.bridge { 1.0 } else { 0.0 },
            cfg,
            items: Vec::new(),
            used: 0,
            p_at: UnixTime(0),
            peers: VecDeque::new(),
            stats: NodeStats::default(),
            postage_ok: HashMap::new(),
        }
    }

    /// Its settings.
    pub fn config(&self) -> &NodeConfig {
        &self.cfg
    }

    /// Its counters.
    pub fn stats(&self) -> &NodeStats {
        &self.stats
    }

    /// What it holds, by short id.
    pub fn held(&self) -> &[Stored] {
        &self.items
    }

    /// Bytes of envelopes held.
    pub fn used_bytes(&self) -> usize {
        self.used
    }

    /// True if it holds the envelope with this id.
    pub fn contains(&self, id: &EnvelopeId) -> bool {
        self.find(short_id(id)).is_ok()
    }

    /// The current delivery predictability toward bridges (aged to `now`).
    pub fn p_bridge(&self, now: UnixTime) -> f64 {
        match (&self.cfg.strategy, self.cfg.bridge) {
            (_, true) => 1.0,
            (Strategy::Prophet(pp), false) => {
                prophet_age(self.p, now.secs().saturating_sub(self.p_at.secs()), pp)
            }
            _ => 0.0,
        }
    }

    fn view(&self, now: UnixTime) -> RelayView {
        RelayView {
            bridge: self.cfg.bridge,
            p: self.p_bridge(now),
        }
    }

    fn find(&self, short: ShortId) -> Result<usize, usize> {
        self.items.binary_search_by_key(&short, |s| s.short)
    }

    /// Checks postage and postmark when the node requires them: the issuer's signature once per
    /// distinct postage (remembered), the postmark every time.
    fn check_postage(
        &mut self,
        env: &Envelope,
        posted: Option<&Posted>,
        now: UnixTime,
    ) -> Result<(), RefuseReason> {
        let Some(issuer) = &self.cfg.postage_issuer else {
            return Ok(());
        };
        let posted = posted.ok_or(RefuseReason::NoPostage)?;
        let h = posted.postage.hash();
        let valid_until = match self.postage_ok.get(&h) {
            Some(t) => *t,
            None => {
                let body = posted
                    .postage
                    .verify(issuer)
                    .map_err(|_| RefuseReason::ForgedPostage(PostageError::BadSignature))?;
                if self.postage_ok.len() >= POSTAGE_CACHE_MAX {
                    self.postage_ok.clear();
                }
                self.postage_ok.insert(h, body.valid_until);
                body.valid_until
            }
        };
        postage::check_validity(valid_until, now).map_err(RefuseReason::StalePostage)?;
        postage::check_postmark(
            &posted.postage.unverified().key,
            &posted.postmark,
            &env.id(),
        )
        .map_err(RefuseReason::ForgedPostage)
    }

    /// Envelopes of postage key `key` held for others (not delivered, not this node's own).
    fn held_for_others(&self, key: &PublicKey) -> usize {
        self.items
            .iter()
            .filter(|s| s.source.is_some() && !s.delivered && s.postage_key() == Some(key))
            .count()
    }

    fn check(&self, env: &Envelope, stamp: u64, now: UnixTime) -> Result<(), RefuseReason> {
        if env.encoded_len() > MAX_ITEM_ENVELOPE {
            return Err(RefuseReason::TooLarge);
        }
        if self.cfg.issuer_key.is_some_and(|k| k != env.key_id()) {
            return Err(RefuseReason::WrongKey);
        }
        if env.is_expired(now) {
            return Err(RefuseReason::Expired);
        }
        if env.expires_at() > now.plus_secs(self.cfg.max_lifetime_secs) {
            return Err(RefuseReason::TooFarAhead);
        }
        if !stamp::check(&env.id(), env.expires_at(), stamp, self.cfg.stamp_bits) {
            return Err(RefuseReason::BadStamp);
        }
        Ok(())
    }

    /// Drops expired envelopes; returns how many.
    pub fn expire(&mut self, now: UnixTime) -> usize {
        let before = self.items.len();
        let mut freed = 0;
        self.items.retain(|s| {
            let keep = !s.envelope.is_expired(now);
            if !keep {
                freed += s.len;
            }
            keep
        });
        self.used -= freed;
        let n = before - self.items.len();
        self.stats.expired += n as u64;
        n
    }

    /// Marks an envelope delivered (the server answered for it): it stays as a tombstone until
    /// it expires. Returns false if it was not held.
    pub fn mark_delivered(&mut self, id: &EnvelopeId) -> bool {
        match self.find(short_id(id)) {
            Ok(i) => {
                self.items[i].delivered = true;
                true
            }
            Err(_) => false,
        }
    }

    /// Takes the issuer's acknowledgement that it decided envelope `id`: the envelope is kept as
    /// a tombstone (never forwarded or uploaded again) with the acknowledgement, which this
    /// node passes to peers that still hold it. Returns false when the envelope is not held, is
    /// acknowledged already, or the node checks no acknowledgements; an acknowledgement that is
    /// not the issuer's is an error.
    pub fn acknowledge(
        &mut self,
        id: &EnvelopeId,
        ack: ferry_proto::Signature,
    ) -> Result<bool, ferry_proto::BadSignature> {
        let Some(issuer) = self.cfg.ack_issuer else {
            return Ok(false);
        };
        let Ok(i) = self.find(short_id(id)) else {
            return Ok(false);
        };
        if self.items[i].ack.is_some() || self.items[i].envelope.id() != *id {
            return Ok(false);
        }
        ferry_proto::delivery::check(&issuer, id, &ack)?;
        let s = &mut self.items[i];
        s.delivered = true;
        s.ack = Some(ack);
        s.copies = 0;
        self.stats.acks_taken += 1;
        Ok(true)
    }

    /// The keys this node reconciles on: the short ids of what it holds, except acknowledged
    /// envelopes. A peer that still holds one of those then shows up as holding something
    /// this node lacks (and is sent the acknowledgement instead of a request), or sends it
    /// (and is answered with the acknowledgement); a peer that never held it hears nothing.
    fn recon_keys(&self) -> Vec<ShortId> {
        self.items
            .iter()
            .filter(|s| s.ack.is_none())
            .map(|s| s.short)
            .collect()
    }

    /// The acknowledgement of the envelope with short id `short`, if this node holds one.
    fn ack_of(&self, short: ShortId) -> Option<Ack> {
        let s = &self.items[self.find(short).ok()?];
        s.ack.map(|signature| Ack {
            id: s.envelope.id(),
            signature,
        })
    }

    /// Envelopes held and not yet delivered (what a bridge should upload).
    pub fn undelivered(&self) -> impl Iterator<Item = &Stored> {
        self.items.iter().filter(|s| !s.delivered)
    }

    /// Forgets an envelope entirely; returns it if it was held.
    pub fn remove(&mut self, id: &EnvelopeId) -> Option<Stored> {
        let i = self.find(short_id(id)).ok()?;
        let s = self.items.remove(i);
        self.used -= s.len;
        Some(s)
    }

    /// Makes room for `need` bytes: evicts relayed envelopes (never the node's own), soonest
    /// expiry first, but only those expiring before `expiry` unless `own` is set.
    fn make_room(&mut self, need: usize, expiry: UnixTime, own: bool, now: UnixTime) -> bool {
        if self.used + need <= self.cfg.budget_bytes {
            return true;
        }
        self.expire(now);
        while self.used + need > self.cfg.budget_bytes {
            let victim = self
                .items
                .iter()
                .enumerate()
                .filter(|(_, s)| s.source.is_some() || s.delivered)
                .min_by_key(|(_, s)| (!s.delivered, s.envelope.expires_at(), s.short))
                .map(|(i, s)| (i, s.envelope.expires_at(), s.delivered));
            match victim {
                Some((i, e, tomb)) if tomb || own || e < expiry => {
                    let s = self.items.remove(i);
                    self.used -= s.len;
                    self.stats.evicted += 1;
                }
                _ => return false,
            }
        }
        true
    }

    fn insert(&mut self, s: Stored) {
        match self.find(s.short) {
            Ok(i) => {
                // Already held (two contacts raced): keep one, add the copies.
                let held = &mut self.items[i];
                held.copies = held.copies.saturating_add(s.copies);
            }
            Err(i) => {
                self.used += s.len;
                self.items.insert(i, s);
            }
        }
    }

    /// Takes an envelope made on this device (a payer's outgoing payment) with its stamp. It
    /// starts with the strategy's copies and may evict relayed envelopes to fit.
    pub fn inject(
        &mut self,
        envelope: Envelope,
        stamp: u64,
        now: UnixTime,
    ) -> Result<EnvelopeId, RefuseReason> {
        self.inject_posted(envelope, stamp, None, now)
    }

    /// [`Node::inject`] with the payer's postage and postmark, which travel with the envelope
    /// (a node that requires postage refuses an envelope without it).
    pub fn inject_posted(
        &mut self,
        envelope: Envelope,
        stamp: u64,
        posted: Option<Posted>,
        now: UnixTime,
    ) -> Result<EnvelopeId, RefuseReason> {
        self.check(&envelope, stamp, now)?;
        self.check_postage(&envelope, posted.as_ref(), now)?;
        let id = envelope.id();
        let short = short_id(&id);
        if self.find(short).is_ok() {
            return Ok(id);
        }
        let len = envelope.encoded_len();
        if !self.make_room(len, envelope.expires_at(), true, now) {
            return Err(RefuseReason::Full);
        }
        self.insert(Stored {
            short,
            copies: self.cfg.strategy.initial_copies(),
            hops: 0,
            stamp,
            posted,
            received_at: now,
            source: None,
            delivered: false,
            ack: None,
            len,
            envelope,
        });
        Ok(id)
    }

    /// Takes an item from peer `peer` during a contact in which `accepted` items from it were
    /// taken so far.
    fn accept(
        &mut self,
        item: Item,
        peer: u64,
        accepted: u32,
        now: UnixTime,
    ) -> Result<bool, RefuseReason> {
        self.check(&item.envelope, item.stamp, now)?;
        self.check_postage(&item.envelope, item.posted.as_ref(), now)?;
        let short = short_id(&item.envelope.id());
        if let Ok(i) = self.find(short) {
            self.stats.duplicates += 1;
            let held = &mut self.items[i];
            held.copies = held.copies.saturating_add(item.copies);
            return Ok(false);
        }
        if accepted >= self.cfg.max_items_per_contact {
            return Err(RefuseReason::ContactQuota);
        }
        if let Some(p) = &item.posted
            && self.held_for_others(&p.postage.unverified().key)
                >= usize::from(self.cfg.max_per_postage_key)
        {
            return Err(RefuseReason::PostageKeyFull);
        }
        let len = item.envelope.encoded_len();
        let from_peer: usize = self
            .items
            .iter()
            .filter(|s| s.source == Some(peer))
            .map(|s| s.len)
            .sum();
        if (from_peer + len) * 100
            > self.cfg.budget_bytes * usize::from(self.cfg.peer_share_percent)
        {
            return Err(RefuseReason::PeerShare);
        }
        if !self.make_room(len, item.envelope.expires_at(), false, now) {
            return Err(RefuseReason::Full);
        }
        // Copies are unauthenticated: never take more than a new envelope starts with.
        let copies = match self.cfg.strategy {
            Strategy::SprayAndWait { copies } => item.copies.clamp(1, copies.max(1)),
            _ => 1,
        };
        self.insert(Stored {
            short,
            copies,
            hops: item.hops,
            stamp: item.stamp,
            posted: item.posted,
            received_at: now,
            source: Some(peer),
            delivered: false,
            ack: None,
            len,
            envelope: item.envelope,
        });
        self.stats.accepted += 1;
        Ok(true)
    }

    /// Length an item for `short` would have on the wire.
    fn item_len(&self, short: ShortId) -> Option<usize> {
        self.find(short).ok().map(|i| {
            let s = &self.items[i];
            ITEM_OVERHEAD + s.len + if s.posted.is_some() { POSTED_LEN } else { 0 }
        })
    }

    /// Applies the strategy to hand `short` to a peer; returns the item if it goes.
    fn take_for(&mut self, short: ShortId, peer: RelayView, now: UnixTime) -> Option<Item> {
        let me = self.view(now);
        let i = self.find(short).ok()?;
        let s = &self.items[i];
        if s.envelope.is_expired(now) || s.delivered {
            return None;
        }
        let decision = decide(&self.cfg.strategy, me, peer, s.copies, s.envelope.ttl());
        let mut envelope = s.envelope.clone();
        if !envelope.decrement_ttl() {
            return None;
        }
        let hops = s.hops.saturating_add(1);
        let stamp = s.stamp;
        let posted = s.posted.clone();
        let copies = match decision {
            Forward::No => return None,
            Forward::Replicate => 1,
            Forward::Split { give, keep } => {
                self.items[i].copies = keep;
                give
            }
            Forward::Handoff => {
                let s = self.items.remove(i);
                self.used -= s.len;
                s.copies
            }
        };
        self.stats.forwarded += 1;
        Some(Item {
            copies,
            hops,
            stamp,
            posted,
            envelope,
        })
    }

    fn encounter(&mut self, peer_id: u64, peer: RelayView, now: UnixTime) {
        let Strategy::Prophet(pp) = self.cfg.strategy else {
            return;
        };
        if self.cfg.bridge {
            return;
        }
        self.p = self.p_bridge(now);
        self.p_at = now;
        if peer.bridge {
            self.p = prophet_direct(self.p, &pp);
            return;
        }
        let pos = self.peers.iter().position(|(id, _, _)| *id == peer_id);
        let old = match pos.and_then(|i| self.peers.remove(i)) {
            Some((_, p, at)) => prophet_age(p, now.secs().saturating_sub(at.secs()), &pp),
            None => 0.0,
        };
        let p_ab = prophet_direct(old, &pp);
        self.peers.push_front((peer_id, p_ab, now));
        self.peers.truncate(PEER_MEMORY);
        self.p = prophet_transitive(self.p, p_ab, peer.p, &pp);
    }
}

/// Which end of a contact a session is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Sent the hello (dialled).
    Initiator,
    /// Answered it.
    Responder,
}

/// Why a contact was cut.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum SessionError {
    /// A frame did not decode.
    #[error("bad frame: {0}")]
    Decode(#[from] DecodeError),
    /// A frame came that this state does not expect.
    #[error("unexpected {frame} frame while {state}")]
    Unexpected {
        /// The state.
        state: &'static str,
        /// The frame's kind.
        frame: &'static str,
    },
    /// The peer sent an envelope without a valid stamp (junk): the contact is cut.
    #[error("peer sent an envelope without a valid stamp")]
    BadStamp,
    /// The peer sent an envelope with postage the issuer did not sign or a postmark over
    /// another envelope (an honest node checks before it carries): the contact is cut.
    #[error("peer sent forged postage: {0}")]
    ForgedPostage(PostageError),
    /// The peer sent a delivery acknowledgement the issuer did not sign (an honest node checks
    /// before it passes one on): the contact is cut.
    #[error("peer sent a forged delivery acknowledgement")]
    ForgedAck,
    /// The conversation went on longer than any honest one.
    #[error("too many turns")]
    TooManyTurns,
}

/// Counters of one contact.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionStats {
    /// Bytes sent, all frames.
    pub bytes_sent: usize,
    /// Bytes received, all frames.
    pub bytes_received: usize,
    /// Bytes sent that were not items (hellos, turn headers, entries, wants).
    pub summary_bytes_sent: usize,
    /// Items sent.
    pub items_sent: u32,
    /// Items received and stored.
    pub items_accepted: u32,
    /// Items received and refused.
    pub items_refused: u32,
    /// Turns received.
    pub turns: u32,
    /// Delivery acknowledgements sent.
    pub acks_sent: u32,
    /// Delivery acknowledgements received and taken.
    pub acks_taken: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    AwaitHello,
    AwaitHelloReply,
    AwaitTurn,
    Done,
}

impl State {
    fn name(self) -> &'static str {
        match self {
            State::AwaitHello => "awaiting hello",
            State::AwaitHelloReply => "awaiting hello reply",
            State::AwaitTurn => "awaiting turn",
            State::Done => "done",
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Peer {
    id: u64,
    view: RelayView,
    /// The peer carries nothing for others: it is sent no items.
    leaf: bool,
}

/// One contact with a peer, fed frames and returning frames. Pass the same [`Node`] to every
/// call; nothing here reads a clock or does I/O.
#[derive(Debug, Clone)]
pub struct Session {
    role: Role,
    state: State,
    salt: u64,
    peer: Option<Peer>,
    stats: SessionStats,
    /// Acknowledgements owed to the peer for envelopes it sent that were acknowledged here.
    acks_due: Vec<Ack>,
}

impl Session {
    /// Starts a contact as the dialler: returns the session and the hello to send. `salt` must
    /// be fresh randomness (the caller owns the random source).
    pub fn initiate(node: &mut Node, salt: u64, now: UnixTime) -> (Session, Vec<u8>) {
        node.expire(now);
        let hello = Frame::Hello(Hello {
            node_id: node.cfg.node_id,
            bridge: node.cfg.bridge,
            leaf: node.cfg.leaf,
            p_bridge: p_to_wire(node.p_bridge(now)),
            salt,
        })
        .to_bytes();
        let mut s = Session {
            role: Role::Initiator,
            state: State::AwaitHelloReply,
            salt,
            peer: None,
            stats: SessionStats::default(),
            acks_due: Vec::new(),
        };
        s.stats.bytes_sent += hello.len();
        s.stats.summary_bytes_sent += hello.len();
        (s, hello)
    }

    /// Starts a contact as the answering side; feed it the peer's hello.
    pub fn respond() -> Session {
        Session {
            role: Role::Responder,
            state: State::AwaitHello,
            salt: 0,
            peer: None,
            stats: SessionStats::default(),
            acks_due: Vec::new(),
        }
    }

    /// Which end this is.
    pub fn role(&self) -> Role {
        self.role
    }

    /// True once the contact is over (nothing more to send or receive).
    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// Counters so far.
    pub fn stats(&self) -> &SessionStats {
        &self.stats
    }

    /// The peer's announced node id, once known.
    pub fn peer_id(&self) -> Option<u64> {
        self.peer.map(|p| p.id)
    }

    /// Whether the peer announced itself as a bridge, once known.
    pub fn peer_is_bridge(&self) -> Option<bool> {
        self.peer.map(|p| p.view.bridge)
    }

    /// Feeds one frame from the peer; returns the frame to send back, if any. After an error the
    /// contact must be closed.
    pub fn on_frame(
        &mut self,
        node: &mut Node,
        bytes: &[u8],
        now: UnixTime,
    ) -> Result<Option<Vec<u8>>, SessionError> {
        self.stats.bytes_received += bytes.len();
        let frame = Frame::decode_frame(bytes)?;
        match (self.state, frame) {
            (State::AwaitHello, Frame::Hello(h)) => {
                node.expire(now);
                let view = RelayView {
                    bridge: h.bridge,
                    p: p_from_wire(h.p_bridge),
                };
                self.peer = Some(Peer {
                    id: h.node_id,
                    view,
                    leaf: h.leaf,
                });
                self.salt = h.salt;
                let keys = node.recon_keys();
                let root = Reconciler::new(&keys, |k: &ShortId| *k, self.salt).root();
                let reply = Frame::HelloReply(HelloReply {
                    node_id: node.cfg.node_id,
                    bridge: node.cfg.bridge,
                    p_bridge: p_to_wire(node.p_bridge(now)),
                    root,
                })
                .to_bytes();
                node.encounter(h.node_id, view, now);
                self.state = State::AwaitTurn;
                self.stats.bytes_sent += reply.len();
                self.stats.summary_bytes_sent += reply.len();
                Ok(Some(reply))
            }
            (State::AwaitHelloReply, Frame::HelloReply(h)) => {
                let view = RelayView {
                    bridge: h.bridge,
                    p: p_from_wire(h.p_bridge),
                };
                let peer = Peer {
                    id: h.node_id,
                    view,
                    leaf: false,
                };
                self.peer = Some(peer);
                let mut ans = Answer::default();
                let keys = node.recon_keys();
                Reconciler::new(&keys, |k: &ShortId| *k, self.salt)
                    .answer_summary(0, 0, h.root, &mut ans);
                node.encounter(h.node_id, view, now);
                Ok(Some(self.reply(node, peer, ans, &[], now)))
            }
            (State::AwaitTurn, Frame::Turn(t)) => {
                if t.is_empty() {
                    self.state = State::Done;
                    return Ok(None);
                }
                self.stats.turns += 1;
                if self.stats.turns > MAX_TURNS {
                    return Err(SessionError::TooManyTurns);
                }
                let Some(peer) = self.peer else {
                    return Err(SessionError::Unexpected {
                        state: self.state.name(),
                        frame: "turn",
                    });
                };
                for a in t.acks {
                    match node.acknowledge(&a.id, a.signature) {
                        Ok(true) => self.stats.acks_taken += 1,
                        Ok(false) => {}
                        Err(_) => return Err(SessionError::ForgedAck),
                    }
                }
                for item in t.items {
                    if let Some(ack) = node.ack_of(short_id(&item.envelope.id())) {
                        self.acks_due.push(ack);
                        continue;
                    }
                    match node.accept(item, peer.id, self.stats.items_accepted, now) {
                        Ok(true) => self.stats.items_accepted += 1,
                        Ok(false) => {}
                        Err(RefuseReason::BadStamp) => {
                            node.stats.refused += 1;
                            return Err(SessionError::BadStamp);
                        }
                        Err(RefuseReason::ForgedPostage(e)) => {
                            node.stats.refused += 1;
                            return Err(SessionError::ForgedPostage(e));
                        }
                        Err(_) => {
                            node.stats.refused += 1;
                            self.stats.items_refused += 1;
                        }
                    }
                }
                let mut ans = Answer::default();
                let keys = node.recon_keys();
                Reconciler::new(&keys, |k: &ShortId| *k, self.salt).answer(&t.entries, &mut ans);
                Ok(Some(self.reply(node, peer, ans, &t.wants, now)))
            }
            (state, frame) => Err(SessionError::Unexpected {
                state: state.name(),
                frame: match frame {
                    Frame::Hello(_) => "hello",
                    Frame::HelloReply(_) => "hello reply",
                    Frame::Turn(_) => "turn",
                },
            }),
        }
    }

    /// Builds the next turn: the answer's entries, wants for what the answer found missing,
    /// and items for the peer's wants and for what the answer found the peer lacks.
    fn reply(
        &mut self,
        node: &mut Node,
        peer: Peer,
        mut ans: Answer,
        wants_in: &[ShortId],
        now: UnixTime,
    ) -> Vec<u8> {
        ans.entries.truncate(MAX_ENTRIES);
        ans.i_lack.sort_unstable();
        ans.i_lack.dedup();
        // What the peer holds and this node has an acknowledgement for: the peer gets the
        // acknowledgement, not a request for the envelope.
        let mut acks: Vec<Ack> = Vec::new();
        ans.i_lack.retain(|k| match node.ack_of(*k) {
            Some(ack) => {
                acks.push(ack);
                false
            }
            None => true,
        });
        // And what the peer sent although it was acknowledged here.
        acks.append(&mut self.acks_due);
        acks.sort_unstable_by_key(|a| a.id);
        acks.dedup_by(|a, b| a.id == b.id);
        acks.truncate(MAX_ACKS);
        self.stats.acks_sent += acks.len() as u32;
        node.stats.acks_sent += acks.len() as u64;
        ans.i_lack.truncate(MAX_WANTS);
        let mut turn = Turn {
            entries: ans.entries,
            wants: ans.i_lack,
            items: Vec::new(),
            acks,
        };
        let mut candidates: Vec<ShortId> = Vec::new();
        if !peer.leaf {
            candidates.extend_from_slice(wants_in);
            candidates.extend_from_slice(&ans.peer_lacks);
        }
        candidates.sort_unstable();
        candidates.dedup();
        // Soonest expiry first (what has least time left goes first), but every postage key's
        // first envelope before any key's second: a payer who floods gets no more of a
        // contact than one who pays once.
        let mut ordered: Vec<(UnixTime, ShortId)> = candidates
            .into_iter()
            .filter_map(|c| {
                node.find(c)
                    .ok()
                    .map(|i| (node.items[i].envelope.expires_at(), c))
            })
            .collect();
        ordered.sort_unstable();
        let mut seen: HashMap<[u8; 32], u32> = HashMap::new();
        let mut ranked: Vec<(u32, UnixTime, ShortId)> = ordered
            .into_iter()
            .map(|(e, c)| {
                let rank = match node.find(c).ok().and_then(|i| node.items[i].postage_key()) {
                    Some(k) => {
                        let n = seen.entry(*k.as_bytes()).or_insert(0);
                        *n += 1;
                        *n - 1
                    }
                    None => 0,
                };
                (rank, e, c)
            })
            .collect();
        ranked.sort_unstable();
        let mut len = turn.summary_len() + ferry_proto::delivery::ACK_LEN * turn.acks.len();
        for (_, _, c) in ranked {
            // The per-contact quota is a network parameter: an honest sender stays within it
            // rather than have the peer refuse (and, in spray and wait, lose the copies).
            let sent = self.stats.items_sent as usize + turn.items.len();
            if turn.items.len() >= MAX_ITEMS || sent >= node.cfg.max_items_per_contact as usize {
                break;
            }
            let Some(l) = node.item_len(c) else { continue };
            if self.stats.bytes_sent + len + l > node.cfg.contact_bytes {
                continue;
            }
            if let Some(item) = node.take_for(c, peer.view, now) {
                len += l;
                turn.items.push(item);
            }
        }
        self.stats.summary_bytes_sent += turn.summary_len();
        self.stats.items_sent += turn.items.len() as u32;
        self.state = if turn.is_empty() {
            State::Done
        } else {
            State::AwaitTurn
        };
        let bytes = Frame::Turn(turn).to_bytes();
        self.stats.bytes_sent += bytes.len();
        bytes
    }
}

/// Runs a whole contact between two nodes in memory (tests, examples): the initiator's frames
/// go to the responder and back until both are done. Returns both sides' counters.
pub fn run_contact(
    initiator: &mut Node,
    responder: &mut Node,
    salt: u64,
    now: UnixTime,
) -> Result<(SessionStats, SessionStats), SessionError> {
    let (mut a, hello) = Session::initiate(initiator, salt, now);
    let mut b = Session::respond();
    let mut frame = b.on_frame(responder, &hello, now)?;
    let mut to_initiator = true;
    while let Some(f) = frame {
        frame = if to_initiator {
            a.on_frame(initiator, &f, now)?
        } else {
            b.on_frame(responder, &f, now)?
        };
        to_initiator = !to_initiator;
    }
    Ok((*a.stats(), *b.stats()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::{seal_numbered, test_issuer_key};
    use crate::testutil::test_envelope;
    use crate::wire::{HELLO_LEN, HELLO_REPLY_LEN, TURN_OVERHEAD};
    use proptest::prelude::{ProptestConfig, any, prop_assert, prop_assert_eq, proptest};

    const NOW: UnixTime = UnixTime(999_000);

    fn cfg(id: u64, strategy: Strategy) -> NodeConfig {
        NodeConfig {
            node_id: id,
            strategy,
            stamp_bits: 0,
            budget_bytes: 1 << 20,
            contact_bytes: 1 << 20,
            max_items_per_contact: 1000,
            peer_share_percent: 100,
            issuer_key: Some(test_issuer_key().key_id()),
            ..NodeConfig::default()
        }
    }

    fn env_ttl(n: u64, ttl: u8) -> Envelope {
        seal_numbered(&test_issuer_key(), 1, n, 165, UnixTime(1_000_000), ttl)
    }

    fn ids(node: &Node) -> Vec<ShortId> {
        node.held().iter().map(|s| s.short).collect()
    }

    #[test]
    fn ttl_zero_never_propagates() {
        let mut a = Node::new(cfg(1, Strategy::Epidemic));
        let mut b = Node::new(cfg(2, Strategy::Epidemic));
        a.inject(env_ttl(1, 0), 0, NOW).unwrap();
        a.inject(env_ttl(2, 1), 0, NOW).unwrap();
        run_contact(&mut a, &mut b, 7, NOW).unwrap();
        assert_eq!(b.held().len(), 1, "only the ttl-1 envelope moved");
        assert_eq!(b.held()[0].envelope.ttl(), 0, "it arrives with ttl 0");
        // ...and goes no further, nor back.
        let mut c = Node::new(cfg(3, Strategy::Epidemic));
        run_contact(&mut b, &mut c, 8, NOW).unwrap();
        assert!(c.held().is_empty());
        // Not even to a bridge.
        let mut bridge_cfg = cfg(4, Strategy::Epidemic);
        bridge_cfg.bridge = true;
        let mut d = Node::new(bridge_cfg);
        run_contact(&mut a, &mut d, 9, NOW).unwrap();
        assert_eq!(d.held().len(), 1);
        assert_eq!(d.held()[0].envelope.ttl(), 0);
    }

    #[test]
    fn one_contact_moves_exactly_the_difference_then_nothing() {
        let mut a = Node::new(cfg(1, Strategy::Epidemic));
        let mut b = Node::new(cfg(2, Strategy::Epidemic));
        for n in 0..300 {
            let e = test_envelope(n, 165);
            a.inject(e.clone(), 0, NOW).unwrap();
            b.inject(e, 0, NOW).unwrap();
        }
        for n in 300..310 {
            a.inject(test_envelope(n, 165), 0, NOW).unwrap();
        }
        for n in 310..313 {
            b.inject(test_envelope(n, 165), 0, NOW).unwrap();
        }
        let (sa, sb) = run_contact(&mut a, &mut b, 5, NOW).unwrap();
        assert_eq!(sa.items_sent, 10);
        assert_eq!(sb.items_sent, 3);
        assert_eq!(sa.items_accepted + sb.items_accepted, 13);
        assert_eq!(ids(&a), ids(&b));
        assert_eq!(a.held().len(), 313);
        // A second contact has nothing new: two hellos and one empty turn.
        let (sa, sb) = run_contact(&mut a, &mut b, 6, NOW).unwrap();
        assert_eq!(sa.items_sent + sb.items_sent, 0);
        assert_eq!(
            sa.bytes_sent + sb.bytes_sent,
            HELLO_LEN + HELLO_REPLY_LEN + TURN_OVERHEAD
        );
        assert_eq!(sa.bytes_sent, sa.summary_bytes_sent);
    }

    #[test]
    fn session_bytes_match_the_in_memory_exchange() {
        // The simulator counts reconciliation bytes with recon::run_exchange; it must agree
        // with what a real session sends when every difference can be sent.
        let mut a = Node::new(cfg(1, Strategy::Epidemic));
        let mut b = Node::new(cfg(2, Strategy::Epidemic));
        for n in 0..200 {
            let e = test_envelope(n, 165);
            if n % 7 != 0 {
                a.inject(e.clone(), 0, NOW).unwrap();
            }
            if n % 5 != 0 {
                b.inject(e, 0, NOW).unwrap();
            }
        }
        let ex = crate::recon::run_exchange(a.held(), b.held(), |s: &Stored| s.short, 77);
        let (sa, sb) = run_contact(&mut a, &mut b, 77, NOW).unwrap();
        assert_eq!(ex.responder_lacks.len() as u32, sa.items_sent);
        assert_eq!(ex.initiator_lacks.len() as u32, sb.items_sent);
        assert_eq!(ex.initiator_bytes, sa.summary_bytes_sent);
        assert_eq!(ex.responder_bytes, sb.summary_bytes_sent);
    }

    #[test]
    fn expired_envelopes_are_dropped_and_refused() {
        let mut a = Node::new(cfg(1, Strategy::Epidemic));
        a.inject(test_envelope(1, 165), 0, NOW).unwrap();
        assert_eq!(
            a.inject(test_envelope(2, 165), 0, UnixTime(1_000_000)),
            Err(RefuseReason::Expired)
        );
        assert_eq!(a.expire(UnixTime(999_999)), 0);
        assert_eq!(a.expire(UnixTime(1_000_000)), 1);
        assert!(a.held().is_empty());
        assert_eq!(a.used_bytes(), 0);
        // Too far ahead.
        assert_eq!(
            a.inject(test_envelope(3, 165), 0, UnixTime(1_000_000 - 86_401)),
            Err(RefuseReason::TooFarAhead)
        );
        // A contact after expiry moves nothing.
        let mut b = Node::new(cfg(2, Strategy::Epidemic));
        b.inject(test_envelope(4, 165), 0, NOW).unwrap();
        let mut c = Node::new(cfg(3, Strategy::Epidemic));
        run_contact(&mut b, &mut c, 1, UnixTime(1_000_000)).unwrap();
        assert!(b.held().is_empty() && c.held().is_empty());
    }

    #[test]
    fn junk_is_cut_off_and_quotas_bound_a_flood() {
        let mut honest = cfg(1, Strategy::Epidemic);
        honest.stamp_bits = 8;
        honest.max_items_per_contact = 5;
        let mut victim = Node::new(honest.clone());
        // A hostile node that does not check stamps floods unstamped junk: the contact is cut at
        // the first one and nothing is stored.
        let mut hostile_cfg = cfg(66, Strategy::Epidemic);
        hostile_cfg.stamp_bits = 0;
        let mut hostile = Node::new(hostile_cfg);
        let mut bad = 0u64;
        for n in 0..50 {
            let e = test_envelope(n, 165);
            // Find a nonce that is *not* an 8-bit stamp.
            let nonce = (0..)
                .find(|x| !stamp::check(&e.id(), e.expires_at(), *x, 8))
                .unwrap();
            hostile.inject(e, nonce, NOW).unwrap();
            bad += 1;
        }
        assert_eq!(bad, 50);
        let err = run_contact(&mut hostile, &mut victim, 3, NOW).unwrap_err();
        assert_eq!(err, SessionError::BadStamp);
        assert!(victim.held().is_empty());
        // Properly stamped junk: the per-contact quota and the per-peer share bound it.
        let mut hostile = Node::new(cfg(67, Strategy::Epidemic));
        for n in 100..200 {
            let e = test_envelope(n, 165);
            let nonce = stamp::mint(&e.id(), e.expires_at(), 8, 0, 1 << 20).unwrap();
            hostile.inject(e, nonce, NOW).unwrap();
        }
        run_contact(&mut hostile, &mut victim, 4, NOW).unwrap();
        assert_eq!(victim.held().len(), 5, "per-contact quota");
        let mut shared = honest;
        shared.max_items_per_contact = 1000;
        shared.budget_bytes = 100 * 235;
        shared.peer_share_percent = 25;
        let mut victim = Node::new(shared);
        run_contact(&mut hostile, &mut victim, 5, NOW).unwrap();
        run_contact(&mut hostile, &mut victim, 6, NOW).unwrap();
        assert_eq!(
            victim.held().len(),
            25,
            "a quarter of the budget from one peer"
        );
    }

    #[test]
    fn spray_and_wait_splits_and_hands_off_to_bridges() {
        let s = Strategy::SprayAndWait { copies: 8 };
        let mut a = Node::new(cfg(1, s));
        let mut b = Node::new(cfg(2, s));
        a.inject(test_envelope(1, 165), 0, NOW).unwrap();
        run_contact(&mut a, &mut b, 1, NOW).unwrap();
        assert_eq!((a.held()[0].copies, b.held()[0].copies), (4, 4));
        let mut bc = cfg(3, s);
        bc.bridge = true;
        let mut bridge = Node::new(bc);
        run_contact(&mut a, &mut bridge, 2, NOW).unwrap();
        assert!(a.held().is_empty(), "handed off");
        assert_eq!(bridge.held()[0].copies, 4);
        // The bridge never forwards.
        let mut c = Node::new(cfg(4, s));
        run_contact(&mut bridge, &mut c, 3, NOW).unwrap();
        assert!(c.held().is_empty());
    }

    /// A leaf (a wallet handing over its own payment) gives its envelope and is given
    /// nothing, so the relay keeps every copy it had: nothing is lost to a device that will
    /// not carry it.
    #[test]
    fn a_leaf_hands_over_and_is_sent_nothing() {
        let s = Strategy::SprayAndWait { copies: 4 };
        let mut relay = Node::new(cfg(2, s));
        relay.inject(test_envelope(2, 165), 0, NOW).unwrap();
        relay.inject(test_envelope(3, 165), 0, NOW).unwrap();
        let mut lc = cfg(1, Strategy::SprayAndWait { copies: 8 });
        lc.leaf = true;
        let mut leaf = Node::new(lc);
        leaf.inject(test_envelope(1, 165), 0, NOW).unwrap();
        let (sent, got) = run_contact(&mut leaf, &mut relay, 9, NOW).unwrap();
        assert_eq!((sent.items_sent, got.items_sent), (1, 0));
        assert_eq!(leaf.held().len(), 1, "the leaf got nothing");
        assert_eq!(relay.held().len(), 3);
        let copies = |n: &Node, id: EnvelopeId| {
            n.held()
                .iter()
                .find(|x| x.envelope.id() == id)
                .map(|x| x.copies)
        };
        assert_eq!(copies(&relay, test_envelope(1, 165).id()), Some(4));
        assert_eq!(copies(&relay, test_envelope(2, 165).id()), Some(4));
        assert_eq!(copies(&leaf, test_envelope(1, 165).id()), Some(4));
        // A second contact moves nothing: the relay holds it.
        let (sent, got) = run_contact(&mut leaf, &mut relay, 10, NOW).unwrap();
        assert_eq!((sent.items_sent, got.items_sent), (0, 0));
    }

    #[test]
    fn prophet_forwards_toward_bridges() {
        let p = Strategy::Prophet(crate::strategy::ProphetParams::default());
        let mut a = Node::new(cfg(1, p));
        let mut b = Node::new(cfg(2, p));
        let mut bc = cfg(3, p);
        bc.bridge = true;
        let mut bridge = Node::new(bc);
        a.inject(test_envelope(1, 165), 0, NOW).unwrap();
        // b meets a bridge: its predictability rises above a's.
        run_contact(&mut b, &mut bridge, 1, NOW).unwrap();
        assert!(b.p_bridge(NOW) > 0.7);
        run_contact(&mut a, &mut b, 2, NOW).unwrap();
        assert_eq!(b.held().len(), 1, "a gives to the better-placed b");
        let mut c = Node::new(cfg(4, p));
        run_contact(&mut b, &mut c, 3, NOW).unwrap();
        assert!(c.held().is_empty(), "b does not give to the worse-placed c");
        // Ageing: an hour later b's predictability has decayed.
        assert!(b.p_bridge(NOW.plus_secs(3600)) < 0.1);
    }

    fn posting(n: u64) -> (ferry_proto::SigningKey, ferry_proto::postage::MeshPostage) {
        crate::fixtures::test_postage(n, UnixTime(1_100_000))
    }

    fn requiring(id: u64) -> NodeConfig {
        NodeConfig {
            postage_issuer: Some(crate::fixtures::test_postage_issuer().public()),
            ..cfg(id, Strategy::Epidemic)
        }
    }

    #[test]
    fn postage_is_required_checked_and_bound_to_its_envelope() {
        use crate::fixtures::post;
        let (key, postage) = posting(1);
        let mut b = Node::new(requiring(2));
        // Without postage: refused, but an honest node without the issuer key is not cut off.
        let mut a = Node::new(cfg(1, Strategy::Epidemic));
        a.inject(test_envelope(1, 165), 0, NOW).unwrap();
        let (_, sb) = run_contact(&mut a, &mut b, 1, NOW).unwrap();
        assert_eq!((b.held().len(), sb.items_refused), (0, 1));
        assert_eq!(
            b.inject(test_envelope(1, 165), 0, NOW),
            Err(RefuseReason::NoPostage)
        );
        // Posted: carried, and forwarded with its postage.
        let e2 = test_envelope(2, 165);
        a.inject_posted(e2.clone(), 0, Some(post(&key, &postage, &e2)), NOW)
            .unwrap();
        run_contact(&mut a, &mut b, 2, NOW).unwrap();
        assert!(b.contains(&e2.id()));
        let mut c = Node::new(requiring(3));
        run_contact(&mut b, &mut c, 3, NOW).unwrap();
        assert!(c.contains(&e2.id()), "the postage travels on");
        // The postmark of one envelope moved onto another: the contact is cut.
        let e3 = test_envelope(3, 165);
        let mut thief = Node::new(cfg(4, Strategy::Epidemic));
        thief
            .inject_posted(e3.clone(), 0, Some(post(&key, &postage, &e2)), NOW)
            .unwrap();
        let err = run_contact(&mut thief, &mut c, 4, NOW).unwrap_err();
        assert_eq!(err, SessionError::ForgedPostage(PostageError::BadPostmark));
        assert!(!c.contains(&e3.id()));
        // Postage a flooder signed itself: cut too.
        let mut flooder = Node::new(cfg(5, Strategy::Epidemic));
        let own = ferry_proto::Signed::sign(
            ferry_proto::postage::PostageBody {
                key: key.public(),
                valid_until: UnixTime(1_100_000),
            },
            &key,
        )
        .unwrap();
        let e4 = test_envelope(4, 165);
        flooder
            .inject_posted(e4.clone(), 0, Some(post(&key, &own, &e4)), NOW)
            .unwrap();
        let err = run_contact(&mut flooder, &mut c, 5, NOW).unwrap_err();
        assert_eq!(err, SessionError::ForgedPostage(PostageError::BadSignature));
        // Expired postage: refused, not cut.
        let (k_old, old) = crate::fixtures::test_postage(9, UnixTime(NOW.secs()));
        let e5 = test_envelope(5, 165);
        let mut late = Node::new(cfg(6, Strategy::Epidemic));
        late.inject_posted(e5.clone(), 0, Some(post(&k_old, &old, &e5)), NOW)
            .unwrap();
        let (_, sc) = run_contact(&mut late, &mut c, 6, NOW).unwrap();
        assert_eq!(sc.items_refused, 1);
        assert_eq!(
            c.inject_posted(e5.clone(), 0, Some(post(&k_old, &old, &e5)), NOW),
            Err(RefuseReason::StalePostage(PostageError::Expired))
        );
    }

    #[test]
    fn a_flooding_postage_key_gets_no_more_than_one_payer() {
        use crate::fixtures::post;
        let (kf, pf) = posting(10);
        let mut a = Node::new(NodeConfig {
            max_items_per_contact: 3,
            ..requiring(1)
        });
        // One flooder with 12 envelopes that expire soonest, two payers with one each.
        for n in 0..12 {
            let e = seal_numbered(&test_issuer_key(), 1, 100 + n, 165, UnixTime(999_500), 8);
            a.inject_posted(e.clone(), 0, Some(post(&kf, &pf, &e)), NOW)
                .unwrap();
        }
        let mut honest = Vec::new();
        for n in 0..2u64 {
            let (k, p) = posting(20 + n);
            let e = test_envelope(200 + n, 165);
            a.inject_posted(e.clone(), 0, Some(post(&k, &p, &e)), NOW)
                .unwrap();
            honest.push(e.id());
        }
        let mut b = Node::new(requiring(2));
        run_contact(&mut a, &mut b, 1, NOW).unwrap();
        // Three items fit in the contact: each payer's first, although the flood expires sooner.
        assert_eq!(b.held().len(), 3);
        assert!(honest.iter().all(|id| b.contains(id)));
        let flood_held = |b: &Node| b.held_for_others(&kf.public());
        assert_eq!(flood_held(&b), 1);
        // Later contacts fill the flooder's share and no more.
        for salt in 2..8 {
            run_contact(&mut a, &mut b, salt, NOW).unwrap();
        }
        assert_eq!(flood_held(&b), usize::from(b.config().max_per_postage_key));
        assert!(b.stats().refused > 0, "the rest was refused");
    }

    fn acking(id: u64) -> NodeConfig {
        NodeConfig {
            ack_issuer: Some(crate::fixtures::test_postage_issuer().public()),
            ..cfg(id, Strategy::Epidemic)
        }
    }

    #[test]
    fn the_issuers_ack_travels_to_the_copies_and_only_there() {
        use ferry_proto::delivery::acknowledge;
        let issuer = crate::fixtures::test_postage_issuer();
        let (mut a, mut b, mut c) = (
            Node::new(acking(1)),
            Node::new(acking(2)),
            Node::new(acking(3)),
        );
        let e = test_envelope(1, 165);
        let kept = test_envelope(2, 165);
        a.inject(e.clone(), 0, NOW).unwrap();
        a.inject(kept.clone(), 0, NOW).unwrap();
        run_contact(&mut a, &mut b, 1, NOW).unwrap();
        run_contact(&mut b, &mut c, 2, NOW).unwrap();
        assert!(c.contains(&e.id()) && c.contains(&kept.id()));
        // A bridge's server decided `e`: the node that uploaded it holds the acknowledgement.
        assert_eq!(
            a.acknowledge(&e.id(), acknowledge(&issuer, &e.id())),
            Ok(true)
        );
        assert_eq!(a.undelivered().count(), 1);
        // It reaches b when they meet, and c through b; the other envelope stays live.
        let (sa, sb) = run_contact(&mut a, &mut b, 3, NOW).unwrap();
        assert_eq!((sa.acks_sent + sb.acks_sent, b.stats().acks_taken), (1, 1));
        run_contact(&mut c, &mut b, 4, NOW).unwrap();
        assert_eq!(c.stats().acks_taken, 1);
        for n in [&a, &b, &c] {
            let live: Vec<_> = n.undelivered().map(|s| s.envelope.id()).collect();
            assert_eq!(
                live,
                vec![kept.id()],
                "only the unacknowledged envelope is live"
            );
        }
        // Once everyone has it, contacts carry no acknowledgements and nothing else.
        let (sa, sb) = run_contact(&mut a, &mut c, 5, NOW).unwrap();
        assert_eq!(
            sa.acks_sent + sb.acks_sent + sa.items_sent + sb.items_sent,
            0
        );
        // A node that never held the envelope takes no acknowledgement for it.
        let mut d = Node::new(acking(4));
        let (sa, sd) = run_contact(&mut a, &mut d, 6, NOW).unwrap();
        assert_eq!(
            sa.acks_sent + sd.acks_sent,
            0,
            "nothing to acknowledge to d"
        );
        assert_eq!(d.stats().acks_taken, 0);
        assert!(
            !d.contains(&e.id()),
            "an acknowledged envelope is not forwarded"
        );
        assert!(d.contains(&kept.id()));
    }

    #[test]
    fn a_forged_ack_cuts_the_contact_and_deletes_nothing() {
        use ferry_proto::delivery::acknowledge;
        let e = test_envelope(1, 165);
        let mut victim = Node::new(acking(1));
        victim.inject(e.clone(), 0, NOW).unwrap();
        // A relay signs an "acknowledgement" itself and holds it as a tombstone.
        let forger_key = crate::fixtures::test_postage(7, UnixTime(1_100_000)).0;
        let mut forger = Node::new(NodeConfig {
            ack_issuer: Some(forger_key.public()),
            ..cfg(2, Strategy::Epidemic)
        });
        forger.inject(e.clone(), 0, NOW).unwrap();
        assert_eq!(
            forger.acknowledge(&e.id(), acknowledge(&forger_key, &e.id())),
            Ok(true)
        );
        let err = run_contact(&mut forger, &mut victim, 1, NOW).unwrap_err();
        assert_eq!(err, SessionError::ForgedAck);
        assert_eq!(
            victim.undelivered().count(),
            1,
            "the payment is still carried"
        );
        // The node API refuses it too; a node that checks no acks ignores them.
        assert!(
            victim
                .acknowledge(&e.id(), acknowledge(&forger_key, &e.id()))
                .is_err()
        );
        let mut plain = Node::new(cfg(3, Strategy::Epidemic));
        plain.inject(e.clone(), 0, NOW).unwrap();
        assert_eq!(
            plain.acknowledge(&e.id(), acknowledge(&forger_key, &e.id())),
            Ok(false)
        );
        assert_eq!(plain.undelivered().count(), 1);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(24))]

        /// Random contacts among a few small-budget nodes: no node ever holds more than its
        /// budget, and spray and wait never has more than L copies of an envelope in the network.
        #[test]
        fn budgets_hold_and_copies_are_conserved(
            budget_items in 1usize..12,
            l in 1u16..10,
            n_env in 1u64..12,
            contacts in proptest::collection::vec((0usize..6, 0usize..6, any::<u64>()), 1..60),
            bridges in proptest::collection::vec(any::<bool>(), 6),
            contact_items in 1usize..6,
        ) {
            let s = Strategy::SprayAndWait { copies: l };
            let mut nodes: Vec<Node> = (0..6)
                .map(|i| {
                    let mut c = cfg(i as u64 + 1, s);
                    c.budget_bytes = budget_items * 235;
                    c.contact_bytes = 200 + contact_items * 250;
                    c.bridge = bridges[i] && i > 0;
                    Node::new(c)
                })
                .collect();
            let mut injected = 0;
            for n in 0..n_env {
                if nodes[0].inject(test_envelope(n, 165), 0, NOW).is_ok() {
                    injected += 1;
                }
            }
            prop_assert!(injected >= 1);
            for (i, j, salt) in contacts {
                if i == j { continue; }
                let (x, y) = if i < j { (i, j) } else { (j, i) };
                let (left, right) = nodes.split_at_mut(y);
                run_contact(&mut left[x], &mut right[0], salt, NOW).unwrap();
                for node in &nodes {
                    prop_assert!(node.used_bytes() <= node.config().budget_bytes);
                    let sum: usize = node.held().iter().map(|s| s.len()).sum();
                    prop_assert_eq!(sum, node.used_bytes());
                }
                for n in 0..n_env {
                    let short = short_id(&test_envelope(n, 165).id());
                    let copies: u32 = nodes
                        .iter()
                        .flat_map(|node| node.held().iter())
                        .filter(|st| st.short == short)
                        .map(|st| u32::from(st.copies))
                        .sum();
                    prop_assert!(copies <= u32::from(l), "{} copies > L = {}", copies, l);
                }
            }
        }
    }
}
