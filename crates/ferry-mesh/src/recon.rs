//! Range-based set reconciliation over 64-bit short ids (a fixed 16-ary trie; negentropy's idea
//! with ranges named by id prefix instead of by bounds).
//!
//! Both sides hold sorted ids. A side states a range either as a [`Summary`] (count and salted
//! fingerprint), which the other side answers, or as the full list of its ids in the range
//! (when it holds at most [`IDS_THRESHOLD`]), which the other side resolves into "peer lacks"
//! and "I lack". A summary that differs from one's own is answered by the children's summaries
//! one level deeper, so equal sets cost one summary and each difference costs
//! `O(log₁₆ n)` levels of 16 summaries. Short ids are uniformly distributed (they are hash
//! prefixes), so ranges split evenly without sending any bounds.
//!
//! The fingerprint of a range is the wrapping sum of [`mix`]`(salt, id)`; the initiator picks the
//! salt at random for each contact, so junk ids ground by a third party cannot be aimed at
//! honest nodes' fingerprints.

use crate::wire::{Body, Entry, FANOUT, IDS_THRESHOLD, MAX_DEPTH, ShortId, Summary, depth_mask};

/// A salted 64-bit mix of an id (SplitMix64's finalizer over `id ^ salt`, applied twice).
pub fn mix(salt: u64, id: ShortId) -> u64 {
    let mut z = id ^ salt ^ 0x9E37_79B9_7F4A_7C15;
    for _ in 0..2 {
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
    }
    z
}

/// The summary of a slice of ids.
pub fn summarize<T>(slice: &[T], key: impl Fn(&T) -> ShortId, salt: u64) -> Summary {
    let mut fp = 0u64;
    for x in slice {
        fp = fp.wrapping_add(mix(salt, key(x)));
    }
    Summary {
        count: slice.len() as u32,
        fp,
    }
}

/// The sub-slice of a sorted set inside the trie node `(depth, prefix)`.
pub fn range<T>(set: &[T], key: impl Fn(&T) -> ShortId, depth: u8, prefix: u64) -> &[T] {
    let hi = prefix | depth_mask(depth);
    let a = set.partition_point(|x| key(x) < prefix);
    let b = a + set[a..].partition_point(|x| key(x) <= hi);
    &set[a..b]
}

/// The prefix of child `c` of the trie node `(depth, prefix)`.
pub fn child_prefix(depth: u8, prefix: u64, c: usize) -> u64 {
    prefix | ((c as u64) << (60 - 4 * u32::from(depth)))
}

/// What answering a peer's entries produced.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Answer {
    /// Entries for the peer to answer or resolve.
    pub entries: Vec<Entry>,
    /// Ids I hold that the peer does not.
    pub peer_lacks: Vec<ShortId>,
    /// Ids the peer holds that I do not.
    pub i_lack: Vec<ShortId>,
}

impl Answer {
    /// Empties it for reuse.
    pub fn clear(&mut self) {
        self.entries.clear();
        self.peer_lacks.clear();
        self.i_lack.clear();
    }
}

/// One side of a reconciliation: its sorted set, how to read an element's id, and how to read
/// an element's fingerprint contribution (normally `mix(salt, id)`).
#[derive(Debug, Clone, Copy)]
pub struct Reconciler<'a, T, K, C> {
    set: &'a [T],
    key: K,
    contrib: C,
}

/// Wrapping sum of the contributions of a slice.
fn sum_of<T>(slice: &[T], contrib: impl Fn(&T) -> u64) -> Summary {
    let mut fp = 0u64;
    for x in slice {
        fp = fp.wrapping_add(contrib(x));
    }
    Summary {
        count: slice.len() as u32,
        fp,
    }
}

impl<'a, T, K: Fn(&T) -> ShortId + Copy> Reconciler<'a, T, K, ()> {
    /// A reconciler over `set`, which must be sorted by `key` without repeats, with
    /// fingerprints salted by `salt`.
    pub fn new(set: &'a [T], key: K, salt: u64) -> Reconciler<'a, T, K, impl Fn(&T) -> u64 + Copy> {
        Reconciler::with_contrib(set, key, move |x: &T| mix(salt, key(x)))
    }
}

impl<'a, T, K: Fn(&T) -> ShortId + Copy, C: Fn(&T) -> u64 + Copy> Reconciler<'a, T, K, C> {
    /// A reconciler whose fingerprint contributions are read with `contrib` (which must equal
    /// `mix(salt, key(x))` for the salt both sides use; the simulator stores them).
    pub fn with_contrib(set: &'a [T], key: K, contrib: C) -> Self {
        debug_assert!(set.windows(2).all(|w| key(&w[0]) < key(&w[1])));
        Reconciler { set, key, contrib }
    }

    /// The summary of the whole set.
    pub fn root(&self) -> Summary {
        sum_of(self.set, self.contrib)
    }

    /// Answers the peer's statement about one range.
    pub fn answer_summary(&self, depth: u8, prefix: u64, theirs: Summary, out: &mut Answer) {
        let slice = range(self.set, self.key, depth, prefix);
        let mine = sum_of(slice, self.contrib);
        if mine == theirs {
            return;
        }
        if theirs.count == 0 {
            out.peer_lacks.extend(slice.iter().map(self.key));
        } else if slice.len() <= IDS_THRESHOLD || depth >= MAX_DEPTH {
            out.entries.push(Entry {
                depth,
                prefix,
                body: Body::Ids(slice.iter().map(self.key).collect()),
            });
        } else {
            let mut children = [Summary::default(); FANOUT];
            let mut rest = slice;
            for (c, s) in children.iter_mut().enumerate() {
                let p = child_prefix(depth, prefix, c);
                let hi = p | depth_mask(depth + 1);
                let n = rest.partition_point(|x| (self.key)(x) <= hi);
                *s = sum_of(&rest[..n], self.contrib);
                rest = &rest[n..];
            }
            out.entries.push(Entry {
                depth,
                prefix,
                body: Body::Split(Box::new(children)),
            });
        }
    }

    /// Resolves the peer's full list of a range against mine.
    pub fn resolve(&self, depth: u8, prefix: u64, theirs: &[ShortId], out: &mut Answer) {
        let slice = range(self.set, self.key, depth, prefix);
        let (mut i, mut j) = (0, 0);
        while i < slice.len() || j < theirs.len() {
            let a = slice.get(i).map(self.key);
            let b = theirs.get(j).copied();
            match (a, b) {
                (Some(a), Some(b)) if a == b => {
                    i += 1;
                    j += 1;
                }
                (Some(a), Some(b)) if a < b => {
                    out.peer_lacks.push(a);
                    i += 1;
                }
                (Some(a), None) => {
                    out.peer_lacks.push(a);
                    i += 1;
                }
                (_, Some(b)) => {
                    out.i_lack.push(b);
                    j += 1;
                }
                (None, None) => break,
            }
        }
    }

    /// Answers every entry of a peer's turn.
    pub fn answer(&self, incoming: &[Entry], out: &mut Answer) {
        for e in incoming {
            match &e.body {
                Body::Fp(s) => self.answer_summary(e.depth, e.prefix, *s, out),
                Body::Ids(ids) => self.resolve(e.depth, e.prefix, ids, out),
                Body::Split(children) => {
                    for (c, s) in children.iter().enumerate() {
                        self.answer_summary(
                            e.depth + 1,
                            child_prefix(e.depth, e.prefix, c),
                            *s,
                            out,
                        );
                    }
                }
            }
        }
    }
}

/// The outcome of a whole reconciliation run in memory (used by the simulator and tests).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Exchange {
    /// Ids the initiator holds and the responder lacks.
    pub responder_lacks: Vec<ShortId>,
    /// Ids the responder holds and the initiator lacks.
    pub initiator_lacks: Vec<ShortId>,
    /// Reconciliation bytes sent by the initiator (hello, entries, wants, turn headers).
    pub initiator_bytes: usize,
    /// Reconciliation bytes sent by the responder.
    pub responder_bytes: usize,
    /// Turns exchanged after the hellos.
    pub turns: u32,
}

/// Runs the whole conversation of [`crate::node::Session`] between two sets in memory,
/// counting the bytes each side sends for reconciliation (hellos, turn headers, entries and
/// wants; items excluded) with the same entries and frame sizes as the real session. Turns are
/// counted as if every difference learned were sent at once (the session sends items in the turn
/// where it learns the peer lacks them); a strategy that holds items back can end the real
/// conversation one empty turn (8 bytes) earlier.
pub fn run_exchange<T, K: Fn(&T) -> ShortId + Copy>(
    initiator: &[T],
    responder: &[T],
    key: K,
    salt: u64,
) -> Exchange {
    run_exchange_with(initiator, responder, key, move |x: &T| mix(salt, key(x)))
}

/// [`run_exchange`] with stored fingerprint contributions (`contrib(x) = mix(salt, key(x))`).
pub fn run_exchange_with<T, K: Fn(&T) -> ShortId + Copy, C: Fn(&T) -> u64 + Copy>(
    initiator: &[T],
    responder: &[T],
    key: K,
    contrib: C,
) -> Exchange {
    use crate::wire::{HELLO_LEN, HELLO_REPLY_LEN, TURN_OVERHEAD, WANT_LEN};
    let sides = [
        Reconciler::with_contrib(initiator, key, contrib),
        Reconciler::with_contrib(responder, key, contrib),
    ];
    let mut ex = Exchange {
        initiator_bytes: HELLO_LEN,
        responder_bytes: HELLO_REPLY_LEN,
        ..Exchange::default()
    };
    // lacks[s]: ids side s holds that the other side lacks.
    let mut lacks: [Vec<ShortId>; 2] = [Vec::new(), Vec::new()];
    let mut ans = Answer::default();
    sides[0].answer_summary(0, 0, sides[1].root(), &mut ans);
    let mut has_items = !ans.peer_lacks.is_empty();
    lacks[0].append(&mut ans.peer_lacks);
    let mut incoming = std::mem::take(&mut ans.entries);
    ex.initiator_bytes += TURN_OVERHEAD + incoming.iter().map(Entry::encoded_len).sum::<usize>();
    ex.turns = 1;
    let mut nonempty = !incoming.is_empty() || has_items;
    let mut wants_in = 0usize;
    let mut side = 1;
    while nonempty && ex.turns < 64 {
        ans.clear();
        sides[side].answer(&incoming, &mut ans);
        has_items = wants_in > 0 || !ans.peer_lacks.is_empty();
        lacks[side].append(&mut ans.peer_lacks);
        let wants = ans.i_lack.len();
        lacks[1 - side].extend(ans.i_lack.iter().copied());
        let bytes = TURN_OVERHEAD
            + ans.entries.iter().map(Entry::encoded_len).sum::<usize>()
            + WANT_LEN * wants;
        if side == 0 {
            ex.initiator_bytes += bytes;
        } else {
            ex.responder_bytes += bytes;
        }
        ex.turns += 1;
        nonempty = !ans.entries.is_empty() || wants > 0 || has_items;
        wants_in = wants;
        incoming = std::mem::take(&mut ans.entries);
        side = 1 - side;
    }
    for l in &mut lacks {
        l.sort_unstable();
        l.dedup();
    }
    let [a, b] = lacks;
    ex.responder_lacks = a;
    ex.initiator_lacks = b;
    ex
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeSet;

    fn sorted(v: &BTreeSet<u64>) -> Vec<u64> {
        v.iter().copied().collect()
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// Reconciliation finds exactly the symmetric difference.
        #[test]
        fn finds_exact_difference(
            common in proptest::collection::btree_set(any::<u64>(), 0..300),
            only_a in proptest::collection::btree_set(any::<u64>(), 0..40),
            only_b in proptest::collection::btree_set(any::<u64>(), 0..40),
            salt in any::<u64>(),
        ) {
            let a: BTreeSet<u64> = common.union(&only_a).copied().collect();
            let b: BTreeSet<u64> = common.union(&only_b).copied().collect();
            let (va, vb) = (sorted(&a), sorted(&b));
            let ex = run_exchange(&va, &vb, |x: &u64| *x, salt);
            let want_b_lacks: Vec<u64> = a.difference(&b).copied().collect();
            let want_a_lacks: Vec<u64> = b.difference(&a).copied().collect();
            prop_assert_eq!(ex.responder_lacks, want_b_lacks);
            prop_assert_eq!(ex.initiator_lacks, want_a_lacks);
        }
    }

    #[test]
    fn equal_sets_cost_only_the_summary() {
        let v: Vec<u64> = (0..1000u64)
            .map(|i| mix(1, i))
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let ex = run_exchange(&v, &v, |x: &u64| *x, 42);
        assert!(ex.responder_lacks.is_empty() && ex.initiator_lacks.is_empty());
        assert_eq!(ex.turns, 1);
        assert_eq!(
            ex.initiator_bytes + ex.responder_bytes,
            crate::wire::HELLO_LEN + crate::wire::HELLO_REPLY_LEN + crate::wire::TURN_OVERHEAD
        );
    }
}
