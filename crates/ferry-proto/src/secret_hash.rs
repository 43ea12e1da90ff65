//! Peppered Argon2id hashes of short secrets a server must check but never keep: USSD PINs,
//! phone-link codes, voucher passwords. Each hash has its own random salt and records the
//! parameters it was made with (so they can be raised later); the server's pepper is Argon2's
//! secret input, so a copied table of hashes of 4-digit PINs is useless without it. Checks
//! compare in constant time. The stored form is 60 bytes: `m_kib`, `t`, `p` (big-endian u32
//! each), the salt, the hash.

use std::fmt;

use subtle::ConstantTimeEq;
use thiserror::Error;
use zeroize::Zeroizing;

/// Length of a salt.
pub const SALT_LEN: usize = 16;
/// Length of a hash.
pub const HASH_LEN: usize = 32;
/// Length of a stored hash.
pub const STORED_LEN: usize = 12 + SALT_LEN + HASH_LEN;

/// Argon2id cost parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HashParams {
    /// Memory in KiB.
    pub m_kib: u32,
    /// Passes.
    pub t: u32,
    /// Lanes.
    pub p: u32,
}

impl HashParams {
    /// OWASP's recommended minimum for Argon2id (19 MiB, 2 passes, 1 lane).
    pub const RECOMMENDED: HashParams = HashParams {
        m_kib: 19 * 1024,
        t: 2,
        p: 1,
    };
    /// The smallest parameters Argon2 accepts: for tests only.
    pub const TEST: HashParams = HashParams {
        m_kib: 8,
        t: 1,
        p: 1,
    };
}

/// Argon2 refused to run (bad parameters, or a pepper over its length limit), or a stored hash
/// does not parse.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[error("secret hashing failed")]
pub struct HashError;

/// A stored hash: Argon2id(secret, salt, pepper) with the parameters it was made with.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretHash {
    /// Cost parameters used.
    pub params: HashParams,
    /// Random salt.
    pub salt: [u8; SALT_LEN],
    /// The hash.
    pub hash: [u8; HASH_LEN],
}

impl fmt::Debug for SecretHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretHash(<redacted>)")
    }
}

impl SecretHash {
    /// The stored form ([`STORED_LEN`] bytes).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(STORED_LEN);
        out.extend_from_slice(&self.params.m_kib.to_be_bytes());
        out.extend_from_slice(&self.params.t.to_be_bytes());
        out.extend_from_slice(&self.params.p.to_be_bytes());
        out.extend_from_slice(&self.salt);
        out.extend_from_slice(&self.hash);
        out
    }

    /// Parses the stored form; anything but exactly [`STORED_LEN`] bytes is an error.
    pub fn from_bytes(b: &[u8]) -> Result<SecretHash, HashError> {
        if b.len() != STORED_LEN {
            return Err(HashError);
        }
        let u = |i: usize| -> Result<u32, HashError> {
            Ok(u32::from_be_bytes(
                b[i..i + 4].try_into().map_err(|_| HashError)?,
            ))
        };
        Ok(SecretHash {
            params: HashParams {
                m_kib: u(0)?,
                t: u(4)?,
                p: u(8)?,
            },
            salt: b[12..12 + SALT_LEN].try_into().map_err(|_| HashError)?,
            hash: b[12 + SALT_LEN..].try_into().map_err(|_| HashError)?,
        })
    }
}

/// Hashes and checks secrets with fixed parameters and an optional pepper.
pub struct PepperedHasher {
    params: HashParams,
    pepper: Zeroizing<Vec<u8>>,
}

impl fmt::Debug for PepperedHasher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PepperedHasher")
            .field("params", &self.params)
            .finish_non_exhaustive()
    }
}

impl PepperedHasher {
    /// A hasher with `params` and `pepper` (may be empty).
    pub fn new(params: HashParams, pepper: &[u8]) -> Self {
        PepperedHasher {
            params,
            pepper: Zeroizing::new(pepper.to_vec()),
        }
    }

    fn raw(
        &self,
        params: HashParams,
        secret: &[u8],
        salt: &[u8; SALT_LEN],
    ) -> Result<Zeroizing<[u8; HASH_LEN]>, HashError> {
        let p = argon2::Params::new(params.m_kib, params.t, params.p, Some(HASH_LEN))
            .map_err(|_| HashError)?;
        let argon = argon2::Argon2::new_with_secret(
            &self.pepper,
            argon2::Algorithm::Argon2id,
            argon2::Version::V0x13,
            p,
        )
        .map_err(|_| HashError)?;
        let mut out = Zeroizing::new([0u8; HASH_LEN]);
        argon
            .hash_password_into(secret, salt, &mut out[..])
            .map_err(|_| HashError)?;
        Ok(out)
    }

    /// Hashes `secret` under a fresh random salt.
    ///
    /// # Panics
    /// If the operating system cannot supply randomness.
    pub fn hash(&self, secret: &[u8]) -> Result<SecretHash, HashError> {
        let salt = crate::random_bytes::<SALT_LEN>();
        let hash = self.raw(self.params, secret, &salt)?;
        Ok(SecretHash {
            params: self.params,
            salt,
            hash: *hash,
        })
    }

    /// True when `secret` matches `stored` (constant-time comparison of the hashes).
    pub fn verify(&self, secret: &[u8], stored: &SecretHash) -> Result<bool, HashError> {
        let hash = self.raw(stored.params, secret, &stored.salt)?;
        Ok(hash.ct_eq(&stored.hash).into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn hashes_check_and_are_salted_and_peppered() {
        let h = PepperedHasher::new(HashParams::TEST, b"pepper");
        let stored = h.hash(b"2580").expect("hash");
        assert!(h.verify(b"2580", &stored).expect("verify"));
        assert!(!h.verify(b"2581", &stored).expect("verify"));
        assert_ne!(
            h.hash(b"2580").expect("hash"),
            stored,
            "a fresh salt each time"
        );
        let other = PepperedHasher::new(HashParams::TEST, b"other");
        assert!(!other.verify(b"2580", &stored).expect("verify"));
        assert!(!format!("{stored:?}").contains(&format!("{:?}", stored.hash)));
        assert!(!format!("{h:?}").contains("pepper\""));
    }

    #[test]
    fn a_hash_made_with_other_parameters_still_checks() {
        let old = PepperedHasher::new(HashParams::TEST, b"p");
        let stored = old.hash(b"secret").expect("hash");
        let new = PepperedHasher::new(
            HashParams {
                m_kib: 16,
                t: 2,
                p: 1,
            },
            b"p",
        );
        assert!(new.verify(b"secret", &stored).expect("verify"));
    }

    #[test]
    fn bad_parameters_are_an_error_not_a_panic() {
        let h = PepperedHasher::new(
            HashParams {
                m_kib: 0,
                t: 0,
                p: 0,
            },
            b"",
        );
        assert_eq!(h.hash(b"x"), Err(HashError));
    }

    proptest! {
        #[test]
        fn the_stored_form_round_trips_and_only_its_length_parses(
            m in any::<u32>(), t in any::<u32>(), p in any::<u32>(),
            salt in any::<[u8; SALT_LEN]>(), hash in any::<[u8; HASH_LEN]>(),
            cut in 0usize..STORED_LEN, extra in 1usize..8,
        ) {
            let h = SecretHash { params: HashParams { m_kib: m, t, p }, salt, hash };
            let bytes = h.to_bytes();
            prop_assert_eq!(bytes.len(), STORED_LEN);
            prop_assert_eq!(SecretHash::from_bytes(&bytes), Ok(h));
            prop_assert_eq!(SecretHash::from_bytes(&bytes[..cut]), Err(HashError));
            let mut longer = bytes.clone();
            longer.extend(std::iter::repeat_n(0u8, extra));
            prop_assert_eq!(SecretHash::from_bytes(&longer), Err(HashError));
        }
    }
}
