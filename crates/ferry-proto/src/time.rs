//! Time is explicit: protocol logic takes a [`UnixTime`] argument and never reads a clock.

use std::fmt;

use crate::codec::{DecodeError, Reader, Wire, Writer};

/// Seconds since the Unix epoch (UTC).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct UnixTime(pub u64);

impl UnixTime {
    /// `self + secs`, saturating.
    pub fn plus_secs(self, secs: u64) -> Self {
        UnixTime(self.0.saturating_add(secs))
    }

    /// `self - secs`, saturating at the epoch.
    pub fn minus_secs(self, secs: u64) -> Self {
        UnixTime(self.0.saturating_sub(secs))
    }

    /// Seconds.
    pub fn secs(self) -> u64 {
        self.0
    }

    /// The instant as a calendar date for people: `YYYY-MM-DD HH:MM:SS UTC`.
    pub fn utc(self) -> Utc {
        Utc(self)
    }
}

/// Displays a [`UnixTime`] as `YYYY-MM-DD HH:MM:SS UTC` (proleptic Gregorian calendar;
/// H. Hinnant's days-to-civil algorithm). Made by [`UnixTime::utc`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Utc(UnixTime);

impl fmt::Display for Utc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let secs = self.0.0;
        // u64 seconds / 86 400 fits an i64 with room to spare.
        let days = i64::try_from(secs / 86_400).unwrap_or(i64::MAX / 2);
        let rem = secs % 86_400;
        let z = days + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z.rem_euclid(146_097);
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let d = doy - (153 * mp + 2) / 5 + 1;
        let m = if mp < 10 { mp + 3 } else { mp - 9 };
        let y = yoe + era * 400 + i64::from(m <= 2);
        write!(
            f,
            "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02} UTC",
            rem / 3600,
            rem % 3600 / 60,
            rem % 60
        )
    }
}

impl fmt::Display for UnixTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl Wire for UnixTime {
    fn encode(&self, w: &mut Writer) {
        w.u64(self.0);
    }
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(UnixTime(r.u64("time")?))
    }
}

/// A source of the current time, passed to the edges that need one (servers, wallets).
pub trait Clock: Send + Sync {
    /// The current time.
    fn now(&self) -> UnixTime;
}

/// How far device clocks may run behind the issuer's: certificates are valid from this many
/// seconds before they are issued, so a device whose clock is a little slow does not refuse a
/// certificate (or a payer) issued a moment ago.
pub const CLOCK_SKEW_SECS: u64 = 300;

/// The operating system's clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> UnixTime {
        let secs = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        UnixTime(secs)
    }
}

/// A clock that reads whatever the test sets.
#[derive(Debug, Default)]
pub struct ManualClock(std::sync::atomic::AtomicU64);

impl ManualClock {
    /// A clock stopped at `t`.
    pub fn new(t: UnixTime) -> Self {
        ManualClock(std::sync::atomic::AtomicU64::new(t.0))
    }
    /// Moves the clock to `t`.
    pub fn set(&self, t: UnixTime) {
        self.0.store(t.0, std::sync::atomic::Ordering::SeqCst);
    }
    /// Moves the clock forward.
    pub fn advance(&self, secs: u64) {
        self.0.fetch_add(secs, std::sync::atomic::Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> UnixTime {
        UnixTime(self.0.load(std::sync::atomic::Ordering::SeqCst))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_formats_known_instants() {
        assert_eq!(UnixTime(0).utc().to_string(), "1970-01-01 00:00:00 UTC");
        assert_eq!(
            UnixTime(951_782_400).utc().to_string(),
            "2000-02-29 00:00:00 UTC"
        );
        assert_eq!(
            UnixTime(1_700_000_000).utc().to_string(),
            "2023-11-14 22:13:20 UTC"
        );
        assert_eq!(
            UnixTime(9_999_999_999).utc().to_string(),
            "2286-11-20 17:46:39 UTC"
        );
    }
}
