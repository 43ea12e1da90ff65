//! Offline Pix vouchers in the engine, on embedded SQLite and on PostgreSQL (when
//! `FERRY_TEST_DATABASE_URL` is set): every failure point and state change, exact fees, the
//! 20-redemption race, the expiry sweep run twice and concurrently, and the audit after each.

use std::sync::Arc;

use ferry_ledger::engine::vouchers::{
    InvalidReason, Redeem, RedeemOutcome, SecurityReason, VerifierParams, VoucherConfig,
    VoucherError, VoucherPassword, Vouchers, place,
};
use ferry_ledger::store::VoucherState;
use ferry_ledger::{LedgerAccount, Posting, Store, Transfer};
use ferry_proto::cert::FeeSchedule;
use ferry_proto::voucher::{SealedVoucher, VoucherId, VoucherPayload};
use ferry_proto::{AccountId, Currency, Money, UnixTime};
use proptest::prelude::*;

mod common;
use common::kit::Kit;
use common::stores;

const T: UnixTime = UnixTime(1_800_000_000);
const HOUR: u64 = 3600;

fn brl(minor: i64) -> Money {
    Money::new(minor, Currency::BRL)
}

fn fees() -> FeeSchedule {
    FeeSchedule {
        voucher_create_bps: 100,
        voucher_redeem_bps: 30,
        ..FeeSchedule::default()
    }
}

fn config() -> VoucherConfig {
    VoucherConfig {
        verifier_params: VerifierParams::TEST,
        pepper: b"test pepper".to_vec(),
        ..VoucherConfig::default()
    }
}

fn pw(s: &str) -> VoucherPassword {
    VoucherPassword::parse(s).expect("password")
}

struct Setup {
    name: &'static str,
    engine: ferry_ledger::Engine,
    vouchers: Vouchers,
    store: Store,
    _dir: Option<tempfile::TempDir>,
}

async fn setups(config: VoucherConfig) -> Vec<Setup> {
    stores()
        .await
        .into_iter()
        .map(|(name, store, dir)| {
            let kit = Kit::with_fees(store.clone(), fees());
            Setup {
                name,
                engine: kit.engine.clone(),
                vouchers: Vouchers::new(kit.engine.clone(), config.clone()),
                store,
                _dir: dir,
            }
        })
        .collect()
}

async fn fund(store: &Store, account: AccountId, minor: i64) {
    let t = Transfer {
        reference: format!("test-fund:{account}:{}", ferry_testkit::random_hex()),
        kind: "cash_in",
        currency: Currency::BRL,
        postings: vec![
            Posting::debit(LedgerAccount::Issuance, minor),
            Posting::credit(LedgerAccount::Online(account), minor),
        ],
    };
    store.post(&t, T).await.expect("fund");
}

async fn online(store: &Store, account: AccountId) -> i64 {
    store
        .balance(&LedgerAccount::Online(account), Currency::BRL)
        .await
        .expect("balance")
}

async fn fees_balance(store: &Store) -> i64 {
    store
        .balance(&LedgerAccount::Fees, Currency::BRL)
        .await
        .expect("fees")
}

async fn reserve(store: &Store, id: VoucherId) -> i64 {
    store
        .balance(&LedgerAccount::Voucher(id), Currency::BRL)
        .await
        .expect("reserve")
}

async fn assert_clean(s: &Setup) {
    let audit = s.store.audit().await.expect("audit");
    assert!(audit.is_clean(), "{}: {audit:?}", s.name);
}

fn redeem<'a>(text: &'a str, password: &'a str, receiver: AccountId, minor: i64) -> Redeem<'a> {
    Redeem {
        text,
        password,
        receiver,
        amount: brl(minor),
        place: None,
        request_id: ferry_proto::random_bytes(),
    }
}

/// An emitter with 1 000.00 and a voucher of `minor`, valid 6 hours, password "pix offline".
async fn emitter_with_voucher(s: &Setup, minor: i64) -> (AccountId, String, VoucherId) {
    let emitter = AccountId::random();
    fund(&s.store, emitter, 1_000_00).await;
    let v = s
        .vouchers
        .create(
            emitter,
            brl(minor),
            T.plus_secs(6 * HOUR),
            &pw("pix offline"),
            None,
            T,
        )
        .await
        .expect("create");
    (emitter, v.sealed.to_text(), v.payload.id)
}

#[tokio::test]
async fn create_and_redeem_with_exact_fees_until_used_up() {
    for s in setups(config()).await {
        let n = s.name;
        let (emitter, text, id) = emitter_with_voucher(&s, 100_00).await;
        // 100.00 + 1 % creation fee (1.00) + the 0.3 % fee reserve (0.30).
        assert_eq!(online(&s.store, emitter).await, 1_000_00 - 101_30, "{n}");
        assert_eq!(reserve(&s.store, id).await, 100_30, "{n}");
        assert_eq!(fees_balance(&s.store).await, 1_00, "{n}");
        assert_clean(&s).await;

        let (a, b) = (AccountId::random(), AccountId::random());
        // 33.33: fee ⌊3333 × 30 / 10000⌋ = 9 minor units.
        let out = s
            .vouchers
            .redeem(&redeem(&text, "pix offline", a, 33_33), T.plus_secs(60))
            .await
            .expect("redeem");
        assert_eq!(
            out,
            RedeemOutcome::Redeemed {
                voucher: id,
                amount: brl(33_33),
                fee: brl(9),
                remaining: brl(66_67),
                duplicate: false
            },
            "{n}"
        );
        assert_eq!(online(&s.store, a).await, 33_33, "{n}");
        assert_clean(&s).await;
        // The rest, 66.67: fee ⌊6667 × 30 / 10000⌋ = 20; the voucher is used up and the
        // unused fee reserve (30 − 9 − 20 = 1) goes back.
        let out = s
            .vouchers
            .redeem(&redeem(&text, "pix offline", b, 66_67), T.plus_secs(120))
            .await
            .expect("redeem");
        assert!(
            matches!(out, RedeemOutcome::Redeemed { fee, remaining, .. } if fee == brl(20) && remaining == brl(0)),
            "{n}: {out:?}"
        );
        assert_eq!(online(&s.store, b).await, 66_67, "{n}");
        assert_eq!(reserve(&s.store, id).await, 0, "{n}");
        assert_eq!(fees_balance(&s.store).await, 1_00 + 9 + 20, "{n}");
        assert_eq!(
            online(&s.store, emitter).await,
            1_000_00 - 101_30 + 1,
            "{n}"
        );
        let view = s.vouchers.view(emitter, id).await.expect("view");
        assert_eq!(view.state, VoucherState::UsedUp, "{n}");
        assert_eq!(view.returned, Some(brl(1)), "{n}");
        assert_eq!(view.redemptions.len(), 2, "{n}");
        // Used up: invalid from now on.
        let out = s
            .vouchers
            .redeem(&redeem(&text, "pix offline", a, 1), T.plus_secs(180))
            .await
            .expect("redeem");
        assert_eq!(
            out,
            RedeemOutcome::InvalidVoucher(InvalidReason::UsedUp),
            "{n}"
        );
        let listed = s.vouchers.list(emitter).await.expect("list");
        assert_eq!(listed, vec![view], "{n}");
        assert_clean(&s).await;
    }
}

#[tokio::test]
async fn over_the_remaining_value_is_refused_and_nothing_moves() {
    for s in setups(config()).await {
        let n = s.name;
        let (emitter, text, id) = emitter_with_voucher(&s, 50_00).await;
        let r = AccountId::random();
        let before = (online(&s.store, emitter).await, reserve(&s.store, id).await);
        let out = s
            .vouchers
            .redeem(&redeem(&text, "pix offline", r, 50_01), T.plus_secs(1))
            .await
            .expect("redeem");
        assert_eq!(
            out,
            RedeemOutcome::AmountExceedsVoucher {
                remaining: brl(50_00)
            },
            "{n}"
        );
        assert_eq!(online(&s.store, r).await, 0, "{n}");
        assert_eq!(
            (online(&s.store, emitter).await, reserve(&s.store, id).await),
            before,
            "{n}"
        );
        // An exceeding amount is not a failure: the voucher still works.
        let view = s.vouchers.view(emitter, id).await.expect("view");
        assert_eq!(
            (view.state, view.remaining),
            (VoucherState::Active, brl(50_00)),
            "{n}"
        );
        assert_clean(&s).await;
    }
}

#[tokio::test]
async fn a_retried_request_is_answered_again_and_moves_nothing() {
    for s in setups(config()).await {
        let n = s.name;
        let (_, text, _) = emitter_with_voucher(&s, 50_00).await;
        let r = AccountId::random();
        let req = redeem(&text, "pix offline", r, 10_00);
        let first = s.vouchers.redeem(&req, T.plus_secs(1)).await.expect("1");
        let again = s.vouchers.redeem(&req, T.plus_secs(2)).await.expect("2");
        assert!(
            matches!(
                first,
                RedeemOutcome::Redeemed {
                    duplicate: false,
                    ..
                }
            ),
            "{n}"
        );
        assert!(
            matches!(again, RedeemOutcome::Redeemed { duplicate: true, amount, .. } if amount == brl(10_00)),
            "{n}: {again:?}"
        );
        assert_eq!(online(&s.store, r).await, 10_00, "{n}");
        // Even after the receiver is refused for its failures, the retry gets its answer.
        for _ in 0..20 {
            s.vouchers
                .redeem(&redeem("FV1:NOPE", "pix offline", r, 1_00), T.plus_secs(3))
                .await
                .expect("redeem");
        }
        assert_eq!(
            s.vouchers
                .redeem(&redeem(&text, "pix offline", r, 1_00), T.plus_secs(4))
                .await
                .expect("refused"),
            RedeemOutcome::SecurityException(SecurityReason::ReceiverFailures),
            "{n}"
        );
        let again = s.vouchers.redeem(&req, T.plus_secs(5)).await.expect("3");
        assert!(
            matches!(
                again,
                RedeemOutcome::Redeemed {
                    duplicate: true,
                    ..
                }
            ),
            "{n}: {again:?}"
        );
        assert_eq!(online(&s.store, r).await, 10_00, "{n}");
        assert_clean(&s).await;
    }
}

#[tokio::test]
async fn creation_rules_expiry_blocking_and_funds() {
    for s in setups(config()).await {
        let n = s.name;
        let emitter = AccountId::random();
        fund(&s.store, emitter, 100_00).await;
        let p = pw("pix offline");
        let create = |minor: i64, expires: UnixTime| {
            let v = s.vouchers.clone();
            let p = p.clone();
            async move { v.create(emitter, brl(minor), expires, &p, None, T).await }
        };
        // Over 12 hours, at or before now: refused.
        for bad in [T.plus_secs(12 * HOUR + 1), T, T.minus_secs(1)] {
            assert!(
                matches!(create(10_00, bad).await, Err(VoucherError::BadExpiry)),
                "{n}"
            );
        }
        assert!(create(10_00, T.plus_secs(12 * HOUR)).await.is_ok(), "{n}");
        // Amounts: zero, negative, another currency, too large to add its fees.
        for bad in [0, -1, i64::MAX] {
            assert!(
                matches!(
                    create(bad, T.plus_secs(HOUR)).await,
                    Err(VoucherError::InvalidAmount(_))
                ),
                "{n}: {bad}"
            );
        }
        assert!(matches!(
            s.vouchers
                .create(
                    emitter,
                    Money::new(1_00, Currency::USD),
                    T.plus_secs(HOUR),
                    &p,
                    None,
                    T
                )
                .await,
            Err(VoucherError::InvalidAmount(_))
        ));
        // Funds: 10.00 + 0.10 + 0.03 left 89.87; 89.00 needs 89.00 + 0.89 + 0.26.
        assert_eq!(online(&s.store, emitter).await, 100_00 - 10_13, "{n}");
        assert!(
            matches!(
                create(89_00, T.plus_secs(HOUR)).await,
                Err(VoucherError::InsufficientFunds { needed, balance })
                    if needed == brl(90_15) && balance == brl(89_87)
            ),
            "{n}"
        );
        // Blocked: refused until unblocked.
        assert!(
            s.vouchers
                .set_blocked(emitter, true, T)
                .await
                .expect("block")
        );
        assert!(
            !s.vouchers
                .set_blocked(emitter, true, T)
                .await
                .expect("again")
        );
        assert!(s.vouchers.is_blocked(emitter).await.expect("read"));
        assert!(
            matches!(
                create(1_00, T.plus_secs(HOUR)).await,
                Err(VoucherError::Blocked)
            ),
            "{n}"
        );
        assert!(
            s.vouchers
                .set_blocked(emitter, false, T)
                .await
                .expect("unblock")
        );
        assert!(create(1_00, T.plus_secs(HOUR)).await.is_ok(), "{n}");
        assert_eq!(
            s.vouchers.list(emitter).await.expect("list").len(),
            2,
            "{n}"
        );
        assert_clean(&s).await;
    }
}

#[tokio::test]
async fn expired_and_invalidated_vouchers_are_invalid_and_return_their_rest_once() {
    for s in setups(config()).await {
        let n = s.name;
        let (emitter, text, id) = emitter_with_voucher(&s, 100_00).await;
        let r = AccountId::random();
        s.vouchers
            .redeem(&redeem(&text, "pix offline", r, 40_00), T.plus_secs(10))
            .await
            .expect("redeem");
        let before = online(&s.store, emitter).await;
        // At the expiry instant it is expired; the redemption itself closes it.
        let out = s
            .vouchers
            .redeem(
                &redeem(&text, "pix offline", r, 1_00),
                T.plus_secs(6 * HOUR),
            )
            .await
            .expect("redeem");
        assert_eq!(
            out,
            RedeemOutcome::InvalidVoucher(InvalidReason::Expired),
            "{n}"
        );
        // 60.00 left and the fee reserve 0.30 minus the 0.12 charged.
        assert_eq!(online(&s.store, emitter).await, before + 60_18, "{n}");
        // The sweep finds nothing more to do.
        assert_eq!(
            s.vouchers
                .expire(T.plus_secs(7 * HOUR))
                .await
                .expect("sweep"),
            0,
            "{n}"
        );
        assert_eq!(online(&s.store, emitter).await, before + 60_18, "{n}");

        // Invalidated by the emitter.
        let (emitter2, text2, id2) = emitter_with_voucher(&s, 20_00).await;
        let before2 = online(&s.store, emitter2).await;
        // Somebody else cannot invalidate it.
        assert!(matches!(
            s.vouchers.invalidate(emitter, id2, T.plus_secs(5)).await,
            Err(VoucherError::NotFound)
        ));
        let view = s
            .vouchers
            .invalidate(emitter2, id2, T.plus_secs(5))
            .await
            .expect("invalidate");
        assert_eq!(view.state, VoucherState::Invalidated, "{n}");
        assert_eq!(view.reason.as_deref(), Some("emitter"), "{n}");
        assert_eq!(view.returned, Some(brl(20_06)), "{n}");
        assert_eq!(online(&s.store, emitter2).await, before2 + 20_06, "{n}");
        // Again: nothing more moves.
        s.vouchers
            .invalidate(emitter2, id2, T.plus_secs(6))
            .await
            .expect("again");
        assert_eq!(online(&s.store, emitter2).await, before2 + 20_06, "{n}");
        let out = s
            .vouchers
            .redeem(&redeem(&text2, "pix offline", r, 1_00), T.plus_secs(7))
            .await
            .expect("redeem");
        assert_eq!(
            out,
            RedeemOutcome::InvalidVoucher(InvalidReason::Invalidated),
            "{n}"
        );
        assert_eq!(reserve(&s.store, id).await, 0, "{n}");
        assert_eq!(reserve(&s.store, id2).await, 0, "{n}");
        assert_clean(&s).await;
    }
}

#[tokio::test]
async fn the_sweep_returns_the_rest_once_even_run_twice_or_concurrently() {
    for s in setups(config()).await {
        let n = s.name;
        let mut emitters = Vec::new();
        for _ in 0..3 {
            emitters.push(emitter_with_voucher(&s, 10_00).await);
        }
        let before: Vec<i64> = {
            let mut v = Vec::new();
            for (e, ..) in &emitters {
                v.push(online(&s.store, *e).await);
            }
            v
        };
        // Before expiry: nothing.
        assert_eq!(
            s.vouchers.expire(T.plus_secs(HOUR)).await.expect("sweep"),
            0,
            "{n}"
        );
        let later = T.plus_secs(6 * HOUR);
        let sweeps: Vec<_> = (0..4)
            .map(|_| {
                let v = s.vouchers.clone();
                tokio::spawn(async move { v.expire(later).await.expect("sweep") })
            })
            .collect();
        let mut closed = 0;
        for h in sweeps {
            closed += h.await.expect("task");
        }
        closed += s.vouchers.expire(later).await.expect("again");
        assert_eq!(closed, 3, "{n}");
        for ((e, _, id), b) in emitters.iter().zip(before) {
            assert_eq!(online(&s.store, *e).await, b + 10_03, "{n}");
            assert_eq!(reserve(&s.store, *id).await, 0, "{n}");
            let view = s.vouchers.view(*e, *id).await.expect("view");
            assert_eq!(view.state, VoucherState::Expired, "{n}");
        }
        assert_eq!(
            s.store
                .transfer_counts("voucher_return")
                .await
                .expect("count"),
            (3, 3),
            "{n}"
        );
        assert_clean(&s).await;
    }
}

#[tokio::test]
async fn wrong_passwords_invalidate_the_voucher_with_a_security_exception() {
    for s in setups(config()).await {
        let n = s.name;
        let (emitter, text, id) = emitter_with_voucher(&s, 30_00).await;
        let before = online(&s.store, emitter).await;
        let thief = AccountId::random();
        for left in (1..=4).rev() {
            let out = s
                .vouchers
                .redeem(&redeem(&text, "guess-1234", thief, 1_00), T.plus_secs(1))
                .await
                .expect("redeem");
            assert_eq!(
                out,
                RedeemOutcome::InvalidVoucher(InvalidReason::WrongPassword {
                    attempts_left: left
                }),
                "{n}"
            );
        }
        // A password that breaks the rules is a wrong one too: the fifth.
        let out = s
            .vouchers
            .redeem(&redeem(&text, "x", thief, 1_00), T.plus_secs(2))
            .await
            .expect("redeem");
        assert_eq!(
            out,
            RedeemOutcome::SecurityException(SecurityReason::BruteForce),
            "{n}"
        );
        let view = s.vouchers.view(emitter, id).await.expect("view");
        assert_eq!(
            (view.state, view.reason.as_deref()),
            (VoucherState::Invalidated, Some("brute_force")),
            "{n}"
        );
        assert_eq!(online(&s.store, emitter).await, before + 30_09, "{n}");
        // The alert names the thief, with the evidence.
        let alerts = s.engine.risk_alerts(Some(thief), 10).await.expect("alerts");
        assert_eq!(alerts.len(), 1, "{n}");
        assert_eq!(
            (alerts[0].rule.as_str(), alerts[0].action.as_str()),
            ("brute_force", "blocked"),
            "{n}"
        );
        let evidence: serde_json::Value =
            serde_json::from_str(&alerts[0].evidence).expect("evidence JSON");
        assert_eq!(evidence["voucher"], id.to_string(), "{n}");
        assert_eq!(evidence["failures"], 5, "{n}");
        // Now even the right password finds it invalid.
        let out = s
            .vouchers
            .redeem(&redeem(&text, "pix offline", thief, 1_00), T.plus_secs(3))
            .await
            .expect("redeem");
        assert_eq!(
            out,
            RedeemOutcome::InvalidVoucher(InvalidReason::Invalidated),
            "{n}"
        );
        assert_eq!(online(&s.store, thief).await, 0, "{n}");
        assert_clean(&s).await;
    }
}

#[tokio::test]
async fn two_redemptions_600_km_apart_within_30_minutes_are_a_security_exception() {
    for s in setups(config()).await {
        let n = s.name;
        let emitter = AccountId::random();
        fund(&s.store, emitter, 100_00).await;
        let recife = place(-8.0476, -34.877).expect("place");
        let salvador = place(-12.9714, -38.5014).expect("place");
        let v = s
            .vouchers
            .create(
                emitter,
                brl(50_00),
                T.plus_secs(6 * HOUR),
                &pw("pix offline"),
                Some(recife),
                T,
            )
            .await
            .expect("create");
        let text = v.sealed.to_text();
        let (a, b) = (AccountId::random(), AccountId::random());
        // In Recife 10 minutes later: fine.
        let mut req = redeem(&text, "pix offline", a, 5_00);
        req.place = Some(recife);
        assert!(matches!(
            s.vouchers.redeem(&req, T.plus_secs(600)).await.expect("1"),
            RedeemOutcome::Redeemed { .. }
        ));
        // In Salvador (~675 km) 30 minutes after that: impossible.
        let mut req = redeem(&text, "pix offline", b, 5_00);
        req.place = Some(salvador);
        assert_eq!(
            s.vouchers.redeem(&req, T.plus_secs(2400)).await.expect("2"),
            RedeemOutcome::SecurityException(SecurityReason::ImpossibleTravel),
            "{n}"
        );
        assert_eq!(online(&s.store, b).await, 0, "{n}");
        let view = s.vouchers.view(emitter, v.payload.id).await.expect("view");
        assert_eq!(
            (view.state, view.reason.as_deref()),
            (VoucherState::Invalidated, Some("impossible_travel")),
            "{n}"
        );
        // 45.00 and the unused reserve (0.15 − 0.01) went back.
        assert_eq!(view.returned, Some(brl(45_14)), "{n}");
        let alerts = s.engine.risk_alerts(Some(b), 10).await.expect("alerts");
        assert_eq!(alerts.len(), 1, "{n}");
        assert_eq!(alerts[0].rule, "impossible_travel", "{n}");
        let evidence: serde_json::Value =
            serde_json::from_str(&alerts[0].evidence).expect("evidence JSON");
        let d = evidence["distance_m"].as_u64().expect("distance");
        assert!((660_000..690_000).contains(&d), "{n}: {d}");
        assert_clean(&s).await;

        // Without places, or far apart but hours later: no exception.
        let v = s
            .vouchers
            .create(
                emitter,
                brl(10_00),
                T.plus_secs(12 * HOUR),
                &pw("pix offline"),
                Some(recife),
                T,
            )
            .await
            .expect("create");
        let text = v.sealed.to_text();
        let mut req = redeem(&text, "pix offline", b, 1_00);
        req.place = Some(salvador);
        assert!(matches!(
            s.vouchers
                .redeem(&req, T.plus_secs(3 * HOUR))
                .await
                .expect("3"),
            RedeemOutcome::Redeemed { .. }
        ));
    }
}

#[tokio::test]
async fn bad_vouchers_are_typed_outcomes_and_move_nothing() {
    for s in setups(config()).await {
        let n = s.name;
        let (emitter, text, id) = emitter_with_voucher(&s, 40_00).await;
        let r = AccountId::random();
        let at = T.plus_secs(5);
        let outcome = |t: String, p: &'static str| {
            let v = s.vouchers.clone();
            async move { v.redeem(&redeem(&t, p, r, 1_00), at).await.expect("redeem") }
        };
        // Truncated, empty, lower case, junk.
        for bad in [
            text[..text.len() - 1].to_owned(),
            String::new(),
            text.to_lowercase(),
            "FV1:hello".to_owned(),
        ] {
            assert_eq!(
                outcome(bad, "pix offline").await,
                RedeemOutcome::InvalidVoucher(InvalidReason::Malformed),
                "{n}"
            );
        }
        // One character changed in the ciphertext: with the right password the verifier passes
        // but the payload does not open.
        let mut chars: Vec<char> = text.chars().collect();
        let i = chars.len() - 10;
        chars[i] = if chars[i] == 'A' { 'B' } else { 'A' };
        let changed: String = chars.into_iter().collect();
        assert_eq!(
            outcome(changed, "pix offline").await,
            RedeemOutcome::InvalidVoucher(InvalidReason::Mismatch),
            "{n}"
        );
        // The same payload sealed under another password: that password is not the voucher's.
        let stored = s.store.voucher(id).await.expect("read").expect("row");
        let payload = VoucherPayload {
            id,
            created_at: stored.created_at,
            expires_at: stored.expires_at,
            emitter,
            initial_amount: brl(40_00),
        };
        let resealed = SealedVoucher::seal(&payload, "other password")
            .expect("seal")
            .to_text();
        assert_eq!(
            outcome(resealed.clone(), "other password").await,
            RedeemOutcome::InvalidVoucher(InvalidReason::WrongPassword { attempts_left: 3 }),
            "{n}"
        );
        // ... and with the voucher's password it does not open.
        assert_eq!(
            outcome(resealed, "pix offline").await,
            RedeemOutcome::InvalidVoucher(InvalidReason::Mismatch),
            "{n}"
        );
        // A voucher of another server (an id unknown here).
        let foreign = VoucherPayload {
            id: VoucherId::random(),
            ..payload
        };
        let foreign = SealedVoucher::seal(&foreign, "pix offline")
            .expect("seal")
            .to_text();
        assert_eq!(
            outcome(foreign, "pix offline").await,
            RedeemOutcome::InvalidVoucher(InvalidReason::Unknown),
            "{n}"
        );
        // Amounts: zero, negative, another currency, overflow with the fee: typed errors.
        for bad in [
            brl(0),
            brl(-5),
            Money::new(1_00, Currency::USD),
            brl(i64::MAX),
        ] {
            let mut req = redeem(&text, "pix offline", r, 1);
            req.amount = bad;
            assert!(
                matches!(
                    s.vouchers.redeem(&req, at).await,
                    Err(VoucherError::InvalidAmount(_))
                ),
                "{n}: {bad:?}"
            );
        }
        assert_eq!(online(&s.store, r).await, 0, "{n}");
        assert_eq!(reserve(&s.store, id).await, 40_12, "{n}");
        assert_clean(&s).await;
    }
}

#[tokio::test]
async fn a_receiver_with_many_failures_is_refused() {
    let cfg = VoucherConfig {
        receiver_failure_limit: 3,
        receiver_failure_window_secs: 600,
        ..config()
    };
    for s in setups(cfg.clone()).await {
        let n = s.name;
        let (_, text, _) = emitter_with_voucher(&s, 10_00).await;
        let r = AccountId::random();
        for _ in 0..3 {
            assert_eq!(
                s.vouchers
                    .redeem(&redeem("FV1:NOPE", "pix offline", r, 1_00), T)
                    .await
                    .expect("redeem"),
                RedeemOutcome::InvalidVoucher(InvalidReason::Malformed),
                "{n}"
            );
        }
        // Even a good voucher with its password: refused while the window holds.
        assert_eq!(
            s.vouchers
                .redeem(&redeem(&text, "pix offline", r, 1_00), T.plus_secs(60))
                .await
                .expect("redeem"),
            RedeemOutcome::SecurityException(SecurityReason::ReceiverFailures),
            "{n}"
        );
        // Refused again: one alert for the burst, not one per attempt.
        s.vouchers
            .redeem(&redeem(&text, "pix offline", r, 1_00), T.plus_secs(61))
            .await
            .expect("redeem");
        let alerts = s.engine.risk_alerts(Some(r), 10).await.expect("alerts");
        assert_eq!(alerts.len(), 1, "{n}");
        assert_eq!(alerts[0].rule, "receiver_failures", "{n}");
        // After the window it works; another receiver was never affected.
        assert!(matches!(
            s.vouchers
                .redeem(&redeem(&text, "pix offline", r, 1_00), T.plus_secs(601))
                .await
                .expect("redeem"),
            RedeemOutcome::Redeemed { .. }
        ));
        assert_clean(&s).await;
    }
}

/// 20 receivers redeem 7.00 each at once from a 100.00 voucher: exactly 14 are paid, 6 find
/// it exceeded, and never more than its value leaves the reserve.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn twenty_concurrent_redemptions_never_pay_more_than_the_value() {
    for s in setups(config()).await {
        let n = s.name;
        let (emitter, text, id) = emitter_with_voucher(&s, 100_00).await;
        let text = Arc::new(text);
        let receivers: Vec<AccountId> = (0..20).map(|_| AccountId::random()).collect();
        let tasks: Vec<_> = receivers
            .iter()
            .map(|r| {
                let (v, text, r) = (s.vouchers.clone(), text.clone(), *r);
                tokio::spawn(async move {
                    v.redeem(&redeem(&text, "pix offline", r, 7_00), T.plus_secs(30))
                        .await
                        .expect("redeem")
                })
            })
            .collect();
        let mut paid = 0;
        let mut exceeded = 0;
        for t in tasks {
            match t.await.expect("task") {
                RedeemOutcome::Redeemed { .. } => paid += 1,
                RedeemOutcome::AmountExceedsVoucher { remaining } => {
                    assert!(remaining.minor() < 7_00, "{n}");
                    exceeded += 1;
                }
                other => panic!("{n}: {other:?}"),
            }
        }
        assert_eq!((paid, exceeded), (14, 6), "{n}");
        let mut total = 0;
        for r in &receivers {
            total += online(&s.store, *r).await;
        }
        assert_eq!(total, 98_00, "{n}");
        let view = s.vouchers.view(emitter, id).await.expect("view");
        assert_eq!(view.remaining, brl(2_00), "{n}");
        // 100.30 − 98.00 − 14 × ⌊700 × 0.003⌋ (2 each) = 2.02.
        assert_eq!(reserve(&s.store, id).await, 2_02, "{n}");
        assert_clean(&s).await;
    }
}

/// Failing payloads that share the emitter (many receivers guessing at one emitter's vouchers)
/// or a voucher-id prefix (ids being enumerated) raise one alert each, with the evidence.
#[tokio::test]
async fn failures_sharing_an_emitter_or_an_id_prefix_raise_alerts() {
    let cfg = VoucherConfig {
        shared_failure_limit: 6,
        ..config()
    };
    for s in setups(cfg.clone()).await {
        let n = s.name;
        let emitter = AccountId::random();
        fund(&s.store, emitter, 1_000_00).await;
        let mut texts = Vec::new();
        for _ in 0..3 {
            let v = s
                .vouchers
                .create(
                    emitter,
                    brl(10_00),
                    T.plus_secs(HOUR),
                    &pw("pix offline"),
                    None,
                    T,
                )
                .await
                .expect("create");
            texts.push(v.sealed.to_text());
        }
        // Two wrong passwords on each of three vouchers, each by another receiver: no voucher
        // reaches its limit, no receiver its own.
        for t in &texts {
            for _ in 0..2 {
                let out = s
                    .vouchers
                    .redeem(
                        &redeem(t, "guess-guess", AccountId::random(), 1_00),
                        T.plus_secs(5),
                    )
                    .await
                    .expect("redeem");
                assert!(matches!(
                    out,
                    RedeemOutcome::InvalidVoucher(InvalidReason::WrongPassword { .. })
                ));
            }
        }
        let alerts = s
            .engine
            .risk_alerts(Some(emitter), 10)
            .await
            .expect("alerts");
        assert_eq!(alerts.len(), 1, "{n}: {alerts:?}");
        assert_eq!(alerts[0].rule, "emitter_failures", "{n}");
        assert_eq!(alerts[0].action, "alert", "{n}");
        let evidence: serde_json::Value =
            serde_json::from_str(&alerts[0].evidence).expect("evidence JSON");
        assert_eq!(evidence["failures_in_window"], 6, "{n}");

        // Six unknown ids that share their first 8 hex digits, from six receivers.
        let mut last = None;
        for i in 0..6u8 {
            let mut raw = ferry_proto::random_bytes::<16>();
            raw[..4].copy_from_slice(&[0xab, 0xcd, 0xef, 0x01]);
            raw[6] = (raw[6] & 0x0f) | 0x40;
            raw[8] = (raw[8] & 0x3f) | 0x80;
            let payload = VoucherPayload {
                id: VoucherId(raw),
                created_at: T,
                expires_at: T.plus_secs(HOUR),
                emitter,
                initial_amount: brl(1_00 + i64::from(i)),
            };
            let text = SealedVoucher::seal(&payload, "pix offline")
                .expect("seal")
                .to_text();
            let r = AccountId::random();
            assert_eq!(
                s.vouchers
                    .redeem(&redeem(&text, "pix offline", r, 1_00), T.plus_secs(10))
                    .await
                    .expect("redeem"),
                RedeemOutcome::InvalidVoucher(InvalidReason::Unknown),
                "{n}"
            );
            last = Some(r);
        }
        let last = last.expect("a receiver");
        let alerts = s.engine.risk_alerts(Some(last), 10).await.expect("alerts");
        assert_eq!(alerts.len(), 1, "{n}: {alerts:?}");
        assert_eq!(alerts[0].rule, "id_prefix_failures", "{n}");
        let evidence: serde_json::Value =
            serde_json::from_str(&alerts[0].evidence).expect("evidence JSON");
        assert_eq!(evidence["id_prefix"], "abcdef01", "{n}");
        assert_clean(&s).await;
    }
}

/// With `block_after_alert_secs`, a receiver a rule blocked (here: brute force) is refused on
/// every voucher until the time has passed.
#[tokio::test]
async fn a_blocking_alert_blocks_the_receiver_for_a_while() {
    let cfg = VoucherConfig {
        block_after_alert_secs: HOUR,
        ..config()
    };
    for s in setups(cfg.clone()).await {
        let n = s.name;
        let (_, text, _) = emitter_with_voucher(&s, 10_00).await;
        let (_, other, _) = emitter_with_voucher(&s, 10_00).await;
        let thief = AccountId::random();
        for _ in 0..5 {
            s.vouchers
                .redeem(&redeem(&text, "guess-guess", thief, 1_00), T.plus_secs(1))
                .await
                .expect("redeem");
        }
        // Another voucher, with its right password: refused for the hour.
        assert_eq!(
            s.vouchers
                .redeem(&redeem(&other, "pix offline", thief, 1_00), T.plus_secs(60))
                .await
                .expect("redeem"),
            RedeemOutcome::SecurityException(SecurityReason::AccountBlocked),
            "{n}"
        );
        assert_eq!(online(&s.store, thief).await, 0, "{n}");
        // Somebody else is not affected; after the hour the thief is not either.
        assert!(matches!(
            s.vouchers
                .redeem(
                    &redeem(&other, "pix offline", AccountId::random(), 1_00),
                    T.plus_secs(60)
                )
                .await
                .expect("redeem"),
            RedeemOutcome::Redeemed { .. }
        ));
        assert!(matches!(
            s.vouchers
                .redeem(
                    &redeem(&other, "pix offline", thief, 1_00),
                    T.plus_secs(HOUR + 2)
                )
                .await
                .expect("redeem"),
            RedeemOutcome::Redeemed { .. }
        ));
        assert_clean(&s).await;
    }
}

#[tokio::test]
async fn the_velocity_rule_blocks_or_only_alerts() {
    use ferry_ledger::engine::risk::{RiskAction, VelocityRule};
    for action in [RiskAction::Block, RiskAction::Alert] {
        let cfg = VoucherConfig {
            redeem_velocity: Some(VelocityRule {
                window_secs: 3600,
                max_count: 3,
                max_amount: 1_000_00,
                action,
            }),
            ..config()
        };
        for s in setups(cfg).await {
            let n = s.name;
            let (_, text, _) = emitter_with_voucher(&s, 100_00).await;
            let r = AccountId::random();
            for i in 0..3 {
                assert!(matches!(
                    s.vouchers
                        .redeem(&redeem(&text, "pix offline", r, 1_00), T.plus_secs(i * 60))
                        .await
                        .expect("redeem"),
                    RedeemOutcome::Redeemed { .. }
                ));
            }
            let fourth = s
                .vouchers
                .redeem(&redeem(&text, "pix offline", r, 1_00), T.plus_secs(300))
                .await
                .expect("redeem");
            let alerts = s.engine.risk_alerts(Some(r), 10).await.expect("alerts");
            assert_eq!(alerts.len(), 1, "{n}");
            assert_eq!(alerts[0].rule, "velocity", "{n}");
            let evidence: serde_json::Value =
                serde_json::from_str(&alerts[0].evidence).expect("evidence JSON");
            assert_eq!(evidence["count_in_window"], 3, "{n}");
            match action {
                RiskAction::Block => {
                    assert_eq!(
                        fourth,
                        RedeemOutcome::SecurityException(SecurityReason::Velocity),
                        "{n}"
                    );
                    assert_eq!(alerts[0].action, "blocked", "{n}");
                    assert_eq!(online(&s.store, r).await, 3_00, "{n}");
                }
                RiskAction::Alert => {
                    assert!(matches!(fourth, RedeemOutcome::Redeemed { .. }), "{n}");
                    assert_eq!(alerts[0].action, "alert", "{n}");
                    assert_eq!(online(&s.store, r).await, 4_00, "{n}");
                }
            }
            // Outside the window the count starts again.
            assert!(matches!(
                s.vouchers
                    .redeem(
                        &redeem(&text, "pix offline", r, 1_00),
                        T.plus_secs(3 * 3600)
                    )
                    .await
                    .expect("redeem"),
                RedeemOutcome::Redeemed { .. }
            ));
            assert_clean(&s).await;
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(12))]

    /// Any sequence of redemptions conserves money: what left the emitter equals what the
    /// receivers got plus the fees plus what is still reserved, the reserve never goes below
    /// zero, and receivers never get more than the voucher's value.
    #[test]
    fn redemptions_conserve_money(
        value in 1i64..=50_000,
        amounts in proptest::collection::vec(1i64..=20_000, 1..8),
        close_early in any::<bool>(),
    ) {
        let rt = tokio::runtime::Runtime::new().expect("runtime");
        rt.block_on(async {
            let dir = tempfile::tempdir().expect("dir");
            let store = Store::open_sqlite_dir(dir.path()).await.expect("store");
            let kit = Kit::with_fees(store.clone(), fees());
            let vouchers = Vouchers::new(kit.engine.clone(), config());
            let emitter = AccountId::random();
            fund(&store, emitter, 1_000_000).await;
            let v = vouchers
                .create(emitter, brl(value), T.plus_secs(HOUR), &pw("pix offline"), None, T)
                .await
                .expect("create");
            let text = v.sealed.to_text();
            let receiver = AccountId::random();
            for (i, a) in amounts.iter().enumerate() {
                if close_early && i == amounts.len() / 2 {
                    vouchers.invalidate(emitter, v.payload.id, T).await.expect("invalidate");
                }
                vouchers
                    .redeem(&redeem(&text, "pix offline", receiver, *a), T.plus_secs(1))
                    .await
                    .expect("redeem");
            }
            vouchers.expire(T.plus_secs(HOUR)).await.expect("sweep");
            let got = online(&store, receiver).await;
            let fees = fees_balance(&store).await;
            let left = online(&store, emitter).await;
            assert!(got <= value);
            assert_eq!(reserve(&store, v.payload.id).await, 0);
            assert_eq!(1_000_000 - left, got + fees);
            assert!(store.audit().await.expect("audit").is_clean());
        });
    }
}

fn create_rule(action: ferry_ledger::engine::risk::RiskAction) -> VoucherConfig {
    VoucherConfig {
        create_velocity: Some(ferry_ledger::engine::risk::VelocityRule {
            window_secs: HOUR,
            max_count: 2,
            max_amount: 150_00,
            action,
        }),
        ..config()
    }
}

async fn create_at(
    s: &Setup,
    emitter: AccountId,
    minor: i64,
    at: u64,
) -> Result<VoucherId, VoucherError> {
    s.vouchers
        .create(
            emitter,
            brl(minor),
            T.plus_secs(at + HOUR),
            &pw("pix offline"),
            None,
            T.plus_secs(at),
        )
        .await
        .map(|v| v.payload.id)
}

#[tokio::test]
async fn the_creation_velocity_rule_refuses_by_count_and_by_value_with_an_alert() {
    use ferry_ledger::engine::risk::RiskAction;
    for s in setups(create_rule(RiskAction::Block)).await {
        let n = s.name;
        let emitter = AccountId::random();
        fund(&s.store, emitter, 1_000_00).await;
        create_at(&s, emitter, 50_00, 0).await.expect("first");
        create_at(&s, emitter, 50_00, 10).await.expect("second");
        let before = online(&s.store, emitter).await;
        // A third within the hour: refused by count, nothing moves, an alert with evidence.
        let e = create_at(&s, emitter, 1_00, 20).await.expect_err("third");
        match e {
            VoucherError::CreationVelocity {
                window_secs,
                max_count,
                retry_after_secs,
                ..
            } => {
                assert_eq!((window_secs, max_count), (HOUR, 2), "{n}");
                // The first voucher counts until T + 3600 inclusive.
                assert_eq!(retry_after_secs, HOUR - 20 + 1, "{n}");
            }
            other => panic!("{n}: {other:?}"),
        }
        assert!(
            e.to_string().contains("too many vouchers in a short time"),
            "{n}"
        );
        assert_eq!(online(&s.store, emitter).await, before, "{n}");
        assert_eq!(
            s.vouchers.list(emitter).await.expect("list").len(),
            2,
            "{n}"
        );
        let alerts = s
            .engine
            .risk_alerts(Some(emitter), 10)
            .await
            .expect("alerts");
        assert_eq!(alerts.len(), 1, "{n}");
        assert_eq!(
            (
                alerts[0].channel.as_str(),
                alerts[0].rule.as_str(),
                alerts[0].action.as_str()
            ),
            ("voucher", "create_velocity", "blocked"),
            "{n}"
        );
        let ev: serde_json::Value = serde_json::from_str(&alerts[0].evidence).expect("json");
        assert_eq!(ev["count_in_window"], 2, "{n}");
        assert_eq!(ev["total_in_window"], 100_00, "{n}");
        assert_eq!(ev["max_count"], 2, "{n}");
        // The window slides: once the first voucher is more than an hour old, one more fits.
        create_at(&s, emitter, 60_00, HOUR + 1)
            .await
            .expect("after the window");
        // By value: 50.00 + 60.00 in the window, 50.00 more would pass 150.00.
        let other = AccountId::random();
        fund(&s.store, other, 1_000_00).await;
        create_at(&s, other, 100_00, 0).await.expect("100.00");
        assert!(
            matches!(
                create_at(&s, other, 50_01, 1).await,
                Err(VoucherError::CreationVelocity { .. })
            ),
            "{n}"
        );
        create_at(&s, other, 50_00, 2)
            .await
            .expect("exactly 150.00");
        assert_clean(&s).await;
    }
}

#[tokio::test]
async fn an_alert_only_creation_velocity_rule_lets_the_voucher_through() {
    use ferry_ledger::engine::risk::RiskAction;
    for s in setups(create_rule(RiskAction::Alert)).await {
        let n = s.name;
        let emitter = AccountId::random();
        fund(&s.store, emitter, 1_000_00).await;
        for at in 0..3 {
            create_at(&s, emitter, 10_00, at).await.expect("created");
        }
        assert_eq!(
            s.vouchers.list(emitter).await.expect("list").len(),
            3,
            "{n}"
        );
        let alerts = s
            .engine
            .risk_alerts(Some(emitter), 10)
            .await
            .expect("alerts");
        assert_eq!(alerts.len(), 1, "{n}");
        assert_eq!(alerts[0].action, "alert", "{n}");
        assert_clean(&s).await;
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(12))]

    /// Any sequence of creations (amounts, gaps) on SQLite: a creation is refused exactly when
    /// the vouchers created in the hour before it, plus it, would pass 2 vouchers or 150.00,
    /// so no window ever holds more; every refusal stores one alert and moves nothing.
    #[test]
    fn creation_velocity_matches_its_model(
        steps in proptest::collection::vec(
            (1i64..=120_00, prop_oneof![0u64..=2 * HOUR, Just(HOUR), Just(HOUR + 1)]),
            1..8,
        ),
    ) {
        use ferry_ledger::engine::risk::RiskAction;
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(async {
            let dir = tempfile::tempdir().expect("dir");
            let store = Store::open_sqlite_dir(dir.path()).await.expect("sqlite");
            let kit = Kit::with_fees(store.clone(), fees());
            let s = Setup {
                name: "sqlite",
                engine: kit.engine.clone(),
                vouchers: Vouchers::new(kit.engine.clone(), create_rule(RiskAction::Block)),
                store,
                _dir: Some(dir),
            };
            let emitter = AccountId::random();
            fund(&s.store, emitter, 10_000_00).await;
            let (mut at, mut made, mut refused) = (0u64, Vec::<(u64, i64)>::new(), 0usize);
            for (minor, gap) in steps {
                at += gap;
                let before = online(&s.store, emitter).await;
                let window: Vec<_> = made.iter().filter(|(t, _)| *t + HOUR >= at).collect();
                let sum: i64 = window.iter().map(|(_, m)| m).sum();
                let expect_refused = window.len() + 1 > 2 || sum + minor > 150_00;
                match create_at(&s, emitter, minor, at).await {
                    Ok(_) => {
                        prop_assert!(!expect_refused, "created past the rule at {at}");
                        made.push((at, minor));
                    }
                    Err(VoucherError::CreationVelocity { .. }) => {
                        prop_assert!(expect_refused, "refused within the rule at {at}");
                        prop_assert_eq!(online(&s.store, emitter).await, before);
                        refused += 1;
                    }
                    Err(e) => return Err(TestCaseError::fail(format!("{e}"))),
                }
            }
            let alerts = s.engine.risk_alerts(Some(emitter), 100).await.expect("alerts");
            prop_assert_eq!(alerts.len(), refused);
            prop_assert!(s.store.audit().await.expect("audit").is_clean());
            Ok(())
        })?;
    }
}
