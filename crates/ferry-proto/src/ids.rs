//! Identifiers: accounts, secure wallets (TAs), payments, keys, nonces.

use std::fmt;
use std::str::FromStr;

use data_encoding::HEXLOWER;

use crate::codec::{DecodeError, Reader, Wire, Writer};
use crate::hash::Hash32;
use crate::keys::PublicKey;

macro_rules! byte_id {
    ($(#[$doc:meta])* $name:ident, $len:expr, $field:literal) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(pub [u8; $len]);

        impl $name {
            /// Length in bytes.
            pub const LEN: usize = $len;

            /// Lower-case hex.
            pub fn to_hex(&self) -> String {
                HEXLOWER.encode(&self.0)
            }

            /// The raw bytes.
            pub fn as_bytes(&self) -> &[u8; $len] {
                &self.0
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!(stringify!($name), "({})"), self.to_hex())
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.to_hex())
            }
        }

        impl FromStr for $name {
            type Err = DecodeError;
            /// Parses lower-case hex of exactly the right length.
            fn from_str(s: &str) -> Result<Self, DecodeError> {
                let raw = HEXLOWER
                    .decode(s.as_bytes())
                    .map_err(|_| DecodeError::invalid($field, "not lower-case hex"))?;
                let arr: [u8; $len] = raw
                    .try_into()
                    .map_err(|_| DecodeError::invalid($field, "wrong length"))?;
                Ok($name(arr))
            }
        }

        impl Wire for $name {
            fn encode(&self, w: &mut Writer) {
                w.fixed(&self.0);
            }
            fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
                Ok($name(r.array($field)?))
            }
        }
    };
}

byte_id!(
    /// An account, assigned by the issuer in the client certificate.
    AccountId, 16, "account_id"
);
byte_id!(
    /// A secure wallet (trusted application): the first 16 bytes of the hash of its key.
    TaId, 16, "ta_id"
);
byte_id!(
    /// A short name for a public key (issuer signing key, sealing key), used for rotation.
    KeyId, 8, "key_id"
);
byte_id!(
    /// The payee's one-time request nonce; the payer signs it into the payment.
    RequestNonce, 12, "request_nonce"
);
byte_id!(
    /// A payer's one-time deferred-order nonce, unique per payer account.
    OrderNonce, 16, "order_nonce"
);

impl OrderNonce {
    /// A fresh random nonce.
    pub fn random() -> Self {
        OrderNonce(crate::random_bytes())
    }
}

impl AccountId {
    /// A fresh random account id.
    pub fn random() -> Self {
        AccountId(crate::random_bytes())
    }
}

impl RequestNonce {
    /// A fresh random nonce.
    pub fn random() -> Self {
        RequestNonce(crate::random_bytes())
    }
}

fn truncate<const N: usize>(h: Hash32) -> [u8; N] {
    let mut out = [0u8; N];
    out.copy_from_slice(&h.0[..N]);
    out
}

impl TaId {
    /// The id of the secure wallet holding `key`.
    pub fn of(key: &PublicKey) -> Self {
        TaId(truncate(Hash32::of("ta-id", &[key.as_bytes()])))
    }
}

impl KeyId {
    /// The id of a 32-byte public key (Ed25519 or X25519).
    pub fn of(key: &[u8; 32]) -> Self {
        KeyId(truncate(Hash32::of("key-id", &[key])))
    }
}

/// A payment's identity: the paying secure wallet and the journal position `j`. Unique and
/// independent of how the payment travelled or was encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PaymentId {
    /// The payer's secure wallet.
    pub ta: TaId,
    /// The journal position of the Pay entry.
    pub j: u32,
}

impl fmt::Display for PaymentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.ta, self.j)
    }
}

impl Wire for PaymentId {
    fn encode(&self, w: &mut Writer) {
        self.ta.encode(w);
        w.u32(self.j);
    }
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(PaymentId {
            ta: TaId::decode(r)?,
            j: r.u32("j")?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_parsing_is_strict() {
        let id = AccountId([0xab; 16]);
        assert_eq!(id.to_hex().parse::<AccountId>().unwrap(), id);
        assert!("AB".repeat(16).parse::<AccountId>().is_err());
        assert!("ab".repeat(15).parse::<AccountId>().is_err());
        assert!("zz".repeat(16).parse::<AccountId>().is_err());
    }
}
