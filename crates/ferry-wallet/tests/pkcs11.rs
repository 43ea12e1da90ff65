//! The PKCS#11 signer against a real SoftHSM2 token.
//!
//! SoftHSM2 reads `SOFTHSM2_CONF` when the module is initialised, and changing the environment
//! of a running test process is not safe Rust, so each test re-runs itself as a child process
//! of this test binary with `SOFTHSM2_CONF` pointing at a fresh token directory of its own (this
//! works the same under `cargo test` threads and nextest processes, and no two tests share a
//! token or its login state).
//!
//! Without the module the tests print `SKIPPED PKCS#11: …` and pass, unless
//! `FERRY_REQUIRE_SOFTHSM=1` (set by CI), when they fail.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::error::{Error as CkError, RvError};
use cryptoki::object::{Attribute, AttributeInfo, AttributeType, KeyType, ObjectClass};
use cryptoki::session::{Session, UserType};
use cryptoki::types::AuthPin;
use ferry_proto::cert::{TaCertBody, TaCertificate, Tier};
use ferry_proto::journal_writer::JournalWriter;
use ferry_proto::keys::sign_with;
use ferry_proto::verify::{ChainPoint, verify_segment, verify_ta_cert};
use ferry_proto::{AccountId, Currency, Ed25519Signer, Money, RequestNonce, SignedEntry};
use ferry_testkit::{DAY, T0, TestIssuer, limits};
use ferry_wallet::secure::pkcs11::{
    EC_PARAMS_ED25519_NAME, EC_PARAMS_ED25519_OID, Pkcs11Config, Pkcs11Error, Pkcs11Signer,
};
use zeroize::Zeroizing;

const DEFAULT_MODULE: &str = "/usr/lib/softhsm/libsofthsm2.so";
/// Set in the child process: the token directory it owns.
const CHILD_ENV: &str = "FERRY_PKCS11_TEST_TOKEN_DIR";
const TOKEN_LABEL: &str = "ferry-test";
const SO_PIN: &str = "so-pin-13579";
const USER_PIN: &str = "user-pin-2468";

fn module() -> PathBuf {
    std::env::var_os("FERRY_PKCS11_MODULE")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(DEFAULT_MODULE))
}

/// A fresh token, as seen from the child process.
struct Token {
    module: PathBuf,
}

impl Token {
    fn config(&self, key_label: &str) -> Pkcs11Config {
        Pkcs11Config {
            module: self.module.clone(),
            token_label: TOKEN_LABEL.into(),
            key_label: key_label.into(),
            pin: Zeroizing::new(USER_PIN.into()),
        }
    }

    /// The module's context in this process (already initialised by the signer, or not yet).
    fn raw_context(&self) -> Pkcs11 {
        let ctx = Pkcs11::new(&self.module).expect("load module");
        match ctx.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK)) {
            Ok(()) | Err(CkError::Pkcs11(RvError::CryptokiAlreadyInitialized, _)) => {}
            Err(e) => panic!("initialize: {e}"),
        }
        ctx
    }

    /// A raw logged-in session on the test token, to look at what the signer made.
    fn raw_session(&self) -> Session {
        let ctx = self.raw_context();
        let slot = ctx
            .get_slots_with_initialized_token()
            .expect("slots")
            .into_iter()
            .find(|s| ctx.get_token_info(*s).expect("info").label() == TOKEN_LABEL)
            .expect("test token");
        let session = ctx.open_ro_session(slot).expect("session");
        match session.login(UserType::User, Some(&AuthPin::new(USER_PIN.into()))) {
            Ok(()) | Err(CkError::Pkcs11(RvError::UserAlreadyLoggedIn, _)) => {}
            Err(e) => panic!("login: {e}"),
        }
        session
    }
}

/// Initialises the child's empty token directory: one token labelled [`TOKEN_LABEL`] with the
/// user PIN set.
fn init_token(module: &Path) {
    let token = Token {
        module: module.to_path_buf(),
    };
    let ctx = token.raw_context();
    let slot = ctx
        .get_all_slots()
        .expect("slots")
        .into_iter()
        .find(|s| {
            ctx.get_token_info(*s)
                .is_ok_and(|info| !info.token_initialized())
        })
        .expect("a free SoftHSM2 slot");
    ctx.init_token(slot, &AuthPin::new(SO_PIN.into()), TOKEN_LABEL)
        .expect("init token");
    let slot = ctx
        .get_slots_with_initialized_token()
        .expect("slots")
        .into_iter()
        .find(|s| ctx.get_token_info(*s).expect("info").label() == TOKEN_LABEL)
        .expect("the new token");
    let session = ctx.open_rw_session(slot).expect("session");
    session
        .login(UserType::So, Some(&AuthPin::new(SO_PIN.into())))
        .expect("SO login");
    session
        .init_pin(&AuthPin::new(USER_PIN.into()))
        .expect("init user PIN");
    session.logout().expect("logout");
}

/// Runs `body` against a fresh SoftHSM2 token in a child process running only test `name`.
fn with_token(name: &str, body: impl FnOnce(&Token)) {
    let module = module();
    if std::env::var_os(CHILD_ENV).is_some() {
        init_token(&module);
        body(&Token { module });
        return;
    }
    if !module.is_file() {
        assert!(
            std::env::var("FERRY_REQUIRE_SOFTHSM").as_deref() != Ok("1"),
            "PKCS#11 module {} not found and FERRY_REQUIRE_SOFTHSM=1 (apt-get install softhsm2)",
            module.display()
        );
        println!(
            "SKIPPED PKCS#11: {} not found (apt-get install softhsm2)",
            module.display()
        );
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let tokens = dir.path().join("tokens");
    std::fs::create_dir(&tokens).expect("token dir");
    let conf = dir.path().join("softhsm2.conf");
    std::fs::write(
        &conf,
        format!(
            "directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\n",
            tokens.display()
        ),
    )
    .expect("softhsm2.conf");
    let out = Command::new(std::env::current_exe().expect("test binary"))
        .args([name, "--exact", "--nocapture", "--test-threads=1"])
        .env("SOFTHSM2_CONF", &conf)
        .env(CHILD_ENV, dir.path())
        .output()
        .expect("run the test in a child process");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    print!("{stdout}");
    eprint!("{stderr}");
    assert!(out.status.success(), "child test {name} failed");
    assert!(
        stdout.contains("1 passed"),
        "child process did not run test {name}"
    );
}

/// A TA certificate for `key` from `issuer`, checked like a verifier would.
fn ta_cert(issuer: &TestIssuer, key: &impl Ed25519Signer) -> TaCertificate {
    let cert = TaCertificate::sign(
        TaCertBody {
            ta_key: key.public_key(),
            account_id: AccountId::random(),
            tier: Tier::Hardware,
            limits: limits(Currency::BRL),
            issuer: issuer.key.public().key_id(),
            issued_at: T0.minus_secs(DAY),
            expires_at: T0.plus_secs(30 * DAY),
        },
        &issuer.key,
    )
    .expect("certificate");
    verify_ta_cert(&cert, &issuer.issuers(), None, T0).expect("valid certificate");
    cert
}

fn brl(minor: i64) -> Money {
    Money::new(minor, Currency::BRL)
}

#[test]
fn generate_sign_verify() {
    with_token("generate_sign_verify", |token| {
        let cfg = token.config("ta-sign");
        let signer = Pkcs11Signer::generate(&cfg).expect("generate");
        let public = signer.public_key();
        let signature = sign_with(&signer, "test/doc", b"hello").expect("sign");
        assert!(public.verify("test/doc", b"hello", &signature).is_ok());
        assert!(public.verify("test/doc", b"hellp", &signature).is_err());
        assert!(public.verify("test/other", b"hello", &signature).is_err());
        assert!(!format!("{signer:?}").contains(USER_PIN));
        assert!(!format!("{cfg:?}").contains(USER_PIN));

        // Which CKA_EC_PARAMS form the token kept (printed for the record).
        let session = token.raw_session();
        let public_object = session
            .find_objects(&[
                Attribute::Class(ObjectClass::PUBLIC_KEY),
                Attribute::Label(b"ta-sign".to_vec()),
            ])
            .expect("find")[0];
        let params = session
            .get_attributes(public_object, &[AttributeType::EcParams])
            .expect("attributes");
        match params.as_slice() {
            [Attribute::EcParams(p)] if *p == EC_PARAMS_ED25519_OID => {
                println!("token holds CKA_EC_PARAMS as OID 1.3.101.112")
            }
            [Attribute::EcParams(p)] if *p == EC_PARAMS_ED25519_NAME => {
                println!("token holds CKA_EC_PARAMS as PrintableString edwards25519")
            }
            other => panic!("unexpected EC params {other:?}"),
        }
    });
}

#[test]
fn journal_writer_entries_verify() {
    with_token("journal_writer_entries_verify", |token| {
        let issuer = TestIssuer::new();
        let signer = Pkcs11Signer::generate(&token.config("ta-journal")).expect("generate");
        let cert = ta_cert(&issuer, &signer);
        let body = cert.unverified().clone();
        let mut writer = JournalWriter::fresh(signer, body.clone());
        let auth = issuer.deposit_auth(writer.ta_id(), 1, brl(300_00));
        let deposit = writer
            .deposit(&auth, &issuer.key.public(), T0)
            .expect("deposit");
        let payment = writer
            .pay(AccountId::random(), RequestNonce::random(), brl(45_50), T0)
            .expect("pay");
        let withdraw = writer.withdraw(brl(10_00), T0).expect("withdraw");
        let entries = [deposit, payment.entry().clone(), withdraw];
        let end = verify_segment(&body, ChainPoint::genesis(&body.ta_id()), &entries)
            .expect("the segment verifies");
        assert_eq!(end, writer.point());
        assert_eq!(end.balance, 300_00 - 45_50 - 10_00);
    });
}

#[test]
fn reopen_finds_the_same_key_and_keeps_signing() {
    with_token("reopen_finds_the_same_key_and_keeps_signing", |token| {
        let issuer = TestIssuer::new();
        let cfg = token.config("ta-reopen");
        let first = Pkcs11Signer::generate(&cfg).expect("generate");
        let cert = ta_cert(&issuer, &first);
        let body = cert.unverified().clone();
        let mut writer = JournalWriter::fresh(first, body.clone());
        let auth = issuer.deposit_auth(writer.ta_id(), 1, brl(100_00));
        let mut entries: Vec<SignedEntry> = vec![
            writer
                .deposit(&auth, &issuer.key.public(), T0)
                .expect("deposit"),
        ];
        let point = writer.point();

        // A second signer while the first is still open (two sessions, one login)...
        let second = Pkcs11Signer::open(&cfg).expect("open while the first is open");
        assert_eq!(second.public_key(), body.ta_key);
        drop(second);
        // ...and a fresh one after the first is gone, as a restarted process would do.
        drop(writer);
        let reopened = Pkcs11Signer::open(&cfg).expect("reopen");
        assert_eq!(reopened.public_key(), body.ta_key);
        let mut writer = JournalWriter::new(reopened, body.clone(), point);
        let pay = writer
            .pay(AccountId::random(), RequestNonce::random(), brl(20_00), T0)
            .expect("pay after reopening");
        entries.push(pay.entry().clone());
        let end = verify_segment(&body, ChainPoint::genesis(&body.ta_id()), &entries)
            .expect("the whole journal verifies");
        assert_eq!(end.balance, 80_00);
    });
}

#[test]
fn wrong_pin_is_login_failed() {
    with_token("wrong_pin_is_login_failed", |token| {
        let cfg = token.config("ta-pin");
        drop(Pkcs11Signer::generate(&cfg).expect("generate"));
        // The last session closed with the signer, so the next login really checks the PIN.
        let wrong = Pkcs11Config {
            pin: Zeroizing::new("not-the-pin-9".into()),
            ..cfg.clone()
        };
        let err = Pkcs11Signer::open(&wrong).expect_err("a wrong PIN must not open the key");
        assert!(matches!(err, Pkcs11Error::LoginFailed(_)), "{err:?}");
        assert!(!err.to_string().contains("not-the-pin-9"));
        assert!(!format!("{err:?}").contains("not-the-pin-9"));
        let err = Pkcs11Signer::generate(&Pkcs11Config {
            key_label: "ta-other".into(),
            ..wrong
        })
        .expect_err("nor generate one");
        assert!(matches!(err, Pkcs11Error::LoginFailed(_)), "{err:?}");
        // The right PIN still works (two failures do not lock SoftHSM2's PIN).
        Pkcs11Signer::open(&cfg).expect("open with the right PIN");
    });
}

#[test]
fn missing_key_or_token_is_typed() {
    with_token("missing_key_or_token_is_typed", |token| {
        let err = Pkcs11Signer::open(&token.config("no-such-key")).expect_err("no key");
        assert_eq!(err, Pkcs11Error::KeyNotFound("no-such-key".into()));
        let err = Pkcs11Signer::open(&Pkcs11Config {
            token_label: "no-such-token".into(),
            ..token.config("ta")
        })
        .expect_err("no token");
        assert_eq!(err, Pkcs11Error::TokenNotFound("no-such-token".into()));
        let err = Pkcs11Signer::open(&token.config("")).expect_err("empty label");
        assert!(matches!(err, Pkcs11Error::Config(_)), "{err:?}");
    });
}

#[test]
fn generate_twice_is_key_exists() {
    with_token("generate_twice_is_key_exists", |token| {
        let cfg = token.config("ta-twice");
        let first = Pkcs11Signer::generate(&cfg).expect("generate");
        let err = Pkcs11Signer::generate(&cfg).expect_err("same label again");
        assert_eq!(err, Pkcs11Error::KeyExists("ta-twice".into()));
        // The first key is untouched and still the only one under its label.
        let reopened = Pkcs11Signer::open(&cfg).expect("open");
        assert_eq!(reopened.public_key(), first.public_key());
    });
}

#[test]
fn private_key_never_leaves_the_token() {
    with_token("private_key_never_leaves_the_token", |token| {
        let _signer = Pkcs11Signer::generate(&token.config("ta-sealed")).expect("generate");
        let session = token.raw_session();
        let private = session
            .find_objects(&[
                Attribute::Class(ObjectClass::PRIVATE_KEY),
                Attribute::KeyType(KeyType::EC_EDWARDS),
                Attribute::Label(b"ta-sealed".to_vec()),
            ])
            .expect("find");
        assert_eq!(private.len(), 1);
        let key = private[0];
        assert!(matches!(
            session
                .get_attribute_info(key, &[AttributeType::Value])
                .expect("info")
                .as_slice(),
            [AttributeInfo::Sensitive]
        ));
        // get_attributes leaves out what the token refuses to show.
        assert!(
            session
                .get_attributes(key, &[AttributeType::Value])
                .expect("attributes")
                .is_empty()
        );
        let flags = session
            .get_attributes(
                key,
                &[
                    AttributeType::Token,
                    AttributeType::Private,
                    AttributeType::Sensitive,
                    AttributeType::Extractable,
                    AttributeType::AlwaysSensitive,
                    AttributeType::NeverExtractable,
                ],
            )
            .expect("attributes");
        for flag in flags {
            match flag {
                Attribute::Token(v)
                | Attribute::Private(v)
                | Attribute::Sensitive(v)
                | Attribute::AlwaysSensitive(v)
                | Attribute::NeverExtractable(v) => assert!(v, "{flag:?}"),
                Attribute::Extractable(v) => assert!(!v, "{flag:?}"),
                other => panic!("unexpected {other:?}"),
            }
        }
    });
}

#[test]
fn signs_again_after_the_token_logs_out() {
    with_token("signs_again_after_the_token_logs_out", |token| {
        let signer = Pkcs11Signer::generate(&token.config("ta-relogin")).expect("generate");
        // Logging out any session logs the whole application out of the token.
        let session = token.raw_session();
        session.logout().expect("logout");
        let signature = sign_with(&signer, "test/doc", b"after logout").expect("sign");
        assert!(
            signer
                .public_key()
                .verify("test/doc", b"after logout", &signature)
                .is_ok()
        );
    });
}

#[test]
fn signs_from_several_threads() {
    with_token("signs_from_several_threads", |token| {
        let signer =
            Arc::new(Pkcs11Signer::generate(&token.config("ta-threads")).expect("generate"));
        let threads: Vec<_> = (0..4u8)
            .map(|t| {
                let signer = Arc::clone(&signer);
                std::thread::spawn(move || {
                    for i in 0..25u8 {
                        let msg = [t, i];
                        let sig = sign_with(&*signer, "test/threads", &msg).expect("sign");
                        assert!(
                            signer
                                .public_key()
                                .verify("test/threads", &msg, &sig)
                                .is_ok()
                        );
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().expect("signing thread");
        }
    });
}

/// The harness itself: without the module a token test skips, unless SoftHSM2 is required.
#[test]
fn missing_module_skips_unless_required() {
    if std::env::var_os(CHILD_ENV).is_some() {
        return;
    }
    let run = |require: bool| {
        let mut cmd = Command::new(std::env::current_exe().expect("test binary"));
        cmd.args(["generate_sign_verify", "--exact", "--nocapture"])
            .env("FERRY_PKCS11_MODULE", "/nonexistent/libsofthsm2.so")
            .env_remove("FERRY_REQUIRE_SOFTHSM");
        if require {
            cmd.env("FERRY_REQUIRE_SOFTHSM", "1");
        }
        cmd.output().expect("run child")
    };
    let skipped = run(false);
    assert!(skipped.status.success());
    assert!(String::from_utf8_lossy(&skipped.stdout).contains(
        "SKIPPED PKCS#11: /nonexistent/libsofthsm2.so not found (apt-get install softhsm2)"
    ));
    let required = run(true);
    assert!(!required.status.success());
}

#[test]
fn a_secure_wallet_whose_key_is_in_the_token_pays_and_reopens() {
    use ferry_wallet::secure::SecureWallet;
    use ferry_wallet::secure::software::{SoftwareSecureWallet, new_device_key};
    with_token(
        "a_secure_wallet_whose_key_is_in_the_token_pays_and_reopens",
        |token| {
            let cfg = token.config("wallet-ta");
            let dir = tempfile::tempdir().expect("tempdir");
            let device_key = new_device_key().expect("device key");
            let signer = Pkcs11Signer::generate(&cfg).expect("generate");
            let mut wallet = SoftwareSecureWallet::create_with_signer(
                dir.path(),
                &device_key,
                Box::new(signer),
                "wallet-ta",
            )
            .expect("create");
            let issuer = TestIssuer::new();
            let account = AccountId::random();
            let cert = issuer.ta_cert_for(wallet.ta_key(), account, limits(Currency::BRL));
            wallet
                .install_certificate(&cert, &issuer.key.public(), T0)
                .expect("certificate");
            let ta = wallet.status().ta_id;
            wallet
                .deposit(&issuer.deposit_auth(ta, 1, brl(50_00)), T0)
                .expect("deposit");
            let request = ferry_proto::PaymentRequest {
                payee: AccountId::random(),
                currency: Currency::BRL,
                amount: None,
                nonce: RequestNonce::random(),
                link_key: ferry_proto::X25519Secret::generate().public(),
                expires_at: T0.plus_secs(600),
                payee_name: "Stall".into(),
                city: "Recife".into(),
                reference: String::new(),
            };
            wallet.pay(&request, brl(20_00), T0).expect("pay");
            // The state names the token key: it will not open without its signer, nor with
            // another key; with the token's key it reopens where it stood.
            assert!(SoftwareSecureWallet::open(dir.path(), &device_key).is_err());
            drop(wallet);
            assert_eq!(
                SoftwareSecureWallet::key_label(dir.path(), &device_key).expect("label"),
                "wallet-ta"
            );
            let other = Pkcs11Signer::generate(&token.config("another-key")).expect("generate");
            assert!(
                SoftwareSecureWallet::open_with_signer(dir.path(), &device_key, Box::new(other))
                    .is_err()
            );
            let signer = Pkcs11Signer::open(&cfg).expect("open");
            let mut wallet =
                SoftwareSecureWallet::open_with_signer(dir.path(), &device_key, Box::new(signer))
                    .expect("reopen");
            wallet.pay(&request, brl(5_00), T0).expect("pay again");
            let journal = wallet.journal_since(0);
            let end = verify_segment(cert.unverified(), ChainPoint::genesis(&ta), &journal)
                .expect("the token-signed journal verifies");
            assert_eq!(end.balance, 25_00);
        },
    );
}
