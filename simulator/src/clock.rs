//! Virtual time for actors: milliseconds since the world started, read from tokio's clock,
//! which the simulator pauses so that it jumps to the next timer whenever every actor waits
//! (ARCHITECTURE.md, principle 3).

use std::time::Duration;

use aptsim_core::clock::Timestamp;

/// The world's clock. Copy it into every actor.
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    start: tokio::time::Instant,
}

impl Clock {
    /// A clock whose epoch is now.
    pub fn start() -> Self {
        Clock {
            start: tokio::time::Instant::now(),
        }
    }

    /// Virtual time since the epoch.
    pub fn now(&self) -> Timestamp {
        let ms = self.start.elapsed().as_millis();
        Timestamp::from_millis(u64::try_from(ms).unwrap_or(u64::MAX))
    }

    /// How long from now until `at` (zero if it has passed).
    pub fn until(&self, at: Timestamp) -> Duration {
        at.saturating_since(self.now())
    }
}
