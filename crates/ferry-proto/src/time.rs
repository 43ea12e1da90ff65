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
