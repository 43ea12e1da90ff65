//! USSD PINs: parsed strictly, held in zeroizing memory, never printed, stored as Argon2id
//! hashes and compared in constant time.

use std::fmt;

use ferry_proto::secret_hash::PepperedHasher;
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

/// Argon2id cost parameters of PIN hashes.
pub use ferry_proto::secret_hash::HashParams as PinHashParams;
/// A stored PIN: Argon2id(pin, salt, pepper) with the parameters it was made with.
pub use ferry_proto::secret_hash::SecretHash as PinHash;
pub use ferry_proto::secret_hash::{HASH_LEN, HashError, SALT_LEN};

/// Hashes and checks PINs with fixed parameters and an optional server-side pepper (Argon2's
/// secret input: a stolen table of hashes of 4-digit PINs is then useless without it): a
/// [`PepperedHasher`] that takes [`Pin`]s.
#[derive(Debug)]
pub struct PinHasher(PepperedHasher);

impl PinHasher {
    /// A hasher with `params` and `pepper` (may be empty).
    pub fn new(params: PinHashParams, pepper: &[u8]) -> Self {
        PinHasher(PepperedHasher::new(params, pepper))
    }

    /// Hashes `pin` under a fresh random salt.
    ///
    /// # Panics
    /// If the operating system cannot supply randomness.
    pub fn hash(&self, pin: &Pin) -> Result<PinHash, HashError> {
        self.0.hash(pin.expose())
    }

    /// True when `pin` matches `stored` (constant-time comparison of the hashes).
    pub fn verify(&self, pin: &Pin, stored: &PinHash) -> Result<bool, HashError> {
        self.0.verify(pin.expose(), stored)
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
