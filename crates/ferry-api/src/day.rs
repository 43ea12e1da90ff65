//! A calendar day in UTC, `YYYY-MM-DD`: what `GET /v1/accounts/{id}/statement?day=` and
//! `ferry wallet report --day` take. Day boundaries are UTC midnights; the day is the half-open
//! interval `[start, end)` of Unix seconds. No clock is read here.

use std::fmt;
use std::str::FromStr;

use ferry_proto::UnixTime;
use thiserror::Error;

/// Seconds in a day.
const DAY_SECS: u64 = 86_400;

/// A UTC calendar day from 1970-01-01 to 9999-12-31.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct UtcDay {
    /// Days since 1970-01-01.
    days: u32,
}

/// Why a day does not parse.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum DayError {
    /// Not `YYYY-MM-DD` with four, two and two ASCII digits.
    #[error("expected a day as YYYY-MM-DD")]
    Format,
    /// A month outside 01..=12, or a day the month does not have.
    #[error("no such date: {0}")]
    NoSuchDate(String),
    /// Before 1970-01-01.
    #[error("days before 1970-01-01 are not supported")]
    BeforeEpoch,
}

fn is_leap(y: u32) -> bool {
    (y.is_multiple_of(4) && !y.is_multiple_of(100)) || y.is_multiple_of(400)
}

fn days_in_month(y: u32, m: u32) -> u32 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if is_leap(y) => 29,
        _ => 28,
    }
}

impl UtcDay {
    /// The day from a year, month (1..=12) and day of month.
    pub fn from_ymd(y: u32, m: u32, d: u32) -> Result<UtcDay, DayError> {
        if !(1..=12).contains(&m) || d == 0 || d > days_in_month(y, m) || y > 9999 {
            return Err(DayError::NoSuchDate(format!("{y:04}-{m:02}-{d:02}")));
        }
        if y < 1970 {
            return Err(DayError::BeforeEpoch);
        }
        // H. Hinnant's days-from-civil, on signed integers (every value here is small).
        let (y, m, d) = (i64::from(y), i64::from(m), i64::from(d));
        let y = if m <= 2 { y - 1 } else { y };
        let era = y.div_euclid(400);
        let yoe = y - era * 400;
        let mp = (m + 9) % 12;
        let doy = (153 * mp + 2) / 5 + d - 1;
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        let days = era * 146_097 + doe - 719_468;
        let days = u32::try_from(days).map_err(|_| DayError::BeforeEpoch)?;
        Ok(UtcDay { days })
    }

    /// The day holding instant `t`.
    pub fn containing(t: UnixTime) -> UtcDay {
        // u64 seconds / 86 400 is below 2^47; clamp to the supported range.
        let days = u32::try_from(t.secs() / DAY_SECS).unwrap_or(u32::MAX);
        UtcDay {
            days: days.min(2_932_896),
        }
    }

    /// Midnight UTC at the start of the day.
    pub fn start(self) -> UnixTime {
        UnixTime(u64::from(self.days) * DAY_SECS)
    }

    /// Midnight UTC at the start of the next day (excluded from this day).
    pub fn end(self) -> UnixTime {
        UnixTime((u64::from(self.days) + 1) * DAY_SECS)
    }

    /// `(year, month, day)`.
    pub fn ymd(self) -> (u32, u32, u32) {
        let z = i64::from(self.days) + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z.rem_euclid(146_097);
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let d = doy - (153 * mp + 2) / 5 + 1;
        let m = if mp < 10 { mp + 3 } else { mp - 9 };
        let y = yoe + era * 400 + i64::from(m <= 2);
        // Every component is in range by construction.
        (
            u32::try_from(y).unwrap_or(0),
            u32::try_from(m).unwrap_or(0),
            u32::try_from(d).unwrap_or(0),
        )
    }
}

impl FromStr for UtcDay {
    type Err = DayError;

    fn from_str(s: &str) -> Result<UtcDay, DayError> {
        let b = s.as_bytes();
        let digits = |r: std::ops::Range<usize>| -> Result<u32, DayError> {
            let part = b.get(r).ok_or(DayError::Format)?;
            if part.iter().all(u8::is_ascii_digit) {
                Ok(part.iter().fold(0, |n, c| n * 10 + u32::from(c - b'0')))
            } else {
                Err(DayError::Format)
            }
        };
        if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
            return Err(DayError::Format);
        }
        UtcDay::from_ymd(digits(0..4)?, digits(5..7)?, digits(8..10)?)
    }
}

impl fmt::Display for UtcDay {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (y, m, d) = self.ymd();
        write!(f, "{y:04}-{m:02}-{d:02}")
    }
}

/// An instant as ISO 8601 in UTC, `YYYY-MM-DDTHH:MM:SSZ` (for CSV and camt.053).
pub fn iso_datetime(t: UnixTime) -> String {
    let day = UtcDay::containing(t);
    let rem = t.secs().saturating_sub(day.start().secs());
    format!(
        "{day}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_and_bounds_a_day() {
        let d: UtcDay = "2026-11-28".parse().expect("day");
        assert_eq!(d.start(), UnixTime(1_795_824_000));
        assert_eq!(d.end(), UnixTime(1_795_824_000 + 86_400));
        assert_eq!(d.to_string(), "2026-11-28");
        assert_eq!(
            "1970-01-01".parse::<UtcDay>().map(UtcDay::start),
            Ok(UnixTime(0))
        );
        assert_eq!(
            "2024-02-29"
                .parse::<UtcDay>()
                .map(|d| d.to_string())
                .as_deref(),
            Ok("2024-02-29")
        );
        assert_eq!(
            iso_datetime(UnixTime(1_795_824_000 + 3_661)),
            "2026-11-28T01:01:01Z"
        );
    }

    #[test]
    fn refuses_what_is_not_a_day() {
        for bad in [
            "2026-13-01",
            "2026-02-29",
            "2026-04-31",
            "2026-00-10",
            "2026-01-00",
        ] {
            assert!(
                matches!(bad.parse::<UtcDay>(), Err(DayError::NoSuchDate(_))),
                "{bad}"
            );
        }
        for bad in [
            "",
            "2026-1-01",
            "2026/11/28",
            "+026-11-28",
            "2026-11-28 ",
            "２026-11-28",
            "20261128",
        ] {
            assert_eq!(bad.parse::<UtcDay>(), Err(DayError::Format), "{bad}");
        }
        assert_eq!("1969-12-31".parse::<UtcDay>(), Err(DayError::BeforeEpoch));
    }

    proptest! {
        #[test]
        fn days_round_trip(days in 0u32..2_932_896) {
            let d = UtcDay { days };
            prop_assert_eq!(d.to_string().parse::<UtcDay>(), Ok(d));
            prop_assert_eq!(UtcDay::containing(d.start()), d);
            prop_assert_eq!(UtcDay::containing(UnixTime(d.end().secs() - 1)), d);
        }
    }
}
