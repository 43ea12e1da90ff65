//! A model of a Bluetooth Low Energy link, in memory, for tests and benchmarks of the
//! face-to-face payment.
//!
//! [`pair`] makes two connected ends from [`BleParams`]. The model:
//!
//! - **Fragmentation.** Each message is cut into ATT payloads of `att_mtu - 3` bytes
//!   ([`crate::fragment`]: 3-byte header, strict reassembly). One ATT payload is one
//!   link-layer packet (with data length extension when the MTU is above 23).
//! - **Connection events.** The radio talks only in connection events, at
//!   `anchor + k × connection_interval` (the anchor is when the pair was made). A packet
//!   queued at time `t` goes out at the first event after `t`, and each event carries at
//!   most `packets_per_event` packets per direction; the rest wait for later events. Both
//!   directions may use the same event.
//! - **Loss.** Each transmission is lost with probability `loss_ppm / 1 000 000`. A lost packet
//!   is retransmitted at the next event (link-layer acknowledgement), and nothing behind it
//!   goes before it, so loss adds latency but never corrupts or reorders.
//! - **Time.** A packet is handed to the receiver at its event's time with a real
//!   `tokio::time::sleep`, so a payment measured over this link counts real CPU time plus
//!   modelled radio time. `send` returns when the message's last packet has gone through.
//! - **Determinism.** Loss comes from a splitmix64 generator seeded with `seed`: for a given
//!   seed and the same sequence of sends, the same packets are lost.
//! - **Link loss.** With `drop_after_packets: Some(n)`, the connection drops when the
//!   `n + 1`-th transmission (retransmissions included, both directions counted) would go
//!   out: packets already through are delivered, then both ends see [`LinkError::Closed`].
//!   Dropping one [`BleLink`] drops the connection at that moment the same way.
//!
//! [`BleStats`] counts packets, payload bytes, retransmissions and connection events used,
//! for the whole connection (both directions).

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use thiserror::Error;
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::fragment::{AttMtu, InvalidMtu, Reassembler, fragment};
use crate::link::{Link, LinkError};

/// Shortest BLE connection interval (7.5 ms).
pub const MIN_CONNECTION_INTERVAL: Duration = Duration::from_micros(7_500);
/// Longest BLE connection interval (4 s).
pub const MAX_CONNECTION_INTERVAL: Duration = Duration::from_secs(4);
/// Highest loss the model accepts: 90 % (900 000 parts per million).
pub const MAX_LOSS_PPM: u32 = 900_000;

/// Parameters of a modelled BLE connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BleParams {
    /// ATT MTU, `23..=517` (23 is the BLE default; 247 is usual with data length extension).
    pub att_mtu: u16,
    /// Time between connection events, 7.5 ms to 4 s.
    pub connection_interval: Duration,
    /// Most packets per direction in one connection event, at least 1.
    pub packets_per_event: u32,
    /// Probability that one transmission is lost, in parts per million (at most
    /// [`MAX_LOSS_PPM`]).
    pub loss_ppm: u32,
    /// Seed of the loss generator.
    pub seed: u64,
    /// Drop the connection after this many transmissions (for failure tests).
    pub drop_after_packets: Option<u64>,
}

impl Default for BleParams {
    /// MTU 247, 15 ms interval, 4 packets per event, no loss, seed 0, no drop.
    fn default() -> Self {
        BleParams {
            att_mtu: 247,
            connection_interval: Duration::from_millis(15),
            packets_per_event: 4,
            loss_ppm: 0,
            seed: 0,
            drop_after_packets: None,
        }
    }
}

/// Invalid [`BleParams`].
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum BleParamsError {
    /// The ATT MTU is out of range.
    #[error(transparent)]
    Mtu(#[from] InvalidMtu),
    /// The connection interval is outside 7.5 ms..=4 s.
    #[error("connection interval outside 7.5 ms..=4 s")]
    ConnectionInterval,
    /// Zero packets per event.
    #[error("packets per event must be at least 1")]
    PacketsPerEvent,
    /// Loss above [`MAX_LOSS_PPM`].
    #[error("loss above {MAX_LOSS_PPM} ppm")]
    Loss,
}

/// Counters of a modelled connection, both directions together.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BleStats {
    /// Packets that got through (each ATT payload once, however often it was sent).
    pub packets: u64,
    /// ATT payload bytes delivered, fragment headers included.
    pub payload_bytes: u64,
    /// Transmissions lost and repeated.
    pub retransmissions: u64,
    /// Connection events that carried at least one transmission.
    pub events: u64,
}

/// Two connected ends of a modelled BLE link.
pub fn pair(params: BleParams) -> Result<(BleLink, BleLink), BleParamsError> {
    let mtu = AttMtu::new(params.att_mtu)?;
    if !(MIN_CONNECTION_INTERVAL..=MAX_CONNECTION_INTERVAL).contains(&params.connection_interval) {
        return Err(BleParamsError::ConnectionInterval);
    }
    if params.packets_per_event == 0 {
        return Err(BleParamsError::PacketsPerEvent);
    }
    if params.loss_ppm > MAX_LOSS_PPM {
        return Err(BleParamsError::Loss);
    }
    let (tx0, rx0) = mpsc::unbounded_channel();
    let (tx1, rx1) = mpsc::unbounded_channel();
    let shared = Arc::new(Shared {
        mtu,
        anchor: Instant::now(),
        air: Mutex::new(Air {
            rng: SplitMix64(params.seed),
            stats: BleStats::default(),
            transmissions: 0,
            next: [Slot::default(); 2],
            used_events: BTreeSet::new(),
            down_at: None,
        }),
        inboxes: [tx0, tx1],
        params,
    });
    let end = |side, inbox| BleLink {
        side,
        shared: Arc::clone(&shared),
        inbox,
        pending: None,
        reassembler: Reassembler::new(mtu),
        closed: false,
    };
    Ok((end(0, rx0), end(1, rx1)))
}

/// One end of a modelled BLE link made by [`pair`].
#[derive(Debug)]
pub struct BleLink {
    side: usize,
    shared: Arc<Shared>,
    inbox: mpsc::UnboundedReceiver<Item>,
    /// An item taken from the inbox whose delivery time has not come yet (keeps `recv`
    /// cancel-safe).
    pending: Option<Item>,
    reassembler: Reassembler,
    closed: bool,
}

impl BleLink {
    /// Counters of the whole connection so far.
    pub fn stats(&self) -> BleStats {
        self.shared.air().stats
    }

    /// The connection's parameters.
    pub fn params(&self) -> &BleParams {
        &self.shared.params
    }
}

impl Link for BleLink {
    async fn send(&mut self, msg: &[u8]) -> Result<(), LinkError> {
        LinkError::check_len(msg.len())?;
        if self.closed {
            return Err(LinkError::Closed);
        }
        let fragments = fragment(msg, self.shared.mtu)?;
        match self.shared.transmit(self.side, fragments) {
            Ok(last) => {
                tokio::time::sleep_until(last).await;
                match self.shared.air().down_at {
                    Some(down) if down < last => Err(LinkError::Closed),
                    _ => Ok(()),
                }
            }
            Err(down) => {
                tokio::time::sleep_until(down).await;
                Err(LinkError::Closed)
            }
        }
    }

    async fn recv(&mut self) -> Result<Vec<u8>, LinkError> {
        loop {
            if self.closed {
                return Err(LinkError::Closed);
            }
            let at = match &self.pending {
                Some(item) => item.at(),
                None => match self.inbox.recv().await {
                    Some(item) => {
                        let at = item.at();
                        self.pending = Some(item);
                        at
                    }
                    None => {
                        self.closed = true;
                        continue;
                    }
                },
            };
            let down = self.shared.air().down_at;
            tokio::time::sleep_until(down.map_or(at, |d| d.min(at))).await;
            let down = self.shared.air().down_at;
            match self.pending.take() {
                Some(Item::Packet { at, data }) if down.is_none_or(|d| at <= d) => {
                    if let Some(msg) = self.reassembler.push(&data)? {
                        return Ok(msg);
                    }
                }
                Some(_) => self.closed = true,
                None => {}
            }
        }
    }
}

impl Drop for BleLink {
    fn drop(&mut self) {
        let now = Instant::now();
        let mut air = self.shared.air();
        if air.down_at.is_none() {
            air.down_at = Some(now);
            // The peer may be gone too; then nobody is left to tell.
            let _ = self.shared.inboxes[1 - self.side].send(Item::Down { at: now });
        }
    }
}

/// What the model hands a receiver.
#[derive(Debug)]
enum Item {
    /// An ATT payload, delivered at `at`.
    Packet { at: Instant, data: Vec<u8> },
    /// The connection dropped at `at`.
    Down { at: Instant },
}

impl Item {
    fn at(&self) -> Instant {
        match self {
            Item::Packet { at, .. } | Item::Down { at } => *at,
        }
    }
}

/// State both ends share.
#[derive(Debug)]
struct Shared {
    params: BleParams,
    mtu: AttMtu,
    /// Time of connection event 0.
    anchor: Instant,
    air: Mutex<Air>,
    /// `inboxes[side]` delivers to that side.
    inboxes: [mpsc::UnboundedSender<Item>; 2],
}

/// The radio's state.
#[derive(Debug)]
struct Air {
    rng: SplitMix64,
    stats: BleStats,
    /// Transmissions so far, both directions, retransmissions included.
    transmissions: u64,
    /// Per sending side: the event its next packet may use.
    next: [Slot; 2],
    /// Events used that later transmissions might still share (pruned as time passes).
    used_events: BTreeSet<u64>,
    /// When the connection dropped (or will, at an event already decided).
    down_at: Option<Instant>,
}

/// A position in the event schedule of one direction.
#[derive(Debug, Clone, Copy, Default)]
struct Slot {
    event: u64,
    used: u32,
}

impl Shared {
    fn air(&self) -> MutexGuard<'_, Air> {
        self.air.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Time of connection event `event`.
    fn event_time(&self, event: u64) -> Instant {
        u32::try_from(event)
            .ok()
            .and_then(|e| self.params.connection_interval.checked_mul(e))
            .and_then(|d| self.anchor.checked_add(d))
            // Past u32::MAX events (a year at 7.5 ms): as late as the clock allows.
            .unwrap_or_else(|| {
                let decade = Duration::from_secs(10 * 365 * 86_400);
                self.anchor.checked_add(decade).unwrap_or(self.anchor)
            })
    }

    /// The first event strictly after `now` (a packet queued during an event waits for the
    /// next one, as a reply computed after a request's arrival would).
    fn event_after(&self, now: Instant) -> u64 {
        let elapsed = now.saturating_duration_since(self.anchor).as_nanos();
        let interval = self.params.connection_interval.as_nanos().max(1);
        u64::try_from(elapsed / interval + 1).unwrap_or(u64::MAX)
    }

    /// Schedules `fragments` from `side` to the other side; the delivery time of the last
    /// one, or `Err(time the link dropped)`.
    fn transmit(&self, side: usize, fragments: Vec<Vec<u8>>) -> Result<Instant, Instant> {
        let now = Instant::now();
        let now_event = self.event_after(now);
        let per_event = self.params.packets_per_event;
        let mut guard = self.air();
        let air = &mut *guard;
        if let Some(down) = air.down_at {
            return Err(down);
        }
        let slot = &mut air.next[side];
        if slot.event < now_event {
            *slot = Slot {
                event: now_event,
                used: 0,
            };
        }
        let mut last = self.event_time(slot.event);
        for data in fragments {
            loop {
                if slot.used >= per_event {
                    slot.event += 1;
                    slot.used = 0;
                }
                if self
                    .params
                    .drop_after_packets
                    .is_some_and(|n| air.transmissions >= n)
                {
                    let down = self.event_time(slot.event);
                    air.down_at = Some(down);
                    for inbox in &self.inboxes {
                        let _ = inbox.send(Item::Down { at: down });
                    }
                    return Err(down);
                }
                air.transmissions += 1;
                slot.used += 1;
                if air.used_events.insert(slot.event) {
                    air.stats.events += 1;
                }
                if air.rng.lost(self.params.loss_ppm) {
                    // Retransmitted at the next event; nothing overtakes it.
                    air.stats.retransmissions += 1;
                    slot.event += 1;
                    slot.used = 0;
                    continue;
                }
                air.stats.packets += 1;
                air.stats.payload_bytes += data.len() as u64;
                last = self.event_time(slot.event);
                // A receiver that is gone has dropped the connection: `down_at` is set and
                // the next send fails.
                let _ = self.inboxes[1 - side].send(Item::Packet { at: last, data });
                break;
            }
        }
        // Events before `now_event` are past: no later transmission can use them.
        air.used_events = air.used_events.split_off(&now_event);
        Ok(last)
    }
}

/// splitmix64: a tiny deterministic generator, good enough to decide packet loss.
#[derive(Debug)]
struct SplitMix64(u64);

impl SplitMix64 {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// True with probability `ppm / 1 000 000`.
    fn lost(&mut self, ppm: u32) -> bool {
        ppm > 0 && self.next_u64() % 1_000_000 < u64::from(ppm)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(att_mtu: u16) -> BleParams {
        BleParams {
            att_mtu,
            connection_interval: MIN_CONNECTION_INTERVAL,
            ..BleParams::default()
        }
    }

    #[test]
    fn parameters_are_checked() {
        assert!(pair(BleParams::default()).is_ok());
        let bad = |p: BleParams| pair(p).err();
        assert_eq!(
            bad(BleParams {
                att_mtu: 22,
                ..BleParams::default()
            }),
            Some(BleParamsError::Mtu(InvalidMtu(22)))
        );
        assert_eq!(
            bad(BleParams {
                connection_interval: Duration::from_millis(5),
                ..BleParams::default()
            }),
            Some(BleParamsError::ConnectionInterval)
        );
        assert_eq!(
            bad(BleParams {
                packets_per_event: 0,
                ..BleParams::default()
            }),
            Some(BleParamsError::PacketsPerEvent)
        );
        assert_eq!(
            bad(BleParams {
                loss_ppm: MAX_LOSS_PPM + 1,
                ..BleParams::default()
            }),
            Some(BleParamsError::Loss)
        );
    }

    #[test]
    fn splitmix64_known_values() {
        // First outputs for seed 0, as in the reference implementation.
        let mut r = SplitMix64(0);
        assert_eq!(r.next_u64(), 0xE220_A839_7B1D_CDAF);
        assert_eq!(r.next_u64(), 0x6E78_9E6A_A1B9_65F4);
    }

    #[tokio::test]
    async fn packets_and_events_follow_the_schedule() {
        let (mut a, mut b) = pair(params(23)).unwrap();
        // 100 bytes at MTU 23: 17 data bytes a packet, so 6 packets, 2 events at 4 a event.
        let msg = vec![1u8; 100];
        let (sent, got) = tokio::join!(a.send(&msg), b.recv());
        sent.unwrap();
        assert_eq!(got.unwrap(), msg);
        let s = a.stats();
        assert_eq!(s.packets, 6);
        assert_eq!(s.payload_bytes, 100 + 6 * 3);
        assert_eq!(s.retransmissions, 0);
        assert_eq!(s.events, 2);
        assert_eq!(b.stats(), s);
    }

    #[tokio::test]
    async fn the_same_seed_loses_the_same_packets() {
        let run = |seed| async move {
            let (mut a, mut b) = pair(BleParams {
                loss_ppm: 300_000,
                seed,
                ..params(23)
            })
            .unwrap();
            let msg = vec![9u8; 500];
            let (sent, got) = tokio::join!(a.send(&msg), b.recv());
            sent.unwrap();
            assert_eq!(got.unwrap(), msg);
            a.stats().retransmissions
        };
        let first = run(7).await;
        assert!(first > 0);
        assert_eq!(run(7).await, first);
    }

    #[tokio::test]
    async fn recv_is_cancel_safe() {
        // 300 bytes at MTU 23: 18 packets over 5 events, about 30 ms.
        let (mut a, mut b) = pair(params(23)).unwrap();
        let msg = vec![3u8; 300];
        let receiver = async {
            // Receives cut short after 4 ms (unless a slow machine lets one finish).
            for _ in 0..3 {
                if let Ok(done) = tokio::time::timeout(Duration::from_millis(4), b.recv()).await {
                    return done;
                }
            }
            b.recv().await
        };
        let (sent, got) = tokio::join!(a.send(&msg), receiver);
        sent.unwrap();
        assert_eq!(got.unwrap(), msg);
        drop(a);
        assert_eq!(b.recv().await, Err(LinkError::Closed));
    }

    #[tokio::test]
    async fn dropping_an_end_closes_the_connection() {
        let (a, mut b) = pair(params(247)).unwrap();
        drop(a);
        assert_eq!(b.recv().await, Err(LinkError::Closed));
        assert_eq!(b.send(b"hello?").await, Err(LinkError::Closed));
    }
}
