//! Simulator tests: determinism, invariants, the junk defence, and the epidemic delay theory.

use ferry_mesh::sim::{CommunityParams, Movement, SeedPayment, SimConfig, simulate};
use ferry_mesh::strategy::{ProphetParams, Strategy};

fn small(strategy: Strategy) -> SimConfig {
    SimConfig {
        seed: 11,
        devices: 300,
        duration_secs: 4.0 * 3600.0,
        create_until_secs: 2.0 * 3600.0,
        expiry_secs: 2.0 * 3600.0,
        payments_per_device_hour: 0.3,
        bridge_share: 0.03,
        bridge_online_mean_secs: 900.0,
        strategy,
        movement: Movement::Community(CommunityParams::default()),
        ..SimConfig::default()
    }
}

#[test]
fn same_seed_same_report_and_invariants_hold() {
    for strategy in [
        Strategy::Epidemic,
        Strategy::SprayAndWait { copies: 4 },
        Strategy::Prophet(ProphetParams::default()),
    ] {
        let mut cfg = small(strategy);
        cfg.budget_bytes = 40 * 235; // small, so budgets bind
        let a = simulate(&cfg, &mut |_| {}).unwrap();
        let b = simulate(&cfg, &mut |_| {}).unwrap();
        assert_eq!(
            serde_json::to_string(&a).unwrap(),
            serde_json::to_string(&b).unwrap(),
            "{}: same seed, same report",
            a.strategy
        );
        assert!(a.created > 100, "{}: {} created", a.strategy, a.created);
        assert!(a.delivered > 0);
        assert!(
            a.peak_storage_max <= u64::from(cfg.budget_bytes),
            "{}: peak {} over the budget",
            a.strategy,
            a.peak_storage_max
        );
        if let Strategy::SprayAndWait { copies } = strategy {
            assert!(a.max_live_copies >= 2 && a.max_live_copies <= u32::from(copies));
        }
        let mut other = cfg.clone();
        other.seed = 12;
        let c = simulate(&other, &mut |_| {}).unwrap();
        assert_ne!(a.series, c.series, "another seed, another run");
    }
}

/// A city of 1 000 over 12 h, spray-and-wait L = 3, 1 % hostile devices flooding junk (900
/// envelopes an hour each, every one with a valid stamp and the flooder's own valid postage:
/// hostile devices are registered accounts). With postage, relays hold at most a few envelopes
/// of one postage key for others and send every key's first envelope before any key's
/// second, so the flood costs at most 5 points of delivery. With hashcash stamps alone it
/// costs more than that (NOTES.md has the figures at 2 000 and 10 000 devices).
#[test]
fn a_junk_flood_by_one_percent_costs_little_with_postage() {
    let mut cfg = SimConfig {
        seed: 1,
        devices: 1000,
        strategy: Strategy::SprayAndWait { copies: 3 },
        ..SimConfig::default()
    };
    assert!(cfg.postage, "postage is the default");
    let clean = simulate(&cfg, &mut |_| {}).unwrap();
    cfg.hostile_share = 0.01;
    let attacked = simulate(&cfg, &mut |_| {}).unwrap();
    assert!(attacked.junk_created > 100_000, "the flood happened");
    assert!(attacked.junk_relayed > 0);
    assert!(
        attacked.postage_refused > 0,
        "relays refused the flooders' extra envelopes"
    );
    let cost = clean.delivery_prob - attacked.delivery_prob;
    assert!(
        cost <= 0.05,
        "with postage 1% hostile cost {:.3} of delivery ({:.3} → {:.3})",
        cost,
        clean.delivery_prob,
        attacked.delivery_prob
    );
    // Relays with stamps, quotas and shares only: no postage, no acknowledgements.
    cfg.postage = false;
    cfg.acks = false;
    let unposted = simulate(&cfg, &mut |_| {}).unwrap();
    assert_eq!(unposted.postage_refused, 0);
    let cost_without = clean.delivery_prob - unposted.delivery_prob;
    assert!(
        cost_without > 0.05,
        "stamps alone: 1% hostile cost {:.3} ({:.3} → {:.3})",
        cost_without,
        clean.delivery_prob,
        unposted.delivery_prob
    );
    // Acknowledgements alone already help: the server acknowledges junk a bridge uploads (as
    // invalid), and the acknowledgement clears the junk's other copies.
    cfg.acks = true;
    let acked = simulate(&cfg, &mut |_| {}).unwrap();
    assert!(acked.acks_relayed > 0);
    assert!(
        acked.delivery_prob > unposted.delivery_prob,
        "without postage, acknowledgements: {:.3}, none: {:.3}",
        acked.delivery_prob,
        unposted.delivery_prob
    );
}

/// Epidemic delivery delay from one source to one destination with pairwise meeting rate λ
/// among N nodes is H(N−1) / (λ (N−1)) ≈ (ln n + γ) / (λ n) with n = N − 1 (Groenevelt,
/// Nain and Koole). Random waypoint with a small radio range has nearly exponential
/// inter-meeting times; λ is measured in each run. Rounds happen only when contacts start, as
/// in the model.
#[test]
fn epidemic_delay_matches_theory() {
    let n = 40u32;
    let runs = 300u64;
    let mut delay_sum = 0.0;
    let mut lambda_sum = 0.0;
    let mut delivered = 0u64;
    for seed in 0..runs {
        let cfg = SimConfig {
            seed: 1000 + seed,
            devices: n,
            duration_secs: 3000.0,
            area_side_m: 1000.0,
            radio_range_m: 15.0,
            movement: Movement::RandomWaypoint {
                speed_min: 4.0,
                speed_max: 10.0,
                pause_max_secs: 0.0,
            },
            bridge_share: 1.0 / f64::from(n),
            bridge_online_mean_secs: 0.0,
            payments_per_device_hour: 0.0,
            seed_payments: vec![SeedPayment {
                at_secs: 0.0,
                device: 1,
            }],
            expiry_secs: 1e6,
            ttl: 255,
            strategy: Strategy::Epidemic,
            budget_bytes: 1 << 20,
            contact_bytes: 1 << 20,
            resync_secs: 0.0,
            sample_secs: 3000.0,
            ..SimConfig::default()
        };
        let r = simulate(&cfg, &mut |_| {}).unwrap();
        lambda_sum += r.pair_meeting_rate;
        if r.delivered == 1 {
            delivered += 1;
            delay_sum += r.latency_avg;
        }
    }
    assert!(
        delivered >= runs * 99 / 100,
        "{delivered} of {runs} delivered"
    );
    let measured = delay_sum / delivered as f64;
    let lambda = lambda_sum / runs as f64;
    let m = f64::from(n - 1);
    let harmonic: f64 = (1..n).map(|k| 1.0 / f64::from(k)).sum();
    let theory = harmonic / (lambda * m);
    let asymptotic = (m.ln() + 0.577_215_664_9) / (lambda * m);
    eprintln!(
        "λ = {lambda:.3e}/s, measured mean delay {measured:.1} s, theory {theory:.1} s \
         (asymptotic {asymptotic:.1} s)"
    );
    assert!(
        (measured - theory).abs() <= 0.10 * theory,
        "measured {measured:.1} s vs theory {theory:.1} s"
    );
}

/// Delivery acknowledgements, epidemic on the small city (where every delivered payment has
/// copies all over): with them, copies of what the server already has are dropped as the
/// acknowledgement spreads (devices spend less than half the copy-hours on payments the server
/// already has), and what was delivered stays delivered; without them no acknowledgement moves
/// and the copies stay until they expire.
#[test]
fn acknowledgements_clear_delivered_copies_out_of_the_network() {
    let with = small(Strategy::Epidemic);
    let without = SimConfig {
        acks: false,
        ..with.clone()
    };
    let a = simulate(&with, &mut |_| {}).unwrap();
    let n = simulate(&without, &mut |_| {}).unwrap();
    assert!(a.delivered > 100, "{} delivered", a.delivered);
    assert_eq!((n.acks_relayed, n.ack_dropped), (0, 0));
    assert!(a.acks_relayed > 0 && a.ack_dropped > 0, "{a:?}");
    assert!(
        a.ack_dropped <= a.acks_relayed,
        "one copy per acknowledgement at most"
    );
    assert!(a.ack_bytes_per_contact > 0.0);
    assert!(
        a.delivered_copy_hours * 2.0 < n.delivered_copy_hours,
        "copy-hours spent on delivered payments: {} with acknowledgements, {} without",
        a.delivered_copy_hours,
        n.delivered_copy_hours
    );
    // Acknowledgements only follow a delivery: they cannot cost one (they free room and
    // contact time), beyond a payment or two of noise.
    assert!(
        a.delivered + 2 >= n.delivered,
        "{} with acknowledgements, {} without",
        a.delivered,
        n.delivered
    );
}
