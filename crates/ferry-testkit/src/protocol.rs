//! Ready-made issuers and wallets for protocol tests and benchmarks. Never use these in
//! production: keys are generated in memory and limits are arbitrary.

use ferry_proto::cert::{
    ClientCertBody, ClientCertificate, FeeSchedule, Limits, NetworkParameters, NetworkParamsBody,
    RevocationBody, RevocationList, TaCertBody, TaCertificate, Tier,
};
use ferry_proto::ids::{AccountId, RequestNonce, TaId};
use ferry_proto::journal::{DepositAuthBody, DepositAuthorization, Payment, SignedEntry};
use ferry_proto::journal_writer::JournalWriter;
use ferry_proto::keys::{SigningKey, X25519Secret};
use ferry_proto::money::{Currency, Money};
use ferry_proto::request::PaymentRequest;
use ferry_proto::time::UnixTime;
use ferry_proto::verify::IssuerKeys;

/// A fixed "now" for tests: 2027-01-15.
pub const T0: UnixTime = UnixTime(1_800_000_000);
/// One day in seconds.
pub const DAY: u64 = 86_400;

/// Generous limits in `currency`: balance 10 000.00, payment 500.00, 50 payments, sync in 7 days.
pub fn limits(currency: Currency) -> Limits {
    Limits {
        currency,
        max_balance: 1_000_000,
        max_payment: 50_000,
        max_payments_between_syncs: 50,
        sync_by: T0.plus_secs(7 * DAY),
    }
}

/// An issuer with in-memory keys.
#[derive(Debug)]
pub struct TestIssuer {
    /// Signing key.
    pub key: SigningKey,
    /// HPKE sealing key.
    pub sealing: X25519Secret,
}

impl Default for TestIssuer {
    fn default() -> Self {
        Self::new()
    }
}

impl TestIssuer {
    /// Fresh keys.
    pub fn new() -> Self {
        TestIssuer {
            key: SigningKey::generate(),
            sealing: X25519Secret::generate(),
        }
    }

    /// The keys a verifier should trust.
    pub fn issuers(&self) -> IssuerKeys {
        IssuerKeys::new([self.key.public()])
    }

    /// A client certificate valid for a year from [`T0`].
    pub fn client_cert(
        &self,
        account_id: AccountId,
        account_key: &SigningKey,
    ) -> ClientCertificate {
        ClientCertificate::sign(
            ClientCertBody {
                account_id,
                account_key: account_key.public(),
                issuer: self.key.public().key_id(),
                issued_at: T0.minus_secs(DAY),
                expires_at: T0.plus_secs(365 * DAY),
            },
            &self.key,
        )
        .expect("valid test certificate")
    }

    /// A TA certificate valid for 30 days from [`T0`].
    pub fn ta_cert(
        &self,
        ta_key: &SigningKey,
        account_id: AccountId,
        limits: Limits,
    ) -> TaCertificate {
        self.ta_cert_for(ta_key.public(), account_id, limits)
    }

    /// A TA certificate valid for 30 days from [`T0`], for a key held elsewhere.
    pub fn ta_cert_for(
        &self,
        ta_key: ferry_proto::PublicKey,
        account_id: AccountId,
        limits: Limits,
    ) -> TaCertificate {
        TaCertificate::sign(
            TaCertBody {
                ta_key,
                account_id,
                tier: Tier::Software,
                limits,
                issuer: self.key.public().key_id(),
                issued_at: T0.minus_secs(DAY),
                expires_at: T0.plus_secs(30 * DAY),
            },
            &self.key,
        )
        .expect("valid test certificate")
    }

    /// A deposit authorization.
    pub fn deposit_auth(&self, ta: TaId, serial: u32, amount: Money) -> DepositAuthorization {
        DepositAuthorization::sign(
            DepositAuthBody {
                ta,
                serial,
                amount,
                issued_at: T0,
            },
            &self.key,
        )
        .expect("valid test authorization")
    }

    /// A revocation list naming `revoked` (sorted here).
    pub fn revocations(&self, version: u64, mut revoked: Vec<TaId>) -> RevocationList {
        revoked.sort();
        revoked.dedup();
        RevocationList::sign(
            RevocationBody {
                issuer: self.key.public().key_id(),
                version,
                issued_at: T0,
                revoked,
            },
            &self.key,
        )
        .expect("valid test revocation list")
    }

    /// Network parameters valid for a year.
    pub fn network_params(&self, currency: Currency) -> NetworkParameters {
        let l = |bal: i64, pay: i64| Limits {
            currency,
            max_balance: bal,
            max_payment: pay,
            max_payments_between_syncs: 50,
            sync_by: UnixTime(7 * DAY),
        };
        NetworkParameters::sign(
            NetworkParamsBody {
                issuer_key: self.key.public(),
                sealing_key: self.sealing.public(),
                currency,
                software_limits: l(100_000, 20_000),
                hardware_limits: l(1_000_000, 100_000),
                fees: FeeSchedule {
                    payment_bps: 10,
                    ..FeeSchedule::default()
                },
                valid_from: T0.minus_secs(DAY),
                valid_until: T0.plus_secs(365 * DAY),
            },
            &self.key,
        )
        .expect("valid test parameters")
    }
}

/// A holder with an account key, a certified secure wallet and its journal writer.
#[derive(Debug)]
pub struct TestWallet {
    /// Account id.
    pub account_id: AccountId,
    /// Account key.
    pub account_key: SigningKey,
    /// Client certificate.
    pub client_cert: ClientCertificate,
    /// TA certificate.
    pub ta_cert: TaCertificate,
    /// The secure wallet's journal.
    pub journal: JournalWriter,
    /// The secure wallet's secret seed, kept so tests can play an attacker who extracted it.
    ta_seed: zeroize::Zeroizing<[u8; 32]>,
}

impl TestWallet {
    /// A wallet certified by `issuer` with [`limits`] in `currency`.
    pub fn new(issuer: &TestIssuer, currency: Currency) -> Self {
        Self::with_limits(issuer, limits(currency))
    }

    /// A wallet with specific limits.
    pub fn with_limits(issuer: &TestIssuer, limits: Limits) -> Self {
        let account_id = AccountId::random();
        let account_key = SigningKey::generate();
        let ta_key = SigningKey::generate();
        let client_cert = issuer.client_cert(account_id, &account_key);
        let ta_cert = issuer.ta_cert(&ta_key, account_id, limits);
        let ta_seed = ta_key.to_seed();
        let journal = JournalWriter::fresh(ta_key, ta_cert.unverified().clone());
        TestWallet {
            account_id,
            account_key,
            client_cert,
            ta_cert,
            journal,
            ta_seed,
        }
    }

    /// The wallet's id.
    pub fn ta_id(&self) -> TaId {
        self.journal.ta_id()
    }

    /// What an attacker who extracted the secure element's key holds: a second writer at the
    /// same point of the same journal.
    pub fn clone_secure_element(&self) -> JournalWriter {
        JournalWriter::new(
            SigningKey::from_seed(&self.ta_seed),
            self.journal.cert().clone(),
            self.journal.point(),
        )
    }

    /// Deposits `minor` units through a fresh issuer authorization; returns the journal entry.
    pub fn fund(&mut self, issuer: &TestIssuer, minor: i64) -> SignedEntry {
        let serial = self.journal.point().last_serial + 1;
        let currency = self.journal.cert().limits.currency;
        let auth = issuer.deposit_auth(self.ta_id(), serial, Money::new(minor, currency));
        self.journal
            .deposit(&auth, &issuer.key.public(), T0)
            .expect("test deposit within limits")
    }

    /// A request from this wallet's holder, as payee.
    pub fn request(&self, amount: Option<i64>) -> PaymentRequest {
        let currency = self.journal.cert().limits.currency;
        PaymentRequest {
            payee: self.account_id,
            currency,
            amount: amount.map(|m| Money::new(m, currency)),
            nonce: RequestNonce::random(),
            link_key: X25519Secret::generate().public(),
            expires_at: T0.plus_secs(600),
            payee_name: "Test Stall".into(),
            city: "Recife".into(),
            reference: String::new(),
        }
    }

    /// Pays `minor` units against `request`.
    pub fn pay(&mut self, request: &PaymentRequest, minor: i64) -> Payment {
        self.journal
            .pay(
                request.payee,
                request.nonce,
                Money::new(minor, request.currency),
                T0,
            )
            .expect("test payment within limits")
    }
}
