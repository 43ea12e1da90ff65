//! Movement models: each device moves along straight segments (a leg at constant velocity, or a
//! stay with velocity zero); the engine asks for the next segment when one ends.

use serde::{Deserialize, Serialize};

use super::rng::Rng;

/// Community ("working day") model parameters, after the ONE's working-day movement: home at
/// night, an office by day (with walks inside it and a lunch break at a café near it), and an
/// evening at one of a few favourite meeting places.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct CommunityParams {
    /// Mean people per home.
    pub household: f64,
    /// Mean people per office.
    pub office_size: f64,
    /// Radius of an office, metres.
    pub office_radius_m: f64,
    /// People per meeting place (cafés, shops, bars).
    pub people_per_spot: f64,
    /// Radius of a meeting place, metres.
    pub spot_radius_m: f64,
    /// Share of people who go to an office.
    pub office_share: f64,
    /// Share of office workers who go out for lunch.
    pub lunch_share: f64,
    /// Share of people who go out in the evening.
    pub evening_share: f64,
    /// Mean seconds between walks inside the office.
    pub office_walk_mean_secs: f64,
    /// Walking speed range, m/s.
    pub walk_speed: (f64, f64),
    /// Vehicle (bus, car) speed range, m/s, for trips longer than `walk_max_m`.
    pub vehicle_speed: (f64, f64),
    /// Longest trip made on foot, metres.
    pub walk_max_m: f64,
    /// Hour of the day the simulation starts at.
    pub start_hour: f64,
}

impl Default for CommunityParams {
    fn default() -> Self {
        CommunityParams {
            household: 2.5,
            office_size: 50.0,
            office_radius_m: 20.0,
            people_per_spot: 100.0,
            spot_radius_m: 15.0,
            office_share: 0.85,
            lunch_share: 0.6,
            evening_share: 0.5,
            office_walk_mean_secs: 1800.0,
            walk_speed: (1.0, 1.5),
            vehicle_speed: (5.0, 12.0),
            walk_max_m: 1000.0,
            start_hour: 7.0,
        }
    }
}

/// A movement model.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "model", rename_all = "snake_case")]
pub enum Movement {
    /// Random waypoint: uniform destinations, uniform speed, uniform pause.
    RandomWaypoint {
        /// Slowest speed, m/s.
        speed_min: f64,
        /// Fastest speed, m/s.
        speed_max: f64,
        /// Longest pause at a waypoint, seconds.
        pause_max_secs: f64,
    },
    /// Community (working day) model.
    Community(CommunityParams),
}

/// One straight piece of a trajectory.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Segment {
    /// Start point.
    pub x: f64,
    /// Start point.
    pub y: f64,
    /// Velocity, m/s.
    pub vx: f64,
    /// Velocity, m/s.
    pub vy: f64,
    /// Start time, seconds.
    pub t0: f64,
    /// End time, seconds.
    pub t1: f64,
}

impl Segment {
    /// Position at `t`.
    pub fn at(&self, t: f64) -> (f64, f64) {
        let dt = t - self.t0;
        (self.x + self.vx * dt, self.y + self.vy * dt)
    }

    fn stay(x: f64, y: f64, t0: f64, t1: f64) -> Self {
        Segment {
            x,
            y,
            vx: 0.0,
            vy: 0.0,
            t0,
            t1: t1.max(t0 + 1e-3),
        }
    }

    fn travel(from: (f64, f64), to: (f64, f64), speed: f64, t0: f64) -> Self {
        let (dx, dy) = (to.0 - from.0, to.1 - from.1);
        let d = (dx * dx + dy * dy).sqrt();
        if d < 1e-6 {
            return Segment::stay(from.0, from.1, t0, t0 + 1e-3);
        }
        let dur = d / speed;
        Segment {
            x: from.0,
            y: from.1,
            vx: dx / dur,
            vy: dy / dur,
            t0,
            t1: t0 + dur,
        }
    }
}

/// Where a community-model device is in its day.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// At home until the next leg.
    Home,
    /// Going to the office.
    ToOffice,
    /// At the office (walks around inside it).
    Office,
    /// Going to lunch.
    ToLunch,
    /// At lunch.
    Lunch,
    /// Walking to a point in the office (after lunch, or a walk inside it).
    FromLunch,
    /// Going out in the evening.
    ToEvening,
    /// At an evening place.
    Evening,
    /// Going home.
    ToHome,
    /// Random waypoint: moving.
    Moving,
    /// Random waypoint: pausing.
    Paused,
}

/// Per-device movement state.
#[derive(Debug, Clone)]
pub struct Mover {
    /// Current phase.
    pub phase: Phase,
    /// Home position.
    pub home: (f64, f64),
    /// Office index (community), if any.
    pub office: Option<u32>,
    /// Desk position.
    pub desk: (f64, f64),
    /// Favourite evening places.
    pub spots: [u32; 3],
    /// Day counter the current plan belongs to.
    pub day: u32,
    /// Today's plan: leave home, leave office, evening stay (0 = none), seconds of day.
    pub plan: Plan,
}

/// A day's timetable, in seconds since the simulation's midnight.
#[derive(Debug, Clone, Copy, Default)]
pub struct Plan {
    /// Leave home.
    pub leave_home: f64,
    /// Go to lunch (0 = no lunch).
    pub lunch_at: f64,
    /// Lunch length.
    pub lunch_len: f64,
    /// Leave the office.
    pub leave_office: f64,
    /// Evening stay length (0 = straight home).
    pub evening_len: f64,
}

/// The city: homes, offices and meeting places.
#[derive(Debug, Clone)]
pub struct City {
    /// Side of the square area, metres.
    pub side: f64,
    /// Office centres.
    pub offices: Vec<(f64, f64)>,
    /// The café each office lunches at.
    pub office_lunch: Vec<u32>,
    /// Meeting-place centres.
    pub spots: Vec<(f64, f64)>,
}

const DAY: f64 = 86_400.0;

/// A uniform point in a disk, clamped into the square area.
fn in_area(side: f64, rng: &mut Rng, x: f64, y: f64, r: f64) -> (f64, f64) {
    let (px, py) = rng.in_disk(x, y, r);
    (px.clamp(0.0, side), py.clamp(0.0, side))
}

/// Sets up the city and every device's initial state and first segment.
pub fn init(
    movement: &Movement,
    n: usize,
    side: f64,
    rng: &mut Rng,
) -> (City, Vec<Mover>, Vec<Segment>) {
    match movement {
        Movement::RandomWaypoint { .. } => {
            let city = City {
                side,
                offices: Vec::new(),
                office_lunch: Vec::new(),
                spots: Vec::new(),
            };
            let mut movers = Vec::with_capacity(n);
            let mut segs = Vec::with_capacity(n);
            for _ in 0..n {
                let p = (rng.range(0.0, side), rng.range(0.0, side));
                movers.push(Mover {
                    phase: Phase::Paused,
                    home: p,
                    office: None,
                    desk: p,
                    spots: [0; 3],
                    day: 0,
                    plan: Plan::default(),
                });
                segs.push(Segment::stay(p.0, p.1, 0.0, 0.0));
            }
            (city, movers, segs)
        }
        Movement::Community(c) => {
            let n_offices = ((n as f64 * c.office_share / c.office_size).ceil() as usize).max(1);
            let n_spots = ((n as f64 / c.people_per_spot).ceil() as usize).max(1);
            let n_homes = ((n as f64 / c.household).ceil() as usize).max(1);
            let pt = |rng: &mut Rng| (rng.range(0.0, side), rng.range(0.0, side));
            let offices: Vec<(f64, f64)> = (0..n_offices).map(|_| pt(rng)).collect();
            let spots: Vec<(f64, f64)> = (0..n_spots).map(|_| pt(rng)).collect();
            let homes: Vec<(f64, f64)> = (0..n_homes).map(|_| pt(rng)).collect();
            // Each office lunches at the nearest of a few cafés drawn at random.
            let office_lunch = offices
                .iter()
                .map(|o| {
                    let mut best = 0u32;
                    let mut bd = f64::MAX;
                    for _ in 0..16 {
                        let s = rng.below(n_spots as u64) as u32;
                        let p = spots[s as usize];
                        let d = (p.0 - o.0).powi(2) + (p.1 - o.1).powi(2);
                        if d < bd {
                            bd = d;
                            best = s;
                        }
                    }
                    best
                })
                .collect();
            let city = City {
                side,
                offices,
                office_lunch,
                spots,
            };
            let mut movers = Vec::with_capacity(n);
            let mut segs = Vec::with_capacity(n);
            let t0 = c.start_hour * 3600.0;
            for _ in 0..n {
                let h = homes[rng.below(n_homes as u64) as usize];
                let home = in_area(side, rng, h.0, h.1, 2.0);
                let office = rng
                    .chance(c.office_share)
                    .then(|| rng.below(n_offices as u64) as u32);
                let desk = match office {
                    Some(o) => {
                        let p = city.offices[o as usize];
                        in_area(side, rng, p.0, p.1, c.office_radius_m)
                    }
                    None => home,
                };
                let spots = [
                    rng.below(n_spots as u64) as u32,
                    rng.below(n_spots as u64) as u32,
                    rng.below(n_spots as u64) as u32,
                ];
                let mut m = Mover {
                    phase: Phase::Home,
                    home,
                    office,
                    desk,
                    spots,
                    day: 0,
                    plan: Plan::default(),
                };
                m.plan = plan_day(c, &m, 0, rng);
                // Clock time in the engine is seconds since the start; the plan is in seconds
                // since midnight of day 0. Someone whose departure has passed leaves soon.
                let leave = (m.plan.leave_home - t0).max(rng.range(0.0, 1800.0));
                segs.push(Segment::stay(home.0, home.1, 0.0, leave));
                movers.push(m);
            }
            (city, movers, segs)
        }
    }
}

fn plan_day(c: &CommunityParams, m: &Mover, day: u32, rng: &mut Rng) -> Plan {
    let base = f64::from(day) * DAY;
    let leave_home = base + rng.range(6.5, 9.0) * 3600.0;
    let work = rng.range(7.0, 9.5) * 3600.0;
    let lunch = m.office.is_some() && rng.chance(c.lunch_share);
    Plan {
        leave_home,
        lunch_at: if lunch {
            base + rng.range(11.75, 13.0) * 3600.0
        } else {
            0.0
        },
        lunch_len: rng.range(0.5, 1.0) * 3600.0,
        leave_office: leave_home + work,
        evening_len: if rng.chance(c.evening_share) {
            rng.range(1.0, 2.5) * 3600.0
        } else {
            0.0
        },
    }
}

fn speed_for(c: &CommunityParams, from: (f64, f64), to: (f64, f64), rng: &mut Rng) -> f64 {
    let d = ((to.0 - from.0).powi(2) + (to.1 - from.1).powi(2)).sqrt();
    if d <= c.walk_max_m {
        rng.range(c.walk_speed.0, c.walk_speed.1)
    } else {
        rng.range(c.vehicle_speed.0, c.vehicle_speed.1)
    }
}

/// The segment that follows `prev` (which ends now, at `prev.t1`).
pub fn next(
    movement: &Movement,
    city: &City,
    m: &mut Mover,
    prev: &Segment,
    rng: &mut Rng,
) -> Segment {
    let now = prev.t1;
    let here = prev.at(now);
    match movement {
        Movement::RandomWaypoint {
            speed_min,
            speed_max,
            pause_max_secs,
        } => match m.phase {
            Phase::Moving => {
                m.phase = Phase::Paused;
                Segment::stay(here.0, here.1, now, now + rng.range(0.0, *pause_max_secs))
            }
            _ => {
                m.phase = Phase::Moving;
                let to = (rng.range(0.0, city.side), rng.range(0.0, city.side));
                Segment::travel(here, to, rng.range(*speed_min, *speed_max), now)
            }
        },
        Movement::Community(c) => community_next(c, city, m, here, now, rng),
    }
}

fn community_next(
    c: &CommunityParams,
    city: &City,
    m: &mut Mover,
    here: (f64, f64),
    now_rel: f64,
    rng: &mut Rng,
) -> Segment {
    // Plans are in seconds since day 0's midnight; segments in seconds since the start.
    let t0 = c.start_hour * 3600.0;
    let now = now_rel + t0;
    let seg_travel = |to: (f64, f64), rng: &mut Rng| {
        let s = speed_for(c, here, to, rng);
        Segment::travel(here, to, s, now_rel)
    };
    let stay_until = |until: f64| Segment::stay(here.0, here.1, now_rel, until - t0);
    match m.phase {
        Phase::Home => {
            if now + 1.0 < m.plan.leave_home {
                return stay_until(m.plan.leave_home);
            }
            if m.office.is_some() {
                m.phase = Phase::ToOffice;
                return seg_travel(m.desk, rng);
            }
            if m.plan.evening_len > 0.0 {
                // People without an office go out to a meeting place during the day.
                m.phase = Phase::ToEvening;
                let s = city.spots[m.spots[rng.below(3) as usize] as usize];
                let to = in_area(city.side, rng, s.0, s.1, c.spot_radius_m);
                return seg_travel(to, rng);
            }
            m.day += 1;
            m.plan = plan_day(c, m, m.day, rng);
            stay_until(m.plan.leave_home)
        }
        Phase::ToOffice | Phase::FromLunch => {
            m.phase = Phase::Office;
            office_stay(c, m, here, now, now_rel, t0, rng)
        }
        Phase::Office => {
            if m.plan.lunch_at > 0.0 && now >= m.plan.lunch_at {
                m.phase = Phase::ToLunch;
                let o = m.office.unwrap_or(0) as usize;
                let s = city.spots[city.office_lunch.get(o).copied().unwrap_or(0) as usize];
                let to = in_area(city.side, rng, s.0, s.1, c.spot_radius_m);
                return seg_travel(to, rng);
            }
            if now >= m.plan.leave_office {
                if m.plan.evening_len > 0.0 {
                    m.phase = Phase::ToEvening;
                    let s = city.spots[m.spots[rng.below(3) as usize] as usize];
                    let to = in_area(city.side, rng, s.0, s.1, c.spot_radius_m);
                    return seg_travel(to, rng);
                }
                m.phase = Phase::ToHome;
                return seg_travel(m.home, rng);
            }
            // A walk inside the office, then back to work.
            let o = city.offices[m.office.unwrap_or(0) as usize];
            let to = in_area(city.side, rng, o.0, o.1, c.office_radius_m);
            m.phase = Phase::FromLunch;
            let s = rng.range(c.walk_speed.0, c.walk_speed.1);
            Segment::travel(here, to, s, now_rel)
        }
        Phase::ToLunch => {
            m.phase = Phase::Lunch;
            stay_until(now + m.plan.lunch_len)
        }
        Phase::Lunch => {
            m.plan.lunch_at = 0.0;
            m.phase = Phase::FromLunch;
            seg_travel(m.desk, rng)
        }
        Phase::ToEvening => {
            m.phase = Phase::Evening;
            stay_until(now + m.plan.evening_len)
        }
        Phase::Evening => {
            m.phase = Phase::ToHome;
            seg_travel(m.home, rng)
        }
        Phase::ToHome => {
            m.phase = Phase::Home;
            m.day += 1;
            m.plan = plan_day(c, m, m.day, rng);
            stay_until(m.plan.leave_home)
        }
        Phase::Moving | Phase::Paused => stay_until(now + 3600.0),
    }
}

/// A stay at the office until the next walk, lunch or the end of the working day.
fn office_stay(
    c: &CommunityParams,
    m: &Mover,
    here: (f64, f64),
    now: f64,
    now_rel: f64,
    t0: f64,
    rng: &mut Rng,
) -> Segment {
    let mut until = now + rng.exp(c.office_walk_mean_secs).max(60.0);
    if m.plan.lunch_at > now {
        until = until.min(m.plan.lunch_at);
    }
    until = until.min(m.plan.leave_office.max(now + 1.0));
    Segment::stay(here.0, here.1, now_rel, until - t0)
}
