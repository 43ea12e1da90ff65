//! The relay wire protocol: the frames two nodes exchange during a contact.
//!
//! Every frame is a Ferry top-level message (version byte, then a tag, then the body) with
//! exactly one byte form: fixed-width big-endian integers, counted lists with documented
//! maxima checked before anything is allocated, sorted id lists, canonical trie prefixes and
//! no trailing bytes. Envelopes inside items are decoded strictly with
//! [`ferry_proto::envelope::Envelope`]'s own codec.
//!
//! ```text
//! Hello      = 0x01 ‖ node_id u64 ‖ flags u8 (bit 0 bridge, bit 1 leaf) ‖ p_bridge u16 ‖ salt u64
//! HelloReply = 0x02 ‖ node_id u64 ‖ flags u8 ‖ p_bridge u16 ‖ root(count u32 ‖ fp u64)
//! Turn       = 0x03 ‖ n u16 ‖ Entry* ‖ m u16 ‖ want u64* ‖ k u16 ‖ Item* ‖ a u16 ‖ Ack*
//! Entry      = depth u8 ‖ prefix u64 ‖ (0 ‖ count u32 ‖ fp u64
//!                                      | 1 ‖ n u8 ‖ id u64*
//!                                      | 2 ‖ 16 × (count u32 ‖ fp u64))
//! Item       = copies u16 ‖ hops u8 ‖ stamp u64 ‖ (0 | 1 ‖ postage(105) ‖ postmark(64))
//!              ‖ len u16 ‖ envelope
//! Ack        = envelope id(32) ‖ issuer signature(64)   (ferry_proto::delivery)
//! ```

use ferry_proto::Signature;
use ferry_proto::codec::{DecodeError, Message, Reader, Wire, Writer};
use ferry_proto::delivery::ACK_LEN;
use ferry_proto::envelope::{Envelope, EnvelopeId};
use ferry_proto::postage::{MeshPostage, POSTAGE_LEN, POSTMARK_LEN};

/// The first 8 bytes of an [`EnvelopeId`], big-endian: the key the relay protocol reconciles on.
pub type ShortId = u64;

/// The short id of an envelope id.
pub fn short_id(id: &EnvelopeId) -> ShortId {
    let b = id.as_bytes();
    u64::from_be_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]])
}

/// Depth of the deepest trie node (one nibble per level over 64-bit ids).
pub const MAX_DEPTH: u8 = 16;
/// Children per trie node.
pub const FANOUT: usize = 16;
/// A range holding at most this many ids is sent as a list instead of being split.
pub const IDS_THRESHOLD: usize = 16;
/// Most entries in one turn.
pub const MAX_ENTRIES: usize = 4096;
/// Most wanted ids in one turn.
pub const MAX_WANTS: usize = 4096;
/// Most items in one turn.
pub const MAX_ITEMS: usize = 512;
/// Most delivery acknowledgements in one turn.
pub const MAX_ACKS: usize = 512;
/// Longest envelope a relay carries (a remote payment is 238 bytes).
pub const MAX_ITEM_ENVELOPE: usize = 1024;
/// Longest frame: a turn at its maxima fits well below this.
pub const MAX_FRAME: usize = 1024 * 1024;

/// Encoded length of a [`Hello`] frame, version byte included.
pub const HELLO_LEN: usize = 1 + 1 + 8 + 1 + 2 + 8;
/// Encoded length of a [`HelloReply`] frame, version byte included.
pub const HELLO_REPLY_LEN: usize = 1 + 1 + 8 + 1 + 2 + SUMMARY_LEN;
/// Encoded length of an empty [`Turn`] frame, version byte included.
pub const TURN_OVERHEAD: usize = 1 + 1 + 2 + 2 + 2 + 2;
/// Encoded length of one wanted id.
pub const WANT_LEN: usize = 8;
/// Encoded length of a summary.
pub const SUMMARY_LEN: usize = 4 + 8;
/// Encoded length of an item without postage, not counting its envelope.
pub const ITEM_OVERHEAD: usize = 2 + 1 + 8 + 1 + 2;
/// Encoded length of an item's postage and postmark, when it has them.
pub const POSTED_LEN: usize = POSTAGE_LEN + POSTMARK_LEN;

const ENTRY_HEAD: usize = 1 + 8 + 1;
const MIN_ITEM_LEN: usize = ITEM_OVERHEAD;

/// A range summary: how many ids and the (salted) sum of their mixes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Summary {
    /// Number of ids in the range.
    pub count: u32,
    /// Wrapping sum of `recon::mix(salt, id)` over the range; 0 when empty.
    pub fp: u64,
}

impl Summary {
    fn encode(&self, w: &mut Writer) {
        w.u32(self.count);
        w.u64(self.fp);
    }
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let count = r.u32("count")?;
        let fp = r.u64("fingerprint")?;
        if count == 0 && fp != 0 {
            return Err(DecodeError::invalid(
                "fingerprint",
                "empty range with non-zero fingerprint",
            ));
        }
        Ok(Summary { count, fp })
    }
}

/// What an entry says about its range.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Body {
    /// "This is my summary of the range; answer it."
    Fp(Summary),
    /// "These are all the ids I hold in the range" (at most [`IDS_THRESHOLD`], sorted).
    Ids(Vec<ShortId>),
    /// "My summaries of the range's 16 children; answer each."
    Split(Box<[Summary; FANOUT]>),
}

/// One range of the reconciliation trie and what a side says about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Trie depth, 0 (everything) to [`MAX_DEPTH`] (one id value).
    pub depth: u8,
    /// The range's first id; bits below the depth's nibbles are zero.
    pub prefix: u64,
    /// The statement.
    pub body: Body,
}

/// Bits of an id below a depth's prefix (all ones at depth 0, none at [`MAX_DEPTH`]).
pub fn depth_mask(depth: u8) -> u64 {
    match depth {
        0 => u64::MAX,
        d if d >= MAX_DEPTH => 0,
        d => u64::MAX >> (4 * u32::from(d)),
    }
}

impl Entry {
    /// Encoded length.
    pub fn encoded_len(&self) -> usize {
        ENTRY_HEAD
            + match &self.body {
                Body::Fp(_) => SUMMARY_LEN,
                Body::Ids(ids) => 1 + 8 * ids.len(),
                Body::Split(_) => FANOUT * SUMMARY_LEN,
            }
    }

    fn encode(&self, w: &mut Writer) {
        w.u8(self.depth);
        w.u64(self.prefix);
        match &self.body {
            Body::Fp(s) => {
                w.u8(0);
                s.encode(w);
            }
            Body::Ids(ids) => {
                w.u8(1);
                w.u8(ids.len() as u8);
                for id in ids {
                    w.u64(*id);
                }
            }
            Body::Split(children) => {
                w.u8(2);
                for s in children.iter() {
                    s.encode(w);
                }
            }
        }
    }

    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let depth = r.u8("depth")?;
        if depth > MAX_DEPTH {
            return Err(DecodeError::invalid("depth", "deeper than the trie"));
        }
        let prefix = r.u64("prefix")?;
        let mask = depth_mask(depth);
        if prefix & mask != 0 {
            return Err(DecodeError::invalid("prefix", "bits below the depth set"));
        }
        let body = match r.u8("entry_kind")? {
            0 => Body::Fp(Summary::decode(r)?),
            1 => {
                let n = r.u8("ids")? as usize;
                if n > IDS_THRESHOLD {
                    return Err(DecodeError::invalid("ids", "too many ids in one range"));
                }
                let mut ids = Vec::with_capacity(n);
                for _ in 0..n {
                    let id = r.u64("id")?;
                    if id & !mask != prefix {
                        return Err(DecodeError::invalid("id", "outside the entry's range"));
                    }
                    if ids.last().is_some_and(|last| *last >= id) {
                        return Err(DecodeError::invalid("ids", "not strictly increasing"));
                    }
                    ids.push(id);
                }
                Body::Ids(ids)
            }
            2 => {
                if depth >= MAX_DEPTH {
                    return Err(DecodeError::invalid(
                        "entry_kind",
                        "split below the last level",
                    ));
                }
                let mut children = [Summary::default(); FANOUT];
                for c in children.iter_mut() {
                    *c = Summary::decode(r)?;
                }
                Body::Split(Box::new(children))
            }
            _ => return Err(DecodeError::invalid("entry_kind", "unknown tag")),
        };
        Ok(Entry {
            depth,
            prefix,
            body,
        })
    }
}

/// An envelope with the relay metadata that travels beside it (none of it authenticated).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item {
    /// Spray-and-wait copies handed over with the envelope (1 for other strategies).
    pub copies: u16,
    /// Relay hops the envelope has made so far (statistics only).
    pub hops: u8,
    /// Hashcash nonce over the envelope id and expiry (see [`crate::stamp`]).
    pub stamp: u64,
    /// The payer's issuer-signed postage and its postmark over this envelope
    /// ([`ferry_proto::postage`]); relays that know the issuer require it.
    pub posted: Option<Posted>,
    /// The sealed envelope; its ttl byte is the forwarding hops left.
    pub envelope: Envelope,
}

/// Postage and the postmark that binds it to one envelope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Posted {
    /// The issuer's postage naming the payer's postage key for the day.
    pub postage: MeshPostage,
    /// The postage key's signature over the envelope id.
    pub postmark: Signature,
}

impl Item {
    /// Encoded length.
    pub fn encoded_len(&self) -> usize {
        let posted = if self.posted.is_some() { POSTED_LEN } else { 0 };
        ITEM_OVERHEAD + posted + self.envelope.encoded_len()
    }

    fn encode(&self, w: &mut Writer) {
        w.u16(self.copies);
        w.u8(self.hops);
        w.u64(self.stamp);
        match &self.posted {
            None => w.u8(0),
            Some(p) => {
                w.u8(1);
                w.fixed(&p.postage.to_bytes());
                w.fixed(&p.postmark.to_bytes());
            }
        }
        w.bytes_u16(&self.envelope.to_bytes());
    }

    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let copies = r.u16("copies")?;
        let hops = r.u8("hops")?;
        let stamp = r.u64("stamp")?;
        let posted = match r.u8("posted")? {
            0 => None,
            1 => {
                let postage = MeshPostage::from_bytes(r.take(POSTAGE_LEN, "postage")?)?;
                let postmark = Signature::from_bytes(&r.array::<POSTMARK_LEN>("postmark")?);
                Some(Posted { postage, postmark })
            }
            _ => return Err(DecodeError::invalid("posted", "not 0 or 1")),
        };
        let bytes = r.bytes_u16(MAX_ITEM_ENVELOPE, "envelope")?;
        let envelope = Envelope::from_bytes(bytes)?;
        Ok(Item {
            copies,
            hops,
            stamp,
            posted,
            envelope,
        })
    }
}

/// The initiator's opening frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hello {
    /// The sender's node id (self-chosen, unauthenticated).
    pub node_id: u64,
    /// The sender uploads to the server (a bridge).
    pub bridge: bool,
    /// The sender carries nothing for others (a wallet handing over its own payments): the
    /// responder sends it no items, so no copies are lost to it. Flag bit 1; a bridge is
    /// never a leaf.
    pub leaf: bool,
    /// The sender's PRoPHET delivery predictability toward bridges, in 1/65535.
    pub p_bridge: u16,
    /// The salt of this contact's fingerprints, chosen at random by the initiator.
    pub salt: u64,
}

/// The responder's answer to a [`Hello`]: its own description and its root summary.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HelloReply {
    /// The responder's node id.
    pub node_id: u64,
    /// The responder is a bridge.
    pub bridge: bool,
    /// The responder's delivery predictability toward bridges, in 1/65535.
    pub p_bridge: u16,
    /// Summary of everything the responder holds, salted with the initiator's salt.
    pub root: Summary,
}

/// One turn of the conversation: reconciliation entries to answer, ids wanted, items sent.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Turn {
    /// Reconciliation statements.
    pub entries: Vec<Entry>,
    /// Ids the sender lacks and asks for (strictly increasing).
    pub wants: Vec<ShortId>,
    /// Envelopes handed over.
    pub items: Vec<Item>,
    /// The issuer's delivery acknowledgements of envelopes the peer holds (ids strictly
    /// increasing).
    pub acks: Vec<Ack>,
}

/// The issuer's acknowledgement that it decided an envelope ([`ferry_proto::delivery`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ack {
    /// The envelope.
    pub id: EnvelopeId,
    /// The issuer's signature over it.
    pub signature: Signature,
}

impl Turn {
    /// Nothing in it: receiving an empty turn ends the contact.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
            && self.wants.is_empty()
            && self.items.is_empty()
            && self.acks.is_empty()
    }

    /// Encoded length of the turn without its items and acknowledgements (what
    /// reconciliation costs).
    pub fn summary_len(&self) -> usize {
        TURN_OVERHEAD
            + self.entries.iter().map(Entry::encoded_len).sum::<usize>()
            + WANT_LEN * self.wants.len()
    }
}

/// A relay frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    /// Initiator opens.
    Hello(Hello),
    /// Responder answers.
    HelloReply(HelloReply),
    /// Either side, alternating.
    Turn(Turn),
}

fn flags(bridge: bool) -> u8 {
    u8::from(bridge)
}

fn read_flags(r: &mut Reader<'_>) -> Result<bool, DecodeError> {
    match r.u8("flags")? {
        0 => Ok(false),
        1 => Ok(true),
        _ => Err(DecodeError::invalid("flags", "unknown flag bits")),
    }
}

/// A hello's flags: bit 0 bridge, bit 1 leaf (never both).
fn hello_flags(bridge: bool, leaf: bool) -> u8 {
    u8::from(bridge) | (u8::from(leaf) << 1)
}

fn read_hello_flags(r: &mut Reader<'_>) -> Result<(bool, bool), DecodeError> {
    match r.u8("flags")? {
        0 => Ok((false, false)),
        1 => Ok((true, false)),
        2 => Ok((false, true)),
        _ => Err(DecodeError::invalid("flags", "unknown flag bits")),
    }
}

/// Checks that `count` elements of at least `min_len` bytes each can still be read.
fn check_count(
    r: &Reader<'_>,
    count: usize,
    max: usize,
    min_len: usize,
    field: &'static str,
) -> Result<(), DecodeError> {
    if count > max {
        return Err(DecodeError::invalid(field, "more than allowed"));
    }
    if count.saturating_mul(min_len) > r.remaining() {
        return Err(DecodeError::Truncated { field });
    }
    Ok(())
}

impl Frame {
    /// Encoded length, version byte included.
    pub fn encoded_len(&self) -> usize {
        match self {
            Frame::Hello(_) => HELLO_LEN,
            Frame::HelloReply(_) => HELLO_REPLY_LEN,
            Frame::Turn(t) => {
                t.summary_len()
                    + t.items.iter().map(Item::encoded_len).sum::<usize>()
                    + ACK_LEN * t.acks.len()
            }
        }
    }

    /// Decodes a frame, refusing anything longer than [`MAX_FRAME`] before reading it.
    pub fn decode_frame(bytes: &[u8]) -> Result<Frame, DecodeError> {
        if bytes.len() > MAX_FRAME {
            return Err(DecodeError::invalid("frame", "longer than allowed"));
        }
        Frame::from_bytes(bytes)
    }
}

impl Wire for Frame {
    fn encode(&self, w: &mut Writer) {
        match self {
            Frame::Hello(h) => {
                w.u8(1);
                w.u64(h.node_id);
                w.u8(hello_flags(h.bridge, h.leaf && !h.bridge));
                w.u16(h.p_bridge);
                w.u64(h.salt);
            }
            Frame::HelloReply(h) => {
                w.u8(2);
                w.u64(h.node_id);
                w.u8(flags(h.bridge));
                w.u16(h.p_bridge);
                h.root.encode(w);
            }
            Frame::Turn(t) => {
                w.u8(3);
                w.u16(t.entries.len() as u16);
                for e in &t.entries {
                    e.encode(w);
                }
                w.u16(t.wants.len() as u16);
                for id in &t.wants {
                    w.u64(*id);
                }
                w.u16(t.items.len() as u16);
                for i in &t.items {
                    i.encode(w);
                }
                w.u16(t.acks.len() as u16);
                for a in &t.acks {
                    w.fixed(a.id.as_bytes());
                    w.fixed(&a.signature.to_bytes());
                }
            }
        }
    }

    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        match r.u8("frame_kind")? {
            1 => {
                let node_id = r.u64("node_id")?;
                let (bridge, leaf) = read_hello_flags(r)?;
                Ok(Frame::Hello(Hello {
                    node_id,
                    bridge,
                    leaf,
                    p_bridge: r.u16("p_bridge")?,
                    salt: r.u64("salt")?,
                }))
            }
            2 => Ok(Frame::HelloReply(HelloReply {
                node_id: r.u64("node_id")?,
                bridge: read_flags(r)?,
                p_bridge: r.u16("p_bridge")?,
                root: Summary::decode(r)?,
            })),
            3 => {
                let n = r.u16("entries")? as usize;
                check_count(r, n, MAX_ENTRIES, ENTRY_HEAD + 1, "entries")?;
                let mut entries = Vec::with_capacity(n);
                for _ in 0..n {
                    entries.push(Entry::decode(r)?);
                }
                let m = r.u16("wants")? as usize;
                check_count(r, m, MAX_WANTS, WANT_LEN, "wants")?;
                let mut wants: Vec<u64> = Vec::with_capacity(m);
                for _ in 0..m {
                    let id = r.u64("want")?;
                    if wants.last().is_some_and(|last| *last >= id) {
                        return Err(DecodeError::invalid("wants", "not strictly increasing"));
                    }
                    wants.push(id);
                }
                let k = r.u16("items")? as usize;
                check_count(r, k, MAX_ITEMS, MIN_ITEM_LEN, "items")?;
                let mut items = Vec::with_capacity(k);
                for _ in 0..k {
                    items.push(Item::decode(r)?);
                }
                let a = r.u16("acks")? as usize;
                check_count(r, a, MAX_ACKS, ACK_LEN, "acks")?;
                let mut acks: Vec<Ack> = Vec::with_capacity(a);
                for _ in 0..a {
                    let id = EnvelopeId(ferry_proto::hash::Hash32(r.array("ack_id")?));
                    if acks.last().is_some_and(|last| last.id >= id) {
                        return Err(DecodeError::invalid("acks", "ids not strictly increasing"));
                    }
                    let signature = Signature::from_bytes(&r.array("ack_signature")?);
                    acks.push(Ack { id, signature });
                }
                Ok(Frame::Turn(Turn {
                    entries,
                    wants,
                    items,
                    acks,
                }))
            }
            _ => Err(DecodeError::invalid("frame_kind", "unknown tag")),
        }
    }
}

impl Message for Frame {}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{arb_frame, test_envelope};
    use proptest::prelude::*;

    #[test]
    fn sizes_match_encoding() {
        let h = Frame::Hello(Hello {
            node_id: 7,
            bridge: true,
            leaf: false,
            p_bridge: 9,
            salt: 3,
        });
        assert_eq!(h.to_bytes().len(), HELLO_LEN);
        assert_eq!(h.encoded_len(), HELLO_LEN);
        let hr = Frame::HelloReply(HelloReply {
            node_id: 7,
            bridge: false,
            p_bridge: 9,
            root: Summary { count: 1, fp: 2 },
        });
        assert_eq!(hr.to_bytes().len(), HELLO_REPLY_LEN);
        let empty = Frame::Turn(Turn::default());
        assert_eq!(empty.to_bytes().len(), TURN_OVERHEAD);
        let env = test_envelope(1, crate::fixtures::PAYMENT_PLAINTEXT_LEN);
        let (key, postage) = crate::fixtures::test_postage(1, ferry_proto::UnixTime(2_000_000));
        let posted = crate::fixtures::post(&key, &postage, &env);
        assert_eq!(
            env.encoded_len(),
            238,
            "a remote payment envelope is 238 bytes"
        );
        let t = Frame::Turn(Turn {
            entries: vec![Entry {
                depth: 1,
                prefix: 0x3000_0000_0000_0000,
                body: Body::Ids(vec![0x3000_0000_0000_0001]),
            }],
            wants: vec![1, 2],
            items: vec![
                Item {
                    copies: 4,
                    hops: 1,
                    stamp: 9,
                    posted: None,
                    envelope: env.clone(),
                },
                Item {
                    copies: 4,
                    hops: 1,
                    stamp: 9,
                    posted: Some(posted.clone()),
                    envelope: env.clone(),
                },
            ],
            acks: vec![Ack {
                id: env.id(),
                signature: posted.postmark,
            }],
        });
        assert_eq!(t.to_bytes().len(), t.encoded_len());
        let posted_item = Item {
            copies: 1,
            hops: 0,
            stamp: 0,
            posted: Some(posted),
            envelope: env,
        };
        assert_eq!(
            posted_item.encoded_len(),
            ITEM_OVERHEAD + POSTED_LEN + 238,
            "a posted remote payment travels in {} bytes",
            ITEM_OVERHEAD + POSTED_LEN + 238
        );
    }

    #[test]
    fn rejects_noncanonical_forms() {
        // Prefix bits below the depth.
        let e = Frame::Turn(Turn {
            entries: vec![Entry {
                depth: 1,
                prefix: 0x3100_0000_0000_0000,
                body: Body::Fp(Summary { count: 1, fp: 1 }),
            }],
            ..Turn::default()
        });
        assert!(Frame::from_bytes(&e.to_bytes()).is_err());
        // Unsorted wants.
        let t = Frame::Turn(Turn {
            wants: vec![2, 1],
            ..Turn::default()
        });
        assert!(Frame::from_bytes(&t.to_bytes()).is_err());
        // Empty summary with a fingerprint.
        let z = Frame::HelloReply(HelloReply {
            node_id: 1,
            bridge: false,
            p_bridge: 0,
            root: Summary { count: 0, fp: 5 },
        });
        assert!(Frame::from_bytes(&z.to_bytes()).is_err());
        // Acknowledgements out of order (or repeated).
        let ack = |n: u8| Ack {
            id: EnvelopeId(ferry_proto::hash::Hash32([n; 32])),
            signature: Signature::from_bytes(&[n; 64]),
        };
        for acks in [vec![ack(2), ack(1)], vec![ack(1), ack(1)]] {
            let t = Frame::Turn(Turn {
                acks,
                ..Turn::default()
            });
            assert!(Frame::from_bytes(&t.to_bytes()).is_err());
        }
        // Trailing byte, unknown tag, huge counts.
        let mut b = Frame::Turn(Turn::default()).to_bytes();
        b.push(0);
        assert!(Frame::from_bytes(&b).is_err());
        assert!(Frame::from_bytes(&[1, 9]).is_err());
        assert!(Frame::from_bytes(&[1, 3, 0xff, 0xff]).is_err());
        assert!(Frame::from_bytes(&[1, 3, 0, 0, 0, 0, 0x10, 0]).is_err());
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(128))]

        #[test]
        fn frames_round_trip(f in arb_frame()) {
            let bytes = f.to_bytes();
            prop_assert_eq!(bytes.len(), f.encoded_len());
            prop_assert_eq!(Frame::decode_frame(&bytes).unwrap(), f);
        }

        /// Every single-byte change either fails to decode or decodes to a message whose
        /// encoding is exactly the changed bytes (one byte form per value).
        #[test]
        fn single_byte_mutations_are_rejected_or_canonical(
            f in arb_frame(), pos in any::<prop::sample::Index>(), delta in 1u8..=255,
        ) {
            let mut bytes = f.to_bytes();
            let i = pos.index(bytes.len());
            bytes[i] = bytes[i].wrapping_add(delta);
            if let Ok(g) = Frame::decode_frame(&bytes) {
                prop_assert_eq!(g.to_bytes(), bytes);
            }
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = Frame::decode_frame(&bytes);
        }
    }
}
