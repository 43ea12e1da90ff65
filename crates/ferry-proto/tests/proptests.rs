//! Cross-cutting property tests: every message round-trips, every single-byte change of a
//! signed message fails decoding or verification, honest journals replay without going negative
//! and conserve money, and every fork is detected.

use proptest::prelude::*;

use ferry_proto::cert::*;
use ferry_proto::codec::Message;
use ferry_proto::fraud::{ForkDetector, FraudProof};
use ferry_proto::hash::Hash32;
use ferry_proto::ids::{AccountId, PaymentId, RequestNonce, TaId};
use ferry_proto::journal::*;
use ferry_proto::journal_writer::JournalWriter;
use ferry_proto::keys::{PublicKey, SigningKey, X25519Public};
use ferry_proto::money::{Currency, Money};
use ferry_proto::request::PaymentRequest;
use ferry_proto::signed::{Document, Signed};
use ferry_proto::time::UnixTime;
use ferry_proto::verify::{ChainPoint, verify_segment};
use ferry_testkit::{T0, TestIssuer, limits};

fn currency() -> impl Strategy<Value = Currency> {
    proptest::sample::select(Currency::all().collect::<Vec<_>>())
}

fn money() -> impl Strategy<Value = Money> {
    (1..=i64::MAX, currency()).prop_map(|(m, c)| Money::new(m, c))
}

fn time() -> impl Strategy<Value = UnixTime> {
    any::<u64>().prop_map(UnixTime)
}

fn text(max: usize) -> impl Strategy<Value = String> {
    proptest::string::string_regex(&format!("[a-zA-Z0-9 .,'é-]{{0,{max}}}"))
        .expect("regex")
        .prop_filter("fits", move |s| s.len() <= max)
}

fn entry_kind() -> impl Strategy<Value = EntryKind> {
    prop_oneof![
        (1..=u32::MAX).prop_map(|serial| EntryKind::Deposit { serial }),
        (1..=u32::MAX).prop_map(|serial| EntryKind::Withdraw { serial }),
        (any::<[u8; 16]>(), any::<[u8; 12]>()).prop_map(|(p, n)| EntryKind::Pay {
            payee: AccountId(p),
            nonce: RequestNonce(n)
        }),
        (any::<[u8; 16]>(), any::<u32>(), any::<[u8; 32]>()).prop_map(|(t, j, h)| {
            EntryKind::Collect {
                payment: PaymentId { ta: TaId(t), j },
                payment_hash: Hash32(h),
            }
        }),
    ]
}

fn entry() -> impl Strategy<Value = JournalEntry> {
    (
        1..=u32::MAX,
        time(),
        any::<[u8; 32]>(),
        money(),
        entry_kind(),
    )
        .prop_map(|(j, time, h, amount, kind)| JournalEntry {
            j,
            time,
            prev_hash: Hash32(h),
            amount,
            kind,
        })
}

fn limits_strategy() -> impl Strategy<Value = Limits> {
    (currency(), 1..=i64::MAX, 1..=u32::MAX, time()).prop_flat_map(|(currency, bal, n, sync_by)| {
        (1..=bal).prop_map(move |pay| Limits {
            currency,
            max_balance: bal,
            max_payment: pay,
            max_payments_between_syncs: n,
            sync_by,
        })
    })
}

fn window() -> impl Strategy<Value = (UnixTime, UnixTime)> {
    (0..u64::MAX).prop_flat_map(|a| (Just(UnixTime(a)), (a + 1..=u64::MAX).prop_map(UnixTime)))
}

fn key() -> impl Strategy<Value = SigningKey> {
    any::<[u8; 32]>().prop_map(|s| SigningKey::from_seed(&s))
}

fn request() -> impl Strategy<Value = PaymentRequest> {
    (
        any::<[u8; 16]>(),
        currency(),
        proptest::option::of(1..=ferry_proto::request::MAX_AMOUNT_MINOR),
        any::<[u8; 12]>(),
        any::<[u8; 32]>(),
        (0..=ferry_proto::request::MAX_EXPIRES_AT.secs()).prop_map(UnixTime),
        (text(25), text(15), text(12)),
    )
        .prop_map(
            |(p, currency, amount, n, link, expires_at, (name, city, reference))| PaymentRequest {
                payee: AccountId(p),
                currency,
                amount: amount.map(|a| Money::new(a, currency)),
                nonce: RequestNonce(n),
                link_key: X25519Public(link),
                expires_at,
                payee_name: name,
                city,
                reference,
            },
        )
}

/// A signed document of any kind, with the key that verifies it.
#[derive(Debug, Clone)]
enum AnySigned {
    Client(ClientCertificate),
    Ta(TaCertificate),
    Attestation(AttestationStatement),
    Params(NetworkParameters),
    Revocations(RevocationList),
    Entry(SignedEntry),
    Deposit(DepositAuthorization),
    Receipt(Receipt),
}

fn signed<T: Document>(body: T, k: &SigningKey) -> Signed<T> {
    Signed::sign(body, k).expect("strategy builds valid bodies")
}

fn any_signed() -> impl Strategy<Value = (AnySigned, PublicKey)> {
    let pk = |k: &SigningKey| k.public();
    prop_oneof![
        (key(), any::<[u8; 16]>(), key(), window()).prop_map(move |(k, a, ak, (i, e))| {
            let body = ClientCertBody {
                account_id: AccountId(a),
                account_key: ak.public(),
                issuer: k.public().key_id(),
                issued_at: i,
                expires_at: e,
            };
            (AnySigned::Client(signed(body, &k)), pk(&k))
        }),
        (
            key(),
            key(),
            any::<[u8; 16]>(),
            limits_strategy(),
            window(),
            any::<bool>()
        )
            .prop_map(move |(k, tk, a, limits, (i, e), hw)| {
                let tier = if hw { Tier::Hardware } else { Tier::Software };
                let body = TaCertBody {
                    ta_key: tk.public(),
                    account_id: AccountId(a),
                    tier,
                    limits,
                    issuer: k.public().key_id(),
                    issued_at: i,
                    expires_at: e,
                };
                (AnySigned::Ta(signed(body, &k)), pk(&k))
            }),
        (key(), key(), text(48), time()).prop_map(move |(k, tk, model, t)| {
            let body = AttestationBody {
                ta_key: tk.public(),
                tier: Tier::Software,
                device_model: model,
                issued_at: t,
            };
            (AnySigned::Attestation(signed(body, &k)), pk(&k))
        }),
        (
            key(),
            any::<[u8; 32]>(),
            limits_strategy(),
            window(),
            any::<[u16; 8]>()
        )
            .prop_map(move |(k, seal, l, (f, u), fees)| {
                let fees = fees.map(|f| f % 10_001);
                let body = NetworkParamsBody {
                    issuer_key: k.public(),
                    sealing_key: X25519Public(seal),
                    currency: l.currency,
                    software_limits: l,
                    hardware_limits: l,
                    fees: FeeSchedule {
                        payment_bps: fees[0],
                        deposit_bps: fees[1],
                        withdraw_bps: fees[2],
                        cash_in_bps: fees[3],
                        cash_out_bps: fees[4],
                        voucher_create_bps: fees[5],
                        voucher_redeem_bps: fees[6],
                        order_bps: fees[7],
                    },
                    valid_from: f,
                    valid_until: u,
                };
                (AnySigned::Params(signed(body, &k)), pk(&k))
            }),
        (
            key(),
            any::<u64>(),
            time(),
            proptest::collection::btree_set(any::<[u8; 16]>(), 0..20)
        )
            .prop_map(move |(k, v, t, ids)| {
                let body = RevocationBody {
                    issuer: k.public().key_id(),
                    version: v,
                    issued_at: t,
                    revoked: ids.into_iter().map(TaId).collect(),
                };
                (AnySigned::Revocations(signed(body, &k)), pk(&k))
            }),
        (key(), entry()).prop_map(move |(k, e)| (AnySigned::Entry(signed(e, &k)), pk(&k))),
        (key(), any::<[u8; 16]>(), 1..=u32::MAX, money(), time()).prop_map(
            move |(k, t, s, m, at)| {
                let body = DepositAuthBody {
                    ta: TaId(t),
                    serial: s,
                    amount: m,
                    issued_at: at,
                };
                (AnySigned::Deposit(signed(body, &k)), pk(&k))
            }
        ),
        (key(), any::<[u8; 32]>(), any::<[u8; 16]>(), time()).prop_map(move |(k, h, p, t)| {
            let body = ReceiptBody {
                payment_hash: Hash32(h),
                payee: AccountId(p),
                received_at: t,
            };
            (AnySigned::Receipt(signed(body, &k)), pk(&k))
        }),
    ]
}

impl AnySigned {
    fn bytes(&self) -> Vec<u8> {
        match self {
            AnySigned::Client(d) => d.to_bytes(),
            AnySigned::Ta(d) => d.to_bytes(),
            AnySigned::Attestation(d) => d.to_bytes(),
            AnySigned::Params(d) => d.to_bytes(),
            AnySigned::Revocations(d) => d.to_bytes(),
            AnySigned::Entry(d) => d.to_bytes(),
            AnySigned::Deposit(d) => d.to_bytes(),
            AnySigned::Receipt(d) => d.to_bytes(),
        }
    }

    /// Decodes `bytes` as the same kind and verifies under `key`: `Ok(true)` when both succeed
    /// and the result equals `self`.
    fn decode_and_verify(&self, bytes: &[u8], key: &PublicKey) -> Result<bool, ()> {
        fn go<T: Document + PartialEq>(
            orig: &Signed<T>,
            bytes: &[u8],
            key: &PublicKey,
        ) -> Result<bool, ()> {
            let d = Signed::<T>::from_bytes(bytes).map_err(|_| ())?;
            d.verify(key).map_err(|_| ())?;
            Ok(&d == orig)
        }
        match self {
            AnySigned::Client(d) => go(d, bytes, key),
            AnySigned::Ta(d) => go(d, bytes, key),
            AnySigned::Attestation(d) => go(d, bytes, key),
            AnySigned::Params(d) => go(d, bytes, key),
            AnySigned::Revocations(d) => go(d, bytes, key),
            AnySigned::Entry(d) => go(d, bytes, key),
            AnySigned::Deposit(d) => go(d, bytes, key),
            AnySigned::Receipt(d) => go(d, bytes, key),
        }
    }
}

/// One step a holder may ask of an honest wallet.
#[derive(Debug, Clone)]
enum Op {
    Deposit(i64),
    Withdraw(i64),
    Pay(i64),
    Collect(i64),
}

fn ops() -> impl Strategy<Value = Vec<Op>> {
    proptest::collection::vec(
        prop_oneof![
            (1..400_000i64).prop_map(Op::Deposit),
            (1..400_000i64).prop_map(Op::Withdraw),
            (1..60_000i64).prop_map(Op::Pay),
            (1..60_000i64).prop_map(Op::Collect),
        ],
        1..40,
    )
}

/// Runs `ops` on an honest wallet (refused steps sign nothing) and returns the signed journal,
/// the wallet, and the sum of accepted movements.
fn honest_journal(
    issuer: &TestIssuer,
    ops: &[Op],
) -> (TaCertificate, JournalWriter, Vec<SignedEntry>, i64) {
    honest_journal_with_key(issuer, ops, &ferry_proto::random_bytes())
}

fn honest_journal_with_key(
    issuer: &TestIssuer,
    ops: &[Op],
    seed: &[u8; 32],
) -> (TaCertificate, JournalWriter, Vec<SignedEntry>, i64) {
    let key = SigningKey::from_seed(seed);
    let cert = issuer.ta_cert(&key, AccountId::random(), limits(Currency::BRL));
    let mut w = JournalWriter::fresh(key, cert.unverified().clone());
    let mut entries = Vec::new();
    let mut net = 0i64;
    let brl = |m| Money::new(m, Currency::BRL);
    for op in ops {
        let r = match *op {
            Op::Deposit(m) => {
                let auth = issuer.deposit_auth(w.ta_id(), w.point().last_serial + 1, brl(m));
                w.deposit(&auth, &issuer.key.public(), T0).map(|e| (e, m))
            }
            Op::Withdraw(m) => w.withdraw(brl(m), T0).map(|e| (e, -m)),
            Op::Pay(m) => w
                .pay(AccountId::random(), RequestNonce::random(), brl(m), T0)
                .map(|p| (p.entry().clone(), -m)),
            Op::Collect(m) => w
                .collect(
                    PaymentId {
                        ta: TaId([7; 16]),
                        j: 1,
                    },
                    Hash32([1; 32]),
                    brl(m),
                    T0,
                )
                .map(|e| (e, m)),
        };
        if let Ok((e, delta)) = r {
            entries.push(e);
            net += delta;
        }
    }
    (cert, w, entries, net)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn signed_messages_round_trip((doc, key) in any_signed()) {
        prop_assert_eq!(doc.decode_and_verify(&doc.bytes(), &key), Ok(true));
    }

    #[test]
    fn any_single_byte_change_fails_decoding_or_verification(
        (doc, key) in any_signed(),
        idx in any::<proptest::sample::Index>(),
        mask in 1..=255u8,
    ) {
        let mut bytes = doc.bytes();
        let i = idx.index(bytes.len());
        bytes[i] ^= mask;
        prop_assert_eq!(doc.decode_and_verify(&bytes, &key), Err(()));
    }

    #[test]
    fn truncation_or_extension_fails((doc, key) in any_signed(), cut in any::<proptest::sample::Index>(), extra in any::<u8>()) {
        let bytes = doc.bytes();
        let n = cut.index(bytes.len());
        prop_assert!(doc.decode_and_verify(&bytes[..n], &key).is_err());
        let mut longer = bytes.clone();
        longer.push(extra);
        prop_assert!(doc.decode_and_verify(&longer, &key).is_err());
    }

    #[test]
    fn requests_round_trip(req in request()) {
        prop_assert_eq!(PaymentRequest::from_bytes(&req.to_bytes()), Ok(req));
    }

    #[test]
    fn decoders_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        let _ = SignedEntry::from_bytes(&bytes);
        let _ = TaCertificate::from_bytes(&bytes);
        let _ = RevocationList::from_bytes(&bytes);
        let _ = NetworkParameters::from_bytes(&bytes);
        let _ = PaymentRequest::from_bytes(&bytes);
        let _ = FraudProof::from_bytes(&bytes);
    }

    #[test]
    fn honest_journals_replay_without_going_negative_and_conserve_money(ops in ops()) {
        let issuer = TestIssuer::new();
        let (cert, w, entries, net) = honest_journal(&issuer, &ops);
        let genesis = ChainPoint::genesis(&w.ta_id());
        // Replayed entry by entry, the balance never dips below zero...
        let mut point = genesis;
        for e in &entries {
            point = point.apply(&cert.unverified().limits, e.unverified(), e.hash()).unwrap();
            prop_assert!(point.balance >= 0);
        }
        // ...the whole segment verifies, and what is left is exactly what went in minus what went out.
        let end = verify_segment(cert.unverified(), genesis, &entries).unwrap();
        prop_assert_eq!(end, w.point());
        prop_assert_eq!(end.balance, net);
        // Any split point works as a sync boundary.
        if entries.len() > 1 {
            let mid = entries.len() / 2;
            let half = verify_segment(cert.unverified(), genesis, &entries[..mid]).unwrap();
            prop_assert_eq!(verify_segment(cert.unverified(), half, &entries[mid..]).unwrap(), end);
        }
    }

    #[test]
    fn every_fork_is_detected(
        ops in ops(),
        fork_at in any::<proptest::sample::Index>(),
        branch_len in 1..4usize,
        order_seed in any::<u64>(),
    ) {
        let issuer = TestIssuer::new();
        let mut ops = ops;
        ops.insert(0, Op::Deposit(300_000));
        let seed = ferry_proto::random_bytes::<32>();
        let (cert, _w, entries, _) = honest_journal_with_key(&issuer, &ops, &seed);
        // A clone of the secure element branches off before entry k of the honest chain.
        let k = fork_at.index(entries.len());
        let mut point = ChainPoint::genesis(&cert.unverified().ta_id());
        for e in &entries[..k] {
            point = point.apply(&cert.unverified().limits, e.unverified(), e.hash()).unwrap();
        }
        let mut loose = cert.unverified().clone();
        loose.limits.max_balance = i64::MAX;
        loose.limits.max_payment = i64::MAX;
        let rich = ChainPoint { balance: i64::MAX / 2, ..point };
        let mut clone = JournalWriter::new(SigningKey::from_seed(&seed), loose, rich);
        let branch: Vec<SignedEntry> = (0..branch_len)
            .map(|_| clone.pay(AccountId::random(), RequestNonce::random(), Money::new(1, Currency::BRL), T0).unwrap().entry().clone())
            .collect();
        // The server sees everything, in any order.
        let mut all: Vec<SignedEntry> = entries.iter().chain(branch.iter()).cloned().collect();
        all.sort_by_key(|e| Hash32::of("shuffle", &[&order_seed.to_be_bytes(), e.hash().as_bytes()]));
        let mut det = ForkDetector::new(cert.clone());
        let proof = all.iter().find_map(|e| det.observe(e));
        let proof = proof.expect("fork not detected");
        prop_assert!(proof.verify(&issuer.issuers()).is_ok());
        prop_assert_eq!(FraudProof::from_bytes(&proof.to_bytes()).unwrap(), proof);
    }

    #[test]
    fn an_honest_journal_is_never_called_a_fork(ops in ops(), order_seed in any::<u64>()) {
        let issuer = TestIssuer::new();
        let (cert, _w, entries, _) = honest_journal(&issuer, &ops);
        let mut all = entries.clone();
        all.extend(entries.iter().take(3).cloned()); // duplicates delivered again
        all.sort_by_key(|e| Hash32::of("shuffle", &[&order_seed.to_be_bytes(), e.hash().as_bytes()]));
        let mut det = ForkDetector::new(cert);
        prop_assert!(all.iter().all(|e| det.observe(e).is_none()));
    }
}
