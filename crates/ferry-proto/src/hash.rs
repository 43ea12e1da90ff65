//! Domain-separated SHA-256.

use std::fmt;

use sha2::{Digest, Sha256};

use crate::codec::{DecodeError, Reader, Wire, Writer};

/// A SHA-256 digest.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Hash32(pub [u8; 32]);

impl Hash32 {
    /// SHA-256 of `ferry/v1/<domain> 0x00 ‖ parts...`. Each purpose has its own domain, so a
    /// hash made for one purpose can never be mistaken for another.
    pub fn of(domain: &str, parts: &[&[u8]]) -> Self {
        let mut h = Sha256::new();
        h.update(b"ferry/v1/");
        h.update(domain.as_bytes());
        h.update([0u8]);
        for p in parts {
            h.update(p);
        }
        Hash32(h.finalize().into())
    }

    /// The digest bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Lower-case hex.
    pub fn to_hex(&self) -> String {
        data_encoding::HEXLOWER.encode(&self.0)
    }
}

impl fmt::Debug for Hash32 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Hash32({})", self.to_hex())
    }
}

impl fmt::Display for Hash32 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl Wire for Hash32 {
    fn encode(&self, w: &mut Writer) {
        w.fixed(&self.0);
    }
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Hash32(r.array("hash")?))
    }
}
