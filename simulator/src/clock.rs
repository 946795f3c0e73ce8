//! Virtual time for actors: milliseconds since the world started, read from tokio's clock,
//! which the simulator pauses so that it jumps to the next timer whenever every actor waits
//! (ARCHITECTURE.md, principle 3).
//!
//! A paused clock moves only when the runtime parks with nothing to run: it then jumps to
//! the next timer. Every read in between gives the same instant, yet each one locks the
//! clock's mutex (a world reads it about 90 times per message, 4 % of its instructions on
//! `dense-10k`). A runtime built by [`paused_runtime`] forgets the instant it read each time
//! it wakes from a park, so [`now`] reads the clock once per instant and then gives the
//! same value from the thread's cache; [`Clock::now`] keeps the milliseconds it made of it
//! too.

use std::cell::Cell;
use std::time::Duration;

use aptsim_core::clock::Timestamp;
use tokio::time::Instant;

thread_local! {
    /// Whether this thread runs a runtime that forgets [`SEEN`] on waking (see the module doc).
    static CACHING: Cell<bool> = const { Cell::new(false) };
    /// The instant read since the runtime last woke from a park, if any.
    static SEEN: Cell<Option<Instant>> = const { Cell::new(None) };
    /// The same instant in milliseconds since a clock's epoch (that epoch, those
    /// milliseconds): every actor of a world shares one epoch, and each reads the time a few
    /// times per event.
    static SEEN_MS: Cell<Option<(Instant, u64)>> = const { Cell::new(None) };
}

/// A current-thread runtime on a paused clock, for one world on this thread. While the
/// returned guard lives, [`now`] reads tokio's clock once per virtual instant.
pub fn paused_runtime() -> std::io::Result<(tokio::runtime::Runtime, CachedNow)> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        // The clock only moves inside a park: what was read before it may be stale after.
        .on_thread_unpark(forget)
        .build()?;
    forget();
    CACHING.set(true);
    Ok((runtime, CachedNow(())))
}

/// Forgets what was read of the clock (it may have moved).
fn forget() {
    SEEN.set(None);
    SEEN_MS.set(None);
}

/// An actix system on a paused current-thread runtime without the cache, for a piece of the
/// simulator run on its own (tests of links and timers); a world runs on
/// [`paused_runtime`].
pub fn paused_system() -> actix::SystemRunner {
    actix::System::with_tokio_rt(|| {
        // Building a current-thread runtime only fails if the OS refuses a timer.
        tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .start_paused(true)
            .build()
            .expect("tokio current-thread runtime")
    })
}

/// Keeps [`now`] caching on this thread; dropping it turns the cache off, so that another
/// runtime on the same thread (one without the hook) reads the clock every time.
#[derive(Debug)]
pub struct CachedNow(());

impl Drop for CachedNow {
    fn drop(&mut self) {
        CACHING.set(false);
        forget();
    }
}

/// The virtual instant: tokio's `Instant::now()`, read once per instant under
/// [`paused_runtime`].
pub fn now() -> Instant {
    if let Some(seen) = SEEN.get() {
        return seen;
    }
    let now = Instant::now();
    if CACHING.get() {
        SEEN.set(Some(now));
    }
    now
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
        if let Some((start, ms)) = SEEN_MS.get()
            && start == self.start
        {
            return Timestamp::from_millis(ms);
        }
        let ms = now().saturating_duration_since(self.start).as_millis();
        let ms = u64::try_from(ms).unwrap_or(u64::MAX);
        if CACHING.get() {
            SEEN_MS.set(Some((self.start, ms)));
        }
        Timestamp::from_millis(ms)
    }

    /// How long from now until `at` (zero if it has passed).
    pub fn until(&self, at: Timestamp) -> Duration {
        at.saturating_since(self.now())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Under [`paused_runtime`], each read matches tokio's clock, also after the clock
    /// jumped over a sleep; once the guard is gone, nothing is cached.
    #[test]
    fn the_cached_instant_follows_the_clock_across_parks() {
        let (runtime, cached) = paused_runtime().expect("runtime");
        runtime.block_on(async {
            let clock = Clock::start();
            assert_eq!(clock.now(), Timestamp::from_millis(0));
            let mut later = None;
            let mut total = 0;
            for step in [1u64, 7, 250, 60_000] {
                let before = now();
                tokio::time::sleep(Duration::from_millis(step)).await;
                total += step;
                assert_eq!(now(), Instant::now());
                assert_eq!(now() - before, Duration::from_millis(step));
                // The milliseconds follow too, read twice in one instant, and a clock
                // with another epoch gets its own.
                assert_eq!(clock.now(), Timestamp::from_millis(total));
                assert_eq!(clock.now(), Timestamp::from_millis(total));
                let other = *later.get_or_insert_with(Clock::start);
                assert_eq!(other.now(), Timestamp::from_millis(total - 1));
                assert_eq!(clock.now(), Timestamp::from_millis(total));
            }
        });
        drop(cached);
        assert_eq!(SEEN.get(), None);
        assert_eq!(SEEN_MS.get(), None);
        assert!(!CACHING.get());

        // A runtime without the hook: every read goes to the clock.
        let plain = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .start_paused(true)
            .build()
            .expect("runtime");
        plain.block_on(async {
            let before = now();
            tokio::time::advance(Duration::from_secs(3)).await;
            assert_eq!(now() - before, Duration::from_secs(3));
        });
    }
}
