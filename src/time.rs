//! Packet time: the only clock the core knows.
//!
//! Every timeout and duration in the core is computed from [`Timestamp`]s taken from packet headers,
//! so replaying the same capture always produces the same events.

use std::fmt;
use std::time::Duration;

/// A packet timestamp: nanoseconds since the Unix epoch (may be negative for odd captures).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(i64);

impl Timestamp {
    /// Builds a timestamp from nanoseconds since the epoch.
    pub const fn from_nanos(nanos: i64) -> Self {
        Timestamp(nanos)
    }

    /// Builds a timestamp from seconds and a sub-second part in nanoseconds (saturating).
    pub fn from_secs_nanos(secs: i64, nanos: i64) -> Self {
        Timestamp(secs.saturating_mul(1_000_000_000).saturating_add(nanos))
    }

    /// Nanoseconds since the epoch.
    pub const fn as_nanos(self) -> i64 {
        self.0
    }

    /// Seconds since the epoch as a float (for display and JSON).
    pub fn as_secs_f64(self) -> f64 {
        self.0 as f64 / 1e9
    }

    /// `self + d`, saturating at the representable range.
    pub fn saturating_add(self, d: Duration) -> Self {
        let n = i64::try_from(d.as_nanos()).unwrap_or(i64::MAX);
        Timestamp(self.0.saturating_add(n))
    }

    /// `self - d`, saturating at the representable range.
    pub fn saturating_sub(self, d: Duration) -> Self {
        let n = i64::try_from(d.as_nanos()).unwrap_or(i64::MAX);
        Timestamp(self.0.saturating_sub(n))
    }

    /// The time from `earlier` to `self`, or zero if `earlier` is later (captures can go backwards).
    pub fn saturating_since(self, earlier: Timestamp) -> Duration {
        let d = self.0.saturating_sub(earlier.0);
        Duration::from_nanos(u64::try_from(d).unwrap_or(0))
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let secs = self.0.div_euclid(1_000_000_000);
        let nanos = self.0.rem_euclid(1_000_000_000);
        write!(f, "{secs}.{nanos:09}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn displays_seconds_and_nanoseconds() {
        assert_eq!(
            Timestamp::from_secs_nanos(1_700_000_000, 5_000).to_string(),
            "1700000000.000005000"
        );
        assert_eq!(Timestamp::from_nanos(-1).to_string(), "-1.999999999");
    }

    #[test]
    fn since_never_goes_negative() {
        let a = Timestamp::from_nanos(10);
        let b = Timestamp::from_nanos(5);
        assert_eq!(a.saturating_since(b), Duration::from_nanos(5));
        assert_eq!(b.saturating_since(a), Duration::ZERO);
    }
}
