//! Helpers for this crate's tests.

use ferry_proto::envelope::Envelope;
use ferry_proto::time::UnixTime;
use proptest::prelude::*;

use crate::fixtures::{post, seal_numbered, test_issuer_key, test_postage};
use crate::wire::{
    Ack, Body, Entry, FANOUT, Frame, Hello, HelloReply, IDS_THRESHOLD, Item, MAX_DEPTH, Summary,
    Turn, depth_mask,
};

/// Envelope `n` of the test stream, expiring at 1 000 000 with ttl 8.
pub fn test_envelope(n: u64, len: usize) -> Envelope {
    seal_numbered(&test_issuer_key(), 1, n, len, UnixTime(1_000_000), 8)
}

fn arb_summary() -> impl Strategy<Value = Summary> {
    prop_oneof![
        Just(Summary::default()),
        (1u32.., any::<u64>()).prop_map(|(count, fp)| Summary { count, fp }),
    ]
}

fn arb_entry() -> impl Strategy<Value = Entry> {
    (0u8..=MAX_DEPTH, any::<u64>(), 0u8..3).prop_flat_map(|(depth, raw, kind)| {
        let mask = depth_mask(depth);
        let prefix = raw & !mask;
        let body: BoxedStrategy<Body> = match (kind, depth < MAX_DEPTH) {
            (0, _) => arb_summary().prop_map(Body::Fp).boxed(),
            (2, true) => proptest::collection::vec(arb_summary(), FANOUT)
                .prop_map(|v| {
                    let mut a = [Summary::default(); FANOUT];
                    a.copy_from_slice(&v);
                    Body::Split(Box::new(a))
                })
                .boxed(),
            _ => proptest::collection::btree_set(any::<u64>(), 0..=IDS_THRESHOLD)
                .prop_map(move |s| {
                    let mut v: Vec<u64> = s.into_iter().map(|x| prefix | (x & mask)).collect();
                    v.sort_unstable();
                    v.dedup();
                    Body::Ids(v)
                })
                .boxed(),
        };
        body.prop_map(move |body| Entry {
            depth,
            prefix,
            body,
        })
    })
}

fn arb_item() -> impl Strategy<Value = Item> {
    (
        any::<u16>(),
        any::<u8>(),
        any::<u64>(),
        0u64..4,
        16usize..200,
        any::<bool>(),
    )
        .prop_map(|(copies, hops, stamp, n, len, with_postage)| {
            let envelope = test_envelope(n, len);
            let posted = with_postage.then(|| {
                let (key, postage) = test_postage(n, UnixTime(2_000_000));
                post(&key, &postage, &envelope)
            });
            Item {
                copies,
                hops,
                stamp,
                posted,
                envelope,
            }
        })
}

/// Any valid frame.
pub fn arb_frame() -> impl Strategy<Value = Frame> {
    prop_oneof![
        (any::<u64>(), 0u8..3, any::<u16>(), any::<u64>()).prop_map(
            |(node_id, role, p_bridge, salt)| Frame::Hello(Hello {
                node_id,
                bridge: role == 1,
                leaf: role == 2,
                p_bridge,
                salt
            })
        ),
        (any::<u64>(), any::<bool>(), any::<u16>(), arb_summary()).prop_map(
            |(node_id, bridge, p_bridge, root)| Frame::HelloReply(HelloReply {
                node_id,
                bridge,
                p_bridge,
                root
            })
        ),
        (
            proptest::collection::vec(arb_entry(), 0..6),
            proptest::collection::btree_set(any::<u64>(), 0..6),
            proptest::collection::vec(arb_item(), 0..3),
            proptest::collection::btree_map(any::<[u8; 32]>(), any::<[u8; 32]>(), 0..3)
        )
            .prop_map(|(entries, wants, items, acks)| Frame::Turn(Turn {
                entries,
                wants: wants.into_iter().collect(),
                items,
                acks: acks
                    .into_iter()
                    .map(|(id, half)| Ack {
                        id: ferry_proto::envelope::EnvelopeId(ferry_proto::hash::Hash32(id)),
                        signature: ferry_proto::Signature::from_bytes(&{
                            let mut sig = [0u8; 64];
                            sig[..32].copy_from_slice(&half);
                            sig
                        }),
                    })
                    .collect(),
            })),
    ]
}
