//! Keys: Ed25519 signing keys (issuer, account, secure wallet) and X25519 keys (issuer sealing
//! key, device link key). Secret keys are zeroized on drop and never printed.
//!
//! Every signature is over `ferry/v1/sig/<domain> 0x00 ‖ exact bytes`, so a signature made for
//! one kind of document can never verify as another. Verification uses `verify_strict`, which
//! rejects non-canonical and small-order encodings.

use std::fmt;

use ed25519_dalek::{Signer, Verifier};
use thiserror::Error;
use zeroize::Zeroizing;

use crate::codec::{DecodeError, Reader, Wire, Writer};
use crate::ids::KeyId;

/// A signature did not verify.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[error("signature does not verify")]
pub struct BadSignature;

/// The message actually signed: domain tag, separator, then the exact bytes.
pub fn signing_input(domain: &str, bytes: &[u8]) -> Vec<u8> {
    let mut m = Vec::with_capacity(16 + domain.len() + bytes.len());
    m.extend_from_slice(b"ferry/v1/sig/");
    m.extend_from_slice(domain.as_bytes());
    m.push(0);
    m.extend_from_slice(bytes);
    m
}

/// A signer could not sign (a hardware token refused or failed, or returned a wrong signature).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("signer failed: {0}")]
pub struct SignerError(pub String);

/// An Ed25519 key that signs without necessarily showing its secret: a software
/// [`SigningKey`], or a key inside a PKCS#11 token. Callers go through [`sign_with`], which
/// adds the domain tag and checks the signature before returning it.
pub trait Ed25519Signer {
    /// The public key.
    fn public_key(&self) -> PublicKey;
    /// Plain RFC 8032 signature of `message` (already domain-separated by the caller).
    fn sign_message(&self, message: &[u8]) -> Result<Signature, SignerError>;
}

impl Ed25519Signer for SigningKey {
    fn public_key(&self) -> PublicKey {
        self.public()
    }
    fn sign_message(&self, message: &[u8]) -> Result<Signature, SignerError> {
        Ok(Signature(self.0.sign(message)))
    }
}

impl<T: Ed25519Signer + ?Sized> Ed25519Signer for &T {
    fn public_key(&self) -> PublicKey {
        (**self).public_key()
    }
    fn sign_message(&self, message: &[u8]) -> Result<Signature, SignerError> {
        (**self).sign_message(message)
    }
}

impl<T: Ed25519Signer + ?Sized> Ed25519Signer for Box<T> {
    fn public_key(&self) -> PublicKey {
        (**self).public_key()
    }
    fn sign_message(&self, message: &[u8]) -> Result<Signature, SignerError> {
        (**self).sign_message(message)
    }
}

/// Signs `domain ‖ bytes` with any signer and verifies the result before returning it, so a
/// faulty or tampered token can never hand out a signature that does not verify.
pub fn sign_with(
    signer: &(impl Ed25519Signer + ?Sized),
    domain: &str,
    bytes: &[u8],
) -> Result<Signature, SignerError> {
    let signature = signer.sign_message(&signing_input(domain, bytes))?;
    signer
        .public_key()
        .verify(domain, bytes, &signature)
        .map_err(|_| SignerError("signature from the signer does not verify".into()))?;
    Ok(signature)
}

/// An Ed25519 public key, validated on decode (canonical point, not of small order).
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct PublicKey(ed25519_dalek::VerifyingKey);

impl PublicKey {
    /// Parses and validates a 32-byte key.
    pub fn from_bytes(bytes: &[u8; 32]) -> Result<Self, DecodeError> {
        let vk = ed25519_dalek::VerifyingKey::from_bytes(bytes)
            .map_err(|_| DecodeError::invalid("public_key", "not a valid Ed25519 point"))?;
        if vk.is_weak() {
            return Err(DecodeError::invalid("public_key", "small-order key"));
        }
        if vk.as_bytes() != bytes {
            return Err(DecodeError::invalid("public_key", "non-canonical encoding"));
        }
        Ok(PublicKey(vk))
    }

    /// The 32 encoded bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        self.0.as_bytes()
    }

    /// The key's short id.
    pub fn key_id(&self) -> KeyId {
        KeyId::of(self.as_bytes())
    }

    /// Verifies `signature` over `domain ‖ bytes`.
    pub fn verify(
        &self,
        domain: &str,
        bytes: &[u8],
        signature: &Signature,
    ) -> Result<(), BadSignature> {
        self.0
            .verify_strict(&signing_input(domain, bytes), &signature.0)
            .map_err(|_| BadSignature)
    }

    /// Plain (non-strict) verification, for RFC 8032 known-answer tests only.
    #[doc(hidden)]
    pub fn verify_raw_for_kat(&self, msg: &[u8], signature: &Signature) -> bool {
        self.0.verify(msg, &signature.0).is_ok()
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "PublicKey({})",
            data_encoding::HEXLOWER.encode(self.as_bytes())
        )
    }
}

impl Wire for PublicKey {
    fn encode(&self, w: &mut Writer) {
        w.fixed(self.as_bytes());
    }
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        PublicKey::from_bytes(&r.array("public_key")?)
    }
}

/// An Ed25519 signature.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Signature(ed25519_dalek::Signature);

impl Signature {
    /// Encoded length.
    pub const LEN: usize = 64;

    /// From 64 bytes (the scalar's range is checked at verification).
    pub fn from_bytes(bytes: &[u8; 64]) -> Self {
        Signature(ed25519_dalek::Signature::from_bytes(bytes))
    }

    /// The 64 encoded bytes.
    pub fn to_bytes(&self) -> [u8; 64] {
        self.0.to_bytes()
    }
}

impl fmt::Debug for Signature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Signature({})",
            data_encoding::HEXLOWER.encode(&self.to_bytes())
        )
    }
}

impl Wire for Signature {
    fn encode(&self, w: &mut Writer) {
        w.fixed(&self.to_bytes());
    }
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Signature::from_bytes(&r.array("signature")?))
    }
}

/// An Ed25519 signing key. Zeroized on drop; its `Debug` shows only the public half.
pub struct SigningKey(ed25519_dalek::SigningKey);

impl SigningKey {
    /// A fresh key from the operating system's random source.
    pub fn generate() -> Self {
        let seed = Zeroizing::new(crate::random_bytes::<32>());
        Self::from_seed(&seed)
    }

    /// The key whose RFC 8032 secret seed is `seed`.
    pub fn from_seed(seed: &[u8; 32]) -> Self {
        SigningKey(ed25519_dalek::SigningKey::from_bytes(seed))
    }

    /// The secret seed, for sealed storage only. The caller must keep it in zeroizing memory.
    pub fn to_seed(&self) -> Zeroizing<[u8; 32]> {
        Zeroizing::new(self.0.to_bytes())
    }

    /// The public key.
    pub fn public(&self) -> PublicKey {
        PublicKey(self.0.verifying_key())
    }

    /// Signs `domain ‖ bytes`.
    pub fn sign(&self, domain: &str, bytes: &[u8]) -> Signature {
        Signature(self.0.sign(&signing_input(domain, bytes)))
    }

    /// Plain RFC 8032 signing, for known-answer tests only.
    #[doc(hidden)]
    pub fn sign_raw_for_kat(&self, msg: &[u8]) -> Signature {
        Signature(self.0.sign(msg))
    }
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SigningKey(public: {:?})", self.public())
    }
}

/// An X25519 public key (issuer sealing key, device link key).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct X25519Public(pub [u8; 32]);

impl X25519Public {
    /// The key's short id.
    pub fn key_id(&self) -> KeyId {
        KeyId::of(&self.0)
    }
}

impl fmt::Debug for X25519Public {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "X25519Public({})",
            data_encoding::HEXLOWER.encode(&self.0)
        )
    }
}

impl Wire for X25519Public {
    fn encode(&self, w: &mut Writer) {
        w.fixed(&self.0);
    }
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(X25519Public(r.array("x25519_public")?))
    }
}

/// An X25519 secret key. Zeroized on drop; never printed.
pub struct X25519Secret(x25519_dalek::StaticSecret);

impl X25519Secret {
    /// A fresh key from the operating system's random source.
    pub fn generate() -> Self {
        let bytes = Zeroizing::new(crate::random_bytes::<32>());
        Self::from_bytes(&bytes)
    }

    /// From its 32 secret bytes.
    pub fn from_bytes(bytes: &[u8; 32]) -> Self {
        X25519Secret(x25519_dalek::StaticSecret::from(*bytes))
    }

    /// The secret bytes, for sealed storage only.
    pub fn to_bytes(&self) -> Zeroizing<[u8; 32]> {
        Zeroizing::new(self.0.to_bytes())
    }

    /// The public key.
    pub fn public(&self) -> X25519Public {
        X25519Public(x25519_dalek::PublicKey::from(&self.0).to_bytes())
    }
}

impl fmt::Debug for X25519Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "X25519Secret(public: {:?})", self.public())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hex_literal::hex;

    /// (secret seed, public key, message, signature).
    type Vector = (
        &'static [u8; 32],
        &'static [u8; 32],
        &'static [u8],
        &'static [u8; 64],
    );

    /// RFC 8032 §7.1 TEST 1, 2 and 3.
    const RFC8032: [Vector; 3] = [
        (
            &hex!("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60"),
            &hex!("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"),
            b"",
            &hex!(
                "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"
            ),
        ),
        (
            &hex!("4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb"),
            &hex!("3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c"),
            &hex!("72"),
            &hex!(
                "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00"
            ),
        ),
        (
            &hex!("c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7"),
            &hex!("fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025"),
            &hex!("af82"),
            &hex!(
                "6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac18ff9b538d16f290ae67f760984dc6594a7c15e9716ed28dc027beceea1ec40a"
            ),
        ),
    ];

    #[test]
    fn rfc8032_test_vectors_1_to_3() {
        for (seed, public, msg, sig) in RFC8032 {
            let key = SigningKey::from_seed(seed);
            assert_eq!(key.public().as_bytes(), public);
            let made = key.sign_raw_for_kat(msg);
            assert_eq!(&made.to_bytes(), sig);
            let pk = PublicKey::from_bytes(public).unwrap();
            assert!(pk.verify_raw_for_kat(msg, &Signature::from_bytes(sig)));
            let mut flipped = *sig;
            flipped[0] ^= 1;
            assert!(!pk.verify_raw_for_kat(msg, &Signature::from_bytes(&flipped)));
        }
    }

    #[test]
    fn domains_separate_signatures() {
        let k = SigningKey::generate();
        let s = k.sign("a", b"msg");
        assert!(k.public().verify("a", b"msg", &s).is_ok());
        assert_eq!(k.public().verify("b", b"msg", &s), Err(BadSignature));
        assert_eq!(k.public().verify("a", b"msh", &s), Err(BadSignature));
    }

    #[test]
    fn weak_and_invalid_keys_are_rejected() {
        // The identity point (small order).
        let mut identity = [0u8; 32];
        identity[0] = 1;
        assert!(PublicKey::from_bytes(&identity).is_err());
        // A y-coordinate with no point on the curve.
        let mut not_on_curve = [0u8; 32];
        not_on_curve[0] = 2;
        assert!(PublicKey::from_bytes(&not_on_curve).is_err());
    }

    #[test]
    fn secrets_are_not_printed() {
        let k = SigningKey::from_seed(&[7; 32]);
        let text = format!("{k:?}");
        assert!(!text.contains(&data_encoding::HEXLOWER.encode(&[7; 32])));
        let x = X25519Secret::from_bytes(&[9; 32]);
        assert!(!format!("{x:?}").contains(&data_encoding::HEXLOWER.encode(&[9; 32])));
    }
}
