//! The Noise `NK` handshake of a face-to-face payment, sans-IO
//! (`Noise_NK_25519_ChaChaPoly_SHA256`, through `snow`).
//!
//! The payer (initiator) knows the payee's static X25519 key from its QR, and both sides use
//! the same prologue (the hash of the QR payload, supplied by the caller), so a payer who
//! scanned a different QR cannot talk to this payee. One round trip:
//!
//! ```text
//! -> e, es   + encrypted payload   (the payment)       NkInitiator::write_first / NkResponder::read_first
//! <- e, ee   + encrypted payload   (the receipt)       NkReplying::write_reply  / NkAwaitingReply::read_reply
//! ```
//!
//! The first message is encrypted to the payee's static key only; it is **replayable**: the
//! same bytes decrypt again at a fresh responder with the same key. The application rejects
//! replays (the wallet does, with its request nonce and its log of received payments). The
//! reply uses a fresh ephemeral of each side, so a replayed reply fails at any other
//! initiator.
//!
//! Low-order public keys (the static key given to the initiator, and the ephemeral keys in
//! both messages) are refused as [`NoiseError::Malformed`]: they would make the key schedule
//! public. Our copies of secret key bytes are zeroized; `snow` 0.10 does not zeroize its own
//! key state when dropped.

use std::fmt;

use ferry_proto::keys::{X25519Public, X25519Secret};
use snow::HandshakeState;
use thiserror::Error;

/// The Noise protocol name.
pub const PROTOCOL: &str = "Noise_NK_25519_ChaChaPoly_SHA256";
/// Bytes of an X25519 public key in a handshake message.
pub const DH_LEN: usize = 32;
/// Bytes of a ChaCha20-Poly1305 tag.
pub const TAG_LEN: usize = 16;
/// Largest Noise message (a Noise protocol limit).
pub const MAX_NOISE_MESSAGE: usize = 65_535;
/// Handshake message bytes besides the payload: an ephemeral key and a tag.
pub const OVERHEAD: usize = DH_LEN + TAG_LEN;
/// Largest payload of either handshake message.
pub const MAX_PAYLOAD: usize = MAX_NOISE_MESSAGE - OVERHEAD;
/// Bytes of a handshake hash (SHA-256).
pub const HASH_LEN: usize = 32;

/// Why a handshake step failed. Errors never carry message bytes.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum NoiseError {
    /// The message does not decrypt: wrong key, different prologue, or tampered bytes.
    #[error("handshake message does not decrypt")]
    Decrypt,
    /// A payload or message over the Noise limits.
    #[error("{len} bytes exceed the maximum of {max}")]
    TooLarge {
        /// The length given.
        len: usize,
        /// The largest length allowed.
        max: usize,
    },
    /// Not a handshake message (too short), or a low-order key.
    #[error("malformed handshake message: {0}")]
    Malformed(&'static str),
    /// `snow` failed for a reason that is not the peer's doing.
    #[error("noise internal error: {0}")]
    Internal(String),
}

impl From<snow::Error> for NoiseError {
    fn from(e: snow::Error) -> Self {
        match e {
            snow::Error::Decrypt | snow::Error::Dh => NoiseError::Decrypt,
            snow::Error::Input => NoiseError::Malformed("invalid handshake input"),
            other => NoiseError::Internal(other.to_string()),
        }
    }
}

/// The initiator (payer) before its first message.
pub struct NkInitiator {
    state: HandshakeState,
}

/// The initiator after its first message, waiting for the reply.
pub struct NkAwaitingReply {
    state: HandshakeState,
}

/// The responder (payee) before it has read a first message.
pub struct NkResponder {
    state: HandshakeState,
}

/// The responder after reading the first message, to write its reply.
pub struct NkReplying {
    state: HandshakeState,
}

fn builder<'a>(prologue: &'a [u8]) -> Result<snow::Builder<'a>, NoiseError> {
    let params = PROTOCOL
        .parse()
        .map_err(|e: snow::Error| NoiseError::Internal(e.to_string()))?;
    Ok(snow::Builder::new(params).prologue(prologue)?)
}

impl NkInitiator {
    /// Starts a handshake to the responder whose static key is `responder_static`, bound to
    /// `prologue`.
    pub fn new(responder_static: &X25519Public, prologue: &[u8]) -> Result<Self, NoiseError> {
        ensure_contributory(&responder_static.0)?;
        let state = builder(prologue)?
            .remote_public_key(&responder_static.0)?
            .build_initiator()?;
        Ok(NkInitiator { state })
    }

    /// Writes the first message (`e, es` and `payload` encrypted).
    pub fn write_first(mut self, payload: &[u8]) -> Result<(Vec<u8>, NkAwaitingReply), NoiseError> {
        let msg = write(&mut self.state, payload)?;
        Ok((msg, NkAwaitingReply { state: self.state }))
    }
}

impl NkAwaitingReply {
    /// Reads the reply (`e, ee` and the encrypted payload); returns the payload. The
    /// handshake is then complete.
    pub fn read_reply(self, msg: &[u8]) -> Result<Vec<u8>, NoiseError> {
        self.read_reply_with_hash(msg).map(|(payload, _)| payload)
    }

    /// [`read_reply`](Self::read_reply), also returning the final handshake hash (equal on both
    /// sides; usable to bind later messages to this session).
    pub fn read_reply_with_hash(
        mut self,
        msg: &[u8],
    ) -> Result<(Vec<u8>, [u8; HASH_LEN]), NoiseError> {
        let payload = read(&mut self.state, msg)?;
        Ok((payload, handshake_hash(&self.state)?))
    }
}

impl NkResponder {
    /// A responder with its static secret, bound to `prologue`.
    pub fn new(static_secret: &X25519Secret, prologue: &[u8]) -> Result<Self, NoiseError> {
        let secret = static_secret.to_bytes();
        let state = builder(prologue)?
            .local_private_key(secret.as_slice())?
            .build_responder()?;
        Ok(NkResponder { state })
    }

    /// Reads the first message; returns its payload and the state to reply from.
    pub fn read_first(mut self, msg: &[u8]) -> Result<(Vec<u8>, NkReplying), NoiseError> {
        let payload = read(&mut self.state, msg)?;
        Ok((payload, NkReplying { state: self.state }))
    }
}

impl NkReplying {
    /// Writes the reply (`e, ee` and `payload` encrypted). The handshake is then complete.
    pub fn write_reply(self, payload: &[u8]) -> Result<Vec<u8>, NoiseError> {
        self.write_reply_with_hash(payload).map(|(msg, _)| msg)
    }

    /// [`write_reply`](Self::write_reply), also returning the final handshake hash.
    pub fn write_reply_with_hash(
        mut self,
        payload: &[u8],
    ) -> Result<(Vec<u8>, [u8; HASH_LEN]), NoiseError> {
        let msg = write(&mut self.state, payload)?;
        Ok((msg, handshake_hash(&self.state)?))
    }
}

fn write(state: &mut HandshakeState, payload: &[u8]) -> Result<Vec<u8>, NoiseError> {
    if payload.len() > MAX_PAYLOAD {
        return Err(NoiseError::TooLarge {
            len: payload.len(),
            max: MAX_PAYLOAD,
        });
    }
    let mut msg = vec![0u8; OVERHEAD + payload.len()];
    let n = state.write_message(payload, &mut msg)?;
    msg.truncate(n);
    Ok(msg)
}

fn read(state: &mut HandshakeState, msg: &[u8]) -> Result<Vec<u8>, NoiseError> {
    if msg.len() > MAX_NOISE_MESSAGE {
        return Err(NoiseError::TooLarge {
            len: msg.len(),
            max: MAX_NOISE_MESSAGE,
        });
    }
    let Some(ephemeral) = msg.first_chunk::<DH_LEN>() else {
        return Err(NoiseError::Malformed("shorter than a handshake message"));
    };
    if msg.len() < OVERHEAD {
        return Err(NoiseError::Malformed("shorter than a handshake message"));
    }
    ensure_contributory(ephemeral)?;
    let mut payload = vec![0u8; msg.len() - OVERHEAD];
    let n = state.read_message(msg, &mut payload)?;
    payload.truncate(n);
    Ok(payload)
}

fn handshake_hash(state: &HandshakeState) -> Result<[u8; HASH_LEN], NoiseError> {
    state
        .get_handshake_hash()
        .try_into()
        .map_err(|_| NoiseError::Internal("unexpected handshake hash length".into()))
}

/// Refuses a low-order X25519 public key: its shared secret with any key is all zeros.
fn ensure_contributory(public: &[u8; DH_LEN]) -> Result<(), NoiseError> {
    // Any clamped scalar works: clamping clears the cofactor, so a low-order point always
    // gives the identity.
    let probe = x25519_dalek::StaticSecret::from([0x42; 32]);
    if probe
        .diffie_hellman(&x25519_dalek::PublicKey::from(*public))
        .was_contributory()
    {
        Ok(())
    } else {
        Err(NoiseError::Malformed("low-order public key"))
    }
}

macro_rules! opaque_debug {
    ($($t:ident),*) => {$(
        impl fmt::Debug for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_struct(stringify!($t)).finish_non_exhaustive()
            }
        }
    )*};
}
opaque_debug!(NkInitiator, NkAwaitingReply, NkResponder, NkReplying);

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const PROLOGUE: &[u8] = b"hash of the payee's QR payload";

    fn key(b: u8) -> X25519Secret {
        X25519Secret::from_bytes(&[b; 32])
    }

    /// Message 1, message 2, the payload the responder read, the payload the initiator read.
    type Transcript = (Vec<u8>, Vec<u8>, Vec<u8>, Vec<u8>);

    fn run(
        secret: &X25519Secret,
        payee: &X25519Public,
        p1: &[u8],
        p2: &[u8],
    ) -> Result<Transcript, NoiseError> {
        let (m1, waiting) = NkInitiator::new(payee, PROLOGUE)?.write_first(p1)?;
        let (got1, replying) = NkResponder::new(secret, PROLOGUE)?.read_first(&m1)?;
        let m2 = replying.write_reply(p2)?;
        let got2 = waiting.read_reply(&m2)?;
        Ok((m1, m2, got1, got2))
    }

    fn assert_send<T: Send>() {}

    #[test]
    fn states_are_send() {
        assert_send::<NkInitiator>();
        assert_send::<NkAwaitingReply>();
        assert_send::<NkResponder>();
        assert_send::<NkReplying>();
    }

    #[test]
    fn happy_path() {
        let s = key(1);
        let (m1, m2, got1, got2) = run(&s, &s.public(), b"payment", b"receipt").unwrap();
        assert_eq!(got1, b"payment");
        assert_eq!(got2, b"receipt");
        assert_eq!(m1.len(), OVERHEAD + 7);
        assert_eq!(m2.len(), OVERHEAD + 7);
        // Encrypted: the payload is not in the clear.
        assert!(!m1.windows(7).any(|w| w == b"payment"));
    }

    #[test]
    fn both_sides_get_the_same_handshake_hash() {
        let s = key(2);
        let (m1, waiting) = NkInitiator::new(&s.public(), PROLOGUE)
            .unwrap()
            .write_first(b"")
            .unwrap();
        let (_, replying) = NkResponder::new(&s, PROLOGUE)
            .unwrap()
            .read_first(&m1)
            .unwrap();
        let (m2, h_responder) = replying.write_reply_with_hash(b"").unwrap();
        let (_, h_initiator) = waiting.read_reply_with_hash(&m2).unwrap();
        assert_eq!(h_initiator, h_responder);
    }

    #[test]
    fn wrong_responder_key_fails_to_decrypt() {
        let (m1, _) = NkInitiator::new(&key(3).public(), PROLOGUE)
            .unwrap()
            .write_first(b"payment")
            .unwrap();
        let r = NkResponder::new(&key(4), PROLOGUE).unwrap().read_first(&m1);
        assert_eq!(r.err(), Some(NoiseError::Decrypt));
    }

    #[test]
    fn different_prologue_fails_to_decrypt() {
        let s = key(5);
        let (m1, _) = NkInitiator::new(&s.public(), b"QR one")
            .unwrap()
            .write_first(b"payment")
            .unwrap();
        let r = NkResponder::new(&s, b"QR two").unwrap().read_first(&m1);
        assert_eq!(r.err(), Some(NoiseError::Decrypt));
    }

    #[test]
    fn replayed_first_message_decrypts_at_a_new_responder() {
        // Documented property of NK: the application must reject replays.
        let s = key(6);
        let (m1, _, _, _) = run(&s, &s.public(), b"payment", b"receipt").unwrap();
        let (again, _) = NkResponder::new(&s, PROLOGUE)
            .unwrap()
            .read_first(&m1)
            .unwrap();
        assert_eq!(again, b"payment");
    }

    #[test]
    fn replayed_reply_fails_at_a_new_initiator() {
        let s = key(7);
        let (_, m2, _, _) = run(&s, &s.public(), b"payment", b"receipt").unwrap();
        let (_, waiting) = NkInitiator::new(&s.public(), PROLOGUE)
            .unwrap()
            .write_first(b"payment")
            .unwrap();
        assert_eq!(waiting.read_reply(&m2), Err(NoiseError::Decrypt));
    }

    #[test]
    fn low_order_keys_are_refused() {
        // u = 0 and u = 1 are points of low order.
        let zero = X25519Public([0; 32]);
        let mut one = [0u8; 32];
        one[0] = 1;
        assert_eq!(
            NkInitiator::new(&zero, PROLOGUE).err(),
            Some(NoiseError::Malformed("low-order public key"))
        );
        assert!(NkInitiator::new(&X25519Public(one), PROLOGUE).is_err());
        let mut m1 = vec![0u8; OVERHEAD + 4];
        m1[0] = 1;
        let r = NkResponder::new(&key(8), PROLOGUE).unwrap().read_first(&m1);
        assert_eq!(r.err(), Some(NoiseError::Malformed("low-order public key")));
    }

    #[test]
    fn sizes_are_checked() {
        let s = key(9);
        let init = NkInitiator::new(&s.public(), PROLOGUE).unwrap();
        assert_eq!(
            init.write_first(&vec![0; MAX_PAYLOAD + 1]).err(),
            Some(NoiseError::TooLarge {
                len: MAX_PAYLOAD + 1,
                max: MAX_PAYLOAD
            })
        );
        let big = vec![1u8; MAX_PAYLOAD];
        let (_, _, got1, got2) = run(&s, &s.public(), &big, &big).unwrap();
        assert_eq!(got1, big);
        assert_eq!(got2, big);
        let responder = || NkResponder::new(&s, PROLOGUE).unwrap();
        assert!(matches!(
            responder().read_first(&[0; 10]),
            Err(NoiseError::Malformed(_))
        ));
        assert!(matches!(
            responder().read_first(&vec![9; MAX_NOISE_MESSAGE + 1]),
            Err(NoiseError::TooLarge { .. })
        ));
    }

    #[test]
    fn debug_shows_no_state() {
        let s = key(10);
        let r = NkResponder::new(&s, PROLOGUE).unwrap();
        assert_eq!(format!("{r:?}"), "NkResponder { .. }");
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn any_flipped_byte_fails_to_decrypt(
            p1 in proptest::collection::vec(any::<u8>(), 0..200),
            p2 in proptest::collection::vec(any::<u8>(), 0..200),
            which in any::<proptest::sample::Index>(),
            bit in 0u8..8,
            in_reply in any::<bool>(),
        ) {
            let s = key(11);
            let (mut m1, waiting) = NkInitiator::new(&s.public(), PROLOGUE)
                .unwrap()
                .write_first(&p1)
                .unwrap();
            let responder = NkResponder::new(&s, PROLOGUE).unwrap();
            if !in_reply {
                let k = which.index(m1.len());
                m1[k] ^= 1 << bit;
                prop_assert_eq!(responder.read_first(&m1).err(), Some(NoiseError::Decrypt));
            } else {
                let (got, replying) = responder.read_first(&m1).unwrap();
                prop_assert_eq!(got, p1);
                let mut m2 = replying.write_reply(&p2).unwrap();
                let k = which.index(m2.len());
                m2[k] ^= 1 << bit;
                prop_assert_eq!(waiting.read_reply(&m2), Err(NoiseError::Decrypt));
            }
        }

        #[test]
        fn round_trip(p1 in proptest::collection::vec(any::<u8>(), 0..2000),
                      p2 in proptest::collection::vec(any::<u8>(), 0..2000)) {
            let s = key(12);
            let (_, _, got1, got2) = run(&s, &s.public(), &p1, &p2).unwrap();
            prop_assert_eq!(got1, p1);
            prop_assert_eq!(got2, p2);
        }

        #[test]
        fn arbitrary_bytes_never_panic(msg in proptest::collection::vec(any::<u8>(), 0..200)) {
            let s = key(13);
            prop_assert!(NkResponder::new(&s, PROLOGUE).unwrap().read_first(&msg).is_err());
        }
    }
}
