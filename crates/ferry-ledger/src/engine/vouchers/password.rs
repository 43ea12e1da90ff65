//! Voucher passwords: what the emitter chooses (never stored, never printed) and the server's
//! Argon2id verifier of it (its own salt and the server's pepper; not the key that seals the
//! payload, whose salt travels in the QR code).

use std::fmt;

use ferry_proto::secret_hash::{PepperedHasher, SecretHash};
use thiserror::Error;
use zeroize::Zeroizing;

/// Shortest password.
pub const MIN_PASSWORD_CHARS: usize = 6;
/// Longest password.
pub const MAX_PASSWORD_CHARS: usize = 64;

pub use ferry_proto::secret_hash::HashError;
/// Argon2id cost of a verifier.
pub use ferry_proto::secret_hash::HashParams as VerifierParams;

/// A voucher password. Its `Debug` never shows it; its memory is zeroed when dropped.
#[derive(Clone)]
pub struct VoucherPassword(Zeroizing<String>);

impl fmt::Debug for VoucherPassword {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("VoucherPassword(<redacted>)")
    }
}

/// A password that breaks the rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[error("voucher passwords are 6-64 characters without control characters")]
pub struct BadPassword;

impl VoucherPassword {
    /// Checks the rules: 6–64 characters, none a control character.
    pub fn parse(text: &str) -> Result<VoucherPassword, BadPassword> {
        let chars = text.chars().count();
        if !(MIN_PASSWORD_CHARS..=MAX_PASSWORD_CHARS).contains(&chars)
            || text.chars().any(char::is_control)
        {
            return Err(BadPassword);
        }
        Ok(VoucherPassword(Zeroizing::new(text.to_owned())))
    }

    /// The password, for sealing and opening.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

/// Makes and checks verifiers with fixed parameters and the server's pepper.
#[derive(Debug)]
pub struct Verifier(PepperedHasher);

impl Verifier {
    /// A verifier maker with `params` and `pepper` (may be empty).
    pub fn new(params: VerifierParams, pepper: &[u8]) -> Self {
        Verifier(PepperedHasher::new(params, pepper))
    }

    /// A verifier of `password` under a fresh random salt, in its stored form.
    ///
    /// # Panics
    /// If the operating system cannot supply randomness.
    pub fn make(&self, password: &VoucherPassword) -> Result<Vec<u8>, HashError> {
        Ok(self.0.hash(password.expose().as_bytes())?.to_bytes())
    }

    /// True when `password` matches the stored verifier (constant-time comparison). A stored
    /// verifier that does not parse is an error.
    pub fn check(&self, password: &VoucherPassword, stored: &[u8]) -> Result<bool, HashError> {
        let stored = SecretHash::from_bytes(stored)?;
        self.0.verify(password.expose().as_bytes(), &stored)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferry_proto::secret_hash::STORED_LEN;

    #[test]
    fn password_rules() {
        assert!(VoucherPassword::parse("abc123").is_ok());
        assert!(VoucherPassword::parse(&"x".repeat(64)).is_ok());
        assert!(VoucherPassword::parse("senha çé").is_ok());
        for bad in ["", "12345", "abc\n123", "tab\tpass", &"x".repeat(65)] {
            assert_eq!(
                VoucherPassword::parse(bad).err(),
                Some(BadPassword),
                "{bad:?}"
            );
        }
        let p = VoucherPassword::parse("hunter22").expect("ok");
        assert!(!format!("{p:?}").contains("hunter22"));
    }

    #[test]
    fn verifiers_check_and_are_salted_and_peppered() {
        let v = Verifier::new(VerifierParams::TEST, b"pepper");
        let p = VoucherPassword::parse("correct horse").expect("ok");
        let stored = v.make(&p).expect("hash");
        assert_eq!(stored.len(), STORED_LEN);
        assert!(v.check(&p, &stored).expect("check"));
        let wrong = VoucherPassword::parse("correct horsf").expect("ok");
        assert!(!v.check(&wrong, &stored).expect("check"));
        assert_ne!(v.make(&p).expect("hash"), stored);
        let other_pepper = Verifier::new(VerifierParams::TEST, b"other");
        assert!(!other_pepper.check(&p, &stored).expect("check"));
        assert_eq!(v.check(&p, &stored[1..]), Err(HashError));
        assert!(!format!("{v:?}").contains("pepper\""));
    }
}
