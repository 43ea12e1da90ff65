//! Voucher passwords: what the emitter chooses (never stored, never printed) and the server's
//! Argon2id verifier of it (its own salt and the server's pepper; not the key that seals the
//! payload, whose salt travels in the QR code).

use std::fmt;

use subtle::ConstantTimeEq;
use thiserror::Error;
use zeroize::Zeroizing;

/// Shortest password.
pub const MIN_PASSWORD_CHARS: usize = 6;
/// Longest password.
pub const MAX_PASSWORD_CHARS: usize = 64;

/// Argon2id cost of a verifier.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VerifierParams {
    /// Memory in KiB.
    pub m_kib: u32,
    /// Passes.
    pub t: u32,
    /// Lanes.
    pub p: u32,
}

impl VerifierParams {
    /// OWASP's recommended minimum for Argon2id (19 MiB, 2 passes, 1 lane).
    pub const RECOMMENDED: VerifierParams = VerifierParams {
        m_kib: 19 * 1024,
        t: 2,
        p: 1,
    };
    /// The smallest parameters Argon2 accepts: for tests only.
    pub const TEST: VerifierParams = VerifierParams {
        m_kib: 8,
        t: 1,
        p: 1,
    };
}

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

/// Length of a verifier's salt.
const SALT_LEN: usize = 16;
/// Length of a verifier's hash.
const HASH_LEN: usize = 32;
/// Length of a stored verifier: m, t, p (big-endian u32 each), salt, hash.
pub const VERIFIER_LEN: usize = 12 + SALT_LEN + HASH_LEN;

/// Argon2 refused to run (bad parameters or a pepper over its length limit).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[error("password hashing failed")]
pub struct HashError;

/// Makes and checks verifiers with fixed parameters and the server's pepper.
pub struct Verifier {
    params: VerifierParams,
    pepper: Zeroizing<Vec<u8>>,
}

impl fmt::Debug for Verifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Verifier")
            .field("params", &self.params)
            .finish_non_exhaustive()
    }
}

impl Verifier {
    /// A verifier maker with `params` and `pepper` (may be empty).
    pub fn new(params: VerifierParams, pepper: &[u8]) -> Self {
        Verifier {
            params,
            pepper: Zeroizing::new(pepper.to_vec()),
        }
    }

    fn raw(
        &self,
        params: VerifierParams,
        password: &VoucherPassword,
        salt: &[u8],
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
            .hash_password_into(password.expose().as_bytes(), salt, &mut out[..])
            .map_err(|_| HashError)?;
        Ok(out)
    }

    /// A verifier of `password` under a fresh random salt, in its stored form.
    ///
    /// # Panics
    /// If the operating system cannot supply randomness.
    pub fn make(&self, password: &VoucherPassword) -> Result<Vec<u8>, HashError> {
        let salt = ferry_proto::random_bytes::<SALT_LEN>();
        let hash = self.raw(self.params, password, &salt)?;
        let mut out = Vec::with_capacity(VERIFIER_LEN);
        out.extend_from_slice(&self.params.m_kib.to_be_bytes());
        out.extend_from_slice(&self.params.t.to_be_bytes());
        out.extend_from_slice(&self.params.p.to_be_bytes());
        out.extend_from_slice(&salt);
        out.extend_from_slice(&hash[..]);
        Ok(out)
    }

    /// True when `password` matches the stored verifier (constant-time comparison). A stored
    /// verifier that does not parse is an error.
    pub fn check(&self, password: &VoucherPassword, stored: &[u8]) -> Result<bool, HashError> {
        if stored.len() != VERIFIER_LEN {
            return Err(HashError);
        }
        let u = |i: usize| -> Result<u32, HashError> {
            Ok(u32::from_be_bytes(
                stored[i..i + 4].try_into().map_err(|_| HashError)?,
            ))
        };
        let params = VerifierParams {
            m_kib: u(0)?,
            t: u(4)?,
            p: u(8)?,
        };
        let salt = &stored[12..12 + SALT_LEN];
        let hash = self.raw(params, password, salt)?;
        Ok(hash[..].ct_eq(&stored[12 + SALT_LEN..]).into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        assert_eq!(stored.len(), VERIFIER_LEN);
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
