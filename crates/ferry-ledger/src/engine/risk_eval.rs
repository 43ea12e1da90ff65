//! `ferry fraud evaluate`: measures the voucher risk rules on a synthetic population with
//! injected attacks, on a fixed seed.
//!
//! What it is: a replay of the rules' own decision functions and thresholds —
//! [`VelocityRule::exceeded`], [`impossible`](super::vouchers::impossible), and the brute-force
//! counters with the engine's order of checks (receiver failures, then the voucher's wrong
//! passwords, then impossible travel, then velocity) — over a generated stream of redemption
//! attempts. What it is not: a run through the database, Argon2id or HTTP (the engine's tests do
//! that); nor a model of real fraud. The population and the attacks are described by
//! [`Population`]; every number it reports is for that stream only.
//!
//! Population: users who create vouchers at home and whose vouchers are redeemed nearby within
//! hours (a few typos among the passwords, 2 % of vouchers redeemed in another city hours later,
//! 0.2 % after a flight), merchants who receive many redemptions in the day, agents who receive
//! few large ones. Attacks: card-testing bursts (many small redemptions from one account with
//! leaked vouchers and passwords), impossible travel (a leaked voucher redeemed far away soon
//! after its owner used it), and password brute force (many guesses on a few vouchers).
//!
//! [`evaluate_ussd`] measures the USSD send velocity rule the same way on a stream of feature
//! phone sends: users who send a few times a day, traders who pay suppliers and, now and then,
//! pay their workers all at once, agents who rebalance their float all day; attacks are a
//! stolen phone and PIN drained through card-testing-style bursts of small sends to mule
//! numbers, or a few larger sends in half an hour.

use std::collections::HashMap;

use super::risk::{RiskAction, VelocityRule};
use super::vouchers::{VoucherConfig, distance_m, impossible};
use crate::store::MicroDegrees;

/// The rules measured.
pub const RULES: [&str; 4] = [
    "receiver_failures",
    "brute_force",
    "impossible_travel",
    "velocity",
];

/// How the synthetic stream is made.
#[derive(Debug, Clone, Copy)]
pub struct Population {
    /// The seed.
    pub seed: u64,
    /// Days simulated.
    pub days: u32,
    /// Users (emitters, occasional receivers).
    pub users: u32,
    /// Merchants (many redemptions a day).
    pub merchants: u32,
    /// Cash agents (few, large).
    pub agents: u32,
    /// Card-testing bursts injected.
    pub card_testing: u32,
    /// Impossible-travel attacks injected.
    pub travel_attacks: u32,
    /// Brute-force attacks injected.
    pub brute_force: u32,
}

impl Default for Population {
    /// Seed 42, 7 days, 2 000 users, 100 merchants, 20 agents, 20 attacks of each kind.
    fn default() -> Self {
        Population {
            seed: 42,
            days: 7,
            users: 2_000,
            merchants: 100,
            agents: 20,
            card_testing: 20,
            travel_attacks: 20,
            brute_force: 20,
        }
    }
}

/// One rule's score.
#[derive(Debug, Clone, PartialEq)]
pub struct RuleScore {
    /// The rule.
    pub rule: &'static str,
    /// Attempts it refused.
    pub fired: u64,
    /// Of those, attack attempts.
    pub fired_on_attacks: u64,
    /// `fired_on_attacks / fired` (1 when it never fired: check `fired`).
    pub precision: f64,
    /// Attacks of the kind it targets (velocity: card testing; impossible travel: travel;
    /// brute force and receiver failures: brute force) that this rule refused at least once,
    /// over those attacks.
    pub recall: f64,
}

/// The evaluation's result.
#[derive(Debug, Clone, PartialEq)]
pub struct Evaluation {
    /// Honest redemption attempts.
    pub honest_attempts: u64,
    /// Honest attempts refused by a rule firing on honest traffic (or by a voucher that such a
    /// false positive invalidated).
    pub honest_blocked: u64,
    /// `honest_blocked / honest_attempts`.
    pub honest_blocked_share: f64,
    /// Honest attempts refused because an attack on the same voucher got it invalidated (the
    /// voucher was compromised; its emitter was refunded). Not counted in `honest_blocked`.
    pub honest_collateral: u64,
    /// Attack attempts.
    pub attack_attempts: u64,
    /// Attack attempts refused by a rule or by a voucher a rule invalidated.
    pub attack_blocked: u64,
    /// Attack attempts that were paid (got through every rule).
    pub attack_paid: u64,
    /// Attack attempts refused for another reason (wrong password below the limits; the
    /// voucher's value used up).
    pub attack_failed_otherwise: u64,
    /// Per rule.
    pub rules: Vec<RuleScore>,
}

/// SplitMix64: small, fast, and the same on every platform.
pub(super) struct Rng(pub(super) u64);

impl Rng {
    pub(super) fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in `0..n` (n > 0).
    pub(super) fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    /// True with probability `per_mille / 1000`.
    pub(super) fn chance(&mut self, per_mille: u64) -> bool {
        self.below(1000) < per_mille
    }
}

/// Brazilian cities (micro-degrees).
const CITIES: [(i32, i32); 10] = [
    (-8_047_600, -34_877_000),  // Recife
    (-12_971_400, -38_501_400), // Salvador
    (-3_731_900, -38_526_700),  // Fortaleza
    (-23_550_500, -46_633_300), // São Paulo
    (-22_906_800, -43_172_900), // Rio de Janeiro
    (-15_793_900, -47_882_800), // Brasília
    (-19_916_700, -43_934_500), // Belo Horizonte
    (-3_119_000, -60_021_700),  // Manaus
    (-30_034_600, -51_217_700), // Porto Alegre
    (-25_428_400, -49_273_300), // Curitiba
];

fn near(rng: &mut Rng, city: usize) -> MicroDegrees {
    // Within about ±0.15° (≈ 17 km) of the centre.
    let j = |r: &mut Rng| i32::try_from(r.below(300_001)).unwrap_or(0) - 150_000;
    let (lat, lon) = CITIES[city % CITIES.len()];
    MicroDegrees {
        lat: lat + j(rng),
        lon: lon + j(rng),
    }
}

/// Who is behind an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Label {
    Honest,
    CardTesting(u32),
    Travel(u32),
    BruteForce(u32),
}

#[derive(Debug, Clone, Copy)]
struct Attempt {
    at: u64,
    voucher: u64,
    receiver: u64,
    amount: i64,
    right_password: bool,
    place: MicroDegrees,
    label: Label,
}

struct Voucher {
    created_at: u64,
    city: usize,
    place: MicroDegrees,
    remaining: i64,
}

/// A random instant between 08:00 and 22:00 of a random day in `0..span`.
fn daytime(rng: &mut Rng, span: u64) -> u64 {
    let day = rng.below(span / 86_400) * 86_400;
    day + 8 * 3600 + rng.below(14 * 3600)
}

/// Generates the stream: vouchers and attempts, sorted by time.
fn generate(p: &Population) -> (Vec<Voucher>, Vec<Attempt>) {
    let mut rng = Rng(p.seed);
    let mut vouchers = Vec::new();
    let mut attempts = Vec::new();
    let day = 86_400u64;
    // Account ids: users 0.., merchants 1_000_000.., agents 2_000_000.., attackers 3_000_000..
    let home = |u: u64| usize::try_from(u % 10).unwrap_or(0);
    for d in 0..u64::from(p.days) {
        for u in 0..u64::from(p.users) {
            // About one voucher per user every three days, created between 07:00 and 21:00.
            if !rng.chance(330) {
                continue;
            }
            let created_at = d * day + 7 * 3600 + rng.below(14 * 3600);
            let city = home(u);
            let place = near(&mut rng, city);
            let value = 20_00 + i64::try_from(rng.below(180_00)).unwrap_or(0);
            let id = vouchers.len() as u64;
            vouchers.push(Voucher {
                created_at,
                city,
                place,
                remaining: value,
            });
            // 1-3 redemptions by merchants, agents or other users, in the same city, within
            // 6 hours; 2 % later in another city (a trip by road), 0.2 % after a flight.
            let n = 1 + rng.below(3);
            let mut left = value;
            let mut t = created_at;
            for k in 0..n {
                let receiver = match rng.below(10) {
                    0..=5 => 1_000_000 + rng.below(u64::from(p.merchants.max(1))) * 10 + u % 10,
                    6 => 2_000_000 + rng.below(u64::from(p.agents.max(1))) * 10 + u % 10,
                    _ => (u + 1 + rng.below(50) * 10) % u64::from(p.users.max(1)),
                };
                let amount = if k + 1 == n { left } else { (left / 2).max(1) };
                left -= amount;
                t += 60 + rng.below(2 * 3600);
                let (place, at) = if rng.chance(20) {
                    // A trip by road to another city, at 80 km/h.
                    let other = city + 1 + usize::try_from(rng.below(9)).unwrap_or(0);
                    let to = near(&mut rng, other);
                    (to, t + distance_m(place, to) * 3600 / 80_000)
                } else if rng.chance(2) {
                    // A flight: 750 km/h and an hour at the airports.
                    let other = city + 1 + usize::try_from(rng.below(9)).unwrap_or(0);
                    let to = near(&mut rng, other);
                    (to, t + 3600 + distance_m(place, to) * 3600 / 750_000)
                } else {
                    (near(&mut rng, city), t)
                };
                let typo = rng.chance(30);
                if typo {
                    attempts.push(Attempt {
                        at,
                        voucher: id,
                        receiver,
                        amount,
                        right_password: false,
                        place,
                        label: Label::Honest,
                    });
                }
                attempts.push(Attempt {
                    at: at + u64::from(typo) * 20,
                    voucher: id,
                    receiver,
                    amount,
                    right_password: true,
                    place,
                    label: Label::Honest,
                });
                if left == 0 {
                    break;
                }
            }
        }
    }
    let span = u64::from(p.days.max(1)) * day;
    // Attacks use vouchers created in the 6 hours before they start (leaked while valid).
    // Attackers work locally: vouchers of their own city.
    let mut by_city: Vec<Vec<(u64, u64)>> = vec![Vec::new(); CITIES.len()];
    for (i, v) in vouchers.iter().enumerate() {
        by_city[v.city % CITIES.len()].push((v.created_at, i as u64));
    }
    for c in &mut by_city {
        c.sort_unstable();
    }
    let recent = |rng: &mut Rng, city: usize, start: u64| -> Option<u64> {
        let by_time = &by_city[city % CITIES.len()];
        let lo = by_time.partition_point(|(t, _)| *t < start.saturating_sub(6 * 3600));
        let hi = by_time.partition_point(|(t, _)| *t < start);
        (hi > lo).then(|| by_time[lo + usize::try_from(rng.below((hi - lo) as u64)).unwrap_or(0)].1)
    };
    // Card testing: one attacker, 30 small redemptions over 15 minutes from leaked vouchers.
    for a in 0..p.card_testing {
        let attacker = 3_000_000 + u64::from(a);
        let start = daytime(&mut rng, span);
        let city = usize::try_from(rng.below(10)).unwrap_or(0);
        for i in 0..30u64 {
            let Some(v) = recent(&mut rng, city, start) else {
                continue;
            };
            attempts.push(Attempt {
                at: start + i * 30,
                voucher: v,
                receiver: attacker,
                amount: 1 + i64::try_from(rng.below(100)).unwrap_or(0),
                right_password: true,
                place: near(&mut rng, city),
                label: Label::CardTesting(a),
            });
        }
    }
    // Impossible travel: a leaked voucher redeemed far away 10-40 minutes after its owner's
    // first redemption.
    let firsts: HashMap<u64, Attempt> = attempts
        .iter()
        .filter(|x| x.label == Label::Honest && x.right_password)
        .fold(HashMap::new(), |mut m, x| {
            m.entry(x.voucher).or_insert(*x);
            m
        });
    let mut keys: Vec<_> = firsts.keys().copied().collect();
    keys.sort_unstable();
    for a in 0..p.travel_attacks {
        if keys.is_empty() {
            break;
        }
        let v = keys[usize::try_from(rng.below(keys.len() as u64)).unwrap_or(0)];
        let first = firsts[&v];
        let far = near(&mut rng, usize::try_from(v % 10).unwrap_or(0) + 5);
        attempts.push(Attempt {
            at: first.at + 600 + rng.below(1800),
            voucher: v,
            receiver: 4_000_000 + u64::from(a),
            amount: 1_00,
            right_password: true,
            place: far,
            label: Label::Travel(a),
        });
    }
    // Brute force: half the attackers try 10 passwords on each of 4 vouchers (deep), half 3 on
    // each of 12 (wide, under the per-voucher limit), within a few minutes.
    for a in 0..p.brute_force {
        let attacker = 5_000_000 + u64::from(a);
        let start = daytime(&mut rng, span);
        let city = usize::try_from(rng.below(10)).unwrap_or(0);
        let (vouchers_tried, guesses) = if a % 2 == 0 { (4u64, 10u64) } else { (12, 3) };
        for k in 0..vouchers_tried {
            let Some(v) = recent(&mut rng, city, start) else {
                continue;
            };
            for g in 0..guesses {
                attempts.push(Attempt {
                    at: start + k * 30 + g * 7,
                    voucher: v,
                    receiver: attacker,
                    amount: 5_00,
                    right_password: false,
                    place: near(&mut rng, city),
                    label: Label::BruteForce(a),
                });
            }
        }
    }
    attempts.sort_by_key(|x| (x.at, x.voucher, x.receiver));
    (vouchers, attempts)
}

/// Runs the evaluation with the rules of `config` (velocity: `config.redeem_velocity`, or a
/// default of 20 redemptions and 2 000.00 an hour when it has none).
pub fn evaluate(p: &Population, config: &VoucherConfig) -> Evaluation {
    let velocity = config.redeem_velocity.unwrap_or(VelocityRule {
        window_secs: 3600,
        max_count: 20,
        max_amount: 2_000_00,
        action: RiskAction::Block,
    });
    let (mut vouchers, attempts) = generate(p);
    let mut failures_by_voucher: HashMap<u64, u32> = HashMap::new();
    let mut failures_by_receiver: HashMap<u64, Vec<u64>> = HashMap::new();
    let mut redeemed_by_receiver: HashMap<u64, Vec<(u64, i64)>> = HashMap::new();
    let mut last_place: HashMap<u64, (MicroDegrees, u64)> = HashMap::new();
    // Why a voucher was invalidated: true when by a rule firing on an attack.
    let mut invalidated: HashMap<u64, bool> = HashMap::new();
    let mut fired: HashMap<&'static str, (u64, u64)> = HashMap::new();
    // Which attacks each rule stopped.
    let mut caught: HashMap<(&'static str, Label), ()> = HashMap::new();
    let (mut honest, mut honest_blocked, mut attacks, mut attacks_blocked) = (0, 0, 0, 0);
    let mut collateral = 0;
    let mut paid = 0;
    for a in &attempts {
        let Some(created) = vouchers
            .get(usize::try_from(a.voucher).unwrap_or(usize::MAX))
            .map(|v| v.created_at)
        else {
            continue;
        };
        // Expired (12 hours) or not yet created: refused as invalid, not a risk decision.
        if a.at >= created + 12 * 3600 || a.at < created {
            continue;
        }
        let is_attack = a.label != Label::Honest;
        if is_attack {
            attacks += 1;
        } else {
            honest += 1;
        }
        let mut block = |rule: &'static str, caught: &mut HashMap<(&'static str, Label), ()>| {
            let e = fired.entry(rule).or_insert((0, 0));
            e.0 += 1;
            if is_attack {
                e.1 += 1;
                caught.insert((rule, a.label), ());
            }
        };
        // A voucher a rule invalidated refuses everything after.
        if let Some(by_attack) = invalidated.get(&a.voucher) {
            if is_attack {
                attacks_blocked += 1;
            } else if *by_attack {
                collateral += 1;
            } else {
                honest_blocked += 1;
            }
            continue;
        }
        // 1. The receiver's recent failures.
        let since = a.at.saturating_sub(config.receiver_failure_window_secs);
        let recent = failures_by_receiver
            .get(&a.receiver)
            .map_or(0, |v| v.iter().filter(|t| **t >= since).count());
        if recent >= usize::try_from(config.receiver_failure_limit.max(1)).unwrap_or(usize::MAX) {
            block("receiver_failures", &mut caught);
            if is_attack {
                attacks_blocked += 1;
            } else {
                honest_blocked += 1;
            }
            continue;
        }
        let Some(v) = vouchers.get_mut(usize::try_from(a.voucher).unwrap_or(usize::MAX)) else {
            continue;
        };
        // 2. Wrong password: counted; the N-th invalidates.
        if !a.right_password {
            failures_by_receiver
                .entry(a.receiver)
                .or_default()
                .push(a.at);
            let f = failures_by_voucher.entry(a.voucher).or_insert(0);
            *f += 1;
            if *f >= config.max_password_failures.max(1) {
                block("brute_force", &mut caught);
                invalidated.insert(a.voucher, is_attack);
                if is_attack {
                    attacks_blocked += 1;
                } else {
                    honest_blocked += 1;
                }
            }
            continue;
        }
        // 3. Impossible travel from the creation place or the last redemption.
        let mut seen = vec![(v.place, v.created_at)];
        if let Some(l) = last_place.get(&a.voucher) {
            seen.push(*l);
        }
        if seen.iter().any(|(p, t)| {
            impossible(
                *p,
                *t,
                a.place,
                a.at,
                config.max_speed_kmh,
                config.travel_floor_km,
            )
        }) {
            block("impossible_travel", &mut caught);
            invalidated.insert(a.voucher, is_attack);
            if is_attack {
                attacks_blocked += 1;
            } else {
                honest_blocked += 1;
            }
            continue;
        }
        if a.amount > v.remaining {
            continue; // amount_exceeds_voucher: not a risk decision
        }
        // 4. Velocity of the receiver.
        let window = redeemed_by_receiver.entry(a.receiver).or_default();
        let since = a.at.saturating_sub(velocity.window_secs);
        window.retain(|(t, _)| *t >= since);
        let total: i64 = window.iter().map(|(_, x)| *x).sum();
        if velocity.exceeded(window.len() as u64, total, a.amount) {
            block("velocity", &mut caught);
            if velocity.action == RiskAction::Block {
                if is_attack {
                    attacks_blocked += 1;
                } else {
                    honest_blocked += 1;
                }
                continue;
            }
        }
        window.push((a.at, a.amount));
        v.remaining -= a.amount;
        if is_attack {
            paid += 1;
        }
        last_place.insert(a.voucher, (a.place, a.at));
    }
    let targets = |rule: &str| -> Vec<Label> {
        let mut out = Vec::new();
        for i in 0..match rule {
            "velocity" => p.card_testing,
            "impossible_travel" => p.travel_attacks,
            _ => p.brute_force,
        } {
            out.push(match rule {
                "velocity" => Label::CardTesting(i),
                "impossible_travel" => Label::Travel(i),
                _ => Label::BruteForce(i),
            });
        }
        out
    };
    let ratio = |a: u64, b: u64| if b == 0 { 1.0 } else { a as f64 / b as f64 };
    let rules = RULES
        .iter()
        .map(|rule| {
            let (f, fa) = fired.get(rule).copied().unwrap_or((0, 0));
            let t = targets(rule);
            let stopped = t
                .iter()
                .filter(|l| caught.contains_key(&(*rule, **l)))
                .count() as u64;
            RuleScore {
                rule,
                fired: f,
                fired_on_attacks: fa,
                precision: ratio(fa, f),
                recall: ratio(stopped, t.len() as u64),
            }
        })
        .collect();
    Evaluation {
        honest_attempts: honest,
        honest_blocked,
        honest_collateral: collateral,
        honest_blocked_share: ratio(honest_blocked, honest),
        attack_attempts: attacks,
        attack_blocked: attacks_blocked,
        attack_paid: paid,
        attack_failed_otherwise: attacks - attacks_blocked - paid,
        rules,
    }
}

/// [`evaluate_ussd`]'s result: the USSD send velocity rule on its stream.
#[derive(Debug, Clone, PartialEq)]
pub struct UssdEvaluation {
    /// Honest sends.
    pub honest_sends: u64,
    /// Honest sends the rule refused.
    pub honest_blocked: u64,
    /// `honest_blocked / honest_sends`.
    pub honest_blocked_share: f64,
    /// Attack sends.
    pub attack_sends: u64,
    /// Attack sends the rule refused.
    pub attack_blocked: u64,
    /// Attack sends that went through, and what they took (minor units, fees included).
    pub attack_paid: u64,
    /// What the attacks took before (or without) being stopped, minor units.
    pub attack_value_paid: i64,
    /// The rule's score (rule `ussd_velocity`; recall over the injected attacks).
    pub score: RuleScore,
}

#[derive(Debug, Clone, Copy)]
struct Send {
    at: u64,
    account: u64,
    /// Amount and fee, minor units.
    out: i64,
    /// `None` for honest traffic, else the attack's number.
    attack: Option<u32>,
}

/// The USSD stream: honest users, traders and agents over `p.days` days, and
/// `p.card_testing` attacks (half bursts of small sends, half a few large ones).
fn generate_ussd(p: &Population) -> Vec<Send> {
    let mut rng = Rng(p.seed ^ 0x0055_5344);
    let mut sends = Vec::new();
    let span = u64::from(p.days) * 86_400;
    let fee = |amount: i64| amount + amount / 100;
    for d in 0..u64::from(p.days) {
        let day = d * 86_400;
        // Users: 0 to 3 sends a day, 5.00 to 150.00, 07:00-21:00.
        for u in 0..u64::from(p.users) {
            let n = match rng.below(100) {
                0..=49 => 0,
                50..=79 => 1,
                80..=94 => 2,
                _ => 3,
            };
            for _ in 0..n {
                let amount = 5_00 + i64::try_from(rng.below(145_01)).unwrap_or(0);
                sends.push(Send {
                    at: day + 7 * 3600 + rng.below(14 * 3600),
                    account: u,
                    out: fee(amount),
                    attack: None,
                });
            }
        }
        // Traders (the population's merchants): 3 to 12 supplier payments of 20.00 to 300.00;
        // on 3 % of days, payday: 15 to 30 workers paid 30.00 to 80.00 within 90 minutes.
        for m in 0..u64::from(p.merchants) {
            let account = 1_000_000 + m;
            for _ in 0..3 + rng.below(10) {
                let amount = 20_00 + i64::try_from(rng.below(280_01)).unwrap_or(0);
                sends.push(Send {
                    at: day + 8 * 3600 + rng.below(10 * 3600),
                    account,
                    out: fee(amount),
                    attack: None,
                });
            }
            if rng.chance(30) {
                let start = day + 16 * 3600 + rng.below(2 * 3600);
                for _ in 0..15 + rng.below(16) {
                    let amount = 30_00 + i64::try_from(rng.below(50_01)).unwrap_or(0);
                    sends.push(Send {
                        at: start + rng.below(90 * 60),
                        account,
                        out: fee(amount),
                        attack: None,
                    });
                }
            }
        }
        // Agents: 8 to 20 float transfers of 50.00 to 500.00 between 07:00 and 19:00.
        for a in 0..u64::from(p.agents) {
            let account = 2_000_000 + a;
            for _ in 0..8 + rng.below(13) {
                let amount = 50_00 + i64::try_from(rng.below(450_01)).unwrap_or(0);
                sends.push(Send {
                    at: day + 7 * 3600 + rng.below(12 * 3600),
                    account,
                    out: fee(amount),
                    attack: None,
                });
            }
        }
    }
    // Attacks on a victim's account (a user's id), between 08:00 and 22:00.
    for i in 0..p.card_testing {
        let account = rng.below(u64::from(p.users.max(1)));
        let start = daytime(&mut rng, span.max(86_400));
        let (count, low, high, minutes) = if i % 2 == 0 {
            (30, 1_00, 20_00, 15) // card testing: many small sends
        } else {
            (6, 150_00, 400_00, 30) // a few large ones
        };
        for _ in 0..count {
            let amount = low
                + i64::try_from(rng.below(u64::try_from(high - low).unwrap_or(1) + 1)).unwrap_or(0);
            sends.push(Send {
                at: start + rng.below(minutes * 60),
                account,
                out: fee(amount),
                attack: Some(i),
            });
        }
    }
    sends.sort_by_key(|s| (s.at, s.account));
    sends
}

/// Runs the USSD send velocity rule (`rule`, or 20 sends and 2 000.00 an hour, fees included,
/// when `None`) over [`generate_ussd`]'s stream, as `PhoneBackend` applies it: per account,
/// over the sends that went through in the window before, a refused send not counted.
pub fn evaluate_ussd(p: &Population, rule: Option<VelocityRule>) -> UssdEvaluation {
    let rule = rule.unwrap_or(VelocityRule {
        window_secs: 3600,
        max_count: 20,
        max_amount: 2_000_00,
        action: RiskAction::Block,
    });
    let mut windows: HashMap<u64, Vec<(u64, i64)>> = HashMap::new();
    let mut caught: HashMap<u32, ()> = HashMap::new();
    let (mut honest, mut honest_blocked, mut attacks, mut attack_blocked) =
        (0u64, 0u64, 0u64, 0u64);
    let (mut fired, mut fired_on_attacks, mut paid, mut value_paid) = (0u64, 0u64, 0u64, 0i64);
    for s in generate_ussd(p) {
        match s.attack {
            Some(_) => attacks += 1,
            None => honest += 1,
        }
        let window = windows.entry(s.account).or_default();
        let since = s.at.saturating_sub(rule.window_secs);
        window.retain(|(t, _)| *t >= since);
        let total: i64 = window.iter().map(|(_, x)| *x).sum();
        if rule.exceeded(window.len() as u64, total, s.out) {
            fired += 1;
            if let Some(i) = s.attack {
                fired_on_attacks += 1;
                caught.insert(i, ());
            }
            if rule.action == RiskAction::Block {
                match s.attack {
                    Some(_) => attack_blocked += 1,
                    None => honest_blocked += 1,
                }
                continue;
            }
        }
        window.push((s.at, s.out));
        if s.attack.is_some() {
            paid += 1;
            value_paid += s.out;
        }
    }
    let ratio = |a: u64, b: u64| if b == 0 { 1.0 } else { a as f64 / b as f64 };
    UssdEvaluation {
        honest_sends: honest,
        honest_blocked,
        honest_blocked_share: ratio(honest_blocked, honest),
        attack_sends: attacks,
        attack_blocked,
        attack_paid: paid,
        attack_value_paid: value_paid,
        score: RuleScore {
            rule: "ussd_velocity",
            fired,
            fired_on_attacks,
            precision: ratio(fired_on_attacks, fired),
            recall: ratio(caught.len() as u64, u64::from(p.card_testing)),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_seed_gives_the_same_numbers() {
        let p = Population {
            users: 200,
            merchants: 10,
            agents: 2,
            days: 2,
            ..Population::default()
        };
        let c = VoucherConfig::default();
        assert_eq!(evaluate(&p, &c), evaluate(&p, &c));
        let other = Population { seed: 7, ..p };
        assert_ne!(evaluate(&p, &c), evaluate(&other, &c));
    }

    /// The default rules on the default population meet the target: every rule has at
    /// least 30 % precision, and at most 0.5 % of honest attempts are blocked.
    #[test]
    fn the_default_rules_meet_the_target_on_the_fixed_seed() {
        let e = evaluate(&Population::default(), &VoucherConfig::default());
        assert!(e.honest_attempts > 5_000, "{e:?}");
        assert!(e.honest_blocked_share <= 0.005, "{e:?}");
        for r in &e.rules {
            assert!(r.fired > 0 && r.precision >= 0.3, "{r:?}");
        }
        // And every rule stops some of the attacks it is meant for.
        assert!(e.rules.iter().all(|r| r.fired_on_attacks > 0), "{e:?}");
    }

    /// The USSD send velocity rule on its stream: deterministic per seed, and on the fixed seed
    /// it meets the target (precision at least 30 %, at most 0.5 % of honest sends
    /// blocked) and stops every burst of small sends.
    #[test]
    fn the_ussd_velocity_rule_meets_the_target_on_the_fixed_seed() {
        let p = Population::default();
        let e = evaluate_ussd(&p, None);
        assert_eq!(e, evaluate_ussd(&p, None));
        assert_ne!(e, evaluate_ussd(&Population { seed: 7, ..p }, None));
        assert!(e.honest_sends > 10_000, "{e:?}");
        assert!(e.honest_blocked_share <= 0.005, "{e:?}");
        assert!(e.score.fired > 0 && e.score.precision >= 0.3, "{e:?}");
        assert!(e.score.recall >= 0.5, "{e:?}");
        assert_eq!(e.attack_sends, e.attack_blocked + e.attack_paid);
        // An alert-only rule refuses nothing.
        let alert = evaluate_ussd(
            &p,
            Some(VelocityRule {
                window_secs: 3600,
                max_count: 20,
                max_amount: 2_000_00,
                action: RiskAction::Alert,
            }),
        );
        assert_eq!((alert.honest_blocked, alert.attack_blocked), (0, 0));
        assert!(alert.score.fired >= e.score.fired);
    }
}
