//! A deterministic discrete-event simulator of phones carrying sealed envelopes.
//!
//! Devices move along piecewise-linear trajectories ([`mobility`]). Contacts are events computed
//! from the trajectories (a kinetic approach): the area is a grid of cells at least one radio
//! range wide; whenever a device starts a segment or enters a cell, the engine solves
//! `|Δp + Δv·s| ≤ r` with every device in the 3×3 cells around it and schedules the contact's
//! start and end exactly. Nothing steps every device every tick, and contacts of any length are
//! seen. Events sit in a calendar queue (one-second buckets in a wheel, a small heap for the
//! current second, a heap for the far future) ordered by time then by insertion, and one seeded
//! generator is consumed in event order, so the same configuration gives the same report.
//!
//! When a contact starts, the two devices run a round of the relay protocol on compact state:
//! sorted short ids (indices into one global envelope table that keeps every envelope's bytes
//! once), the same reconciliation code and frame sizes as [`crate::node::Session`]
//! ([`crate::recon::run_exchange`]), the same strategy decisions ([`crate::strategy::decide`]),
//! byte budgets, per-contact quotas and per-peer shares. While a contact lasts, a device whose set
//! changed runs another round with its partners after `resync_secs`. Bridges upload everything
//! they hold when they come online (or at once when always online).
//!
//! Payments are sealed with real HPKE ([`crate::fixtures::seal_numbered`]); junk from hostile
//! devices is modelled by its size and id only (it is random bytes to every relay). Stamps are
//! not computed here: a junk envelope carries a valid stamp (the flooder paid for it) and its
//! rate is the flooder's hashing budget, `hostile_junk_per_hour`.

pub mod mobility;
pub mod rng;
pub mod svg;

use std::cmp::Ordering;
use std::collections::BinaryHeap;

use ferry_proto::codec::Message;
use ferry_proto::delivery::ACK_LEN;
use ferry_proto::envelope::Envelope;
use ferry_proto::time::UnixTime;
use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::fixtures::{PAYMENT_PLAINTEXT_LEN, seal_numbered, test_issuer_key};
use crate::recon::{mix, run_exchange_with};
use crate::strategy::{
    Forward, RelayView, Strategy, decide, forwards_any, prophet_age, prophet_direct,
    prophet_transitive,
};
use crate::wire::{HELLO_LEN, HELLO_REPLY_LEN, ITEM_OVERHEAD, POSTED_LEN, TURN_OVERHEAD, short_id};

use mobility::{City, Mover, Segment};
pub use mobility::{CommunityParams, Movement};
use rng::Rng;

/// Unix time that simulated second 0 stands for (expiries are absolute in envelopes).
pub const EPOCH: u64 = 1_800_000_000;
/// Length of a junk envelope (the same as a payment's, or it would stand out).
const JUNK_LEN: u16 = ferry_proto::sealed::REMOTE_PAYMENT_ENVELOPE_LEN as u16;

/// A payment placed by hand (for tests): device `device` pays at `at_secs`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct SeedPayment {
    /// When.
    pub at_secs: f64,
    /// Which device.
    pub device: u32,
}

/// Everything a simulation run depends on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SimConfig {
    /// Seed of the run.
    pub seed: u64,
    /// Number of devices.
    pub devices: u32,
    /// Simulated seconds.
    pub duration_secs: f64,
    /// Side of the square area, metres (0: from `density_per_km2`).
    pub area_side_m: f64,
    /// Devices per km² when `area_side_m` is 0.
    pub density_per_km2: f64,
    /// Radio range, metres.
    pub radio_range_m: f64,
    /// Grid cell side as a multiple of the radio range (≥ 1).
    pub cell_factor: f64,
    /// Movement model.
    pub movement: Movement,
    /// Bytes a device sends in one round of a contact at most.
    pub contact_bytes: u32,
    /// Bytes of envelopes a device keeps at most.
    pub budget_bytes: u32,
    /// Share of devices that are bridges.
    pub bridge_share: f64,
    /// Mean seconds between a bridge's times online (0: always online, uploads at once).
    pub bridge_online_mean_secs: f64,
    /// Payments made per device per hour (Poisson), among non-hostile devices.
    pub payments_per_device_hour: f64,
    /// Payments are made until this second.
    pub create_until_secs: f64,
    /// Envelope lifetime, seconds.
    pub expiry_secs: f64,
    /// Forwarding strategy.
    pub strategy: Strategy,
    /// Initial ttl (hops) of an envelope.
    pub ttl: u8,
    /// Share of devices that are hostile (flood junk, drop what they get, claim p = 1).
    pub hostile_share: f64,
    /// Junk envelopes with valid stamps one hostile device makes per hour.
    pub hostile_junk_per_hour: f64,
    /// Envelopes a device sends to (and accepts from) one peer in one round at most.
    pub max_items_per_contact: u32,
    /// Share of the budget, percent, that envelopes from one peer may fill.
    pub peer_share_percent: u8,
    /// Seconds after a set change before a device re-runs rounds with ongoing contacts
    /// (0: rounds only when contacts start).
    pub resync_secs: f64,
    /// Seconds between points of the delivery time series (and progress reports).
    pub sample_secs: f64,
    /// Extra payments placed by hand.
    pub seed_payments: Vec<SeedPayment>,
    /// Envelopes carry issuer postage ([`ferry_proto::postage`]): every device (hostile ones
    /// too: they are registered accounts) posts its envelopes under its own postage key, a
    /// device holds at most `max_per_postage_key` envelopes of one key for others, and sends
    /// every key's first envelope before any key's second. Items are `POSTED_LEN` bytes longer.
    pub postage: bool,
    /// Envelopes of one postage key a device holds for others at most (with `postage`).
    pub max_per_postage_key: u16,
    /// Delivery acknowledgements ([`ferry_proto::delivery`]): a bridge that uploads an envelope
    /// (a payment, or junk the server finds invalid) gets the issuer's acknowledgement; a device
    /// holding one gives it, instead of asking for the envelope, to a peer that still holds a
    /// copy, which drops the copy and passes the acknowledgement on the same way. Each costs
    /// `ACK_LEN` bytes of the contact. Hostile devices neither pass nor take them.
    pub acks: bool,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            seed: 1,
            devices: 1000,
            duration_secs: 12.0 * 3600.0,
            area_side_m: 0.0,
            density_per_km2: 2000.0,
            radio_range_m: 10.0,
            cell_factor: 1.0,
            movement: Movement::Community(CommunityParams::default()),
            contact_bytes: 64 * 1024,
            budget_bytes: 256 * 1024,
            bridge_share: 0.02,
            bridge_online_mean_secs: 1800.0,
            payments_per_device_hour: 0.1,
            create_until_secs: 6.0 * 3600.0,
            expiry_secs: 6.0 * 3600.0,
            strategy: Strategy::SprayAndWait { copies: 4 },
            ttl: 32,
            hostile_share: 0.0,
            hostile_junk_per_hour: 900.0,
            max_items_per_contact: 64,
            peer_share_percent: 25,
            resync_secs: 60.0,
            sample_secs: 300.0,
            seed_payments: Vec::new(),
            postage: true,
            max_per_postage_key: 4,
            acks: true,
        }
    }
}

impl SimConfig {
    /// The side of the area this configuration simulates, metres.
    pub fn side(&self) -> f64 {
        if self.area_side_m > 0.0 {
            self.area_side_m
        } else {
            (f64::from(self.devices) / self.density_per_km2).sqrt() * 1000.0
        }
    }
}

/// Why a configuration cannot run.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum SimError {
    /// A parameter is out of range.
    #[error("invalid configuration: {0}")]
    Invalid(&'static str),
}

/// A point of the delivery time series.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct SeriesPoint {
    /// Simulated seconds.
    pub t_secs: f64,
    /// Payments made so far.
    pub created: u64,
    /// Payments delivered so far.
    pub delivered: u64,
}

/// Progress of a run, reported every `sample_secs` of simulated time.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Progress {
    /// Simulated seconds done.
    pub sim_secs: f64,
    /// Simulated seconds in all.
    pub total_secs: f64,
    /// Events processed.
    pub events: u64,
    /// Payments made so far.
    pub created: u64,
    /// Payments delivered so far.
    pub delivered: u64,
}

/// What a run measured. Names follow the ONE simulator's message statistics report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// Strategy name.
    pub strategy: String,
    /// Devices.
    pub devices: u32,
    /// Simulated seconds.
    pub duration_secs: f64,
    /// Payments made.
    pub created: u64,
    /// Payments uploaded by a bridge before they expired.
    pub delivered: u64,
    /// `delivered / created`.
    pub delivery_prob: f64,
    /// Transfers begun (items sent device to device).
    pub started: u64,
    /// Transfers completed (items taken by the receiver; includes those a hostile device
    /// swallowed).
    pub relayed: u64,
    /// Transfers refused by the receiver (budget, per-peer share).
    pub aborted: u64,
    /// Copies evicted to make room.
    pub dropped: u64,
    /// Copies dropped at expiry.
    pub expired: u64,
    /// `(relayed − junk relayed − delivered) / delivered`: the cost of honest traffic.
    pub overhead_ratio: f64,
    /// Mean seconds from payment to upload.
    pub latency_avg: f64,
    /// Median of the same.
    pub latency_med: f64,
    /// 90th percentile.
    pub latency_p90: f64,
    /// 99th percentile.
    pub latency_p99: f64,
    /// Mean relay hops of the delivered copy.
    pub hopcount_avg: f64,
    /// Mean seconds a copy stayed in a device's buffer before it left (uploaded, handed off,
    /// evicted, expired).
    pub buffertime_avg: f64,
    /// Contacts (encounters) that started.
    pub contacts: u64,
    /// Protocol rounds run (contact starts plus resyncs).
    pub rounds: u64,
    /// Mean reconciliation bytes (both directions, items excluded) per round.
    pub summary_bytes_per_round: f64,
    /// Mean reconciliation bytes per contact (all its rounds).
    pub summary_bytes_per_contact: f64,
    /// Mean item bytes per contact.
    pub item_bytes_per_contact: f64,
    /// Largest storage any device used, bytes.
    pub peak_storage_max: u64,
    /// Mean over devices of each one's peak storage, bytes.
    pub peak_storage_avg: f64,
    /// Meetings per device pair per second (contacts / (pairs × duration)).
    pub pair_meeting_rate: f64,
    /// Junk envelopes made by hostile devices.
    pub junk_created: u64,
    /// Junk copies relayed between devices.
    pub junk_relayed: u64,
    /// Junk copies bridges uploaded (the server finds them invalid).
    pub junk_uploaded: u64,
    /// Copies refused because the receiver held enough of their postage key for others.
    pub postage_refused: u64,
    /// Delivery acknowledgements passed device to device (with `acks`).
    pub acks_relayed: u64,
    /// Mean acknowledgement bytes per contact.
    pub ack_bytes_per_contact: f64,
    /// Copies dropped because an acknowledgement reached the device holding them.
    pub ack_dropped: u64,
    /// Copy-hours honest devices spent holding payments the server already had (from the
    /// delivery, or the copy's arrival if later, until the copy left or expired): what
    /// acknowledgements save.
    pub delivered_copy_hours: f64,
    /// Most spray-and-wait copies any one envelope had among honest devices at once.
    pub max_live_copies: u32,
    /// Events processed.
    pub events: u64,
    /// Delivery over time.
    pub series: Vec<SeriesPoint>,
}

/// Receives what a run does as it does it.
pub trait SimObserver {
    /// Called every `sample_secs` of simulated time.
    fn progress(&mut self, _p: &Progress) {}
    /// Called when a bridge uploads a payment for the first time (the envelope's bytes), so a
    /// caller can post it to a real server.
    fn delivered(&mut self, _at_secs: f64, _envelope: &[u8]) {}
    /// The envelope of payment `n` (the run's `n`-th), which the simulation will hold until
    /// `expires_at` of its own clock, with `ttl` hops: a real remote payment sealed to a real
    /// server's key, say. `None` (the default): a synthetic envelope of a remote payment's size
    /// sealed to the simulation's own key.
    fn payment(&mut self, _n: u64, _expires_at: UnixTime, _ttl: u8) -> Option<Envelope> {
        None
    }
}

struct FnObserver<'a>(&'a mut dyn FnMut(&Progress));

impl SimObserver for FnObserver<'_> {
    fn progress(&mut self, p: &Progress) {
        (self.0)(p)
    }
}

/// Runs a simulation, calling `progress` every `sample_secs` of simulated time.
pub fn simulate(
    config: &SimConfig,
    progress: &mut dyn FnMut(&Progress),
) -> Result<Report, SimError> {
    simulate_with(config, &mut FnObserver(progress))
}

/// Runs a simulation with an observer (progress and deliveries).
pub fn simulate_with(
    config: &SimConfig,
    observer: &mut dyn SimObserver,
) -> Result<Report, SimError> {
    validate(config)?;
    let mut w = World::new(config);
    w.run(observer);
    Ok(w.report())
}

fn validate(c: &SimConfig) -> Result<(), SimError> {
    let bad = |ok: bool, m: &'static str| {
        if ok {
            Ok(())
        } else {
            Err(SimError::Invalid(m))
        }
    };
    bad(c.devices >= 2, "at least two devices")?;
    bad(
        c.duration_secs > 0.0 && c.duration_secs.is_finite(),
        "duration",
    )?;
    bad(c.radio_range_m > 0.0, "radio range")?;
    bad(c.cell_factor >= 1.0, "cell factor below 1")?;
    bad(
        c.side() > c.radio_range_m,
        "area smaller than the radio range",
    )?;
    bad((0.0..=1.0).contains(&c.bridge_share), "bridge share")?;
    bad((0.0..=1.0).contains(&c.hostile_share), "hostile share")?;
    bad(
        c.bridge_share + c.hostile_share <= 1.0,
        "bridges and hostiles exceed the devices",
    )?;
    bad(c.expiry_secs > 0.0, "expiry")?;
    bad(c.sample_secs > 0.0, "sample interval")?;
    bad(c.payments_per_device_hour >= 0.0, "payment rate")?;
    bad(c.hostile_junk_per_hour >= 0.0, "junk rate")?;
    bad(
        !c.postage || c.max_per_postage_key >= 1,
        "envelopes per postage key below 1",
    )?;
    bad(
        c.seed_payments.iter().all(|p| p.device < c.devices),
        "seed payment device",
    )?;
    if let Movement::RandomWaypoint {
        speed_min,
        speed_max,
        ..
    } = c.movement
    {
        bad(speed_min > 0.0 && speed_max >= speed_min, "speeds")?;
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------

/// Keeps at most `room` acknowledgements, those expiring last (the list stays sorted by short
/// id).
fn fit_acks(acks: &mut Vec<(u64, f32)>, room: usize) {
    if acks.len() <= room {
        return;
    }
    if acks.len() == room + 1 {
        // One too many, the usual case after one insert: no selection needed.
        drop_first_soonest(acks);
    } else {
        fit_acks_by_selection(acks, room);
    }
}

/// Adds one to `key`'s count in `counts` (sorted by key), if `key` is counted there.
fn count_key(counts: &mut [(u32, u16)], key: u32) {
    if let Ok(i) = counts.binary_search_by_key(&key, |c| c.0) {
        counts[i].1 = counts[i].1.saturating_add(1);
    }
}

/// Drops the first (in short-id order) of the acknowledgements expiring soonest: what
/// [`fit_acks_by_selection`] does to a list one over its room, without a scratch vector.
fn drop_first_soonest(acks: &mut Vec<(u64, f32)>) {
    let mut soonest = 0;
    for (i, a) in acks.iter().enumerate().skip(1) {
        if a.1 < acks[soonest].1 {
            soonest = i;
        }
    }
    if soonest < acks.len() {
        acks.remove(soonest);
    }
}

fn fit_acks_by_selection(acks: &mut Vec<(u64, f32)>, room: usize) {
    if acks.len() <= room {
        return;
    }
    let mut by_expiry: Vec<f32> = acks.iter().map(|a| a.1).collect();
    let cut = acks.len() - room;
    let (_, nth, _) = by_expiry.select_nth_unstable_by(cut - 1, f32::total_cmp);
    let threshold = *nth;
    // Drop the `cut` soonest: everything below the threshold, then ties at it.
    let mut below = acks.iter().filter(|a| a.1 < threshold).count();
    acks.retain(|a| {
        if a.1 < threshold {
            return false;
        }
        if a.1 == threshold && below < cut {
            below += 1;
            return false;
        }
        true
    });
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Normal,
    Bridge,
    Hostile,
}

/// An eviction candidate: (expiry bits, short id, index in the buffer).
type Victim = (u32, u64, usize);

/// One copy of an envelope in a device's buffer.
#[derive(Debug, Clone, Copy)]
struct Held {
    short: u64,
    /// `mix(0, short)`, this copy's fingerprint contribution.
    fp: u64,
    idx: u32,
    arrived: f32,
    source: u32,
    copies: u16,
    ttl: u8,
    hops: u8,
}

#[derive(Debug, Clone, Copy)]
struct Link {
    peer: u32,
    mine: u32,
    theirs: u32,
    complete: bool,
    /// Copies accepted from `peer` during this contact (the per-contact quota spans all of a
    /// contact's rounds).
    got: u32,
}

struct Dev {
    seg: Segment,
    ver: u32,
    cell: u32,
    slot: u32,
    kind: Kind,
    held: Vec<Held>,
    used: u32,
    peak: u32,
    root_count: u32,
    root_sum: u64,
    set_ver: u32,
    links: Vec<Link>,
    resync_pending: bool,
    p: f32,
    p_at: f32,
    peers: [(u32, f32, f32); 4],
    /// No copy in `held` expires before this (a lower bound; saves scanning every round).
    next_expiry: f32,
    /// Delivery acknowledgements held: (short id, the envelope's expiry), sorted by short id.
    acks: Vec<(u64, f32)>,
    /// No acknowledgement in `acks` expires before this (a lower bound, like `next_expiry`).
    acks_next_expiry: f32,
}

struct Env {
    created: f32,
    expires: f32,
    delivered: f32,
    off: u64,
    len: u16,
    junk: bool,
    live: u16,
    /// The device whose postage key it carries (its maker).
    payer: u32,
}

#[derive(Debug, Clone, Copy)]
enum Ev {
    SegEnd { d: u32, ver: u32 },
    Cell { d: u32, ver: u32 },
    Start { a: u32, b: u32, va: u32, vb: u32 },
    End { a: u32, b: u32, va: u32, vb: u32 },
    Resync { d: u32 },
    Create,
    Seeded { i: u32 },
    Junk,
    Online { d: u32 },
    Sample,
}

struct Queued {
    t: f64,
    seq: u64,
    ev: Ev,
}

impl PartialEq for Queued {
    fn eq(&self, o: &Self) -> bool {
        self.cmp(o) == Ordering::Equal
    }
}
impl Eq for Queued {}
impl PartialOrd for Queued {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Queued {
    fn cmp(&self, o: &Self) -> Ordering {
        // Reversed: the heap pops the earliest.
        o.t.total_cmp(&self.t).then(o.seq.cmp(&self.seq))
    }
}

/// Slots of the calendar wheel (one second each); it holds seconds `cur + 1 .. cur + WHEEL`.
const WHEEL: i64 = 4096;

/// A calendar queue: events of the current second in a small heap, the next [`WHEEL`] seconds
/// in one-second buckets, later ones in a heap. Pops in exactly the order of a single heap
/// (time, then insertion), with the hot heap small enough to stay in cache.
struct Calendar {
    cur: i64,
    near: BinaryHeap<Queued>,
    wheel: Vec<Vec<Queued>>,
    in_wheel: usize,
    far: BinaryHeap<Queued>,
}

impl Calendar {
    fn new() -> Self {
        Calendar {
            cur: 0,
            near: BinaryHeap::new(),
            wheel: (0..WHEEL).map(|_| Vec::new()).collect(),
            in_wheel: 0,
            far: BinaryHeap::new(),
        }
    }

    fn place(&mut self, q: Queued) {
        let s = q.t.floor() as i64;
        if s <= self.cur {
            self.near.push(q);
        } else if s < self.cur + WHEEL {
            self.wheel[s.rem_euclid(WHEEL) as usize].push(q);
            self.in_wheel += 1;
        } else {
            self.far.push(q);
        }
    }

    fn push(&mut self, q: Queued) {
        self.place(q);
    }

    fn pop(&mut self) -> Option<Queued> {
        loop {
            if let Some(q) = self.near.pop() {
                return Some(q);
            }
            if self.in_wheel == 0 {
                let next = self.far.peek()?.t.floor() as i64;
                self.cur = self.cur.max(next - 1);
            }
            self.cur += 1;
            while self
                .far
                .peek()
                .is_some_and(|q| (q.t.floor() as i64) < self.cur + WHEEL)
            {
                if let Some(q) = self.far.pop() {
                    self.place(q);
                }
            }
            let slot = std::mem::take(&mut self.wheel[self.cur.rem_euclid(WHEEL) as usize]);
            self.in_wheel -= slot.len();
            if self.near.is_empty() {
                self.near = BinaryHeap::from(slot);
            } else {
                self.near.extend(slot);
            }
        }
    }
}

#[derive(Default)]
struct Stats {
    started: u64,
    relayed: u64,
    aborted: u64,
    dropped: u64,
    expired: u64,
    contacts: u64,
    rounds: u64,
    summary_bytes: u64,
    item_bytes: u64,
    buffer_time: f64,
    buffer_n: u64,
    junk_created: u64,
    junk_relayed: u64,
    junk_uploaded: u64,
    postage_refused: u64,
    acks_relayed: u64,
    ack_bytes: u64,
    ack_dropped: u64,
    delivered_copy_secs: f64,
    max_live: u32,
    events: u64,
    latencies: Vec<f64>,
    hops: u64,
    created: u64,
    delivered: u64,
}

struct World<'c> {
    cfg: &'c SimConfig,
    rng: Rng,
    city: City,
    movers: Vec<Mover>,
    devs: Vec<Dev>,
    envs: Vec<Env>,
    bytes: Vec<u8>,
    grid: Vec<Vec<u32>>,
    nx: u32,
    ny: u32,
    cs: f64,
    r2: f64,
    queue: Calendar,
    seq: u64,
    now: f64,
    honest: Vec<u32>,
    hostiles: Vec<u32>,
    stats: Stats,
    series: Vec<SeriesPoint>,
    copies_l: u16,
    key: ferry_proto::keys::X25519Public,
}

impl<'c> World<'c> {
    fn new(cfg: &'c SimConfig) -> Self {
        let n = cfg.devices as usize;
        let side = cfg.side();
        let mut rng = Rng::new(cfg.seed);
        let (city, movers, segs) = mobility::init(&cfg.movement, n, side, &mut rng);
        let cs = cfg.radio_range_m * cfg.cell_factor;
        let nx = ((side / cs).ceil() as u32).max(1);
        let ny = nx;
        let n_bridges = (cfg.bridge_share * n as f64).round() as usize;
        let n_hostile = (cfg.hostile_share * n as f64).round() as usize;
        let mut devs = Vec::with_capacity(n);
        for (i, seg) in segs.into_iter().enumerate() {
            let kind = if i < n_bridges {
                Kind::Bridge
            } else if i >= n - n_hostile {
                Kind::Hostile
            } else {
                Kind::Normal
            };
            devs.push(Dev {
                seg,
                ver: 0,
                cell: 0,
                slot: 0,
                kind,
                held: Vec::new(),
                used: 0,
                peak: 0,
                root_count: 0,
                root_sum: 0,
                set_ver: 0,
                links: Vec::new(),
                resync_pending: false,
                p: if kind == Kind::Normal { 0.0 } else { 1.0 },
                p_at: 0.0,
                peers: [(u32::MAX, 0.0, 0.0); 4],
                next_expiry: f32::INFINITY,
                acks: Vec::new(),
                acks_next_expiry: f32::INFINITY,
            });
        }
        let honest = (0..n as u32)
            .filter(|i| devs[*i as usize].kind != Kind::Hostile)
            .collect();
        let hostiles = (0..n as u32)
            .filter(|i| devs[*i as usize].kind == Kind::Hostile)
            .collect();
        World {
            cfg,
            rng,
            city,
            movers,
            devs,
            envs: Vec::new(),
            bytes: Vec::new(),
            grid: vec![Vec::new(); (nx as usize) * (ny as usize)],
            nx,
            ny,
            cs,
            r2: cfg.radio_range_m * cfg.radio_range_m,
            queue: Calendar::new(),
            seq: 0,
            now: 0.0,
            honest,
            hostiles,
            stats: Stats::default(),
            series: Vec::new(),
            copies_l: cfg.strategy.initial_copies(),
            key: test_issuer_key(),
        }
    }

    fn push(&mut self, t: f64, ev: Ev) {
        self.seq += 1;
        self.queue.push(Queued {
            t,
            seq: self.seq,
            ev,
        });
    }

    fn cell_of(&self, x: f64, y: f64) -> u32 {
        let cx = ((x / self.cs).floor().max(0.0) as u32).min(self.nx - 1);
        let cy = ((y / self.cs).floor().max(0.0) as u32).min(self.ny - 1);
        cy * self.nx + cx
    }

    fn grid_insert(&mut self, d: u32, cell: u32) {
        let v = &mut self.grid[cell as usize];
        self.devs[d as usize].cell = cell;
        self.devs[d as usize].slot = v.len() as u32;
        v.push(d);
    }

    fn grid_remove(&mut self, d: u32) {
        let (cell, slot) = {
            let dv = &self.devs[d as usize];
            (dv.cell as usize, dv.slot as usize)
        };
        let v = &mut self.grid[cell];
        v.swap_remove(slot);
        if let Some(&moved) = v.get(slot) {
            self.devs[moved as usize].slot = slot as u32;
        }
    }

    fn run(&mut self, obs: &mut dyn SimObserver) {
        let n = self.devs.len() as u32;
        for d in 0..n {
            let s = self.devs[d as usize].seg;
            let c = self.cell_of(s.x, s.y);
            self.grid_insert(d, c);
        }
        for d in 0..n {
            self.schedule_motion(d);
        }
        for a in 0..n {
            self.scan(a, true);
        }
        let rate = self.cfg.payments_per_device_hour * self.honest.len() as f64 / 3600.0;
        if rate > 0.0 {
            let t = self.rng.exp(1.0 / rate);
            self.push(t, Ev::Create);
        }
        for i in 0..self.cfg.seed_payments.len() {
            self.push(
                self.cfg.seed_payments[i].at_secs,
                Ev::Seeded { i: i as u32 },
            );
        }
        let jrate = self.cfg.hostile_junk_per_hour * self.hostiles.len() as f64 / 3600.0;
        if jrate > 0.0 {
            let t = self.rng.exp(1.0 / jrate);
            self.push(t, Ev::Junk);
        }
        if self.cfg.bridge_online_mean_secs > 0.0 {
            for d in 0..n {
                if self.devs[d as usize].kind == Kind::Bridge {
                    let t = self.rng.exp(self.cfg.bridge_online_mean_secs);
                    self.push(t, Ev::Online { d });
                }
            }
        }
        self.push(0.0, Ev::Sample);
        while let Some(q) = self.queue.pop() {
            if q.t > self.cfg.duration_secs {
                break;
            }
            self.now = q.t;
            self.stats.events += 1;
            match q.ev {
                Ev::SegEnd { d, ver } => {
                    if self.devs[d as usize].ver == ver {
                        self.seg_end(d);
                    }
                }
                Ev::Cell { d, ver } => {
                    if self.devs[d as usize].ver == ver {
                        self.cell_cross(d);
                    }
                }
                Ev::Start { a, b, va, vb } => {
                    if self.devs[a as usize].ver == va
                        && self.devs[b as usize].ver == vb
                        && !self.linked(a, b)
                    {
                        self.contact_start(a, b);
                    }
                }
                Ev::End { a, b, va, vb } => {
                    if self.devs[a as usize].ver == va && self.devs[b as usize].ver == vb {
                        self.unlink(a, b);
                    }
                }
                Ev::Resync { d } => self.resync(d),
                Ev::Create => {
                    let d = self.honest[self.rng.below(self.honest.len() as u64) as usize];
                    self.create(d, obs);
                    let rate =
                        self.cfg.payments_per_device_hour * self.honest.len() as f64 / 3600.0;
                    let t = self.now + self.rng.exp(1.0 / rate);
                    if t < self.cfg.create_until_secs {
                        self.push(t, Ev::Create);
                    }
                }
                Ev::Seeded { i } => {
                    let d = self.cfg.seed_payments[i as usize].device;
                    self.create(d, obs);
                }
                Ev::Junk => {
                    let h = self.hostiles[self.rng.below(self.hostiles.len() as u64) as usize];
                    self.junk(h);
                    let jrate =
                        self.cfg.hostile_junk_per_hour * self.hostiles.len() as f64 / 3600.0;
                    let t = self.now + self.rng.exp(1.0 / jrate);
                    self.push(t, Ev::Junk);
                }
                Ev::Online { d } => {
                    self.upload(d, obs);
                    let t = self.now + self.rng.exp(self.cfg.bridge_online_mean_secs);
                    self.push(t, Ev::Online { d });
                }
                Ev::Sample => {
                    let p = SeriesPoint {
                        t_secs: self.now,
                        created: self.stats.created,
                        delivered: self.stats.delivered,
                    };
                    self.series.push(p);
                    obs.progress(&Progress {
                        sim_secs: self.now,
                        total_secs: self.cfg.duration_secs,
                        events: self.stats.events,
                        created: p.created,
                        delivered: p.delivered,
                    });
                    let t = self.now + self.cfg.sample_secs;
                    self.push(t.min(self.cfg.duration_secs), Ev::Sample);
                    if t > self.cfg.duration_secs && self.now >= self.cfg.duration_secs {
                        break;
                    }
                }
            }
            if self.cfg.bridge_online_mean_secs == 0.0 {
                self.flush_always_online(obs);
            }
        }
        self.now = self.now.min(self.cfg.duration_secs);
    }

    // --- motion and contacts --------------------------------------------------------------

    fn schedule_motion(&mut self, d: u32) {
        let dv = &self.devs[d as usize];
        let (seg, ver) = (dv.seg, dv.ver);
        self.push(seg.t1, Ev::SegEnd { d, ver });
        if let Some(t) = self.next_crossing(d) {
            self.push(t, Ev::Cell { d, ver });
        }
    }

    fn next_crossing(&self, d: u32) -> Option<f64> {
        let dv = &self.devs[d as usize];
        let s = dv.seg;
        if s.vx == 0.0 && s.vy == 0.0 {
            return None;
        }
        let (x, y) = s.at(self.now);
        let cx = f64::from(dv.cell % self.nx);
        let cy = f64::from(dv.cell / self.nx);
        // A device never leaves the grid: the outer cells extend to infinity.
        let (last_x, last_y) = (f64::from(self.nx - 1), f64::from(self.ny - 1));
        let tx = if s.vx > 0.0 && cx < last_x {
            ((cx + 1.0) * self.cs - x) / s.vx
        } else if s.vx < 0.0 && cx > 0.0 {
            (cx * self.cs - x) / s.vx
        } else {
            f64::INFINITY
        };
        let ty = if s.vy > 0.0 && cy < last_y {
            ((cy + 1.0) * self.cs - y) / s.vy
        } else if s.vy < 0.0 && cy > 0.0 {
            (cy * self.cs - y) / s.vy
        } else {
            f64::INFINITY
        };
        let t = self.now + tx.min(ty).max(1e-6);
        (t < s.t1).then_some(t)
    }

    fn seg_end(&mut self, d: u32) {
        let prev = self.devs[d as usize].seg;
        let seg = mobility::next(
            &self.cfg.movement,
            &self.city,
            &mut self.movers[d as usize],
            &prev,
            &mut self.rng,
        );
        {
            let dv = &mut self.devs[d as usize];
            dv.seg = seg;
            dv.ver = dv.ver.wrapping_add(1);
        }
        let c = self.cell_of(seg.x, seg.y);
        if c != self.devs[d as usize].cell {
            self.grid_remove(d);
            self.grid_insert(d, c);
        }
        // Contacts in progress continue or end under the new segment.
        let links: Vec<u32> = self.devs[d as usize].links.iter().map(|l| l.peer).collect();
        for b in links {
            match self.window(d, b) {
                Some((s1, s2)) if s1 <= 0.0 => {
                    if let Some(end) = s2 {
                        let (va, vb) = (self.devs[d as usize].ver, self.devs[b as usize].ver);
                        self.push(self.now + end, Ev::End { a: d, b, va, vb });
                    }
                }
                _ => self.unlink(d, b),
            }
        }
        self.schedule_motion(d);
        self.scan(d, false);
    }

    fn cell_cross(&mut self, d: u32) {
        let s = self.devs[d as usize].seg;
        let (x, y) = s.at(self.now + 1e-6);
        let c = self.cell_of(x, y);
        let old = self.devs[d as usize].cell;
        if c != old {
            self.grid_remove(d);
            self.grid_insert(d, c);
            self.scan_from(d, false, Some(old));
        }
        let ver = self.devs[d as usize].ver;
        if let Some(t) = self.next_crossing(d) {
            self.push(t, Ev::Cell { d, ver });
        }
    }

    /// Checks `d` against every device in the 3×3 cells around it. With `init`, only pairs
    /// with a higher index (each pair once at the start).
    fn scan(&mut self, d: u32, init: bool) {
        self.scan_from(d, init, None);
    }

    /// As [`World::scan`], but after moving from cell `old` only the cells that were not
    /// already around `old`: pairs in those were predicted when they became neighbours, under
    /// segments that have not changed since (a segment change rescans all nine).
    fn scan_from(&mut self, d: u32, init: bool, old: Option<u32>) {
        let cell = self.devs[d as usize].cell;
        let (cx, cy) = ((cell % self.nx) as i64, (cell / self.nx) as i64);
        let old = old.map(|o| ((o % self.nx) as i64, (o / self.nx) as i64));
        let mut cand: Vec<u32> = Vec::new();
        for dy in -1..=1 {
            for dx in -1..=1 {
                let (x, y) = (cx + dx, cy + dy);
                if x < 0 || y < 0 || x >= i64::from(self.nx) || y >= i64::from(self.ny) {
                    continue;
                }
                if old.is_some_and(|(ox, oy)| (x - ox).abs() <= 1 && (y - oy).abs() <= 1) {
                    continue;
                }
                cand.extend_from_slice(&self.grid[(y as u32 * self.nx + x as u32) as usize]);
            }
        }
        let mut mine: Vec<u32> = self.devs[d as usize].links.iter().map(|l| l.peer).collect();
        mine.sort_unstable();
        for b in cand {
            if b == d || (init && b < d) || mine.binary_search(&b).is_ok() {
                continue;
            }
            if let Some((s1, s2)) = self.window(d, b) {
                if s1 <= 0.0 {
                    self.contact_start_with_end(d, b, s2);
                } else {
                    let (va, vb) = (self.devs[d as usize].ver, self.devs[b as usize].ver);
                    self.push(self.now + s1, Ev::Start { a: d, b, va, vb });
                }
            }
        }
    }

    /// When `a` and `b` are within range under their current segments, relative to now:
    /// `(start, end)` with `start ≤ 0` if in range now and `end = None` if still in range when
    /// a segment ends. `None` if they do not meet before either segment ends.
    fn window(&self, a: u32, b: u32) -> Option<(f64, Option<f64>)> {
        let (sa, sb) = (self.devs[a as usize].seg, self.devs[b as usize].seg);
        let (ax, ay) = sa.at(self.now);
        let (bx, by) = sb.at(self.now);
        let (dx, dy) = (ax - bx, ay - by);
        let (dvx, dvy) = (sa.vx - sb.vx, sa.vy - sb.vy);
        let h = (sa.t1.min(sb.t1) - self.now).max(0.0);
        let c = dx * dx + dy * dy - self.r2;
        let aa = dvx * dvx + dvy * dvy;
        if aa < 1e-12 {
            return (c <= 1e-9).then_some((0.0, None));
        }
        let bb = dx * dvx + dy * dvy;
        let disc = bb * bb - aa * c;
        if disc < 0.0 {
            return None;
        }
        let sq = disc.sqrt();
        let s1 = (-bb - sq) / aa;
        let s2 = (-bb + sq) / aa;
        if s2 < 0.0 || s1 > h {
            return None;
        }
        let start = if c <= 1e-9 { 0.0 } else { s1.max(0.0) };
        if start > h {
            return None;
        }
        Some((start, (s2 <= h).then_some(s2.max(0.0))))
    }

    fn linked(&self, a: u32, b: u32) -> bool {
        let (x, y) = if self.devs[a as usize].links.len() <= self.devs[b as usize].links.len() {
            (a, b)
        } else {
            (b, a)
        };
        self.devs[x as usize].links.iter().any(|l| l.peer == y)
    }

    fn unlink(&mut self, a: u32, b: u32) {
        self.devs[a as usize].links.retain(|l| l.peer != b);
        self.devs[b as usize].links.retain(|l| l.peer != a);
    }

    fn contact_start(&mut self, a: u32, b: u32) {
        match self.window(a, b) {
            Some((_, end)) => self.contact_start_with_end(a, b, end),
            // Rounding put them a hair outside range: count the contact as starting and
            // ending now.
            None => self.contact_start_with_end(a, b, Some(0.0)),
        }
    }

    fn contact_start_with_end(&mut self, a: u32, b: u32, end: Option<f64>) {
        self.stats.contacts += 1;
        let new = |peer| Link {
            peer,
            mine: u32::MAX,
            theirs: u32::MAX,
            complete: false,
            got: 0,
        };
        self.devs[a as usize].links.push(new(b));
        self.devs[b as usize].links.push(new(a));
        self.round(a, b, true);
        match end {
            Some(e) if e <= 0.0 => self.unlink(a, b),
            Some(e) => {
                let (va, vb) = (self.devs[a as usize].ver, self.devs[b as usize].ver);
                self.push(self.now + e, Ev::End { a, b, va, vb });
            }
            None => {}
        }
    }

    fn resync(&mut self, d: u32) {
        self.devs[d as usize].resync_pending = false;
        let links = self.devs[d as usize].links.clone();
        for l in links {
            let peer_ver = self.devs[l.peer as usize].set_ver;
            let stale =
                !l.complete || l.mine != self.devs[d as usize].set_ver || l.theirs != peer_ver;
            if stale && self.linked(d, l.peer) {
                self.round(d, l.peer, false);
            }
        }
    }

    fn touched(&mut self, d: u32) {
        let resync = self.cfg.resync_secs;
        let dv = &mut self.devs[d as usize];
        dv.set_ver = dv.set_ver.wrapping_add(1);
        if resync > 0.0 && !dv.resync_pending && !dv.links.is_empty() {
            dv.resync_pending = true;
            let t = self.now + resync;
            self.push(t, Ev::Resync { d });
        }
    }

    // --- buffers --------------------------------------------------------------------------

    /// Seconds copy `h` has been held since the server had its payment (0 if not delivered).
    fn wasted_secs(&self, h: &Held) -> f64 {
        let e = &self.envs[h.idx as usize];
        if e.junk || e.delivered.is_nan() {
            return 0.0;
        }
        let from = f64::from(e.delivered.max(h.arrived));
        (self.now.min(f64::from(e.expires)) - from).max(0.0)
    }

    fn remove_at(&mut self, d: u32, i: usize) -> Held {
        let h = self.devs[d as usize].held.remove(i);
        if self.devs[d as usize].kind != Kind::Hostile {
            self.stats.delivered_copy_secs += self.wasted_secs(&h);
        }
        let e = &mut self.envs[h.idx as usize];
        let dv = &mut self.devs[d as usize];
        dv.used -= u32::from(e.len);
        dv.root_count -= 1;
        dv.root_sum = dv.root_sum.wrapping_sub(h.fp);
        if dv.kind != Kind::Hostile {
            e.live = e.live.saturating_sub(h.copies);
        }
        self.stats.buffer_time += self.now - f64::from(h.arrived);
        self.stats.buffer_n += 1;
        h
    }

    fn insert(&mut self, d: u32, h: Held) {
        let len = u32::from(self.envs[h.idx as usize].len);
        let exp = self.envs[h.idx as usize].expires;
        let dv = &mut self.devs[d as usize];
        dv.next_expiry = dv.next_expiry.min(exp);
        let pos = dv.held.partition_point(|x| x.short < h.short);
        debug_assert!(dv.held.get(pos).is_none_or(|x| x.short != h.short));
        dv.held.insert(pos, h);
        dv.used += len;
        dv.peak = dv.peak.max(dv.used);
        dv.root_count += 1;
        dv.root_sum = dv.root_sum.wrapping_add(h.fp);
        if dv.kind != Kind::Hostile {
            let e = &mut self.envs[h.idx as usize];
            e.live = e.live.saturating_add(h.copies);
            if !e.junk {
                self.stats.max_live = self.stats.max_live.max(u32::from(e.live));
            }
        }
    }

    /// Removes the copies `drop` selects from `d`'s buffer in one pass, with the same
    /// accounting as [`World::remove_at`]. Returns how many went.
    fn drop_where(&mut self, d: u32, drop: impl Fn(usize, &Held, &Env) -> bool) -> usize {
        let held = std::mem::take(&mut self.devs[d as usize].held);
        let hostile = self.devs[d as usize].kind == Kind::Hostile;
        let mut kept = Vec::with_capacity(held.len());
        let mut gone = 0;
        let (mut bytes, mut sum) = (0u32, 0u64);
        let mut next = f32::INFINITY;
        for (i, h) in held.into_iter().enumerate() {
            if !drop(i, &h, &self.envs[h.idx as usize]) {
                next = next.min(self.envs[h.idx as usize].expires);
                kept.push(h);
                continue;
            }
            if !hostile {
                self.stats.delivered_copy_secs += self.wasted_secs(&h);
            }
            let e = &mut self.envs[h.idx as usize];
            gone += 1;
            bytes += u32::from(e.len);
            sum = sum.wrapping_add(h.fp);
            if !hostile {
                e.live = e.live.saturating_sub(h.copies);
            }
            self.stats.buffer_time += self.now - f64::from(h.arrived);
            self.stats.buffer_n += 1;
        }
        let dv = &mut self.devs[d as usize];
        dv.held = kept;
        dv.next_expiry = next;
        dv.used -= bytes;
        dv.root_count -= gone as u32;
        dv.root_sum = dv.root_sum.wrapping_sub(sum);
        gone
    }

    fn expire_dev(&mut self, d: u32) -> bool {
        let now = self.now as f32;
        if self.devs[d as usize].next_expiry > now {
            return false;
        }
        let n = self.drop_where(d, |_, _, e| e.expires <= now);
        self.stats.expired += n as u64;
        n > 0
    }

    /// Evicts relayed copies (soonest expiry first, only those expiring before `expiry`
    /// unless `own`) until `need` more bytes fit.
    fn make_room(&mut self, d: u32, need: u32, expiry: f32, own: bool) -> bool {
        let budget = self.cfg.budget_bytes;
        if self.devs[d as usize].used + need <= budget {
            return true;
        }
        if self.expire_dev(d) {
            self.touched(d);
        }
        while self.devs[d as usize].used + need > budget {
            let mut best: Option<(usize, f32, u64)> = None;
            for (i, h) in self.devs[d as usize].held.iter().enumerate() {
                if h.source == d {
                    continue;
                }
                let e = self.envs[h.idx as usize].expires;
                if best.is_none_or(|(_, be, bs)| (e, h.short) < (be, bs)) {
                    best = Some((i, e, h.short));
                }
            }
            match best {
                Some((i, e, _)) if own || e < expiry => {
                    self.remove_at(d, i);
                    self.stats.dropped += 1;
                }
                _ => return false,
            }
        }
        true
    }

    fn add_env(&mut self, payer: u32, expires: f32, junk: bool, bytes: Option<Vec<u8>>) -> u32 {
        let off = match &bytes {
            Some(b) => {
                let off = self.bytes.len() as u64;
                self.bytes.extend_from_slice(b);
                off
            }
            None => u64::MAX,
        };
        self.envs.push(Env {
            created: self.now as f32,
            expires,
            delivered: f32::NAN,
            off,
            len: bytes.as_ref().map_or(JUNK_LEN, |b| b.len() as u16),
            junk,
            live: 0,
            payer,
        });
        (self.envs.len() - 1) as u32
    }

    fn create(&mut self, d: u32, obs: &mut dyn SimObserver) {
        let n = self.stats.created;
        let expires_unix = EPOCH + (self.now + self.cfg.expiry_secs) as u64;
        let env = obs
            .payment(n, UnixTime(expires_unix), self.cfg.ttl)
            .unwrap_or_else(|| {
                seal_numbered(
                    &self.key,
                    self.cfg.seed,
                    n,
                    PAYMENT_PLAINTEXT_LEN,
                    UnixTime(expires_unix),
                    self.cfg.ttl,
                )
            });
        let short = short_id(&env.id());
        self.stats.created += 1;
        if self.devs[d as usize].held.iter().any(|h| h.short == short) {
            return;
        }
        let expires = (expires_unix - EPOCH) as f32;
        let idx = self.add_env(d, expires, false, Some(env.to_bytes()));
        let len = u32::from(self.envs[idx as usize].len);
        if !self.make_room(d, len, expires, true) {
            return;
        }
        let h = Held {
            short,
            fp: mix(0, short),
            idx,
            arrived: self.now as f32,
            source: d,
            copies: self.copies_l,
            ttl: self.cfg.ttl,
            hops: 0,
        };
        self.insert(d, h);
        self.touched(d);
    }

    fn junk(&mut self, d: u32) {
        let short = self.rng.next_u64();
        if self.devs[d as usize].held.iter().any(|h| h.short == short) {
            return;
        }
        let expires = (self.now + self.cfg.expiry_secs) as f32;
        let idx = self.add_env(d, expires, true, None);
        self.stats.junk_created += 1;
        // A flooder keeps its newest junk within the same budget.
        while self.devs[d as usize].used + u32::from(JUNK_LEN) > self.cfg.budget_bytes {
            let oldest = self.devs[d as usize]
                .held
                .iter()
                .enumerate()
                .min_by_key(|(_, h)| (h.idx, h.short))
                .map(|(i, _)| i);
            match oldest {
                Some(i) => {
                    self.remove_at(d, i);
                }
                None => break,
            }
        }
        let h = Held {
            short,
            fp: mix(0, short),
            idx,
            arrived: self.now as f32,
            source: d,
            copies: self.copies_l,
            ttl: self.cfg.ttl,
            hops: 0,
        };
        self.insert(d, h);
        self.touched(d);
    }

    fn deliver(&mut self, h: &Held, obs: &mut dyn SimObserver) {
        let e = &mut self.envs[h.idx as usize];
        if e.junk {
            self.stats.junk_uploaded += 1;
            return;
        }
        if !e.delivered.is_nan() || e.expires <= self.now as f32 {
            return;
        }
        e.delivered = self.now as f32;
        self.stats.delivered += 1;
        self.stats.latencies.push(self.now - f64::from(e.created));
        self.stats.hops += u64::from(h.hops);
        let (off, len) = (e.off as usize, e.len as usize);
        obs.delivered(self.now, &self.bytes[off..off + len]);
    }

    fn upload(&mut self, d: u32, obs: &mut dyn SimObserver) {
        if self.devs[d as usize].held.is_empty() {
            return;
        }
        self.expire_dev(d);
        while let Some(last) = self.devs[d as usize].held.len().checked_sub(1) {
            let h = self.remove_at(d, last);
            self.deliver(&h, obs);
            if self.cfg.acks {
                // The server decides every unexpired envelope (junk is invalid) and
                // acknowledges it.
                let expires = self.envs[h.idx as usize].expires;
                self.add_ack(d, h.short, expires);
            }
        }
        self.touched(d);
    }

    /// How many acknowledgements `d` has room for. A node keeps an acknowledgement with the
    /// envelope as a tombstone, which is the first thing evicted when room is needed: so
    /// acknowledgements live in the room its live copies leave free.
    fn ack_room(&self, d: u32) -> usize {
        let dv = &self.devs[d as usize];
        (self.cfg.budget_bytes.saturating_sub(dv.used) / u32::from(JUNK_LEN)) as usize
    }

    /// `d` keeps the acknowledgement of the envelope with short id `short` (until `expires`),
    /// in place of the one expiring soonest if it has no room.
    fn add_ack(&mut self, d: u32, short: u64, expires: f32) {
        let now = self.now as f32;
        let room = self.ack_room(d);
        let dev = &mut self.devs[d as usize];
        if expires <= now || room == 0 {
            return;
        }
        if let Err(pos) = dev.acks.binary_search_by_key(&short, |a| a.0) {
            dev.acks.insert(pos, (short, expires));
            dev.acks_next_expiry = dev.acks_next_expiry.min(expires);
            fit_acks(&mut dev.acks, room);
        }
    }

    /// `acker` gives its acknowledgements for what `holder` holds and `acker` lacks (they are
    /// in `lacks`, since an acknowledged envelope leaves its reconciliation set) instead of
    /// asking for those envelopes; `holder` drops its copies and keeps the acknowledgements.
    /// Removes them from `lacks`; returns how many were sent.
    fn give_acks(&mut self, acker: u32, holder: u32, lacks: &mut Vec<u64>) -> usize {
        let now = self.now as f32;
        let acker_dev = &mut self.devs[acker as usize];
        if acker_dev.acks.is_empty() || acker_dev.kind == Kind::Hostile {
            return 0;
        }
        if acker_dev.acks_next_expiry <= now {
            // Only then can there be an expired one to drop: not a scan every round.
            acker_dev.acks.retain(|a| a.1 > now);
            acker_dev.acks_next_expiry = acker_dev
                .acks
                .iter()
                .map(|a| a.1)
                .fold(f32::INFINITY, f32::min);
        }
        let room = self.ack_room(acker);
        let acker_dev = &mut self.devs[acker as usize];
        fit_acks(&mut acker_dev.acks, room);
        let acks = &acker_dev.acks;
        let mut sent = Vec::new();
        // Both lists are sorted by short id: walk them together (step by step when they are of
        // like size, by search in what is left when the acknowledgements are many more).
        debug_assert!(lacks.windows(2).all(|w| w[0] < w[1]));
        let walk = acks.len() <= 64 * lacks.len();
        let mut next = 0;
        lacks.retain(|s| {
            if walk {
                while acks.get(next).is_some_and(|a| a.0 < *s) {
                    next += 1;
                }
            } else {
                next += acks[next..].partition_point(|a| a.0 < *s);
            }
            match acks.get(next) {
                Some(a) if a.0 == *s => {
                    sent.push(*a);
                    false
                }
                _ => true,
            }
        });
        if sent.is_empty() {
            return 0;
        }
        self.stats.acks_relayed += sent.len() as u64;
        self.stats.ack_bytes += (sent.len() * ACK_LEN) as u64;
        if self.devs[holder as usize].kind != Kind::Hostile {
            let mut dropped = 0;
            for (short, expires) in &sent {
                let held = &self.devs[holder as usize].held;
                if let Ok(i) = held.binary_search_by_key(short, |h| h.short) {
                    self.remove_at(holder, i);
                    dropped += 1;
                }
                self.add_ack(holder, *short, *expires);
            }
            self.stats.ack_dropped += dropped;
            if dropped > 0 {
                self.touched(holder);
            }
        }
        sent.len()
    }

    fn flush_always_online(&mut self, obs: &mut dyn SimObserver) {
        // Only bridges can hold anything to flush; keep it cheap by checking those.
        let n_bridges = (self.cfg.bridge_share * self.devs.len() as f64).round() as u32;
        for d in 0..n_bridges {
            if !self.devs[d as usize].held.is_empty() {
                self.upload(d, obs);
            }
        }
    }

    // --- relay rounds ---------------------------------------------------------------------

    fn p_now(&self, d: u32) -> f64 {
        let dv = &self.devs[d as usize];
        match (dv.kind, &self.cfg.strategy) {
            (Kind::Normal, Strategy::Prophet(pp)) => prophet_age(
                f64::from(dv.p),
                (self.now - f64::from(dv.p_at)).max(0.0) as u64,
                pp,
            ),
            (Kind::Normal, _) => 0.0,
            _ => 1.0,
        }
    }

    fn view(&self, d: u32) -> RelayView {
        RelayView {
            bridge: self.devs[d as usize].kind == Kind::Bridge,
            p: self.p_now(d),
        }
    }

    fn prophet_meet(&mut self, a: u32, b: u32) {
        let Strategy::Prophet(pp) = self.cfg.strategy else {
            return;
        };
        let (va, vb) = (self.view(a), self.view(b));
        for (me, peer, pv) in [(a, b, vb), (b, a, va)] {
            if self.devs[me as usize].kind != Kind::Normal {
                continue;
            }
            let mut p = self.p_now(me);
            let now = self.now;
            let dv = &mut self.devs[me as usize];
            if pv.bridge {
                p = prophet_direct(p, &pp);
            } else {
                let slot = dv
                    .peers
                    .iter()
                    .position(|e| e.0 == peer)
                    .unwrap_or_else(|| {
                        (0..4)
                            .min_by(|&i, &j| dv.peers[i].2.total_cmp(&dv.peers[j].2))
                            .unwrap_or(0)
                    });
                let old = if dv.peers[slot].0 == peer {
                    prophet_age(
                        f64::from(dv.peers[slot].1),
                        (now - f64::from(dv.peers[slot].2)).max(0.0) as u64,
                        &pp,
                    )
                } else {
                    0.0
                };
                let p_ab = prophet_direct(old, &pp);
                dv.peers[slot] = (peer, p_ab as f32, now as f32);
                p = prophet_transitive(p, p_ab, pv.p, &pp);
            }
            dv.p = p as f32;
            dv.p_at = now as f32;
        }
    }

    /// Bytes an item of envelope `idx` takes on the wire.
    fn item_cost(&self, idx: u32) -> i64 {
        let posted = if self.cfg.postage { POSTED_LEN } else { 0 };
        i64::from(self.envs[idx as usize].len) + (ITEM_OVERHEAD + posted) as i64
    }

    /// Picks what `from` sends to `to` among `lacks`, applying the strategy to `from`'s
    /// buffer. Returns the copies to deliver and whether anything was held back by the byte
    /// allowance or the quota.
    fn select(
        &mut self,
        from: u32,
        to: u32,
        lacks: &[u64],
        allowance: i64,
        quota: u32,
    ) -> (Vec<Held>, bool) {
        let hostile = self.devs[from as usize].kind == Kind::Hostile;
        let (me, peer) = (self.view(from), self.view(to));
        if lacks.is_empty() || (!hostile && !forwards_any(&self.cfg.strategy, me, peer)) {
            // Nothing would move: skip ranking the buffer.
            return (Vec::new(), false);
        }
        let mut order: Vec<(u32, f32, u64)> = Vec::with_capacity(lacks.len());
        {
            let held = &self.devs[from as usize].held;
            for s in lacks {
                if let Ok(i) = held.binary_search_by_key(s, |h| h.short) {
                    order.push((0, self.envs[held[i].idx as usize].expires, *s));
                }
            }
        }
        order.sort_unstable_by(|a, b| a.1.total_cmp(&b.1).then(a.2.cmp(&b.2)));
        if self.cfg.postage {
            // Every postage key's first envelope before any key's second (soonest expiry first
            // within a rank), as `Node` sends.
            let held = &self.devs[from as usize].held;
            // (payer, position in `order`): sorted, each payer's envelopes keep their order.
            let mut by_payer: Vec<(u32, u32)> = order
                .iter()
                .enumerate()
                .filter_map(|(k, o)| {
                    let i = held.binary_search_by_key(&o.2, |h| h.short).ok()?;
                    Some((self.envs[held[i].idx as usize].payer, k as u32))
                })
                .collect();
            by_payer.sort_unstable();
            let mut rank = 0;
            for (n, &(payer, k)) in by_payer.iter().enumerate() {
                rank = if n > 0 && by_payer[n - 1].0 == payer {
                    rank + 1
                } else {
                    0
                };
                order[k as usize].0 = rank;
            }
            order.sort_by_key(|o| o.0);
        }
        let mut left = allowance;
        let mut out = Vec::new();
        let mut truncated = false;
        let mut handoffs: Vec<u64> = Vec::new();
        let now = self.now as f32;
        for (_, expires, short) in order {
            if expires <= now {
                continue;
            }
            let Ok(i) = self.devs[from as usize]
                .held
                .binary_search_by_key(&short, |h| h.short)
            else {
                continue;
            };
            let h = self.devs[from as usize].held[i];
            let cost = self.item_cost(h.idx);
            let decision = if hostile {
                Forward::Replicate
            } else {
                decide(&self.cfg.strategy, me, peer, h.copies, h.ttl)
            };
            if decision == Forward::No {
                continue;
            }
            // Honest senders stay within the receiver's quota for this contact (what is left
            // of it cannot move in later rounds either, so that does not count as truncated).
            if !hostile && out.len() as u32 >= quota {
                break;
            }
            if cost > left || out.len() as u32 >= self.cfg.max_items_per_contact {
                truncated = true;
                break;
            }
            left -= cost;
            let copies = match decision {
                Forward::Replicate => {
                    if hostile {
                        self.copies_l
                    } else {
                        1
                    }
                }
                Forward::Split { give, keep } => {
                    self.devs[from as usize].held[i].copies = keep;
                    let e = &mut self.envs[h.idx as usize];
                    e.live = e.live.saturating_sub(give);
                    give
                }
                Forward::Handoff => {
                    handoffs.push(short);
                    h.copies
                }
                Forward::No => 0,
            };
            out.push(Held {
                short,
                fp: h.fp,
                idx: h.idx,
                arrived: now,
                source: from,
                copies,
                ttl: h.ttl.saturating_sub(1),
                hops: h.hops.saturating_add(1),
            });
        }
        for s in handoffs {
            if let Ok(i) = self.devs[from as usize]
                .held
                .binary_search_by_key(&s, |h| h.short)
            {
                // The copies leave the sender here and arrive with the item at the receiver.
                let c = self.devs[from as usize].held[i].copies;
                self.remove_at(from, i);
                let _ = c;
            }
        }
        (out, truncated)
    }

    /// `to` takes the copies `from` sent (in the order sent, soonest expiry first). Each is
    /// refused if `from` has filled its share of the budget, and otherwise makes room by
    /// evicting relayed copies that expire sooner, or is refused. Returns true if `to`'s set
    /// changed.
    fn receive(&mut self, to: u32, from: u32, items: Vec<Held>, quota: u32) -> (bool, u32) {
        self.stats.started += items.len() as u64;
        if self.devs[to as usize].kind == Kind::Hostile {
            // Swallowed: the copies are gone.
            self.stats.relayed += items.len() as u64;
            return (false, items.len() as u32);
        }
        let budget = u64::from(self.cfg.budget_bytes);
        let share = budget * u64::from(self.cfg.peer_share_percent) / 100;
        let mut from_peer: u64 = self.devs[to as usize]
            .held
            .iter()
            .filter(|x| x.source == from)
            .map(|x| u64::from(self.envs[x.idx as usize].len))
            .sum();
        let mut used = u64::from(self.devs[to as usize].used);
        // Eviction candidates, soonest expiry first: the existing relayed copies with the
        // smallest expiries (at most two per incoming item are ever needed, as all copies are
        // about the same size), found once per round when something must be evicted, merged with
        // the copies accepted earlier in this round (which arrive in expiry order).
        let n_items = items.len();
        let mut victims: Option<(Vec<Victim>, usize)> = None;
        let mut evict: Vec<usize> = Vec::new();
        let mut accepted: Vec<Option<Held>> = Vec::new();
        let mut acc_cursor = 0usize;
        // Copies taken then evicted again in this round still used the quota.
        let mut n_taken = 0u32;
        // Envelopes held for others per postage key (with postage; built on first use), for
        // the keys of the incoming items only: (key, count), sorted by key.
        let mut per_key: Option<Vec<(u32, u16)>> = None;
        let cap = self.cfg.max_per_postage_key;
        let mut incoming_keys: Vec<u32> = Vec::new();
        if self.cfg.postage {
            incoming_keys.extend(items.iter().map(|h| self.envs[h.idx as usize].payer));
            incoming_keys.sort_unstable();
            incoming_keys.dedup();
        }
        for mut h in items {
            let held = &self.devs[to as usize].held;
            if held.binary_search_by_key(&h.short, |x| x.short).is_ok() {
                continue;
            }
            let e = &self.envs[h.idx as usize];
            let (len, expires, junk) = (u64::from(e.len), e.expires, e.junk);
            if accepted.iter().flatten().count() as u32 + n_taken >= quota {
                // Over the peer's quota for this contact.
                self.stats.aborted += 1;
                continue;
            }
            if from_peer + len > share {
                self.stats.aborted += 1;
                continue;
            }
            if self.cfg.postage {
                let counts = per_key.get_or_insert_with(|| {
                    let mut m: Vec<(u32, u16)> = incoming_keys.iter().map(|k| (*k, 0)).collect();
                    for x in held.iter().filter(|x| x.source != to) {
                        count_key(&mut m, self.envs[x.idx as usize].payer);
                    }
                    m
                });
                let payer = self.envs[h.idx as usize].payer;
                let held_of_key = counts
                    .binary_search_by_key(&payer, |c| c.0)
                    .map_or(0, |i| counts[i].1);
                if held_of_key >= cap {
                    self.stats.aborted += 1;
                    self.stats.postage_refused += 1;
                    continue;
                }
            }
            let mut refused = false;
            while used + len > budget {
                let (vs, vi) = victims.get_or_insert_with(|| {
                    let m = 2 * n_items + 8;
                    let mut top: BinaryHeap<(u32, u64, usize)> = BinaryHeap::with_capacity(m + 1);
                    for (i, x) in held.iter().enumerate() {
                        if x.source == to {
                            continue;
                        }
                        let k = (self.envs[x.idx as usize].expires.to_bits(), x.short, i);
                        if top.len() < m {
                            top.push(k);
                        } else if top.peek().is_some_and(|p| k < *p) {
                            top.pop();
                            top.push(k);
                        }
                    }
                    (top.into_sorted_vec(), 0)
                });
                while accepted.get(acc_cursor).is_some_and(Option::is_none) {
                    acc_cursor += 1;
                }
                let old = vs.get(*vi).map(|v| (v.0, v.1));
                let new = accepted
                    .get(acc_cursor)
                    .and_then(|a| a.as_ref())
                    .map(|a| (self.envs[a.idx as usize].expires.to_bits(), a.short));
                let take_new = match (old, new) {
                    (Some(o), Some(n)) => n < o,
                    (None, Some(_)) => true,
                    _ => false,
                };
                let best = if take_new { new } else { old };
                match best {
                    Some((eb, _)) if f32::from_bits(eb) < expires => {
                        if take_new {
                            if let Some(a) = accepted[acc_cursor].take() {
                                n_taken += 1;
                                let l = u64::from(self.envs[a.idx as usize].len);
                                used -= l;
                                from_peer -= l;
                            }
                        } else {
                            let i = vs[*vi].2;
                            *vi += 1;
                            used -= u64::from(self.envs[held[i].idx as usize].len);
                            if held[i].source == from {
                                from_peer -= u64::from(self.envs[held[i].idx as usize].len);
                            }
                            evict.push(i);
                        }
                        self.stats.dropped += 1;
                    }
                    _ => {
                        refused = true;
                        break;
                    }
                }
            }
            if refused {
                self.stats.aborted += 1;
                continue;
            }
            h.copies = h.copies.min(self.copies_l);
            used += len;
            from_peer += len;
            self.stats.relayed += 1;
            if junk {
                self.stats.junk_relayed += 1;
            }
            if let Some(m) = per_key.as_mut() {
                count_key(m, self.envs[h.idx as usize].payer);
            }
            accepted.push(Some(h));
        }
        let mut changed = false;
        if !evict.is_empty() {
            evict.sort_unstable();
            self.drop_where(to, |i, _, _| evict.binary_search(&i).is_ok());
            changed = true;
        }
        let incoming: Vec<Held> = accepted.into_iter().flatten().collect();
        let n_accepted = incoming.len() as u32 + n_taken;
        if !incoming.is_empty() {
            changed = true;
            let mut bytes = 0u32;
            let mut sum = 0u64;
            let mut first = f32::INFINITY;
            for h in &incoming {
                let e = &mut self.envs[h.idx as usize];
                first = first.min(e.expires);
                bytes += u32::from(e.len);
                sum = sum.wrapping_add(h.fp);
                e.live = e.live.saturating_add(h.copies);
                if !e.junk {
                    self.stats.max_live = self.stats.max_live.max(u32::from(e.live));
                }
            }
            let dv = &mut self.devs[to as usize];
            dv.next_expiry = dv.next_expiry.min(first);
            dv.root_count += incoming.len() as u32;
            dv.root_sum = dv.root_sum.wrapping_add(sum);
            dv.used += bytes;
            dv.peak = dv.peak.max(dv.used);
            dv.held.extend(incoming);
            dv.held.sort_unstable_by_key(|x| x.short);
        }
        (changed, n_accepted)
    }

    fn round(&mut self, a: u32, b: u32, encounter: bool) {
        self.stats.rounds += 1;
        let ca = self.expire_dev(a);
        let cb = self.expire_dev(b);
        if encounter {
            self.prophet_meet(a, b);
        }
        let (da, db) = (&self.devs[a as usize], &self.devs[b as usize]);
        let (mut a_lacks, mut b_lacks, mut bytes_a, mut bytes_b) =
            if da.root_count == db.root_count && da.root_sum == db.root_sum {
                (
                    Vec::new(),
                    Vec::new(),
                    HELLO_LEN + TURN_OVERHEAD,
                    HELLO_REPLY_LEN,
                )
            } else {
                let ex = run_exchange_with(&da.held, &db.held, |h: &Held| h.short, |h: &Held| h.fp);
                (
                    ex.initiator_lacks,
                    ex.responder_lacks,
                    ex.initiator_bytes,
                    ex.responder_bytes,
                )
            };
        self.stats.summary_bytes += (bytes_a + bytes_b) as u64;
        if self.cfg.acks {
            // Acknowledgements go before items and count against the contact's bytes.
            bytes_a += ACK_LEN * self.give_acks(a, b, &mut a_lacks);
            bytes_b += ACK_LEN * self.give_acks(b, a, &mut b_lacks);
        }
        let allowance = |bytes: usize| i64::from(self.cfg.contact_bytes) - bytes as i64;
        let got = |w: &World, me: u32, peer: u32| {
            w.devs[me as usize]
                .links
                .iter()
                .find(|l| l.peer == peer)
                .map_or(0, |l| l.got)
        };
        let max = self.cfg.max_items_per_contact;
        let quota_b = max.saturating_sub(got(self, b, a));
        let quota_a = max.saturating_sub(got(self, a, b));
        let (to_b, trunc_a) = self.select(a, b, &b_lacks, allowance(bytes_a), quota_b);
        let (to_a, trunc_b) = self.select(b, a, &a_lacks, allowance(bytes_b), quota_a);
        let sent_a = !to_b.is_empty();
        let sent_b = !to_a.is_empty();
        let item_bytes: u64 = to_b
            .iter()
            .chain(to_a.iter())
            .map(|h| self.item_cost(h.idx) as u64)
            .sum();
        self.stats.item_bytes += item_bytes;
        let (rb, nb) = self.receive(b, a, to_b, quota_b);
        let (ra, na) = self.receive(a, b, to_a, quota_a);
        if ca || ra || sent_a {
            self.touched(a);
        }
        if cb || rb || sent_b {
            self.touched(b);
        }
        let complete = !trunc_a && !trunc_b;
        let (sa, sb) = (self.devs[a as usize].set_ver, self.devs[b as usize].set_ver);
        if let Some(l) = self.devs[a as usize].links.iter_mut().find(|l| l.peer == b) {
            *l = Link {
                peer: b,
                mine: sa,
                theirs: sb,
                complete,
                got: l.got + na,
            };
        }
        if let Some(l) = self.devs[b as usize].links.iter_mut().find(|l| l.peer == a) {
            *l = Link {
                peer: a,
                mine: sb,
                theirs: sa,
                complete,
                got: l.got + nb,
            };
        }
    }

    // --- report ---------------------------------------------------------------------------

    fn report(&mut self) -> Report {
        let left: f64 = self
            .devs
            .iter()
            .filter(|d| d.kind != Kind::Hostile)
            .flat_map(|d| d.held.iter())
            .map(|h| self.wasted_secs(h))
            .sum();
        self.stats.delivered_copy_secs += left;
        let s = &mut self.stats;
        s.latencies.sort_by(f64::total_cmp);
        let q = |p: f64| -> f64 {
            if s.latencies.is_empty() {
                return 0.0;
            }
            let i = ((p * s.latencies.len() as f64).ceil() as usize).clamp(1, s.latencies.len());
            s.latencies[i - 1]
        };
        let n = self.devs.len() as f64;
        let pairs = n * (n - 1.0) / 2.0;
        let div = |a: f64, b: f64| if b > 0.0 { a / b } else { 0.0 };
        Report {
            strategy: self.cfg.strategy.name().to_string(),
            devices: self.cfg.devices,
            duration_secs: self.cfg.duration_secs,
            created: s.created,
            delivered: s.delivered,
            delivery_prob: div(s.delivered as f64, s.created as f64),
            started: s.started,
            relayed: s.relayed,
            aborted: s.aborted,
            dropped: s.dropped,
            expired: s.expired,
            overhead_ratio: div(
                s.relayed as f64 - s.junk_relayed as f64 - s.delivered as f64,
                s.delivered as f64,
            ),
            latency_avg: div(s.latencies.iter().sum::<f64>(), s.latencies.len() as f64),
            latency_med: q(0.5),
            latency_p90: q(0.9),
            latency_p99: q(0.99),
            hopcount_avg: div(s.hops as f64, s.delivered as f64),
            buffertime_avg: div(s.buffer_time, s.buffer_n as f64),
            contacts: s.contacts,
            rounds: s.rounds,
            summary_bytes_per_round: div(s.summary_bytes as f64, s.rounds as f64),
            summary_bytes_per_contact: div(s.summary_bytes as f64, s.contacts as f64),
            item_bytes_per_contact: div(s.item_bytes as f64, s.contacts as f64),
            peak_storage_max: self
                .devs
                .iter()
                .map(|d| u64::from(d.peak))
                .max()
                .unwrap_or(0),
            peak_storage_avg: div(self.devs.iter().map(|d| f64::from(d.peak)).sum::<f64>(), n),
            pair_meeting_rate: div(s.contacts as f64, pairs * self.cfg.duration_secs),
            junk_created: s.junk_created,
            junk_relayed: s.junk_relayed,
            junk_uploaded: s.junk_uploaded,
            postage_refused: s.postage_refused,
            acks_relayed: s.acks_relayed,
            ack_bytes_per_contact: div(s.ack_bytes as f64, s.contacts as f64),
            ack_dropped: s.ack_dropped,
            delivered_copy_hours: s.delivered_copy_secs / 3600.0,
            max_live_copies: s.max_live,
            events: s.events,
            series: std::mem::take(&mut self.series),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Dropping the first soonest-expiring acknowledgement gives exactly what the general
        /// selection gives for a list one over its room (ties included), so the fast path
        /// changes no report.
        #[test]
        fn dropping_one_is_what_selection_does(
            expiries in proptest::collection::vec(0u8..6, 1..40),
        ) {
            let acks: Vec<(u64, f32)> = expiries
                .iter()
                .enumerate()
                .map(|(i, e)| (i as u64 * 3, f32::from(*e)))
                .collect();
            let mut fast = acks.clone();
            drop_first_soonest(&mut fast);
            let mut general = acks.clone();
            fit_acks_by_selection(&mut general, acks.len() - 1);
            prop_assert_eq!(fast, general);
        }

        /// `fit_acks` keeps the `room` acknowledgements that expire last (any of equal
        /// expiry at the cut), still sorted by short id.
        #[test]
        fn fit_acks_keeps_the_latest_expiring(
            expiries in proptest::collection::vec(0u8..20, 0..60),
            room in 0usize..70,
        ) {
            let mut acks: Vec<(u64, f32)> = expiries
                .iter()
                .enumerate()
                .map(|(i, e)| (i as u64 * 7, f32::from(*e)))
                .collect();
            let before = acks.clone();
            fit_acks(&mut acks, room);
            prop_assert_eq!(acks.len(), before.len().min(room));
            prop_assert!(acks.windows(2).all(|w| w[0].0 < w[1].0));
            prop_assert!(acks.iter().all(|a| before.contains(a)));
            let kept_min = acks.iter().map(|a| a.1).fold(f32::INFINITY, f32::min);
            let dropped_max = before
                .iter()
                .filter(|a| !acks.contains(a))
                .map(|a| a.1)
                .fold(f32::NEG_INFINITY, f32::max);
            prop_assert!(dropped_max <= kept_min);
        }

        /// The calendar queue pops in exactly the order a single binary heap would, with pushes
        /// interleaved with pops (never earlier than the last pop, as in the engine).
        #[test]
        fn calendar_pops_like_a_heap(ops in proptest::collection::vec((0u8..3, 0.0f64..20_000.0), 1..400)) {
            let mut cal = Calendar::new();
            let mut heap = BinaryHeap::new();
            let mut now = 0.0f64;
            let mut seq = 0u64;
            for (op, dt) in ops {
                if op == 0 {
                    let a = cal.pop().map(|q| (q.t, q.seq));
                    let b = heap.pop().map(|q: Queued| (q.t, q.seq));
                    prop_assert_eq!(a, b);
                    if let Some((t, _)) = a {
                        now = t;
                    }
                } else {
                    seq += 1;
                    let t = now + if op == 1 { dt / 1000.0 } else { dt };
                    cal.push(Queued { t, seq, ev: Ev::Create });
                    heap.push(Queued { t, seq, ev: Ev::Create });
                }
            }
            loop {
                let a = cal.pop().map(|q| (q.t, q.seq));
                let b = heap.pop().map(|q: Queued| (q.t, q.seq));
                prop_assert_eq!(a, b);
                if a.is_none() {
                    break;
                }
            }
        }
    }
}
