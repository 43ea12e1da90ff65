//! The secure wallet's Ed25519 key in a PKCS#11 token: an HSM, a smart card or secure element
//! with a PKCS#11 module, or SoftHSM2 for development and tests.
//!
//! This is the hardware path of the reference implementation: the key is generated inside the
//! token (sensitive, never extractable) and every journal signature is made there with
//! `CKM_EDDSA` (pure Ed25519), through [`ferry_proto::Ed25519Signer`]. A phone would not use this
//! module: Android StrongBox / Keystore and the iOS Secure Enclave do not offer Ed25519 keys, so
//! a phone wallet needs a secure element or trusted application that does (a TEE trusted
//! application, an embedded SE applet) behind its own [`ferry_proto::Ed25519Signer`]
//! implementation. This module is what a point-of-sale terminal, a kiosk or a server-side agent
//! with an HSM would use, and the model for those other backends.
//!
//! The PIN is held in zeroizing memory and never printed, logged or put in an error.
//!
//! PKCS#11 logs an application in per token, not per session: while another signer of the same
//! process is logged in to the token, [`Pkcs11Signer::open`] succeeds without the token checking
//! the PIN again.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, PoisonError};

use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::error::{Error as CkError, RvError};
use cryptoki::mechanism::Mechanism;
use cryptoki::mechanism::eddsa::{EddsaParams, EddsaSignatureScheme};
use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass, ObjectHandle};
use cryptoki::session::{Session, UserType};
use cryptoki::slot::Slot;
use cryptoki::types::AuthPin;
use ferry_proto::{Ed25519Signer, PublicKey, Signature, SignerError};
use thiserror::Error;
use zeroize::Zeroizing;

/// `CKA_EC_PARAMS` for edwards25519 as the DER of OID 1.3.101.112 (RFC 8410 id-Ed25519).
pub const EC_PARAMS_ED25519_OID: [u8; 5] = [0x06, 0x03, 0x2b, 0x65, 0x70];
/// `CKA_EC_PARAMS` for edwards25519 as the DER PrintableString `"edwards25519"` (PKCS#11 3.0).
pub const EC_PARAMS_ED25519_NAME: [u8; 14] = [
    0x13, 0x0c, b'e', b'd', b'w', b'a', b'r', b'd', b's', b'2', b'5', b'5', b'1', b'9',
];

/// Domain of the probe signature [`Pkcs11Signer::open`] makes to check that the private and
/// public key objects belong together. No Ferry document is signed under it.
const PROBE_DOMAIN: &str = "wallet/pkcs11-probe";

/// Where the key lives and how to unlock it.
#[derive(Clone)]
pub struct Pkcs11Config {
    /// Path of the PKCS#11 module (shared library), e.g. `/usr/lib/softhsm/libsofthsm2.so`.
    pub module: PathBuf,
    /// Label of the token holding the key.
    pub token_label: String,
    /// `CKA_LABEL` of the key pair (private and public objects).
    pub key_label: String,
    /// The token's user PIN.
    pub pin: Zeroizing<String>,
}

impl fmt::Debug for Pkcs11Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pkcs11Config")
            .field("module", &self.module)
            .field("token_label", &self.token_label)
            .field("key_label", &self.key_label)
            .field("pin", &"<redacted>")
            .finish()
    }
}

/// Why a PKCS#11 key could not be generated, opened or used. No message contains the PIN.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum Pkcs11Error {
    /// The module file does not exist.
    #[error("PKCS#11 module {} not found", .0.display())]
    ModuleNotFound(PathBuf),
    /// The module exists but could not be loaded or initialised.
    #[error("PKCS#11 module {} could not be loaded: {reason}", module.display())]
    Module {
        /// The module path.
        module: PathBuf,
        /// What failed.
        reason: String,
    },
    /// No initialised token has this label.
    #[error("no PKCS#11 token labelled {0:?}")]
    TokenNotFound(String),
    /// Several tokens have this label.
    #[error("several PKCS#11 tokens labelled {0:?}")]
    SeveralTokens(String),
    /// The token refused the PIN (wrong, locked, expired or never set).
    #[error("login to the PKCS#11 token failed: {0}")]
    LoginFailed(String),
    /// [`Pkcs11Signer::generate`] found an object with this label already.
    #[error("the token already holds an object labelled {0:?}")]
    KeyExists(String),
    /// No Ed25519 key pair with this label.
    #[error("no Ed25519 key pair labelled {0:?} on the token")]
    KeyNotFound(String),
    /// Several private or public Ed25519 keys have this label.
    #[error("several Ed25519 keys labelled {0:?} on the token")]
    SeveralKeys(String),
    /// The private key could leave the token (not sensitive, extractable) or cannot sign.
    #[error("the key labelled {0:?} is not a non-extractable signing key")]
    KeyNotProtected(String),
    /// The public key object is not a valid edwards25519 key, or does not match the private key.
    #[error("bad public key on the token: {0}")]
    BadPublicKey(String),
    /// The configuration cannot name a key (e.g. an empty label).
    #[error("invalid PKCS#11 configuration: {0}")]
    Config(&'static str),
    /// Any other failure reported by the token or the module.
    #[error("PKCS#11 token error: {0}")]
    Token(String),
}

/// A short description of a cryptoki error: the function and the `CKR_` code, never any data.
fn describe(e: &CkError) -> String {
    match e {
        CkError::Pkcs11(rv, function) => format!("{function:?}: {rv:?}"),
        other => other.to_string(),
    }
}

fn token_error(e: CkError) -> Pkcs11Error {
    Pkcs11Error::Token(describe(&e))
}

/// The module's context, loaded and initialised once per process and module path: PKCS#11
/// state (`C_Initialize`, logins) is per process, so every signer of a module shares it.
fn context(module: &Path) -> Result<Pkcs11, Pkcs11Error> {
    static CONTEXTS: Mutex<Vec<(PathBuf, Pkcs11)>> = Mutex::new(Vec::new());

    if !module.is_file() {
        return Err(Pkcs11Error::ModuleNotFound(module.to_path_buf()));
    }
    let path = std::fs::canonicalize(module)
        .map_err(|_| Pkcs11Error::ModuleNotFound(module.to_path_buf()))?;
    let mut contexts = CONTEXTS.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some((_, ctx)) = contexts.iter().find(|(p, _)| *p == path) {
        return Ok(ctx.clone());
    }
    let module_error = |e: CkError| Pkcs11Error::Module {
        module: module.to_path_buf(),
        reason: describe(&e),
    };
    let ctx = Pkcs11::new(&path).map_err(module_error)?;
    match ctx.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK)) {
        Ok(()) | Err(CkError::Pkcs11(RvError::CryptokiAlreadyInitialized, _)) => {}
        Err(e) => return Err(module_error(e)),
    }
    contexts.push((path, ctx.clone()));
    Ok(ctx)
}

/// The slot of the one initialised token labelled `label`.
fn find_slot(ctx: &Pkcs11, label: &str) -> Result<Slot, Pkcs11Error> {
    let mut found = None;
    for slot in ctx.get_slots_with_token().map_err(token_error)? {
        let info = ctx.get_token_info(slot).map_err(token_error)?;
        if info.token_initialized() && info.label() == label {
            if found.is_some() {
                return Err(Pkcs11Error::SeveralTokens(label.to_owned()));
            }
            found = Some(slot);
        }
    }
    found.ok_or_else(|| Pkcs11Error::TokenNotFound(label.to_owned()))
}

/// A new session on `slot`, logged in as the user.
fn login(ctx: &Pkcs11, slot: Slot, pin: &str, read_write: bool) -> Result<Session, Pkcs11Error> {
    let session = if read_write {
        ctx.open_rw_session(slot)
    } else {
        ctx.open_ro_session(slot)
    }
    .map_err(token_error)?;
    let pin = AuthPin::new(pin.into());
    match session.login(UserType::User, Some(&pin)) {
        Ok(()) | Err(CkError::Pkcs11(RvError::UserAlreadyLoggedIn, _)) => Ok(session),
        Err(CkError::Pkcs11(
            rv @ (RvError::PinIncorrect
            | RvError::PinInvalid
            | RvError::PinLenRange
            | RvError::PinLocked
            | RvError::PinExpired
            | RvError::UserPinNotInitialized),
            _,
        )) => Err(Pkcs11Error::LoginFailed(format!("{rv:?}"))),
        Err(e) => Err(token_error(e)),
    }
}

fn ed25519_key_template(class: ObjectClass, label: &str) -> [Attribute; 3] {
    [
        Attribute::Class(class),
        Attribute::KeyType(KeyType::EC_EDWARDS),
        Attribute::Label(label.as_bytes().to_vec()),
    ]
}

/// The one object matching `template`.
fn find_one(
    session: &Session,
    template: &[Attribute],
    label: &str,
) -> Result<ObjectHandle, Pkcs11Error> {
    match session
        .find_objects(template)
        .map_err(token_error)?
        .as_slice()
    {
        [] => Err(Pkcs11Error::KeyNotFound(label.to_owned())),
        [one] => Ok(*one),
        _ => Err(Pkcs11Error::SeveralKeys(label.to_owned())),
    }
}

/// The 32-byte key inside a `CKA_EC_POINT` value: a DER OCTET STRING of 32 bytes (PKCS#11 3.0),
/// or the raw 32 bytes that some tokens return. Anything else is refused.
pub fn parse_ec_point(value: &[u8]) -> Result<[u8; 32], Pkcs11Error> {
    let raw = match value {
        [0x04, 0x20, rest @ ..] if rest.len() == 32 => rest,
        raw if raw.len() == 32 => raw,
        _ => {
            return Err(Pkcs11Error::BadPublicKey(format!(
                "CKA_EC_POINT of {} bytes is neither a 32-byte OCTET STRING nor 32 raw bytes",
                value.len()
            )));
        }
    };
    raw.try_into()
        .map_err(|_| Pkcs11Error::BadPublicKey("CKA_EC_POINT length".into()))
}

/// The Ed25519 public key of the public key object `key`.
fn read_public_key(session: &Session, key: ObjectHandle) -> Result<PublicKey, Pkcs11Error> {
    let attributes = session
        .get_attributes(key, &[AttributeType::EcParams, AttributeType::EcPoint])
        .map_err(token_error)?;
    let mut params = None;
    let mut point = None;
    for a in attributes {
        match a {
            Attribute::EcParams(v) => params = Some(v),
            Attribute::EcPoint(v) => point = Some(v),
            _ => {}
        }
    }
    let params = params.ok_or_else(|| Pkcs11Error::BadPublicKey("no CKA_EC_PARAMS".into()))?;
    if params != EC_PARAMS_ED25519_OID && params != EC_PARAMS_ED25519_NAME {
        return Err(Pkcs11Error::BadPublicKey("not an edwards25519 key".into()));
    }
    let point = point.ok_or_else(|| Pkcs11Error::BadPublicKey("no CKA_EC_POINT".into()))?;
    PublicKey::from_bytes(&parse_ec_point(&point)?)
        .map_err(|e| Pkcs11Error::BadPublicKey(e.to_string()))
}

/// Checks that the private key `key` can sign and can never leave the token.
fn check_private_key(session: &Session, key: ObjectHandle, label: &str) -> Result<(), Pkcs11Error> {
    let attributes = session
        .get_attributes(
            key,
            &[
                AttributeType::Sensitive,
                AttributeType::Extractable,
                AttributeType::Sign,
            ],
        )
        .map_err(token_error)?;
    let (mut sensitive, mut extractable, mut sign) = (false, true, false);
    for a in attributes {
        match a {
            Attribute::Sensitive(v) => sensitive = v,
            Attribute::Extractable(v) => extractable = v,
            Attribute::Sign(v) => sign = v,
            _ => {}
        }
    }
    if sensitive && !extractable && sign {
        Ok(())
    } else {
        Err(Pkcs11Error::KeyNotProtected(label.to_owned()))
    }
}

/// An open session and the private key it signs with.
struct Connection {
    session: Session,
    key: ObjectHandle,
}

/// Finds the key pair labelled `label` in `session`, checks it, and returns the private key
/// and the public key.
fn locate(session: &Session, label: &str) -> Result<(ObjectHandle, PublicKey), Pkcs11Error> {
    if label.is_empty() {
        return Err(Pkcs11Error::Config("empty key label"));
    }
    let private = find_one(
        session,
        &ed25519_key_template(ObjectClass::PRIVATE_KEY, label),
        label,
    )?;
    let public = find_one(
        session,
        &ed25519_key_template(ObjectClass::PUBLIC_KEY, label),
        label,
    )?;
    check_private_key(session, private, label)?;
    Ok((private, read_public_key(session, public)?))
}

/// An Ed25519 key inside a PKCS#11 token, usable as a [`JournalWriter`] signer.
///
/// Holds one logged-in session behind a mutex, so the signer is `Send + Sync` and signs through
/// `&self`. If the token drops the session or logs the application out, the next signature
/// opens a new session, logs in again and retries once.
///
/// [`JournalWriter`]: ferry_proto::journal_writer::JournalWriter
pub struct Pkcs11Signer {
    ctx: Pkcs11,
    module: PathBuf,
    token_label: String,
    key_label: String,
    pin: Zeroizing<String>,
    public: PublicKey,
    connection: Mutex<Connection>,
}

impl fmt::Debug for Pkcs11Signer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pkcs11Signer")
            .field("module", &self.module)
            .field("token_label", &self.token_label)
            .field("key_label", &self.key_label)
            .field("public", &self.public)
            .finish_non_exhaustive()
    }
}

impl Pkcs11Signer {
    /// Generates a new Ed25519 key pair labelled `cfg.key_label` in the token: the private key
    /// is a token object, private, sensitive, not extractable, for signing only. Refuses with
    /// [`Pkcs11Error::KeyExists`] if any object already has that label.
    ///
    /// The check and the generation are serialised within this process; two processes
    /// generating under the same label at once could still both succeed, after which
    /// [`Pkcs11Signer::open`] reports [`Pkcs11Error::SeveralKeys`].
    pub fn generate(cfg: &Pkcs11Config) -> Result<Self, Pkcs11Error> {
        static GENERATING: Mutex<()> = Mutex::new(());

        if cfg.key_label.is_empty() {
            return Err(Pkcs11Error::Config("empty key label"));
        }
        let _generating = GENERATING.lock().unwrap_or_else(PoisonError::into_inner);
        let ctx = context(&cfg.module)?;
        let slot = find_slot(&ctx, &cfg.token_label)?;
        let session = login(&ctx, slot, &cfg.pin, true)?;
        let label = cfg.key_label.as_bytes().to_vec();
        let existing = session
            .find_objects(&[Attribute::Label(label.clone())])
            .map_err(token_error)?;
        if !existing.is_empty() {
            return Err(Pkcs11Error::KeyExists(cfg.key_label.clone()));
        }
        // CKA_ID pairs the two objects for other PKCS#11 tools (pkcs11-tool, p11-kit).
        let id = session.generate_random_vec(16).map_err(token_error)?;
        let generate = |params: &[u8]| {
            let public_template = [
                Attribute::Token(true),
                Attribute::Private(false),
                Attribute::Verify(true),
                Attribute::EcParams(params.to_vec()),
                Attribute::Label(label.clone()),
                Attribute::Id(id.clone()),
            ];
            let private_template = [
                Attribute::Token(true),
                Attribute::Private(true),
                Attribute::Sensitive(true),
                Attribute::Extractable(false),
                Attribute::Sign(true),
                Attribute::Derive(false),
                Attribute::Label(label.clone()),
                Attribute::Id(id.clone()),
            ];
            session.generate_key_pair(
                &Mechanism::EccEdwardsKeyPairGen,
                &public_template,
                &private_template,
            )
        };
        // PKCS#11 3.0 allows both forms of the curve; tokens differ in which they accept.
        let (public, private) = match generate(&EC_PARAMS_ED25519_OID) {
            Ok(pair) => pair,
            Err(CkError::Pkcs11(
                RvError::CurveNotSupported
                | RvError::AttributeValueInvalid
                | RvError::DomainParamsInvalid
                | RvError::TemplateInconsistent,
                _,
            )) => generate(&EC_PARAMS_ED25519_NAME).map_err(token_error)?,
            Err(e) => return Err(token_error(e)),
        };
        // A token that ignored part of the template leaves a key this wallet must not use:
        // remove it rather than leave it behind under the label.
        if let Err(e) = locate(&session, &cfg.key_label) {
            let _ = session.destroy_object(private);
            let _ = session.destroy_object(public);
            return Err(e);
        }
        Self::from_session(ctx, session, cfg)
    }

    /// Opens the existing key pair labelled `cfg.key_label` (in a new session, as a new process
    /// would). Fails with [`Pkcs11Error::KeyNotFound`] if there is none and
    /// [`Pkcs11Error::SeveralKeys`] if the label is ambiguous.
    pub fn open(cfg: &Pkcs11Config) -> Result<Self, Pkcs11Error> {
        if cfg.key_label.is_empty() {
            return Err(Pkcs11Error::Config("empty key label"));
        }
        let ctx = context(&cfg.module)?;
        let slot = find_slot(&ctx, &cfg.token_label)?;
        let session = login(&ctx, slot, &cfg.pin, false)?;
        Self::from_session(ctx, session, cfg)
    }

    fn from_session(
        ctx: Pkcs11,
        session: Session,
        cfg: &Pkcs11Config,
    ) -> Result<Self, Pkcs11Error> {
        let (key, public) = locate(&session, &cfg.key_label)?;
        let signer = Pkcs11Signer {
            ctx,
            module: cfg.module.clone(),
            token_label: cfg.token_label.clone(),
            key_label: cfg.key_label.clone(),
            pin: cfg.pin.clone(),
            public,
            connection: Mutex::new(Connection { session, key }),
        };
        // The probe checks that the private key belongs to the public key read above.
        ferry_proto::keys::sign_with(&signer, PROBE_DOMAIN, &[]).map_err(|_| {
            Pkcs11Error::BadPublicKey("the public key does not match the private key".into())
        })?;
        Ok(signer)
    }

    /// The token's label.
    pub fn token_label(&self) -> &str {
        &self.token_label
    }

    /// The key pair's label.
    pub fn key_label(&self) -> &str {
        &self.key_label
    }

    /// A fresh connection to the same key, checked to hold the same public key.
    fn reconnect(&self) -> Result<Connection, Pkcs11Error> {
        let slot = find_slot(&self.ctx, &self.token_label)?;
        let session = login(&self.ctx, slot, &self.pin, false)?;
        let (key, public) = locate(&session, &self.key_label)?;
        if public != self.public {
            return Err(Pkcs11Error::BadPublicKey(
                "the key under this label has changed".into(),
            ));
        }
        Ok(Connection { session, key })
    }

    fn lock(&self) -> MutexGuard<'_, Connection> {
        // A single-part C_Sign leaves no operation active, so a panic elsewhere while the lock
        // was held cannot have left the session half-way.
        self.connection
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn sign_raw(&self, message: &[u8]) -> Result<[u8; 64], Pkcs11Error> {
        let mechanism = Mechanism::Eddsa(EddsaParams::new(EddsaSignatureScheme::Pure));
        let mut connection = self.lock();
        let signature = match connection.session.sign(&mechanism, connection.key, message) {
            Err(CkError::Pkcs11(
                RvError::SessionHandleInvalid
                | RvError::SessionClosed
                | RvError::UserNotLoggedIn
                | RvError::DeviceRemoved
                | RvError::TokenNotPresent
                | RvError::ObjectHandleInvalid
                | RvError::KeyHandleInvalid,
                _,
            )) => {
                *connection = self.reconnect()?;
                connection
                    .session
                    .sign(&mechanism, connection.key, message)
                    .map_err(token_error)?
            }
            other => other.map_err(token_error)?,
        };
        signature.as_slice().try_into().map_err(|_| {
            Pkcs11Error::Token(format!(
                "signature of {} bytes, expected 64",
                signature.len()
            ))
        })
    }
}

impl Ed25519Signer for Pkcs11Signer {
    fn public_key(&self) -> PublicKey {
        self.public
    }

    fn sign_message(&self, message: &[u8]) -> Result<Signature, SignerError> {
        self.sign_raw(message)
            .map(|bytes| Signature::from_bytes(&bytes))
            .map_err(|e| SignerError(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ec_point_forms() {
        let key = [7u8; 32];
        let mut der = vec![0x04, 0x20];
        der.extend_from_slice(&key);
        assert_eq!(parse_ec_point(&der), Ok(key));
        assert_eq!(parse_ec_point(&key), Ok(key));
        // Long-form length, wrong tag, wrong lengths, trailing bytes.
        let mut long_form = vec![0x04, 0x81, 0x20];
        long_form.extend_from_slice(&key);
        assert!(parse_ec_point(&long_form).is_err());
        let mut wrong_tag = der.clone();
        wrong_tag[0] = 0x03;
        assert!(parse_ec_point(&wrong_tag).is_err());
        assert!(parse_ec_point(&der[..33]).is_err());
        let mut trailing = der.clone();
        trailing.push(0);
        assert!(parse_ec_point(&trailing).is_err());
        assert!(parse_ec_point(&[]).is_err());
        assert!(parse_ec_point(&key[..31]).is_err());
    }

    #[test]
    fn config_debug_hides_the_pin() {
        let cfg = Pkcs11Config {
            module: "/x.so".into(),
            token_label: "t".into(),
            key_label: "k".into(),
            pin: Zeroizing::new("s3cret-pin".into()),
        };
        let text = format!("{cfg:?}");
        assert!(!text.contains("s3cret-pin"));
        assert!(text.contains("redacted"));
    }

    #[test]
    fn missing_module_is_typed() {
        let cfg = Pkcs11Config {
            module: "/nonexistent/libnothing.so".into(),
            token_label: "t".into(),
            key_label: "k".into(),
            pin: Zeroizing::new("1234".into()),
        };
        assert_eq!(
            Pkcs11Signer::open(&cfg).err(),
            Some(Pkcs11Error::ModuleNotFound(cfg.module.clone()))
        );
    }

    #[test]
    fn signer_is_send_and_sync() {
        fn check<T: Send + Sync>() {}
        check::<Pkcs11Signer>();
    }
}
