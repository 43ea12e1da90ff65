//! The secure wallet's state, as sealed on disk, and its canonical encoding.

use std::collections::BTreeSet;

use ferry_proto::verify::ChainPoint;
use ferry_proto::{
    DecodeError, Hash32, PaymentId, PublicKey, Reader, SignedEntry, TaCertificate, Wire, Writer,
};
use zeroize::Zeroizing;

/// Most journal entries a wallet keeps unsynced (the certificate's payments-between-syncs
/// limit stops payments long before this).
pub(crate) const MAX_UNSYNCED_ENTRIES: usize = 100_000;
/// Most collected payment ids remembered.
pub(crate) const MAX_COLLECTED: usize = 1_000_000;

/// Where the wallet's signing key lives.
#[derive(Clone)]
pub(crate) enum StoredKey {
    /// The Ed25519 seed, sealed with the rest of the state.
    Sealed(Zeroizing<[u8; 32]>),
    /// Outside the state (a PKCS#11 token); the state pins its public key and label.
    External {
        /// The key the external signer must present.
        public: PublicKey,
        /// Its label in the token.
        label: String,
    },
}

/// Everything the secure wallet remembers.
#[derive(Clone)]
pub(crate) struct State {
    pub key: StoredKey,
    pub issuer: Option<PublicKey>,
    pub cert: Option<TaCertificate>,
    pub point: ChainPoint,
    pub synced_through: u32,
    pub payments_since_sync: u32,
    /// Entries after `synced_through`, in order.
    pub journal: Vec<SignedEntry>,
    /// Payments already collected: never twice.
    pub collected: BTreeSet<PaymentId>,
}

impl State {
    pub(crate) fn encode(&self) -> Zeroizing<Vec<u8>> {
        let mut w = Writer::versioned();
        match &self.key {
            StoredKey::Sealed(seed) => {
                w.u8(0);
                w.fixed(&seed[..]);
            }
            StoredKey::External { public, label } => {
                w.u8(1);
                public.encode(&mut w);
                w.str_u8(label);
            }
        }
        match &self.issuer {
            Some(k) => {
                w.bool(true);
                k.encode(&mut w);
            }
            None => w.bool(false),
        }
        match &self.cert {
            Some(c) => {
                w.bool(true);
                w.bytes_u16(&c.to_bytes());
            }
            None => w.bool(false),
        }
        w.u32(self.point.next_j);
        self.point.prev_hash.encode(&mut w);
        w.i64(self.point.balance);
        w.u32(self.point.last_serial);
        w.u32(self.synced_through);
        w.u32(self.payments_since_sync);
        w.u32(self.journal.len() as u32);
        for e in &self.journal {
            w.bytes_u16(&e.to_bytes());
        }
        w.u32(self.collected.len() as u32);
        for id in &self.collected {
            id.encode(&mut w);
        }
        Zeroizing::new(w.into_bytes())
    }

    pub(crate) fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::versioned(bytes)?;
        let key = match r.u8("key_kind")? {
            0 => StoredKey::Sealed(Zeroizing::new(r.array::<32>("seed")?)),
            1 => StoredKey::External {
                public: PublicKey::decode(&mut r)?,
                label: r.str_u8(255, "key_label")?,
            },
            _ => return Err(DecodeError::invalid("key_kind", "unknown")),
        };
        let issuer = if r.bool("has_issuer")? {
            Some(PublicKey::decode(&mut r)?)
        } else {
            None
        };
        let cert = if r.bool("has_cert")? {
            Some(TaCertificate::from_bytes(
                r.bytes_u16(u16::MAX as usize, "cert")?,
            )?)
        } else {
            None
        };
        let point = ChainPoint {
            next_j: r.u32("next_j")?,
            prev_hash: Hash32::decode(&mut r)?,
            balance: r.i64("balance")?,
            last_serial: r.u32("last_serial")?,
        };
        let synced_through = r.u32("synced_through")?;
        let payments_since_sync = r.u32("payments_since_sync")?;
        let n = r.u32("journal_len")? as usize;
        if n > MAX_UNSYNCED_ENTRIES {
            return Err(DecodeError::invalid("journal_len", "too many entries"));
        }
        let mut journal = Vec::with_capacity(n.min(1024));
        for _ in 0..n {
            journal.push(SignedEntry::from_bytes(
                r.bytes_u16(u16::MAX as usize, "entry")?,
            )?);
        }
        let n = r.u32("collected_len")? as usize;
        if n > MAX_COLLECTED {
            return Err(DecodeError::invalid("collected_len", "too many ids"));
        }
        let mut collected = BTreeSet::new();
        for _ in 0..n {
            collected.insert(PaymentId::decode(&mut r)?);
        }
        r.finish()?;
        Ok(State {
            key,
            issuer,
            cert,
            point,
            synced_through,
            payments_since_sync,
            journal,
            collected,
        })
    }
}
