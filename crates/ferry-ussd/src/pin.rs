//! USSD PINs: parsed strictly, held in zeroizing memory, never printed, stored as Argon2id
//! hashes and compared in constant time.

use std::fmt;

use subtle::ConstantTimeEq;
use thiserror::Error;
use zeroize::Zeroizing;

/// Fewest digits of a PIN.
pub const MIN_PIN_LEN: usize = 4;
/// Most digits of a PIN.
pub const MAX_PIN_LEN: usize = 6;

/// Why a text is not an acceptable PIN.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum PinError {
    /// Not 4 to 6 ASCII digits.
    #[error("a PIN is 4 to 6 digits")]
    Format,
    /// Guessable (all one digit, or a run like 1234 or 9876); refused when choosing a PIN.
    #[error("PIN too easy to guess")]
    Weak,
}

/// A PIN as typed: 4 to 6 ASCII digits. Its `Debug` never shows the digits and its memory is
/// wiped on drop.
#[derive(Clone)]
pub struct Pin(Zeroizing<String>);

impl Pin {
    /// Parses a PIN as typed (digits only).
    pub fn parse(text: &str) -> Result<Pin, PinError> {
        let ok = (MIN_PIN_LEN..=MAX_PIN_LEN).contains(&text.len())
            && text.bytes().all(|b| b.is_ascii_digit());
        if ok {
            Ok(Pin(Zeroizing::new(text.to_owned())))
        } else {
            Err(PinError::Format)
        }
    }

    /// Parses a PIN being chosen: also refuses guessable ones.
    pub fn parse_new(text: &str) -> Result<Pin, PinError> {
        let pin = Pin::parse(text)?;
        if pin.is_weak() {
            return Err(PinError::Weak);
        }
        Ok(pin)
    }

    /// True for a PIN of one repeated digit or of consecutive digits up or down.
    pub fn is_weak(&self) -> bool {
        let d = self.0.as_bytes();
        let step = |k: i16| d.windows(2).all(|w| i16::from(w[1]) - i16::from(w[0]) == k);
        step(0) || step(1) || step(-1)
    }

    /// The digits, for hashing.
    pub fn expose(&self) -> &[u8] {
        self.0.as_bytes()
    }

    /// Constant-time equality of two PINs (same length or not).
    pub fn ct_eq(&self, other: &Pin) -> bool {
        self.expose().ct_eq(other.expose()).into()
    }
}

impl fmt::Debug for Pin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Pin(<redacted>)")
    }
}

/// Argon2id cost parameters for PIN hashes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PinHashParams {
    /// Memory in KiB.
    pub m_kib: u32,
    /// Passes.
    pub t: u32,
    /// Lanes.
    pub p: u32,
}

impl PinHashParams {
    /// OWASP's recommended minimum for Argon2id (19 MiB, 2 passes, 1 lane).
    pub const RECOMMENDED: PinHashParams = PinHashParams {
        m_kib: 19 * 1024,
        t: 2,
        p: 1,
    };
    /// The smallest parameters Argon2 accepts: for tests only.
    pub const TEST: PinHashParams = PinHashParams {
        m_kib: 8,
        t: 1,
        p: 1,
    };
}

/// Length of a PIN hash's salt.
pub const SALT_LEN: usize = 16;
/// Length of a PIN hash.
pub const HASH_LEN: usize = 32;

/// A stored PIN: Argon2id(pin, salt, pepper) with the parameters it was made with.
#[derive(Clone, PartialEq, Eq)]
pub struct PinHash {
    /// Cost parameters used.
    pub params: PinHashParams,
    /// Random salt.
    pub salt: [u8; SALT_LEN],
    /// The hash.
    pub hash: [u8; HASH_LEN],
}

impl fmt::Debug for PinHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PinHash(<redacted>)")
    }
}

/// Argon2 refused to run (bad parameters, or a pepper over its length limit).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[error("PIN hashing failed")]
pub struct HashError;

/// Hashes and checks PINs with fixed parameters and an optional server-side pepper (Argon2's
/// secret input: a stolen table of hashes of 4-digit PINs is then useless without it).
pub struct PinHasher {
    params: PinHashParams,
    pepper: Zeroizing<Vec<u8>>,
}

impl fmt::Debug for PinHasher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PinHasher")
            .field("params", &self.params)
            .finish_non_exhaustive()
    }
}

impl PinHasher {
    /// A hasher with `params` and `pepper` (may be empty).
    pub fn new(params: PinHashParams, pepper: &[u8]) -> Self {
        Self {
            params,
            pepper: Zeroizing::new(pepper.to_vec()),
        }
    }

    fn raw(
        &self,
        params: PinHashParams,
        pin: &Pin,
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
            .hash_password_into(pin.expose(), salt, &mut out[..])
            .map_err(|_| HashError)?;
        Ok(out)
    }

    /// Hashes `pin` under a fresh random salt.
    ///
    /// # Panics
    /// If the operating system cannot supply randomness.
    pub fn hash(&self, pin: &Pin) -> Result<PinHash, HashError> {
        let salt = ferry_proto::random_bytes::<SALT_LEN>();
        let hash = self.raw(self.params, pin, &salt)?;
        Ok(PinHash {
            params: self.params,
            salt,
            hash: *hash,
        })
    }

    /// True when `pin` matches `stored` (constant-time comparison of the hashes).
    pub fn verify(&self, pin: &Pin, stored: &PinHash) -> Result<bool, HashError> {
        let hash = self.raw(stored.params, pin, &stored.salt)?;
        Ok(hash.ct_eq(&stored.hash).into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_strictly() {
        assert!(Pin::parse("2580").is_ok());
        assert!(Pin::parse("258013").is_ok());
        for bad in ["", "123", "1234567", "12a4", " 1234", "１２３４", "-123"] {
            assert_eq!(Pin::parse(bad).unwrap_err(), PinError::Format, "{bad:?}");
        }
        for weak in ["1111", "1234", "9876", "012345", "000000"] {
            assert_eq!(Pin::parse_new(weak).unwrap_err(), PinError::Weak, "{weak}");
            assert!(Pin::parse(weak).is_ok());
        }
        assert!(Pin::parse_new("1357").is_ok());
    }

    #[test]
    fn debug_never_shows_digits() {
        let pin = Pin::parse("2580").unwrap();
        assert!(!format!("{pin:?}").contains("2580"));
        let h = PinHasher::new(PinHashParams::TEST, b"pepper");
        let stored = h.hash(&pin).unwrap();
        assert!(!format!("{stored:?} {h:?}").contains("pepper"));
    }

    #[test]
    fn hash_and_verify() {
        let h = PinHasher::new(PinHashParams::TEST, b"pepper");
        let pin = Pin::parse("2580").unwrap();
        let stored = h.hash(&pin).unwrap();
        assert!(h.verify(&pin, &stored).unwrap());
        assert!(!h.verify(&Pin::parse("2581").unwrap(), &stored).unwrap());
        // Salted: the same PIN hashes differently twice.
        assert_ne!(h.hash(&pin).unwrap().hash, stored.hash);
        // Peppered: another server secret does not verify.
        let other = PinHasher::new(PinHashParams::TEST, b"other");
        assert!(!other.verify(&pin, &stored).unwrap());
        assert!(pin.ct_eq(&Pin::parse("2580").unwrap()));
        assert!(!pin.ct_eq(&Pin::parse("25800").unwrap()));
    }
}
