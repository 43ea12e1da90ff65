//! `ferry fraud evaluate`, cloned secure wallets: how settlement's fork detection catches a
//! wallet whose keys were copied onto a second device, on a fixed seed.
//!
//! What it is: real secure-wallet journals (Ed25519-signed entries written by
//! [`JournalWriter`]) reaching the server in the order a population would deliver them —
//! merchants claim the payments they received some hours later, payers sync once a day — fed
//! to the same [`ForkDetector`] the settlement engine keeps per wallet. What it is not: a run
//! through the database or HTTP (the engine's fork tests do that).
//!
//! A clone starts from the owner's state at some moment of the day and pays a few merchants
//! within two hours. Its entries take journal positions the owner uses too, so the server sees
//! two different entries at one position as soon as one payment of each device has arrived.
//! If the owner never pays again and never syncs in the window, nothing conflicts: the copy's
//! chain looks like the wallet's own (a thief with the only device). That is what recall
//! measures.

use std::collections::HashMap;

use ferry_proto::cert::{TaCertBody, TaCertificate};
use ferry_proto::fraud::ForkDetector;
use ferry_proto::journal::{EntryKind, SignedEntry};
use ferry_proto::journal_writer::JournalWriter;
use ferry_proto::verify::ChainPoint;
use ferry_proto::{AccountId, Currency, Limits, Money, RequestNonce, SigningKey, Tier, UnixTime};

use super::risk_eval::{Population, Rng};

/// Secure wallets in the stream at most (each entry is a real signature).
const MAX_WALLETS: u32 = 400;
/// Float deposited when a wallet syncs below [`TOP_UP_BELOW`].
const TOP_UP: i64 = 300_00;
/// Offline balance under which a syncing wallet tops up.
const TOP_UP_BELOW: i64 = 100_00;

/// The result for cloned wallets.
#[derive(Debug, Clone, PartialEq)]
pub struct CloneEvaluation {
    /// Honest wallets.
    pub wallets: u64,
    /// Honest journal entries the server received.
    pub honest_entries: u64,
    /// Honest wallets the detector flagged (a false positive would be one).
    pub honest_flagged: u64,
    /// Clones injected.
    pub clones: u64,
    /// Clones whose wallet a fork proof convicted before the window ended.
    pub detected: u64,
    /// `detected / clones`.
    pub recall: f64,
    /// Convicted wallets that were cloned, over convicted wallets (1 when none).
    pub precision: f64,
    /// Median seconds from the clone's first payment to the proof.
    pub median_delay_secs: u64,
    /// What the clones paid merchants in all (minor units): covered by the holder's bond and
    /// the insurance fund up to each wallet's certified exposure.
    pub cloned_value: i64,
    /// Of that, paid before the proof (after it, payees' wallets refuse the revoked wallet
    /// once they hold the new revocation list; the server covers what was accepted).
    pub value_before_detection: i64,
}

struct Arrival {
    at: u64,
    wallet: usize,
    entry: SignedEntry,
    clone: bool,
}

/// Runs the cloned-wallet stream of `p` (`p.card_testing` sets how many clones).
pub fn evaluate_clones(p: &Population) -> CloneEvaluation {
    let mut rng = Rng(p.seed ^ 0xc10e_c10e_c10e_c10e);
    let issuer = SigningKey::from_seed(&seed_bytes(&mut rng));
    let span = u64::from(p.days) * 86_400;
    let limits = Limits {
        currency: Currency::BRL,
        max_balance: 1_000_00,
        max_payment: 200_00,
        max_payments_between_syncs: 10_000,
        sync_by: UnixTime(span + 86_400),
    };
    let n = p.users.clamp(1, MAX_WALLETS) as usize;
    let merchants = u64::from(p.merchants.max(1));
    let mut certs = Vec::with_capacity(n);
    let mut writers = Vec::with_capacity(n);
    let mut seeds = Vec::with_capacity(n);
    for i in 0..n {
        let seed = seed_bytes(&mut rng);
        let key = SigningKey::from_seed(&seed);
        let body = TaCertBody {
            ta_key: key.public(),
            account_id: AccountId([i as u8; 16]),
            tier: Tier::Software,
            limits,
            issuer: issuer.public().key_id(),
            issued_at: UnixTime(0),
            expires_at: UnixTime(span + 86_400),
        };
        let Ok(cert) = TaCertificate::sign(body.clone(), &issuer) else {
            continue;
        };
        certs.push(cert);
        writers.push(JournalWriter::fresh(key, body));
        seeds.push(seed);
    }
    let n = writers.len();
    let mut arrivals: Vec<Arrival> = Vec::new();
    let mut serials = vec![0u32; n];
    let brl = |m: i64| Money::new(m, Currency::BRL);
    // Each wallet's day: a sync (uploading its journal, topping up its float), 0–3 payments.
    let mut pending_sync: Vec<Vec<SignedEntry>> = vec![Vec::new(); n];
    for day in 0..u64::from(p.days) {
        for w in 0..n {
            let sync_at = day * 86_400 + 6 * 3600 + rng.below(16 * 3600);
            // The day's payments and its sync, in time order.
            let mut events: Vec<(u64, bool)> = (0..rng.below(4))
                .map(|_| (day * 86_400 + 7 * 3600 + rng.below(14 * 3600), false))
                .collect();
            events.push((sync_at, true));
            events.sort_unstable();
            for (t, is_sync) in events {
                if is_sync {
                    sync(
                        &mut writers[w],
                        &mut serials[w],
                        &mut pending_sync[w],
                        &mut arrivals,
                        w,
                        t,
                    );
                    continue;
                }
                let amount = 5_00 + rng.below(75_00) as i64;
                if writers[w].balance().minor() < amount {
                    continue;
                }
                let (payee, nonce) = merchant_request(&mut rng, merchants);
                if let Ok(payment) = writers[w].pay(payee, nonce, brl(amount), UnixTime(t)) {
                    let entry = payment.entry().clone();
                    pending_sync[w].push(entry.clone());
                    arrivals.push(Arrival {
                        at: t + claim_delay(&mut rng),
                        wallet: w,
                        entry,
                        clone: false,
                    });
                }
            }
        }
    }
    // The clones: a copy of a wallet's keys and state at a moment of some day, paying 3–8
    // merchants within two hours, never syncing.
    let clones = (p.card_testing as usize).min(n);
    let mut cloned_value = 0i64;
    let mut first_clone_payment: HashMap<usize, u64> = HashMap::new();
    let mut clone_payments: Vec<(usize, u64, i64)> = Vec::new();
    for c in 0..clones {
        let w = c * n / clones.max(1);
        let start = rng.below(u64::from(p.days).max(1)) * 86_400 + 8 * 3600 + rng.below(12 * 3600);
        // The owner's state just before `start`: replay its own entries up to then.
        let Some(point) = state_at(&arrivals, w, start, &writers[w]) else {
            continue;
        };
        let body = writers[w].cert().clone();
        let mut copy = JournalWriter::new(SigningKey::from_seed(&seeds[w]), body, point);
        let mut t = start;
        for _ in 0..3 + rng.below(6) {
            t += rng.below(2 * 3600 / 8);
            let amount = 50_00 + rng.below(150_00) as i64;
            if copy.balance().minor() < amount {
                break;
            }
            let (payee, nonce) = merchant_request(&mut rng, merchants);
            if let Ok(payment) = copy.pay(payee, nonce, brl(amount), UnixTime(t)) {
                cloned_value += amount;
                first_clone_payment.entry(w).or_insert(t);
                clone_payments.push((w, t, amount));
                arrivals.push(Arrival {
                    at: t + claim_delay(&mut rng),
                    wallet: w,
                    entry: payment.entry().clone(),
                    clone: true,
                });
            }
        }
    }
    // The server receives everything in arrival order, with a detector per wallet.
    arrivals.sort_by_key(|a| a.at);
    let mut detectors: Vec<ForkDetector> = certs.iter().cloned().map(ForkDetector::new).collect();
    let mut convicted: HashMap<usize, u64> = HashMap::new();
    let mut honest_entries = 0u64;
    for a in arrivals.iter().filter(|a| a.at <= span) {
        if !a.clone {
            honest_entries += 1;
        }
        if convicted.contains_key(&a.wallet) {
            continue;
        }
        if detectors[a.wallet].observe(&a.entry).is_some() {
            convicted.insert(a.wallet, a.at);
        }
    }
    let cloned_wallets: Vec<usize> = first_clone_payment.keys().copied().collect();
    let detected = cloned_wallets
        .iter()
        .filter(|w| convicted.contains_key(w))
        .count() as u64;
    let honest_flagged = convicted
        .keys()
        .filter(|w| !first_clone_payment.contains_key(w))
        .count() as u64;
    let mut delays: Vec<u64> = cloned_wallets
        .iter()
        .filter_map(|w| {
            let at = convicted.get(w)?;
            Some(at.saturating_sub(first_clone_payment[w]))
        })
        .collect();
    delays.sort_unstable();
    let value_before_detection = clone_payments
        .iter()
        .filter(|(w, t, _)| convicted.get(w).is_none_or(|at| t < at))
        .map(|(_, _, v)| v)
        .sum();
    let n_clones = cloned_wallets.len() as u64;
    let n_convicted = convicted.len() as u64;
    CloneEvaluation {
        wallets: n as u64,
        honest_entries,
        honest_flagged,
        clones: n_clones,
        detected,
        recall: ratio(detected, n_clones),
        precision: ratio(n_convicted - honest_flagged, n_convicted),
        median_delay_secs: delays.get(delays.len() / 2).copied().unwrap_or(0),
        cloned_value,
        value_before_detection,
    }
}

fn ratio(a: u64, b: u64) -> f64 {
    if b == 0 { 1.0 } else { a as f64 / b as f64 }
}

fn seed_bytes<const N: usize>(rng: &mut Rng) -> [u8; N] {
    let mut out = [0u8; N];
    for chunk in out.chunks_mut(8) {
        let v = rng.next().to_be_bytes();
        chunk.copy_from_slice(&v[..chunk.len()]);
    }
    out
}

/// A payment request of one of `merchants` merchants.
fn merchant_request(rng: &mut Rng, merchants: u64) -> (AccountId, RequestNonce) {
    let payee = AccountId([(rng.below(merchants) as u8).wrapping_add(200); 16]);
    (payee, RequestNonce(seed_bytes::<12>(rng)))
}

/// Merchants claim 30 minutes to 8 hours after being paid.
fn claim_delay(rng: &mut Rng) -> u64 {
    1800 + rng.below(7 * 3600 + 1800)
}

/// A daily sync: the entries since the last one reach the server, and a low float is topped up.
fn sync(
    writer: &mut JournalWriter,
    serial: &mut u32,
    pending: &mut Vec<SignedEntry>,
    arrivals: &mut Vec<Arrival>,
    wallet: usize,
    at: u64,
) {
    for entry in pending.drain(..) {
        arrivals.push(Arrival {
            at,
            wallet,
            entry,
            clone: false,
        });
    }
    if writer.balance().minor() < TOP_UP_BELOW {
        let amount = Money::new(TOP_UP, Currency::BRL);
        if let Ok(e) = writer.append(
            EntryKind::Deposit {
                serial: *serial + 1,
            },
            amount,
            UnixTime(at),
        ) {
            *serial += 1;
            arrivals.push(Arrival {
                at,
                wallet,
                entry: e,
                clone: false,
            });
        }
    }
}

/// The owner's chain point just before `at`, from its own entries (signed before `at`).
fn state_at(
    arrivals: &[Arrival],
    wallet: usize,
    at: u64,
    writer: &JournalWriter,
) -> Option<ChainPoint> {
    let mut own: Vec<&SignedEntry> = arrivals
        .iter()
        .filter(|a| a.wallet == wallet && !a.clone && a.entry.unverified().time.secs() < at)
        .map(|a| &a.entry)
        .collect();
    own.sort_by_key(|e| e.unverified().j);
    own.dedup_by_key(|e| e.unverified().j);
    let limits = writer.cert().limits;
    let mut point = ChainPoint::genesis(&writer.ta_id());
    for e in own {
        point = point.apply(&limits, e.unverified(), e.hash()).ok()?;
    }
    Some(point)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clones_are_caught_by_fork_proofs_and_honest_wallets_never() {
        let e = evaluate_clones(&Population {
            users: 150,
            ..Population::default()
        });
        assert_eq!(e.honest_flagged, 0, "{e:?}");
        assert!(e.clones >= 15, "{e:?}");
        assert!(e.detected > 0 && e.recall >= 0.5, "{e:?}");
        assert!((e.precision - 1.0).abs() < f64::EPSILON, "{e:?}");
        assert!(e.value_before_detection <= e.cloned_value);
        assert!(e.honest_entries > 1000, "{e:?}");
    }
}
