//! Virtual time for actors: milliseconds since the world started, read from the world's
//! timeline ([`crate::timeline`]), which jumps to the next deadline whenever every actor
//! waits (ARCHITECTURE.md, principle 3).

use aptsim_core::clock::Timestamp;
use tokio::time::Instant;

/// The virtual instant inside a world ([`crate::timeline::run`]); outside one, tokio's
/// clock.
pub fn now() -> Instant {
    crate::timeline::now().unwrap_or_else(Instant::now)
}

/// The world's clock. Copy it into every actor.
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    start: Instant,
}

impl Clock {
    /// A clock whose epoch is now.
    pub fn start() -> Self {
        Clock { start: now() }
    }

    /// Virtual time since the epoch.
    pub fn now(&self) -> Timestamp {
        let ms = now().saturating_duration_since(self.start).as_millis();
        Timestamp::from_millis(u64::try_from(ms).unwrap_or(u64::MAX))
    }

    /// How long from now until `at` (zero if it has passed).
    pub fn until(&self, at: Timestamp) -> std::time::Duration {
        at.saturating_since(self.now())
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::timeline;

    /// Inside a world the clock reads the timeline, in whole milliseconds since the epoch of
    /// each clock; it moves only when every task waits.
    #[test]
    fn a_clock_reads_the_timeline_of_its_world() {
        timeline::block_on(async {
            let clock = Clock::start();
            assert_eq!(clock.now(), Timestamp::from_millis(0));
            let mut later = None;
            let mut total = 0;
            for step in [1u64, 7, 250, 60_000] {
                let before = now();
                timeline::sleep(Duration::from_millis(step)).await;
                total += step;
                assert_eq!(now() - before, Duration::from_millis(step));
                assert_eq!(clock.now(), Timestamp::from_millis(total));
                assert_eq!(
                    clock.until(Timestamp::from_millis(total + 5)),
                    Duration::from_millis(5)
                );
                let other = *later.get_or_insert_with(Clock::start);
                assert_eq!(other.now(), Timestamp::from_millis(total - 1));
            }
        });
        // Outside a world: tokio's clock, which moves on its own.
        assert!(timeline::now().is_none());
        let a = now();
        std::thread::sleep(Duration::from_millis(2));
        assert!(now() > a);
    }
}
