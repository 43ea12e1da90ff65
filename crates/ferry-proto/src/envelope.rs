//! Sealed envelopes: anything a device must get to the server, encrypted to the issuer's X25519
//! sealing key so that strangers' phones can carry it (DESIGN §4, "Mesh").
//!
//! Encryption is HPKE (RFC 9180) in base mode with the suite DHKEM(X25519, HKDF-SHA256),
//! HKDF-SHA256, ChaCha20-Poly1305. The HPKE `info` is the fixed string [`HPKE_INFO`]; the AEAD's
//! associated data binds the wire version, the sealing key's id and the expiry, so none of them
//! can be altered without the envelope failing to open.
//!
//! Wire form ([`Envelope`]):
//!
//! ```text
//! version(1) ‖ key_id(8) ‖ expires_at(8) ‖ ttl(1) ‖ enc(32) ‖ ciphertext_len(u32) ‖ ciphertext
//! ```
//!
//! The hop count `ttl` is deliberately outside the ciphertext and **not authenticated**: every
//! relay decrements it ([`Envelope::decrement_ttl`]). A relay can therefore also reset it; the TTL
//! limits honest flooding, it is not a security property. The envelope id ([`EnvelopeId`]) is a
//! hash of `enc ‖ ciphertext` only, so it does not change from hop to hop.
//!
//! A receiver that opens many envelopes with one key uses an [`EnvelopeOpener`]: it keeps the
//! key's public half and id, which HPKE's key derivation and the header check need for every
//! envelope, instead of deriving them from the secret each time.
//!
//! The id is a cheap first dedupe key. It is computed before anything is authenticated, so a
//! receiver must record it only once the envelope has opened (a copy with a forged expiry has the
//! same id but never opens); the semantic id found inside is the authoritative one.

use std::fmt;

use hpke::{Deserializable, OpModeS, Serializable};
use rand_core::{TryCryptoRng, TryRng};
use thiserror::Error;
use zeroize::Zeroizing;

use crate::codec::{DecodeError, Message, Reader, WIRE_VERSION, Wire, Writer};
use crate::hash::Hash32;
use crate::ids::KeyId;
use crate::keys::{X25519Public, X25519Secret};
use crate::time::UnixTime;

/// The HPKE KEM: DHKEM(X25519, HKDF-SHA256).
type Kem = hpke::kem::X25519HkdfSha256;
/// The HPKE KDF: HKDF-SHA256.
type Kdf = hpke::kdf::HkdfSha256;
/// The HPKE AEAD used by Ferry envelopes: ChaCha20-Poly1305.
type SuiteAead = hpke::aead::ChaCha20Poly1305;

/// The HPKE `info` string of every Ferry envelope.
pub const HPKE_INFO: &[u8] = b"ferry/v1/envelope";

/// Length of the HPKE encapsulated key (`Nenc` for X25519).
pub const ENC_LEN: usize = 32;

/// Length of the AEAD authentication tag at the end of every ciphertext.
pub const TAG_LEN: usize = 16;

/// Longest ciphertext an envelope may carry: 64 KiB, tag included.
pub const MAX_CIPHERTEXT_LEN: usize = 64 * 1024;

/// Longest plaintext that can be sealed: [`MAX_CIPHERTEXT_LEN`] minus the tag.
pub const MAX_PLAINTEXT_LEN: usize = MAX_CIPHERTEXT_LEN - TAG_LEN;

/// Encoded length of the fields before the ciphertext (version, key id, expiry, ttl, enc and the
/// ciphertext's length prefix).
pub const HEADER_LEN: usize = 1 + KeyId::LEN + 8 + 1 + ENC_LEN + 4;

/// Position of the (unauthenticated) ttl byte in the encoded envelope.
pub const TTL_OFFSET: usize = 1 + KeyId::LEN + 8;

/// Why an envelope could not be sealed or opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum EnvelopeError {
    /// The envelope is sealed to a different key than the one offered.
    #[error("envelope is sealed to key {sealed_to}, not to this key")]
    WrongKey {
        /// The key id the envelope names.
        sealed_to: KeyId,
    },
    /// The envelope's expiry has passed.
    #[error("envelope expired at {expires_at}")]
    Expired {
        /// When it expired.
        expires_at: UnixTime,
    },
    /// Decryption failed: the envelope was tampered with or not made for this key.
    #[error("envelope does not decrypt (tampered or corrupt)")]
    DecryptFailed,
    /// The plaintext is longer than an envelope may carry.
    #[error("plaintext of {len} bytes exceeds the {max}-byte envelope limit")]
    TooLarge {
        /// The plaintext's length.
        len: usize,
        /// The limit ([`MAX_PLAINTEXT_LEN`]).
        max: usize,
    },
    /// The recipient key cannot be sealed to (a small-order X25519 point).
    #[error("recipient key is not a usable X25519 key")]
    InvalidRecipientKey,
}

/// An envelope's identity: SHA-256 of `enc ‖ ciphertext` in its own domain. Independent of the
/// ttl, so every copy of an envelope in the mesh has the same id.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EnvelopeId(pub Hash32);

impl EnvelopeId {
    /// The hash domain of envelope ids.
    pub const DOMAIN: &'static str = "envelope-id";

    /// The id of an envelope with this encapsulated key and ciphertext.
    pub fn of(enc: &[u8; ENC_LEN], ciphertext: &[u8]) -> Self {
        EnvelopeId(Hash32::of(Self::DOMAIN, &[enc, ciphertext]))
    }

    /// The 32 bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        self.0.as_bytes()
    }

    /// Lower-case hex.
    pub fn to_hex(&self) -> String {
        self.0.to_hex()
    }
}

impl fmt::Debug for EnvelopeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "EnvelopeId({})", self.to_hex())
    }
}

impl fmt::Display for EnvelopeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl Wire for EnvelopeId {
    fn encode(&self, w: &mut Writer) {
        self.0.encode(w);
    }
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(EnvelopeId(Hash32(r.array("envelope_id")?)))
    }
}

/// A sealed envelope. Fields are private so that every value obeys the wire limits; build one with
/// [`Envelope::seal`] or [`Message::from_bytes`].
#[derive(Clone, PartialEq, Eq)]
pub struct Envelope {
    key_id: KeyId,
    expires_at: UnixTime,
    ttl: u8,
    enc: [u8; ENC_LEN],
    ciphertext: Vec<u8>,
}

/// The AEAD associated data: version, key id and expiry (everything in the header except the
/// ttl; `enc` is bound by HPKE itself).
fn associated_data(key_id: &KeyId, expires_at: UnixTime) -> [u8; 1 + KeyId::LEN + 8] {
    let mut aad = [0u8; 1 + KeyId::LEN + 8];
    aad[0] = WIRE_VERSION;
    aad[1..1 + KeyId::LEN].copy_from_slice(key_id.as_bytes());
    aad[1 + KeyId::LEN..].copy_from_slice(&expires_at.secs().to_be_bytes());
    aad
}

/// HPKE base-mode single-shot seal with DHKEM(X25519, HKDF-SHA256) and HKDF-SHA256, generic over
/// the AEAD so the RFC 9180 known-answer tests exercise this exact code.
fn hpke_seal<A: hpke::aead::Aead>(
    recipient: &X25519Public,
    info: &[u8],
    aad: &[u8],
    plaintext: &[u8],
    rng: Option<&mut IkmRng<'_>>,
) -> Result<([u8; ENC_LEN], Vec<u8>), EnvelopeError> {
    let pk = <Kem as hpke::Kem>::PublicKey::from_bytes(&recipient.0)
        .map_err(|_| EnvelopeError::InvalidRecipientKey)?;
    let sealed = match rng {
        Some(rng) => hpke::single_shot_seal_with_rng::<A, Kdf, Kem>(
            &OpModeS::Base,
            &pk,
            info,
            plaintext,
            aad,
            rng,
        ),
        None => hpke::single_shot_seal::<A, Kdf, Kem>(&OpModeS::Base, &pk, info, plaintext, aad),
    };
    let (enc, ciphertext) = sealed.map_err(|e| match e {
        // The AEAD refuses only plaintexts beyond its limit.
        hpke::HpkeError::SealError | hpke::HpkeError::MessageLimitReached => {
            EnvelopeError::TooLarge {
                len: plaintext.len(),
                max: MAX_PLAINTEXT_LEN,
            }
        }
        // Encapsulation fails only for a small-order recipient key (all-zero shared secret).
        _ => EnvelopeError::InvalidRecipientKey,
    })?;
    Ok((enc.to_bytes().into(), ciphertext))
}

/// HPKE base-mode single-shot open with the `hpke` crate, for the secret key `sk_bytes`.
fn hpke_open<A: hpke::aead::Aead>(
    sk_bytes: &[u8; 32],
    enc: &[u8; ENC_LEN],
    info: &[u8],
    aad: &[u8],
    ciphertext: &[u8],
) -> Result<Vec<u8>, EnvelopeError> {
    // hpke's private key wraps a zeroize-on-drop x25519 secret.
    let sk = <Kem as hpke::Kem>::PrivateKey::from_bytes(&sk_bytes[..])
        .map_err(|_| EnvelopeError::DecryptFailed)?;
    let enc = <Kem as hpke::Kem>::EncappedKey::from_bytes(enc)
        .map_err(|_| EnvelopeError::DecryptFailed)?;
    hpke::single_shot_open::<A, Kdf, Kem>(&hpke::OpModeR::Base, &sk, &enc, info, ciphertext, aad)
        .map_err(|_| EnvelopeError::DecryptFailed)
}

/// Opens envelopes sealed to one X25519 key (the issuer's sealing key).
///
/// It keeps what depends only on the key — its public half and the key id each envelope's
/// header must name — so that opening an envelope costs the `hpke` crate's decapsulation and
/// nothing more (computing the key id per envelope cost one more X25519 multiplication).
pub struct EnvelopeOpener {
    secret: Zeroizing<[u8; 32]>,
    public: X25519Public,
    key_id: KeyId,
}

impl EnvelopeOpener {
    /// An opener for envelopes sealed to `secret`'s public key.
    pub fn new(secret: &X25519Secret) -> Self {
        let public = secret.public();
        EnvelopeOpener {
            secret: secret.to_bytes(),
            key_id: public.key_id(),
            public,
        }
    }

    /// The public key envelopes must be sealed to.
    pub fn public(&self) -> X25519Public {
        self.public
    }

    /// The id of that key (what an envelope's header names).
    pub fn key_id(&self) -> KeyId {
        self.key_id
    }

    /// Opens `envelope` at time `now`, with the same checks in the same order as
    /// [`Envelope::open`]: the key id, the expiry, then decryption.
    pub fn open(&self, envelope: &Envelope, now: UnixTime) -> Result<Vec<u8>, EnvelopeError> {
        if envelope.key_id != self.key_id {
            return Err(EnvelopeError::WrongKey {
                sealed_to: envelope.key_id,
            });
        }
        if envelope.is_expired(now) {
            return Err(EnvelopeError::Expired {
                expires_at: envelope.expires_at,
            });
        }
        let aad = associated_data(&envelope.key_id, envelope.expires_at);
        hpke_open::<SuiteAead>(
            &self.secret,
            &envelope.enc,
            HPKE_INFO,
            &aad,
            &envelope.ciphertext,
        )
    }
}

impl fmt::Debug for EnvelopeOpener {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EnvelopeOpener")
            .field("key_id", &self.key_id)
            .finish_non_exhaustive()
    }
}

impl Envelope {
    /// Seals `plaintext` to `recipient` (the issuer's sealing key) with a fresh random ephemeral
    /// key, valid until `expires_at` and allowed `ttl` forwarding hops.
    ///
    /// # Panics
    /// If the operating system cannot supply randomness (as [`crate::random_bytes`]).
    pub fn seal(
        recipient: &X25519Public,
        expires_at: UnixTime,
        ttl: u8,
        plaintext: &[u8],
    ) -> Result<Envelope, EnvelopeError> {
        Self::seal_inner(recipient, expires_at, ttl, plaintext, None)
    }

    /// Deterministic [`Envelope::seal`]: the ephemeral key is RFC 9180 `DeriveKeyPair(ikm_e)`.
    /// For known-answer tests and reproducible simulations only: sealing two different plaintexts
    /// to the same key with the same `ikm_e` reuses the AEAD key and nonce and destroys
    /// confidentiality.
    #[doc(hidden)]
    pub fn seal_with_ikm(
        recipient: &X25519Public,
        expires_at: UnixTime,
        ttl: u8,
        plaintext: &[u8],
        ikm_e: &[u8; 32],
    ) -> Result<Envelope, EnvelopeError> {
        Self::seal_inner(
            recipient,
            expires_at,
            ttl,
            plaintext,
            Some(&mut IkmRng::new(ikm_e)),
        )
    }

    fn seal_inner(
        recipient: &X25519Public,
        expires_at: UnixTime,
        ttl: u8,
        plaintext: &[u8],
        rng: Option<&mut IkmRng<'_>>,
    ) -> Result<Envelope, EnvelopeError> {
        if plaintext.len() > MAX_PLAINTEXT_LEN {
            return Err(EnvelopeError::TooLarge {
                len: plaintext.len(),
                max: MAX_PLAINTEXT_LEN,
            });
        }
        let key_id = recipient.key_id();
        let aad = associated_data(&key_id, expires_at);
        let (enc, ciphertext) = hpke_seal::<SuiteAead>(recipient, HPKE_INFO, &aad, plaintext, rng)?;
        Ok(Envelope {
            key_id,
            expires_at,
            ttl,
            enc,
            ciphertext,
        })
    }

    /// Opens the envelope with the issuer's sealing secret, at time `now`. Checks, in order: the
    /// key id names this key ([`EnvelopeError::WrongKey`]), the envelope has not expired
    /// ([`EnvelopeError::Expired`]; it is valid strictly before `expires_at`, as every expiry in
    /// Ferry), and the
    /// ciphertext authenticates ([`EnvelopeError::DecryptFailed`]).
    ///
    /// To open many envelopes with one key, make one [`EnvelopeOpener`] and use it instead.
    pub fn open(&self, secret: &X25519Secret, now: UnixTime) -> Result<Vec<u8>, EnvelopeError> {
        EnvelopeOpener::new(secret).open(self, now)
    }

    /// The envelope's id (see [`EnvelopeId`]).
    pub fn id(&self) -> EnvelopeId {
        EnvelopeId::of(&self.enc, &self.ciphertext)
    }

    /// Takes one hop off the TTL before forwarding. Returns `false`, leaving the TTL at zero, when
    /// no hops were left: the envelope must then not be forwarded to another relay (a bridge with
    /// internet may still upload it).
    pub fn decrement_ttl(&mut self) -> bool {
        match self.ttl.checked_sub(1) {
            Some(t) => {
                self.ttl = t;
                true
            }
            None => false,
        }
    }

    /// True once `now` is past the expiry.
    pub fn is_expired(&self, now: UnixTime) -> bool {
        now >= self.expires_at
    }

    /// The id of the key this envelope is sealed to.
    pub fn key_id(&self) -> KeyId {
        self.key_id
    }

    /// After this instant the envelope is refused.
    pub fn expires_at(&self) -> UnixTime {
        self.expires_at
    }

    /// Forwarding hops left (unauthenticated).
    pub fn ttl(&self) -> u8 {
        self.ttl
    }

    /// The HPKE encapsulated key.
    pub fn enc(&self) -> &[u8; ENC_LEN] {
        &self.enc
    }

    /// The ciphertext, tag included.
    pub fn ciphertext(&self) -> &[u8] {
        &self.ciphertext
    }

    /// Length of the wire form.
    pub fn encoded_len(&self) -> usize {
        HEADER_LEN + self.ciphertext.len()
    }
}

impl fmt::Debug for Envelope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Envelope")
            .field("id", &self.id())
            .field("key_id", &self.key_id)
            .field("expires_at", &self.expires_at)
            .field("ttl", &self.ttl)
            .field("ciphertext_len", &self.ciphertext.len())
            .finish()
    }
}

impl Wire for Envelope {
    fn encode(&self, w: &mut Writer) {
        self.key_id.encode(w);
        self.expires_at.encode(w);
        w.u8(self.ttl);
        w.fixed(&self.enc);
        w.bytes_u32(&self.ciphertext);
    }

    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let key_id = KeyId::decode(r)?;
        let expires_at = UnixTime::decode(r)?;
        let ttl = r.u8("ttl")?;
        let enc = r.array("enc")?;
        let ciphertext = r.bytes_u32(MAX_CIPHERTEXT_LEN, "ciphertext")?;
        if ciphertext.len() < TAG_LEN {
            return Err(DecodeError::invalid(
                "ciphertext",
                "shorter than the authentication tag",
            ));
        }
        Ok(Envelope {
            key_id,
            expires_at,
            ttl,
            enc,
            ciphertext: ciphertext.to_vec(),
        })
    }
}

impl Message for Envelope {}

/// A "random" source that yields fixed input keying material, so HPKE's ephemeral key becomes
/// `DeriveKeyPair(ikm)` (hpke generates a key pair by filling `Nsk` bytes from its RNG and
/// deriving from them). Once the material is used up it falls back to the operating system's
/// randomness rather than ever repeating it.
struct IkmRng<'a> {
    ikm: &'a [u8; 32],
    pos: usize,
}

impl<'a> IkmRng<'a> {
    fn new(ikm: &'a [u8; 32]) -> Self {
        IkmRng { ikm, pos: 0 }
    }
}

impl TryRng for IkmRng<'_> {
    type Error = std::convert::Infallible;

    fn try_next_u32(&mut self) -> Result<u32, Self::Error> {
        let mut b = [0u8; 4];
        self.try_fill_bytes(&mut b)?;
        Ok(u32::from_le_bytes(b))
    }

    fn try_next_u64(&mut self) -> Result<u64, Self::Error> {
        let mut b = [0u8; 8];
        self.try_fill_bytes(&mut b)?;
        Ok(u64::from_le_bytes(b))
    }

    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Self::Error> {
        let from_ikm = dst.len().min(self.ikm.len() - self.pos);
        let (fixed, rest) = dst.split_at_mut(from_ikm);
        fixed.copy_from_slice(&self.ikm[self.pos..self.pos + from_ikm]);
        self.pos += from_ikm;
        if !rest.is_empty() {
            getrandom::fill(rest).expect("operating system random source unavailable");
        }
        Ok(())
    }
}

impl TryCryptoRng for IkmRng<'_> {}

#[cfg(test)]
mod tests {
    use super::*;
    use hex_literal::hex;
    use hpke::Kem as _;
    use proptest::prelude::*;

    /// RFC 9180 Appendix A.1.1: DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, AES-128-GCM, base
    /// mode, and its first encryption (sequence number 0).
    mod a_1_1 {
        use super::hex;
        pub const INFO: [u8; 20] = hex!("4f6465206f6e2061204772656369616e2055726e");
        pub const IKM_E: [u8; 32] =
            hex!("7268600d403fce431561aef583ee1613527cff655c1343f29812e66706df3234");
        pub const PK_EM: [u8; 32] =
            hex!("37fda3567bdbd628e88668c3c8d7e97d1d1253b6d4ea6d44c150f741f1bf4431");
        pub const IKM_R: [u8; 32] =
            hex!("6db9df30aa07dd42ee5e8181afdb977e538f5e1fec8a06223f33f7013e525037");
        pub const PK_RM: [u8; 32] =
            hex!("3948cfe0ad1ddb695d780e59077195da6c56506b027329794ab02bca80815c4d");
        pub const SK_RM: [u8; 32] =
            hex!("4612c550263fc8ad58375df3f557aac531d26850903e55a9f23f21d8534e8ac8");
        pub const ENC: [u8; 32] =
            hex!("37fda3567bdbd628e88668c3c8d7e97d1d1253b6d4ea6d44c150f741f1bf4431");
        pub const PT: [u8; 29] = hex!("4265617574792069732074727574682c20747275746820626561757479");
        pub const AAD0: [u8; 7] = hex!("436f756e742d30");
        pub const CT0: [u8; 45] = hex!(
            "f938558b5d72f1a23810b4be2ab4f84331acc02fc97babc53a52ae8218a355a96d8770ac83d07bea87e13c512a"
        );
    }

    /// RFC 9180 Appendix A.2.1: DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, ChaCha20Poly1305, base
    /// mode (Ferry's suite), and its first encryption (sequence number 0).
    mod a_2_1 {
        use super::hex;
        pub const INFO: [u8; 20] = hex!("4f6465206f6e2061204772656369616e2055726e");
        pub const IKM_E: [u8; 32] =
            hex!("909a9b35d3dc4713a5e72a4da274b55d3d3821a37e5d099e74a647db583a904b");
        pub const PK_EM: [u8; 32] =
            hex!("1afa08d3dec047a643885163f1180476fa7ddb54c6a8029ea33f95796bf2ac4a");
        pub const IKM_R: [u8; 32] =
            hex!("1ac01f181fdf9f352797655161c58b75c656a6cc2716dcb66372da835542e1df");
        pub const PK_RM: [u8; 32] =
            hex!("4310ee97d88cc1f088a5576c77ab0cf5c3ac797f3d95139c6c84b5429c59662a");
        pub const SK_RM: [u8; 32] =
            hex!("8057991eef8f1f1af18f4a9491d16a1ce333f695d4db8e38da75975c4478e0fb");
        pub const ENC: [u8; 32] =
            hex!("1afa08d3dec047a643885163f1180476fa7ddb54c6a8029ea33f95796bf2ac4a");
        pub const PT: [u8; 29] = hex!("4265617574792069732074727574682c20747275746820626561757479");
        pub const AAD0: [u8; 7] = hex!("436f756e742d30");
        pub const CT0: [u8; 45] = hex!(
            "1c5250d8034ec2b784ba2cfd69dbdb8af406cfe3ff938e131f0def8c8b60b4db21993c62ce81883d2dd1b51a28"
        );
    }

    /// RFC 7748 clamping, which hpke's `SerializePrivateKey` applies (RFC 9180 §7.1.2); the
    /// appendix prints `skRm` before clamping.
    fn clamp(mut k: [u8; 32]) -> [u8; 32] {
        k[0] &= 248;
        k[31] &= 127;
        k[31] |= 64;
        k
    }

    #[allow(clippy::too_many_arguments)]
    fn run_kat<A: hpke::aead::Aead>(
        info: &[u8],
        ikm_e: &[u8; 32],
        pk_em: &[u8; 32],
        ikm_r: &[u8; 32],
        pk_rm: &[u8; 32],
        sk_rm: &[u8; 32],
        enc_expected: &[u8; 32],
        pt: &[u8],
        aad: &[u8],
        ct: &[u8],
    ) {
        // DeriveKeyPair(ikmR) gives the recipient's key pair.
        let (sk, pk) = Kem::derive_keypair(ikm_r);
        assert_eq!(pk.to_bytes().as_slice(), pk_rm);
        assert_eq!(sk.to_bytes().as_slice(), clamp(*sk_rm));
        // DeriveKeyPair(ikmE) gives the ephemeral key, whose public half is enc.
        let (_, pk_e) = Kem::derive_keypair(ikm_e);
        assert_eq!(pk_e.to_bytes().as_slice(), pk_em);
        // Ferry's own key types agree on the recipient key.
        let secret = X25519Secret::from_bytes(sk_rm);
        assert_eq!(secret.public(), X25519Public(*pk_rm));

        // Sealing with an RNG that yields ikmE reproduces enc and the first ciphertext.
        let (enc, ciphertext) = hpke_seal::<A>(
            &X25519Public(*pk_rm),
            info,
            aad,
            pt,
            Some(&mut IkmRng::new(ikm_e)),
        )
        .unwrap();
        assert_eq!(&enc, enc_expected);
        assert_eq!(ciphertext, ct);

        // Opening with skRm recovers the plaintext; any flipped bit fails.
        assert_eq!(
            hpke_open::<A>(&secret.to_bytes(), &enc, info, aad, ct).unwrap(),
            pt
        );
        let mut bad = ct.to_vec();
        bad[0] ^= 1;
        assert_eq!(
            hpke_open::<A>(&secret.to_bytes(), &enc, info, aad, &bad),
            Err(EnvelopeError::DecryptFailed)
        );
        assert_eq!(
            hpke_open::<A>(&secret.to_bytes(), &enc, b"other info", aad, ct),
            Err(EnvelopeError::DecryptFailed)
        );
    }

    #[test]
    fn rfc9180_a_1_1_x25519_sha256_aes128gcm_base() {
        use a_1_1::*;
        run_kat::<hpke::aead::AesGcm128>(
            &INFO, &IKM_E, &PK_EM, &IKM_R, &PK_RM, &SK_RM, &ENC, &PT, &AAD0, &CT0,
        );
    }

    #[test]
    fn rfc9180_a_2_1_x25519_sha256_chacha20poly1305_base() {
        use a_2_1::*;
        run_kat::<SuiteAead>(
            &INFO, &IKM_E, &PK_EM, &IKM_R, &PK_RM, &SK_RM, &ENC, &PT, &AAD0, &CT0,
        );
    }

    /// An encapsulated key of small order gives an all-zero shared secret: refused (RFC 9180
    /// §7.1.4), as the `hpke` crate refuses it.
    #[test]
    fn the_opener_refuses_small_order_enc() {
        let e = sample(b"x");
        let opener = EnvelopeOpener::new(&issuer());
        for enc in [[0u8; 32], {
            let mut one = [0u8; 32];
            one[0] = 1;
            one
        }] {
            let forged = Envelope { enc, ..e.clone() };
            assert_eq!(opener.open(&forged, NOW), Err(EnvelopeError::DecryptFailed));
        }
        assert_eq!(opener.open(&e, NOW).unwrap(), b"x");
    }

    /// `seal_with_ikm` is the A.2.1 ephemeral path with Ferry's own info and AAD.
    #[test]
    fn seal_with_ikm_uses_the_rfc_ephemeral_key() {
        let recipient = X25519Public(a_2_1::PK_RM);
        let e =
            Envelope::seal_with_ikm(&recipient, UnixTime(100), 3, b"hi", &a_2_1::IKM_E).unwrap();
        assert_eq!(e.enc(), &a_2_1::ENC);
        let again =
            Envelope::seal_with_ikm(&recipient, UnixTime(100), 3, b"hi", &a_2_1::IKM_E).unwrap();
        assert_eq!(e, again);
        let secret = X25519Secret::from_bytes(&a_2_1::SK_RM);
        assert_eq!(e.open(&secret, UnixTime(99)).unwrap(), b"hi");
    }

    const NOW: UnixTime = UnixTime(1_700_000_000);

    fn issuer() -> X25519Secret {
        X25519Secret::from_bytes(&[0x42; 32])
    }

    fn sample(plaintext: &[u8]) -> Envelope {
        Envelope::seal(&issuer().public(), NOW.plus_secs(3600), 8, plaintext).unwrap()
    }

    #[test]
    fn seal_open_round_trip() {
        let e = sample(b"a payment and its receipt");
        assert_eq!(e.key_id(), issuer().public().key_id());
        assert_eq!(e.ciphertext().len(), 25 + TAG_LEN);
        assert_eq!(
            e.open(&issuer(), NOW).unwrap(),
            b"a payment and its receipt"
        );
        let bytes = e.to_bytes();
        assert_eq!(bytes.len(), e.encoded_len());
        let back = Envelope::from_bytes(&bytes).unwrap();
        assert_eq!(back, e);
        assert_eq!(back.id(), e.id());
        assert_eq!(back.to_bytes(), bytes);
        // Empty plaintexts are fine.
        assert_eq!(sample(b"").open(&issuer(), NOW).unwrap(), b"");
    }

    #[test]
    fn fresh_ephemeral_keys_every_time() {
        let a = sample(b"same");
        let b = sample(b"same");
        assert_ne!(a.enc(), b.enc());
        assert_ne!(a.id(), b.id());
    }

    #[test]
    fn wrong_key_is_reported_before_decryption() {
        let e = sample(b"x");
        let other = X25519Secret::from_bytes(&[7; 32]);
        assert_eq!(
            e.open(&other, NOW),
            Err(EnvelopeError::WrongKey {
                sealed_to: e.key_id()
            })
        );
    }

    #[test]
    fn expiry_is_exclusive() {
        let e = sample(b"x");
        assert!(e.open(&issuer(), e.expires_at().minus_secs(1)).is_ok());
        assert_eq!(
            e.open(&issuer(), e.expires_at()),
            Err(EnvelopeError::Expired {
                expires_at: e.expires_at()
            })
        );
    }

    #[test]
    fn size_limits() {
        let max = vec![0xa5; MAX_PLAINTEXT_LEN];
        let e = sample(&max);
        assert_eq!(e.ciphertext().len(), MAX_CIPHERTEXT_LEN);
        let back = Envelope::from_bytes(&e.to_bytes()).unwrap();
        assert_eq!(back.open(&issuer(), NOW).unwrap(), max);

        let too_big = vec![0; MAX_PLAINTEXT_LEN + 1];
        assert_eq!(
            Envelope::seal(&issuer().public(), NOW, 1, &too_big),
            Err(EnvelopeError::TooLarge {
                len: MAX_PLAINTEXT_LEN + 1,
                max: MAX_PLAINTEXT_LEN
            })
        );

        // A length prefix above the maximum is refused before anything is read.
        let mut bytes = sample(b"x").to_bytes();
        bytes[HEADER_LEN - 4..HEADER_LEN]
            .copy_from_slice(&(MAX_CIPHERTEXT_LEN as u32 + 1).to_be_bytes());
        assert!(matches!(
            Envelope::from_bytes(&bytes),
            Err(DecodeError::Invalid {
                field: "ciphertext",
                ..
            })
        ));
    }

    #[test]
    fn decoding_is_strict() {
        let e = sample(b"x");
        let mut bytes = e.to_bytes();
        bytes.push(0);
        assert_eq!(
            Envelope::from_bytes(&bytes),
            Err(DecodeError::TrailingBytes { count: 1 })
        );
        bytes.truncate(bytes.len() - 2);
        assert!(Envelope::from_bytes(&bytes).is_err());
        // A ciphertext shorter than the tag can never open and is not a valid envelope.
        let mut w = Writer::versioned();
        e.key_id().encode(&mut w);
        e.expires_at().encode(&mut w);
        w.u8(1);
        w.fixed(e.enc());
        w.bytes_u32(&[0; TAG_LEN - 1]);
        assert!(matches!(
            Envelope::from_bytes(w.as_slice()),
            Err(DecodeError::Invalid {
                field: "ciphertext",
                ..
            })
        ));
    }

    #[test]
    fn small_order_recipient_is_refused() {
        assert_eq!(
            Envelope::seal(&X25519Public([0; 32]), NOW, 1, b"x"),
            Err(EnvelopeError::InvalidRecipientKey)
        );
    }

    #[test]
    fn ttl_is_outside_the_ciphertext() {
        let mut e = sample(b"hop");
        let id = e.id();
        assert_eq!(e.ttl(), 8);
        for left in (0..8).rev() {
            assert!(e.decrement_ttl());
            assert_eq!(e.ttl(), left);
        }
        assert!(!e.decrement_ttl());
        assert_eq!(e.ttl(), 0);
        assert_eq!(e.id(), id);
        assert_eq!(e.open(&issuer(), NOW).unwrap(), b"hop");

        // Any ttl byte on the wire: same id, still opens.
        let mut bytes = e.to_bytes();
        bytes[TTL_OFFSET] = 0xff;
        let relayed = Envelope::from_bytes(&bytes).unwrap();
        assert_eq!(relayed.ttl(), 0xff);
        assert_eq!(relayed.id(), id);
        assert_eq!(relayed.open(&issuer(), NOW).unwrap(), b"hop");
    }

    /// Opens `bytes` as a received envelope: decode, then open.
    fn receive(bytes: &[u8]) -> Result<Vec<u8>, String> {
        let e = Envelope::from_bytes(bytes).map_err(|e| e.to_string())?;
        e.open(&issuer(), NOW).map_err(|e| e.to_string())
    }

    #[test]
    fn every_authenticated_byte_is_bound() {
        let e = sample(b"twenty bytes of data");
        let bytes = e.to_bytes();
        for i in 0..bytes.len() {
            for flip in [0x01, 0x80] {
                let mut t = bytes.clone();
                t[i] ^= flip;
                if i == TTL_OFFSET {
                    assert_eq!(receive(&t).unwrap(), b"twenty bytes of data");
                } else {
                    assert!(receive(&t).is_err(), "byte {i} ^ {flip:#x} went unnoticed");
                }
            }
        }
        // The pieces the brief names: enc, ciphertext, key id and expiry.
        let mut later = bytes.clone();
        later[1 + KeyId::LEN + 7] ^= 1; // expires_at's low byte, still in the future
        assert_eq!(
            receive(&later),
            Err(EnvelopeError::DecryptFailed.to_string())
        );
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn envelopes_round_trip_and_resist_tampering(
            plaintext in proptest::collection::vec(any::<u8>(), 0..300),
            ttl in any::<u8>(),
            lifetime in 0u64..1_000_000,
            position in any::<prop::sample::Index>(),
            flip in 1u8..=255,
        ) {
            let e = Envelope::seal(&issuer().public(), NOW.plus_secs(lifetime), ttl, &plaintext)
                .unwrap();
            let bytes = e.to_bytes();
            let back = Envelope::from_bytes(&bytes).unwrap();
            prop_assert_eq!(&back, &e);
            prop_assert_eq!(back.to_bytes(), bytes.clone());
            prop_assert_eq!(back.open(&issuer(), NOW).unwrap(), plaintext.clone());

            let i = position.index(bytes.len());
            let mut tampered = bytes;
            tampered[i] ^= flip;
            if i == TTL_OFFSET {
                let relayed = Envelope::from_bytes(&tampered).unwrap();
                prop_assert_eq!(relayed.id(), e.id());
                prop_assert_eq!(relayed.open(&issuer(), NOW).unwrap(), plaintext);
            } else {
                prop_assert!(receive(&tampered).is_err());
            }
        }
    }
}
