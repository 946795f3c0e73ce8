//! Time as the sans-IO machines see it: a [`Timestamp`] passed in by whoever drives them.
//!
//! Core never reads a clock (ARCHITECTURE.md, principle 2). The simulator passes virtual
//! milliseconds since the start of a run; the live proxy passes milliseconds since it started.
//! Integer milliseconds keep traces byte-identical across runs and machines (N8).

use std::fmt;
use std::ops::{Add, AddAssign};
use std::time::Duration;

/// A point in time: milliseconds since the driver's epoch.
#[derive(
    Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(transparent)]
pub struct Timestamp(u64);

impl Timestamp {
    /// The driver's epoch.
    pub const ZERO: Timestamp = Timestamp(0);

    /// A timestamp `ms` milliseconds after the epoch.
    pub const fn from_millis(ms: u64) -> Self {
        Timestamp(ms)
    }

    /// Milliseconds since the epoch.
    pub const fn as_millis(self) -> u64 {
        self.0
    }

    /// Time from `earlier` to `self`, zero if `earlier` is later.
    pub fn saturating_since(self, earlier: Timestamp) -> Duration {
        Duration::from_millis(self.0.saturating_sub(earlier.0))
    }
}

impl Add<Duration> for Timestamp {
    type Output = Timestamp;

    /// Saturates at the far future rather than overflowing: a "never" deadline stays never.
    fn add(self, rhs: Duration) -> Timestamp {
        let ms = u64::try_from(rhs.as_millis()).unwrap_or(u64::MAX);
        Timestamp(self.0.saturating_add(ms))
    }
}

impl AddAssign<Duration> for Timestamp {
    fn add_assign(&mut self, rhs: Duration) {
        *self = *self + rhs;
    }
}

impl fmt::Debug for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "t+{}", self)
    }
}

impl fmt::Display for Timestamp {
    /// `h:mm:ss.mmm` since the epoch, days folded into hours (a five-day run reads `120:00:00.000`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ms = self.0 % 1000;
        let s = self.0 / 1000;
        write!(f, "{}:{:02}:{:02}.{ms:03}", s / 3600, (s / 60) % 60, s % 60)
    }
}

/// The calendar date of a [`Timestamp`]: the Unix time (milliseconds) of the driver's epoch.
///
/// Core reads no clock, but a message it relays carries a date (the proxy's `Received:`
/// header, RFC 5321 §4.4). So the driver says once when its epoch was: the live proxy the
/// wall-clock time it started at; the simulator nothing, which leaves
/// [`WallClock::SIMULATED`], a fixed date, so that a run's bytes are the same on every
/// machine and every day (N8).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WallClock {
    epoch_unix_ms: u64,
}

impl WallClock {
    /// Timestamp zero is 2026-01-01T00:00:00Z: simulated runs date their mail from there.
    pub const SIMULATED: WallClock = WallClock {
        epoch_unix_ms: 1_767_225_600_000,
    };

    /// Timestamp zero is `start` (a time the driver read; before 1970 counts as 1970).
    pub fn starting_at(start: std::time::SystemTime) -> Self {
        let since = start
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        WallClock {
            epoch_unix_ms: u64::try_from(since.as_millis()).unwrap_or(u64::MAX),
        }
    }

    /// Milliseconds since 1970-01-01T00:00:00Z at `t`.
    pub fn unix_ms(self, t: Timestamp) -> u64 {
        self.epoch_unix_ms.saturating_add(t.as_millis())
    }
}

impl Default for WallClock {
    fn default() -> Self {
        WallClock::SIMULATED
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arithmetic_saturates() {
        let t = Timestamp::from_millis(1_500);
        assert_eq!((t + Duration::from_secs(2)).as_millis(), 3_500);
        assert_eq!(
            Timestamp::from_millis(u64::MAX - 1) + Duration::MAX,
            Timestamp(u64::MAX)
        );
        assert_eq!(
            t.saturating_since(Timestamp::from_millis(2_000)),
            Duration::ZERO
        );
        assert_eq!(
            Timestamp::from_millis(5_000).saturating_since(t),
            Duration::from_millis(3_500)
        );
    }

    #[test]
    fn wall_clock_adds_the_epoch() {
        let t = Timestamp::from_millis(90_000);
        assert_eq!(WallClock::SIMULATED.unix_ms(t), 1_767_225_690_000);
        let start = std::time::UNIX_EPOCH + Duration::from_secs(1_000);
        assert_eq!(WallClock::starting_at(start).unix_ms(t), 1_090_000);
    }

    #[test]
    fn displays_hours_minutes_seconds() {
        assert_eq!(Timestamp::from_millis(3_723_004).to_string(), "1:02:03.004");
        assert_eq!(
            Timestamp::from_millis(5 * 86_400_000).to_string(),
            "120:00:00.000"
        );
    }
}
