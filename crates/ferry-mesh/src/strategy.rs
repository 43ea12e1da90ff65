//! Forwarding strategies and the PRoPHET arithmetic, shared by [`crate::node`] and the simulator.

use serde::{Deserialize, Serialize};

/// PRoPHET parameters (Lindgren et al.; RFC 6693 defaults).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ProphetParams {
    /// Increase on a direct encounter.
    pub p_init: f64,
    /// Weight of transitivity.
    pub beta: f64,
    /// Ageing factor per time unit.
    pub gamma: f64,
    /// Seconds in one ageing time unit (the ONE's `secondsInTimeUnit`).
    pub unit_secs: u64,
}

impl Default for ProphetParams {
    fn default() -> Self {
        ProphetParams {
            p_init: 0.75,
            beta: 0.25,
            gamma: 0.98,
            unit_secs: 30,
        }
    }
}

/// How a relay decides what to hand to a peer it meets.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Strategy {
    /// Flood: give every envelope the peer lacks while its ttl allows.
    Epidemic,
    /// Binary spray and wait: an envelope starts with `copies`; a holder of `c > 1` gives
    /// `⌊c/2⌋` to a relay that lacks it; a holder of one copy waits for a bridge. Handing to a
    /// bridge passes all the holder's copies (the holder forgets it).
    SprayAndWait {
        /// L, the copies an envelope starts with.
        copies: u16,
    },
    /// PRoPHET toward bridges: replicate to a peer whose delivery predictability is higher.
    Prophet(ProphetParams),
}

impl Strategy {
    /// Copies a new envelope starts with.
    pub fn initial_copies(&self) -> u16 {
        match self {
            Strategy::SprayAndWait { copies } => (*copies).max(1),
            _ => 1,
        }
    }

    /// Short name for reports.
    pub fn name(&self) -> &'static str {
        match self {
            Strategy::Epidemic => "epidemic",
            Strategy::SprayAndWait { .. } => "spray_and_wait",
            Strategy::Prophet(_) => "prophet",
        }
    }
}

/// What the holder of an envelope does with it toward one peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Forward {
    /// Keep it to itself.
    No,
    /// Give a copy and keep one.
    Replicate,
    /// Give `give` copies, keep `keep` (spray phase).
    Split {
        /// Copies handed over.
        give: u16,
        /// Copies kept.
        keep: u16,
    },
    /// Give every copy and forget it (handing to a bridge in spray and wait).
    Handoff,
}

/// A side of a contact as the strategy sees it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RelayView {
    /// Uploads to the server.
    pub bridge: bool,
    /// Delivery predictability toward bridges (1 for a bridge).
    pub p: f64,
}

/// The forwarding decision for one envelope holding `copies` with `ttl` hops left.
///
/// Bridges never forward (they upload); an envelope with ttl 0 never leaves its holder.
pub fn decide(
    strategy: &Strategy,
    me: RelayView,
    peer: RelayView,
    copies: u16,
    ttl: u8,
) -> Forward {
    if me.bridge || ttl == 0 {
        return Forward::No;
    }
    match strategy {
        Strategy::Epidemic => Forward::Replicate,
        Strategy::SprayAndWait { .. } => {
            if peer.bridge {
                Forward::Handoff
            } else if copies > 1 {
                Forward::Split {
                    give: copies / 2,
                    keep: copies - copies / 2,
                }
            } else {
                Forward::No
            }
        }
        Strategy::Prophet(_) => {
            if peer.bridge || peer.p > me.p {
                Forward::Replicate
            } else {
                Forward::No
            }
        }
    }
}

/// Whether [`decide`] can forward anything at all from `me` to `peer`: false only when it says
/// [`Forward::No`] whatever the copies and hops left (a bridge never forwards; PRoPHET forwards
/// only to a bridge or a peer more likely to reach one), so a sender can skip ranking its
/// buffer for this peer.
pub fn forwards_any(strategy: &Strategy, me: RelayView, peer: RelayView) -> bool {
    if me.bridge {
        return false;
    }
    match strategy {
        Strategy::Epidemic | Strategy::SprayAndWait { .. } => true,
        Strategy::Prophet(_) => peer.bridge || peer.p > me.p,
    }
}

/// PRoPHET ageing: `p · γ^k` for `k` whole time units elapsed.
pub fn prophet_age(p: f64, elapsed_secs: u64, params: &ProphetParams) -> f64 {
    let k = elapsed_secs / params.unit_secs.max(1);
    if k == 0 {
        p
    } else {
        p * params.gamma.powi(k.min(i32::MAX as u64) as i32)
    }
}

/// PRoPHET direct update on meeting: `p + (1 − p) · P_init`.
pub fn prophet_direct(p: f64, params: &ProphetParams) -> f64 {
    p + (1.0 - p) * params.p_init
}

/// PRoPHET transitivity: `p_ad + (1 − p_ad) · p_ab · p_bd · β`.
pub fn prophet_transitive(p_ad: f64, p_ab: f64, p_bd: f64, params: &ProphetParams) -> f64 {
    p_ad + (1.0 - p_ad) * p_ab * p_bd * params.beta
}

/// A predictability on the wire: `p` in units of 1/65535.
pub fn p_to_wire(p: f64) -> u16 {
    (p.clamp(0.0, 1.0) * 65535.0).round() as u16
}

/// A predictability from the wire.
pub fn p_from_wire(p: u16) -> f64 {
    f64::from(p) / 65535.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prophet_matches_the_formulas() {
        let pp = ProphetParams::default();
        let p = prophet_direct(0.0, &pp);
        assert!((p - 0.75).abs() < 1e-12);
        assert!((prophet_direct(p, &pp) - 0.9375).abs() < 1e-12);
        assert!((prophet_age(1.0, 60, &pp) - 0.98f64.powi(2)).abs() < 1e-12);
        assert_eq!(prophet_age(0.5, 29, &pp), 0.5);
        assert!((prophet_transitive(0.0, 0.75, 1.0, &pp) - 0.1875).abs() < 1e-12);
        assert_eq!(p_from_wire(p_to_wire(1.0)), 1.0);
    }

    proptest::proptest! {
        /// When `forwards_any` says no, `decide` says no for every copy count and hop count.
        #[test]
        fn forwards_any_says_no_only_when_decide_does(
            which in 0u8..3,
            me_bridge: bool,
            peer_bridge: bool,
            me_p in 0.0f64..1.0,
            peer_p in 0.0f64..1.0,
            copies in 0u16..20,
            ttl in 0u8..5,
        ) {
            let s = match which {
                0 => Strategy::Epidemic,
                1 => Strategy::SprayAndWait { copies: 8 },
                _ => Strategy::Prophet(ProphetParams::default()),
            };
            let me = RelayView { bridge: me_bridge, p: me_p };
            let peer = RelayView { bridge: peer_bridge, p: peer_p };
            if !forwards_any(&s, me, peer) {
                proptest::prop_assert_eq!(decide(&s, me, peer, copies, ttl), Forward::No);
            }
        }
    }

    #[test]
    fn decisions() {
        let s = Strategy::SprayAndWait { copies: 8 };
        let relay = RelayView {
            bridge: false,
            p: 0.0,
        };
        let bridge = RelayView {
            bridge: true,
            p: 1.0,
        };
        assert_eq!(
            decide(&s, relay, relay, 8, 5),
            Forward::Split { give: 4, keep: 4 }
        );
        assert_eq!(
            decide(&s, relay, relay, 3, 5),
            Forward::Split { give: 1, keep: 2 }
        );
        assert_eq!(decide(&s, relay, relay, 1, 5), Forward::No);
        assert_eq!(decide(&s, relay, bridge, 1, 5), Forward::Handoff);
        assert_eq!(decide(&s, bridge, relay, 8, 5), Forward::No);
        assert_eq!(decide(&Strategy::Epidemic, relay, relay, 1, 0), Forward::No);
        let p = Strategy::Prophet(ProphetParams::default());
        let hi = RelayView {
            bridge: false,
            p: 0.5,
        };
        assert_eq!(decide(&p, relay, hi, 1, 1), Forward::Replicate);
        assert_eq!(decide(&p, hi, relay, 1, 1), Forward::No);
    }
}
