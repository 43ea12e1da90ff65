//! Signed documents: a body, the exact bytes that were signed, and the signature.
//!
//! Wire form: `version ‖ body ‖ signature(64)`. The signature covers
//! `domain ‖ version ‖ body` exactly as received; a decoded document keeps those bytes and
//! verification never re-encodes.

use std::fmt;

use crate::codec::{DecodeError, Reader, Wire, Writer};
use crate::hash::Hash32;
use crate::keys::{BadSignature, Ed25519Signer, PublicKey, Signature, SignerError, SigningKey};

/// A body that can be signed. `DOMAIN` separates its signatures and hashes from every other kind.
pub trait Document: Wire + Clone {
    /// The signature domain, e.g. `"ta-certificate"`.
    const DOMAIN: &'static str;

    /// Checks rules the body must obey beyond its encoding (run at decode and at sign time).
    fn check(&self) -> Result<(), DecodeError> {
        Ok(())
    }
}

/// Why [`Signed::sign_with`] failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignWithError {
    /// The body breaks a rule.
    #[error("{0}")]
    Invalid(#[from] DecodeError),
    /// The signer failed.
    #[error("{0}")]
    Signer(#[from] SignerError),
}

/// A signed `T`. Read the body with [`Signed::verify`] once you know the signer, or with
/// [`Signed::unverified`] when you only need to route it.
#[derive(Clone, PartialEq, Eq)]
pub struct Signed<T: Document> {
    body: T,
    signed_bytes: Vec<u8>,
    signature: Signature,
}

impl<T: Document> Signed<T> {
    /// Encodes `body` and signs it with `key`.
    pub fn sign(body: T, key: &SigningKey) -> Result<Self, DecodeError> {
        body.check()?;
        let mut w = Writer::versioned();
        body.encode(&mut w);
        let signed_bytes = w.into_bytes();
        let signature = key.sign(T::DOMAIN, &signed_bytes);
        Ok(Signed {
            body,
            signed_bytes,
            signature,
        })
    }

    /// Encodes `body` and signs it with any [`Ed25519Signer`] (a software key or a token); the
    /// signature is checked before it is returned.
    pub fn sign_with(
        body: T,
        signer: &(impl Ed25519Signer + ?Sized),
    ) -> Result<Self, SignWithError> {
        body.check()?;
        let mut w = Writer::versioned();
        body.encode(&mut w);
        let signed_bytes = w.into_bytes();
        let signature = crate::keys::sign_with(signer, T::DOMAIN, &signed_bytes)?;
        Ok(Signed {
            body,
            signed_bytes,
            signature,
        })
    }

    /// The body after checking the signature against `key`.
    pub fn verify(&self, key: &PublicKey) -> Result<&T, BadSignature> {
        key.verify(T::DOMAIN, &self.signed_bytes, &self.signature)?;
        Ok(&self.body)
    }

    /// The body without checking the signature. Never base a decision on it alone.
    pub fn unverified(&self) -> &T {
        &self.body
    }

    /// The signature.
    pub fn signature(&self) -> &Signature {
        &self.signature
    }

    /// The bytes the signature covers (version and body).
    pub fn signed_bytes(&self) -> &[u8] {
        &self.signed_bytes
    }

    /// The complete wire form.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.encoded_len());
        out.extend_from_slice(&self.signed_bytes);
        out.extend_from_slice(&self.signature.to_bytes());
        out
    }

    /// Length of the wire form.
    pub fn encoded_len(&self) -> usize {
        self.signed_bytes.len() + Signature::LEN
    }

    /// Decodes strictly: version, canonical body, exactly one signature, nothing after.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, DecodeError> {
        let split = bytes
            .len()
            .checked_sub(Signature::LEN)
            .ok_or(DecodeError::Truncated { field: "signature" })?;
        let (signed_bytes, sig) = bytes.split_at(split);
        let mut r = Reader::versioned(signed_bytes)?;
        let body = T::decode(&mut r)?;
        r.finish()?;
        body.check()?;
        let sig: [u8; 64] = sig
            .try_into()
            .map_err(|_| DecodeError::Truncated { field: "signature" })?;
        Ok(Signed {
            body,
            signed_bytes: signed_bytes.to_vec(),
            signature: Signature::from_bytes(&sig),
        })
    }

    /// Hash of the complete wire form, in this document kind's own domain.
    pub fn hash(&self) -> Hash32 {
        Hash32::of(T::DOMAIN, &[&self.signed_bytes, &self.signature.to_bytes()])
    }
}

impl<T: Document + fmt::Debug> fmt::Debug for Signed<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Signed")
            .field("body", &self.body)
            .field("signature", &self.signature)
            .finish()
    }
}

/// Nested signed documents travel length-prefixed inside other messages.
impl<T: Document> Wire for Signed<T> {
    fn encode(&self, w: &mut Writer) {
        w.bytes_u16(&self.to_bytes());
    }
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Signed::from_bytes(r.bytes_u16(u16::MAX as usize, T::DOMAIN)?)
    }
}
