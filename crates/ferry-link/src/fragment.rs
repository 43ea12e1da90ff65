//! Fragmentation of link messages into BLE ATT payloads, and strict reassembly.
//!
//! An ATT payload (a GATT write without response or a notification) carries `ATT_MTU - 3`
//! bytes. Each fragment starts with a 3-byte header:
//!
//! | kind | first fragment (`0x01`)   | continuation (`0x02`)         |
//! |------|---------------------------|-------------------------------|
//! | 1..3 | message length, u16 BE    | fragment index (1, 2, …), u16 BE |
//!
//! followed by as many message bytes as fit. Every fragment but the last is full, so a
//! message has exactly one fragmentation for a given MTU, and the reassembler accepts only
//! that one: a continuation without a first fragment, a first fragment before the previous
//! message ended, an index out of sequence, a fragment of the wrong length or a length above
//! [`MAX_MESSAGE`] are [`LinkError::Malformed`] (or [`LinkError::TooLarge`]). A message
//! with fragments missing at the end simply never completes.

use thiserror::Error;

use crate::link::{LinkError, MAX_MESSAGE};

/// Smallest ATT MTU (the BLE default).
pub const MIN_ATT_MTU: u16 = 23;
/// Largest ATT MTU.
pub const MAX_ATT_MTU: u16 = 517;
/// ATT opcode and attribute handle, taken from every ATT PDU.
pub const ATT_OVERHEAD: usize = 3;
/// Length of a fragment header.
pub const FRAGMENT_HEADER: usize = 3;

const FIRST: u8 = 0x01;
const CONTINUATION: u8 = 0x02;

// A message length always fits the u16 of a first fragment.
const _: () = assert!(MAX_MESSAGE <= u16::MAX as usize);

/// An ATT MTU outside `23..=517`.
#[derive(Debug, Error, Clone, Copy, PartialEq, Eq)]
#[error("ATT MTU {0} is outside {MIN_ATT_MTU}..={MAX_ATT_MTU}")]
pub struct InvalidMtu(pub u16);

/// A valid ATT MTU (`23..=517`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct AttMtu(u16);

impl AttMtu {
    /// Checks the range.
    pub fn new(mtu: u16) -> Result<Self, InvalidMtu> {
        if (MIN_ATT_MTU..=MAX_ATT_MTU).contains(&mtu) {
            Ok(AttMtu(mtu))
        } else {
            Err(InvalidMtu(mtu))
        }
    }

    /// The MTU.
    pub fn get(self) -> u16 {
        self.0
    }

    /// Bytes of one ATT payload: `MTU - 3`.
    pub fn payload_len(self) -> usize {
        usize::from(self.0) - ATT_OVERHEAD
    }

    /// Message bytes one fragment carries.
    pub fn data_len(self) -> usize {
        self.payload_len() - FRAGMENT_HEADER
    }

    /// Number of fragments a message of `len` bytes takes.
    pub fn fragment_count(self, len: usize) -> usize {
        len.div_ceil(self.data_len()).max(1)
    }
}

/// Cuts `msg` into ATT payloads for `mtu`.
pub fn fragment(msg: &[u8], mtu: AttMtu) -> Result<Vec<Vec<u8>>, LinkError> {
    LinkError::check_len(msg.len())?;
    let total = u16::try_from(msg.len()).map_err(|_| LinkError::TooLarge {
        len: msg.len(),
        max: MAX_MESSAGE,
    })?;
    let data_len = mtu.data_len();
    let mut out = Vec::with_capacity(mtu.fragment_count(msg.len()));
    let mut chunks = msg.chunks(data_len);
    let first = chunks.next().unwrap_or(&[]);
    out.push(with_header(FIRST, total, first));
    for (index, chunk) in (1u16..).zip(chunks) {
        out.push(with_header(CONTINUATION, index, chunk));
    }
    Ok(out)
}

fn with_header(kind: u8, field: u16, data: &[u8]) -> Vec<u8> {
    let mut f = Vec::with_capacity(FRAGMENT_HEADER + data.len());
    f.push(kind);
    f.extend_from_slice(&field.to_be_bytes());
    f.extend_from_slice(data);
    f
}

/// Puts messages back together from fragments, strictly (see the module docs). After an
/// error the partial message is discarded and the next fragment must be a first fragment.
#[derive(Debug)]
pub struct Reassembler {
    mtu: AttMtu,
    partial: Option<Partial>,
}

#[derive(Debug)]
struct Partial {
    total: usize,
    buf: Vec<u8>,
    next_index: u16,
}

impl Reassembler {
    /// A reassembler for fragments cut for `mtu`.
    pub fn new(mtu: AttMtu) -> Self {
        Reassembler { mtu, partial: None }
    }

    /// True if no message is partly received.
    pub fn is_idle(&self) -> bool {
        self.partial.is_none()
    }

    /// Takes one fragment; returns the message it completes, if any.
    pub fn push(&mut self, fragment: &[u8]) -> Result<Option<Vec<u8>>, LinkError> {
        let result = self.accept(fragment);
        if result.is_err() {
            self.partial = None;
        }
        result
    }

    fn accept(&mut self, fragment: &[u8]) -> Result<Option<Vec<u8>>, LinkError> {
        if fragment.len() > self.mtu.payload_len() {
            return Err(LinkError::Malformed("fragment longer than the ATT payload"));
        }
        let Some((&[kind, hi, lo], data)) = fragment.split_first_chunk::<FRAGMENT_HEADER>() else {
            return Err(LinkError::Malformed("fragment shorter than its header"));
        };
        let field = u16::from_be_bytes([hi, lo]);
        let data_len = self.mtu.data_len();
        match kind {
            FIRST => {
                if self.partial.is_some() {
                    return Err(LinkError::Malformed(
                        "first fragment before the previous message ended",
                    ));
                }
                let total = usize::from(field);
                LinkError::check_len(total)?;
                if data.len() != total.min(data_len) {
                    return Err(LinkError::Malformed("fragment length does not match"));
                }
                if data.len() == total {
                    return Ok(Some(data.to_vec()));
                }
                let mut buf = Vec::with_capacity(total);
                buf.extend_from_slice(data);
                self.partial = Some(Partial {
                    total,
                    buf,
                    next_index: 1,
                });
                Ok(None)
            }
            CONTINUATION => {
                let Some(p) = self.partial.as_mut() else {
                    return Err(LinkError::Malformed(
                        "continuation without a first fragment",
                    ));
                };
                if field != p.next_index {
                    return Err(LinkError::Malformed("fragment out of sequence"));
                }
                let remaining = p.total - p.buf.len();
                if data.len() != remaining.min(data_len) {
                    return Err(LinkError::Malformed("fragment length does not match"));
                }
                p.buf.extend_from_slice(data);
                if p.buf.len() < p.total {
                    p.next_index = p
                        .next_index
                        .checked_add(1)
                        .ok_or(LinkError::Malformed("too many fragments"))?;
                    return Ok(None);
                }
                Ok(self.partial.take().map(|p| p.buf))
            }
            _ => Err(LinkError::Malformed("unknown fragment kind")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Feeds fragments; the messages completed, or the first error.
    fn feed(mtu: AttMtu, fragments: &[Vec<u8>]) -> Result<Vec<Vec<u8>>, LinkError> {
        let mut r = Reassembler::new(mtu);
        let mut out = Vec::new();
        for f in fragments {
            if let Some(m) = r.push(f)? {
                out.push(m);
            }
        }
        Ok(out)
    }

    fn mtu_strategy() -> impl Strategy<Value = AttMtu> {
        (MIN_ATT_MTU..=MAX_ATT_MTU).prop_map(|m| AttMtu::new(m).unwrap())
    }

    fn message() -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![
            proptest::collection::vec(any::<u8>(), 0..600),
            proptest::collection::vec(any::<u8>(), 0..=MAX_MESSAGE),
        ]
    }

    #[test]
    fn mtu_range() {
        assert_eq!(AttMtu::new(22), Err(InvalidMtu(22)));
        assert_eq!(AttMtu::new(518), Err(InvalidMtu(518)));
        assert_eq!(AttMtu::new(23).unwrap().payload_len(), 20);
        assert_eq!(AttMtu::new(247).unwrap().payload_len(), 244);
        assert_eq!(AttMtu::new(247).unwrap().data_len(), 241);
    }

    #[test]
    fn known_fragmentation() {
        let mtu = AttMtu::new(23).unwrap();
        let msg: Vec<u8> = (0..40).collect();
        let f = fragment(&msg, mtu).unwrap();
        assert_eq!(f.len(), 3);
        assert_eq!(&f[0][..3], &[FIRST, 0, 40]);
        assert_eq!(&f[0][3..], &msg[..17]);
        assert_eq!(&f[1][..3], &[CONTINUATION, 0, 1]);
        assert_eq!(&f[2][..3], &[CONTINUATION, 0, 2]);
        assert_eq!(&f[2][3..], &msg[34..]);
        assert_eq!(fragment(&[], mtu).unwrap(), vec![vec![FIRST, 0, 0]]);
    }

    #[test]
    fn strictness() {
        let mtu = AttMtu::new(23).unwrap();
        let mut r = Reassembler::new(mtu);
        assert!(r.push(&[FIRST, 0]).is_err());
        assert!(r.push(&[CONTINUATION, 0, 1, 5]).is_err());
        assert!(r.push(&[9, 0, 0]).is_err());
        // Announced length above the maximum.
        let over = u16::try_from(MAX_MESSAGE + 1).unwrap().to_be_bytes();
        let mut f = vec![FIRST, over[0], over[1]];
        f.extend_from_slice(&[0; 17]);
        assert!(matches!(r.push(&f), Err(LinkError::TooLarge { .. })));
        // A short first fragment of a longer message.
        assert!(r.push(&[FIRST, 0, 30, 1, 2]).is_err());
        // Longer than the ATT payload.
        assert!(r.push(&[FIRST; 21]).is_err());
        assert!(fragment(&vec![0; MAX_MESSAGE + 1], mtu).is_err());
    }

    proptest! {
        #[test]
        fn round_trip(mtu in mtu_strategy(), msg in message()) {
            let frags = fragment(&msg, mtu).unwrap();
            prop_assert_eq!(frags.len(), mtu.fragment_count(msg.len()));
            for f in &frags {
                prop_assert!(f.len() <= mtu.payload_len());
            }
            let mut r = Reassembler::new(mtu);
            let (last, rest) = frags.split_last().unwrap();
            for f in rest {
                prop_assert_eq!(r.push(f), Ok(None));
            }
            prop_assert_eq!(r.push(last), Ok(Some(msg)));
            prop_assert!(r.is_idle());
        }

        #[test]
        fn consecutive_messages(mtu in mtu_strategy(),
            msgs in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..1500), 1..5)) {
            let frags: Vec<Vec<u8>> =
                msgs.iter().flat_map(|m| fragment(m, mtu).unwrap()).collect();
            prop_assert_eq!(feed(mtu, &frags), Ok(msgs));
        }

        #[test]
        fn reordering_is_rejected(mtu in mtu_strategy(), msg in message(),
            i in any::<proptest::sample::Index>(), j in any::<proptest::sample::Index>()) {
            let mut frags = fragment(&msg, mtu).unwrap();
            let (i, j) = (i.index(frags.len()), j.index(frags.len()));
            prop_assume!(i != j);
            frags.swap(i, j);
            prop_assert!(feed(mtu, &frags).is_err());
        }

        #[test]
        fn missing_fragments_never_yield_a_message(mtu in mtu_strategy(), msg in message(),
            drop in proptest::collection::vec(any::<bool>(), 1..64)) {
            let frags = fragment(&msg, mtu).unwrap();
            let kept: Vec<Vec<u8>> = frags
                .iter()
                .enumerate()
                .filter(|(k, _)| !drop[k % drop.len()])
                .map(|(_, f)| f.clone())
                .collect();
            prop_assume!(kept.len() < frags.len());
            if let Ok(out) = feed(mtu, &kept) {
                prop_assert!(out.is_empty());
            }
        }

        #[test]
        fn truncated_or_extended_fragments_are_rejected(mtu in mtu_strategy(), msg in message(),
            which in any::<proptest::sample::Index>(), extend in any::<bool>()) {
            let mut frags = fragment(&msg, mtu).unwrap();
            let k = which.index(frags.len());
            if extend {
                frags[k].push(0);
            } else {
                frags[k].pop();
            }
            prop_assert!(feed(mtu, &frags).is_err());
        }

        #[test]
        fn arbitrary_fragments_never_panic(mtu in mtu_strategy(),
            frags in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..520), 0..16)) {
            if let Ok(out) = feed(mtu, &frags) {
                for m in out {
                    prop_assert!(m.len() <= MAX_MESSAGE);
                }
            }
        }
    }
}
