//! Fork detection. Two different entries signed by one secure wallet at the same position, or
//! naming the same predecessor, can only come from a compromised wallet. Together with the
//! wallet's certificate they form a self-contained [`FraudProof`] that anyone holding the issuer
//! key can check.

use std::collections::HashMap;

use thiserror::Error;

use crate::cert::TaCertificate;
use crate::codec::{DecodeError, Message, Reader, Wire, Writer};
use crate::hash::Hash32;
use crate::ids::TaId;
use crate::journal::SignedEntry;
use crate::verify::{CertError, IssuerKeys, verify_ta_cert_signature};

/// How two entries conflict.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ForkKind {
    /// Same journal position `j`.
    SamePosition,
    /// Same `prev_hash` (and so a branching chain).
    SamePredecessor,
}

/// Proof that a secure wallet signed two conflicting journal entries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FraudProof {
    /// The wallet's certificate (binds its key to an account).
    pub ta_cert: TaCertificate,
    /// The entry whose hash sorts first.
    pub first: SignedEntry,
    /// The other entry.
    pub second: SignedEntry,
}

/// Why a fraud proof does not hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum FraudProofError {
    /// The certificate does not verify.
    #[error("certificate: {0}")]
    Certificate(#[from] CertError),
    /// An entry is not signed by the wallet.
    #[error("an entry is not signed by the wallet")]
    BadSignature,
    /// The two entries do not conflict.
    #[error("the entries do not conflict")]
    NoConflict,
    /// The entries are not in canonical order.
    #[error("entries not in canonical order")]
    NotCanonical,
}

fn conflict(a: &SignedEntry, b: &SignedEntry) -> Option<ForkKind> {
    if a.to_bytes() == b.to_bytes() {
        return None;
    }
    let (x, y) = (a.unverified(), b.unverified());
    if x.j == y.j {
        Some(ForkKind::SamePosition)
    } else if x.prev_hash == y.prev_hash {
        Some(ForkKind::SamePredecessor)
    } else {
        None
    }
}

impl FraudProof {
    /// Builds a proof if `a` and `b` conflict and both are signed by the certified wallet.
    /// The certificate's issuer signature is not checked here; [`FraudProof::verify`] does.
    pub fn detect(ta_cert: &TaCertificate, a: &SignedEntry, b: &SignedEntry) -> Option<FraudProof> {
        let key = &ta_cert.unverified().ta_key;
        conflict(a, b)?;
        a.verify(key).ok()?;
        b.verify(key).ok()?;
        let (first, second) = if a.hash() <= b.hash() { (a, b) } else { (b, a) };
        Some(FraudProof {
            ta_cert: ta_cert.clone(),
            first: first.clone(),
            second: second.clone(),
        })
    }

    /// Checks the proof and returns the guilty wallet.
    pub fn verify(&self, issuers: &IssuerKeys) -> Result<(TaId, ForkKind), FraudProofError> {
        let cert = verify_ta_cert_signature(&self.ta_cert, issuers)?;
        self.first
            .verify(&cert.ta_key)
            .map_err(|_| FraudProofError::BadSignature)?;
        self.second
            .verify(&cert.ta_key)
            .map_err(|_| FraudProofError::BadSignature)?;
        if self.first.hash() >= self.second.hash() {
            return Err(if self.first.to_bytes() == self.second.to_bytes() {
                FraudProofError::NoConflict
            } else {
                FraudProofError::NotCanonical
            });
        }
        let kind = conflict(&self.first, &self.second).ok_or(FraudProofError::NoConflict)?;
        Ok((cert.ta_id(), kind))
    }

    /// Hash identifying this proof (stable: the entries are in canonical order).
    pub fn id(&self) -> Hash32 {
        Hash32::of("fraud-proof", &[&self.to_bytes()])
    }
}

impl Wire for FraudProof {
    fn encode(&self, w: &mut Writer) {
        self.ta_cert.encode(w);
        self.first.encode(w);
        self.second.encode(w);
    }
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(FraudProof {
            ta_cert: TaCertificate::decode(r)?,
            first: SignedEntry::decode(r)?,
            second: SignedEntry::decode(r)?,
        })
    }
}

impl Message for FraudProof {}

/// Remembers the entries seen from one wallet and reports the first conflict with each new one.
#[derive(Debug)]
pub struct ForkDetector {
    ta_cert: TaCertificate,
    by_position: HashMap<u32, SignedEntry>,
    by_predecessor: HashMap<Hash32, u32>,
}

impl ForkDetector {
    /// A detector for the wallet certified by `ta_cert`.
    pub fn new(ta_cert: TaCertificate) -> Self {
        ForkDetector {
            ta_cert,
            by_position: HashMap::new(),
            by_predecessor: HashMap::new(),
        }
    }

    /// Records `entry`; returns a proof if it conflicts with an entry seen before. Entries not
    /// signed by the wallet are ignored.
    pub fn observe(&mut self, entry: &SignedEntry) -> Option<FraudProof> {
        if entry.verify(&self.ta_cert.unverified().ta_key).is_err() {
            return None;
        }
        let body = entry.unverified();
        let earlier = self.by_position.get(&body.j).or_else(|| {
            self.by_predecessor
                .get(&body.prev_hash)
                .and_then(|j| self.by_position.get(j))
        });
        if let Some(earlier) = earlier {
            return FraudProof::detect(&self.ta_cert, earlier, entry);
        }
        self.by_position.insert(body.j, entry.clone());
        self.by_predecessor.insert(body.prev_hash, body.j);
        None
    }
}
