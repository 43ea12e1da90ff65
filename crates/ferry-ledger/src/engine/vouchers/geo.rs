//! Places and the impossible-travel rule. A place is kept in millionths of a degree (about
//! 0.1 m); distances are great-circle (haversine on a 6 371 km sphere), in metres, which is
//! accurate to about 0.5 % — far finer than the rule needs.

use thiserror::Error;

use crate::store::MicroDegrees;

/// A place that is not one: a coordinate that is not a finite number or out of range.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[error("{0} is out of range (latitude -90..=90, longitude -180..=180, in degrees)")]
pub struct BadPlace(pub &'static str);

/// Mean Earth radius in metres.
const EARTH_RADIUS_M: f64 = 6_371_000.0;

/// A place from degrees: each a finite number in range, rounded to a millionth of a degree.
pub fn place(lat: f64, lon: f64) -> Result<MicroDegrees, BadPlace> {
    let micro = |v: f64, max: f64, what: &'static str| -> Result<i32, BadPlace> {
        if !v.is_finite() || v.abs() > max {
            return Err(BadPlace(what));
        }
        // |v| ≤ 180 so |v × 10⁶| ≤ 1.8 × 10⁸, well inside i32.
        #[allow(clippy::cast_possible_truncation)]
        Ok((v * 1_000_000.0).round() as i32)
    };
    Ok(MicroDegrees {
        lat: micro(lat, 90.0, "latitude")?,
        lon: micro(lon, 180.0, "longitude")?,
    })
}

/// Great-circle distance in metres, rounded down.
pub fn distance_m(a: MicroDegrees, b: MicroDegrees) -> u64 {
    let rad = |micro: i32| f64::from(micro) / 1_000_000.0 * std::f64::consts::PI / 180.0;
    let (la1, lo1, la2, lo2) = (rad(a.lat), rad(a.lon), rad(b.lat), rad(b.lon));
    let h = ((la2 - la1) / 2.0).sin().powi(2)
        + la1.cos() * la2.cos() * ((lo2 - lo1) / 2.0).sin().powi(2);
    let d = 2.0 * EARTH_RADIUS_M * h.sqrt().min(1.0).asin();
    // 0 ≤ d ≤ π × R ≈ 2 × 10⁷: fits a u64.
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let m = d.max(0.0) as u64;
    m
}

/// Whether going from `from` at `t0` to `to` at `t1` (Unix seconds) is impossible: farther
/// than `floor_km`, and faster than `max_kmh`. Integers only once the distance is known.
pub fn impossible(
    from: MicroDegrees,
    t0: u64,
    to: MicroDegrees,
    t1: u64,
    max_kmh: u32,
    floor_km: u32,
) -> bool {
    let metres = distance_m(from, to);
    if metres <= u64::from(floor_km) * 1000 {
        return false;
    }
    let secs = t1.saturating_sub(t0);
    // speed > max ⇔ metres × 3600 > max_kmh × 1000 × secs.
    u128::from(metres) * 3600 > u128::from(max_kmh) * 1000 * u128::from(secs)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(lat: f64, lon: f64) -> MicroDegrees {
        place(lat, lon).expect("place")
    }

    #[test]
    fn places_are_checked() {
        assert_eq!(
            place(-8.05, -34.9),
            Ok(MicroDegrees {
                lat: -8_050_000,
                lon: -34_900_000
            })
        );
        assert!(place(90.0, 180.0).is_ok());
        assert_eq!(place(90.000_001, 0.0), Err(BadPlace("latitude")));
        assert_eq!(place(0.0, -180.5), Err(BadPlace("longitude")));
        assert_eq!(place(f64::NAN, 0.0), Err(BadPlace("latitude")));
        assert_eq!(place(0.0, f64::INFINITY), Err(BadPlace("longitude")));
    }

    #[test]
    fn known_distances() {
        // Recife to Salvador: about 675 km.
        let d = distance_m(p(-8.0476, -34.877), p(-12.9714, -38.5014));
        assert!((660_000..690_000).contains(&d), "{d}");
        // São Paulo to Rio de Janeiro: about 360 km.
        let d = distance_m(p(-23.5505, -46.6333), p(-22.9068, -43.1729));
        assert!((350_000..370_000).contains(&d), "{d}");
        assert_eq!(distance_m(p(1.0, 1.0), p(1.0, 1.0)), 0);
        // Antipodes: half the circumference.
        let d = distance_m(p(0.0, 0.0), p(0.0, 180.0));
        assert!((20_000_000..20_040_000).contains(&d), "{d}");
    }

    #[test]
    fn the_travel_rule() {
        let recife = p(-8.0476, -34.877);
        let salvador = p(-12.9714, -38.5014);
        // ~675 km in 30 minutes: 1350 km/h.
        assert!(impossible(recife, 0, salvador, 1800, 500, 50));
        // In 2 hours: 337 km/h, possible.
        assert!(!impossible(recife, 0, salvador, 7200, 500, 50));
        // At the same instant, near each other: below the floor.
        let olinda = p(-8.0089, -34.8553);
        assert!(!impossible(recife, 0, olinda, 0, 500, 50));
        // Time going backwards counts as no time.
        assert!(impossible(recife, 100, salvador, 0, 500, 50));
    }
}
