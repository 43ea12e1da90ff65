//! Shared by the ledger's integration tests: a store of each kind available on this machine.

use ferry_ledger::Store;

/// A store of each kind available here. Each PostgreSQL store lives in a fresh schema so tests
/// running in parallel processes never see each other's rows.
#[allow(dead_code)] // not every test file uses both helpers
pub async fn stores() -> Vec<(&'static str, Store, Option<tempfile::TempDir>)> {
    let dir = tempfile::tempdir().expect("temp dir");
    let sqlite = Store::open_sqlite_dir(dir.path())
        .await
        .expect("sqlite store");
    let mut out = vec![("sqlite", sqlite, Some(dir))];
    if let Some(scoped) = ferry_testkit::postgres::fresh_schema().await {
        out.push((
            "postgres",
            Store::open(&scoped).await.expect("scoped postgres store"),
            None,
        ));
    }
    out
}

/// A settlement engine over one store, with helpers to make registered, funded wallets.
#[allow(dead_code)]
pub mod kit {
    use ferry_ledger::engine::{JournalUpload, PaymentSubmission};
    use ferry_ledger::registry::{RegistrationPolicy, register_account, register_wallet};
    use ferry_ledger::{Engine, EngineConfig, LedgerAccount, Outcome, Store};
    use ferry_proto::cert::{AttestationBody, FeeSchedule, Limits, Tier};
    use ferry_proto::journal_writer::JournalWriter;
    use ferry_proto::verify::AttestationRoots;
    use ferry_proto::{
        AccountId, AttestationStatement, ClientCertificate, Currency, Money, Payment, RequestNonce,
        SignedEntry, SigningKey, TaCertificate, UnixTime, X25519Secret,
    };
    use ferry_testkit::T0;

    /// Software-tier limits used by the kit: balance 1 000.00, payment 200.00, 20 payments.
    pub fn limits() -> Limits {
        Limits {
            currency: Currency::BRL,
            max_balance: 1_000_00,
            max_payment: 200_00,
            max_payments_between_syncs: 20,
            sync_by: UnixTime(3 * 86_400),
        }
    }

    pub fn brl(minor: i64) -> Money {
        Money::new(minor, Currency::BRL)
    }

    pub struct Kit {
        pub engine: Engine,
        pub issuer_public: ferry_proto::PublicKey,
        issuer_seed: zeroize::Zeroizing<[u8; 32]>,
        pub software_root: SigningKey,
        pub policy: RegistrationPolicy,
    }

    /// A holder with an account and one registered secure wallet.
    pub struct Holder {
        pub account_key: SigningKey,
        pub account: AccountId,
        pub client_cert: ClientCertificate,
        pub ta_cert: TaCertificate,
        pub journal: JournalWriter,
        ta_seed: zeroize::Zeroizing<[u8; 32]>,
        /// Entries not yet uploaded.
        pub unsynced: Vec<SignedEntry>,
    }

    impl Holder {
        /// A second writer at the same point: what an attacker who extracted the key holds.
        pub fn clone_secure_element(&self) -> JournalWriter {
            JournalWriter::new(
                SigningKey::from_seed(&self.ta_seed),
                self.journal.cert().clone(),
                self.journal.point(),
            )
        }

        pub fn ta(&self) -> ferry_proto::TaId {
            self.journal.ta_id()
        }

        /// Pays `minor` to `payee`, offline.
        pub fn pay(&mut self, payee: AccountId, minor: i64) -> Payment {
            let p = self
                .journal
                .pay(payee, RequestNonce::random(), brl(minor), T0)
                .expect("payment within limits");
            self.unsynced.push(p.entry().clone());
            p
        }

        /// What a compromised wallet can do: sign a payment at the next position with no rule
        /// checked (here, beyond its balance).
        pub fn forge_pay(&mut self, payee: AccountId, minor: i64) -> Payment {
            let point = self.journal.point();
            let body = ferry_proto::JournalEntry {
                j: point.next_j,
                time: T0,
                prev_hash: point.prev_hash,
                amount: brl(minor),
                kind: ferry_proto::EntryKind::Pay {
                    payee,
                    nonce: RequestNonce::random(),
                },
            };
            let key = SigningKey::from_seed(&self.ta_seed);
            let entry = SignedEntry::sign(body, &key).unwrap();
            Payment::from_entry(entry).unwrap()
        }

        /// The claim a receiver would upload for `p`.
        pub fn submission(&self, p: &Payment) -> PaymentSubmission {
            PaymentSubmission {
                ta_cert: self.ta_cert.clone(),
                payment: p.clone(),
                receipt: None,
            }
        }

        /// Takes the unsynced entries as an upload.
        pub fn upload(&mut self, collected: Vec<PaymentSubmission>) -> JournalUpload {
            JournalUpload {
                ta_cert: self.ta_cert.clone(),
                entries: std::mem::take(&mut self.unsynced),
                collected,
            }
        }
    }

    pub fn config(fees: FeeSchedule, software_root: &SigningKey) -> EngineConfig {
        EngineConfig {
            group_commit: true,
            currency: Currency::BRL,
            fees,
            registration: RegistrationPolicy {
                client_cert_validity_secs: 365 * 86_400,
                ta_cert_validity_secs: 30 * 86_400,
                software_limits: limits(),
                hardware_limits: limits(),
                attestation_roots: AttestationRoots {
                    hardware: vec![],
                    software: vec![software_root.public()],
                },
            },
            order_max_age_secs: 86_400,
            order_max_skew_secs: 300,
            sync_grace_secs: 86_400,
            params_validity_secs: 86_400,
        }
    }

    impl Kit {
        pub fn new(store: Store) -> Kit {
            Self::with_fees(store, FeeSchedule::default())
        }

        pub fn with_fees(store: Store, fees: FeeSchedule) -> Kit {
            let issuer = SigningKey::generate();
            let issuer_seed = issuer.to_seed();
            let issuer_public = issuer.public();
            let software_root = SigningKey::generate();
            let config = config(fees, &software_root);
            let policy = config.registration.clone();
            let engine = Engine::new(store, issuer, X25519Secret::generate(), config);
            Kit {
                engine,
                issuer_public,
                issuer_seed,
                software_root,
                policy,
            }
        }

        fn issuer(&self) -> SigningKey {
            SigningKey::from_seed(&self.issuer_seed)
        }

        /// Registers an account only (a receiver without a secure wallet).
        pub async fn account(&self) -> (SigningKey, AccountId, ClientCertificate) {
            let key = SigningKey::generate();
            let cert = register_account(
                self.engine.store(),
                &self.issuer(),
                &self.policy,
                key.public(),
                T0,
            )
            .await
            .expect("register account");
            let id = cert.unverified().account_id;
            (key, id, cert)
        }

        /// Registers an account and a software wallet.
        pub async fn holder(&self) -> Holder {
            let (account_key, account, client_cert) = self.account().await;
            let ta_key = SigningKey::generate();
            let attestation = AttestationStatement::sign(
                AttestationBody {
                    ta_key: ta_key.public(),
                    tier: Tier::Software,
                    device_model: "kit".into(),
                    issued_at: T0,
                },
                &self.software_root,
            )
            .unwrap();
            let ta_cert = register_wallet(
                self.engine.store(),
                &self.issuer(),
                &self.policy,
                account,
                &attestation,
                T0,
            )
            .await
            .expect("register wallet");
            let ta_seed = ta_key.to_seed();
            let journal = JournalWriter::fresh(ta_key, ta_cert.unverified().clone());
            Holder {
                account_key,
                account,
                client_cert,
                ta_cert,
                journal,
                ta_seed,
                unsynced: Vec::new(),
            }
        }

        /// Credits `account`'s online balance with `minor` through an agent.
        pub async fn cash_in(&self, account: AccountId, minor: i64) {
            let r = format!("r{}", AccountId::random());
            let agent = format!("agent-{}", &r[1..9]);
            self.engine
                .create_agent(&agent, ferry_proto::random_bytes(), T0)
                .await
                .expect("create agent");
            assert_eq!(
                self.engine
                    .fund(LedgerAccount::Agent(agent.clone()), brl(minor), &r, T0)
                    .await
                    .unwrap(),
                Outcome::Settled
            );
            assert_eq!(
                self.engine
                    .cash_in(&agent, account, brl(minor), &r, T0)
                    .await
                    .unwrap(),
                Outcome::Settled
            );
        }

        /// Cash in `minor` and deposit it into `h`'s wallet (the entry stays unsynced).
        pub async fn fund(&self, h: &mut Holder, minor: i64) {
            self.cash_in(h.account, minor).await;
            let serial = h.journal.point().last_serial + 1;
            let auth = self
                .engine
                .deposit(h.account, h.ta(), serial, brl(minor), T0)
                .await
                .expect("deposit");
            let e = h
                .journal
                .deposit(&auth, &self.issuer_public, T0)
                .expect("apply deposit");
            h.unsynced.push(e);
        }

        pub async fn online(&self, account: AccountId) -> i64 {
            self.engine
                .store()
                .balance(&LedgerAccount::Online(account), Currency::BRL)
                .await
                .unwrap()
        }

        pub async fn float(&self, h: &Holder) -> i64 {
            self.engine
                .store()
                .balance(&LedgerAccount::Float(h.ta()), Currency::BRL)
                .await
                .unwrap()
        }

        pub async fn assert_clean(&self, name: &str) {
            let audit = self.engine.audit().await.unwrap();
            assert!(audit.is_clean(), "{name}: audit {audit:?}");
        }
    }
}
