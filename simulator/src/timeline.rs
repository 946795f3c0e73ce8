//! Virtual time, kept by the world itself: a queue of deadlines, and the loop that runs the
//! world's tasks one instant at a time and then moves the clock to the next deadline
//! (ARCHITECTURE.md, principle 3).
//!
//! Why not tokio's paused clock, on which worlds ran before: its clock moves only inside a
//! park of the runtime, and a world paid two parks for every instant it passed through. The
//! timers that fire in a park wake the world's tasks, and those wakes mark the runtime as
//! woken, so the next park returns without moving the clock; only the one after it moves
//! it. Each park also reads the real clock twice (tokio's busy-time metric) and walks the
//! timer wheel. On a world of one message with a file after another, parks were a fifth of
//! the run (docs/performance.md, "A clock of the world's own").
//!
//! How: [`block_on`] polls the world inside a `LocalSet` of its own, with a waker that only
//! notes that something was woken. While something was, it polls again (a `LocalSet` runs
//! at most 61 tasks a turn, then wakes itself). When nothing was, every task waits on the
//! clock: the clock jumps to the earliest deadline, and what waits for it is woken, in the
//! order the timers were set. The loop runs outside tokio's scheduler (an actix system
//! exists, and the runtime is entered, but nothing is run by `block_on` of the runtime), so
//! the wakes tokio would defer to its next park (`yield_now`, a task out of its cooperative
//! budget) are made at once and seen by the loop, and the runtime never parks while a world
//! runs.
//!
//! Instants, and the order of events in one, are those tokio's clock gave: deadlines are
//! rounded up to whole milliseconds since the world began, as tokio's timer wheel rounds
//! them, and a timer that calls something (`call_at`: a message to an actor) becomes a task
//! when it fires, queued with the tasks its instant wakes, as a task that slept until then
//! was. A timer that is cancelled before it fires leaves no instant behind (an idle timeout
//! of a session long gone must not stop the clock).

use std::cell::{Cell, RefCell};
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::future::Future;
use std::hash::{BuildHasherDefault, Hasher};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;

use tokio::time::Instant;

/// A timer set on the timeline; [`cancel`] takes it off.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Key(u64);

/// What happens when a timer fires.
enum Due {
    /// A task waits for it.
    Wake(Waker),
    /// A call, made in a task of its own when it fires.
    Call(Box<dyn FnOnce()>),
}

/// Keys are handed out in order, so a multiplication by an odd constant spreads them
/// enough; no one outside the world chooses them.
#[derive(Default)]
struct KeyHasher(u64);

impl Hasher for KeyHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 << 8 | u64::from(b)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

thread_local! {
    /// The running world's number on this thread: a sleep set in one world must not be
    /// woken by the next one's clock.
    static WORLD: Cell<u64> = const { Cell::new(0) };
    /// The instant the running world began, if a world runs on this thread.
    static EPOCH: Cell<Option<Instant>> = const { Cell::new(None) };
    /// Milliseconds since then.
    static NOW_MS: Cell<u64> = const { Cell::new(0) };
    /// Deadlines (in ms since the epoch) and their keys, earliest first, then in order set.
    static QUEUE: RefCell<BinaryHeap<Reverse<(u64, u64)>>> = RefCell::default();
    /// What each key still pending does; a cancelled key is no longer here. Looked up,
    /// never iterated: the order of the queue is the order timers fire in.
    static PENDING: RefCell<HashMap<u64, Due, BuildHasherDefault<KeyHasher>>> =
        RefCell::default();
    /// The next key.
    static NEXT_KEY: Cell<u64> = const { Cell::new(0) };
}

/// The virtual instant, if a world runs on this thread.
pub fn now() -> Option<Instant> {
    EPOCH
        .get()
        .map(|epoch| epoch + Duration::from_millis(NOW_MS.get()))
}

/// Milliseconds since the world began at which a timer for `at` fires: rounded up, as
/// tokio's wheel rounds.
fn tick_of(epoch: Instant, at: Instant) -> u64 {
    let nanos = at.saturating_duration_since(epoch).as_nanos();
    u64::try_from(nanos.div_ceil(1_000_000)).unwrap_or(u64::MAX)
}

fn epoch() -> Instant {
    EPOCH
        .get()
        .expect("virtual time is read outside a world (timeline::block_on)")
}

fn set(tick: u64, due: Due) -> Key {
    let key = NEXT_KEY.get();
    NEXT_KEY.set(key + 1);
    QUEUE.with_borrow_mut(|q| q.push(Reverse((tick, key))));
    PENDING.with_borrow_mut(|p| p.insert(key, due));
    Key(key)
}

/// Calls `f`, in a task of its own, at `at` (if `at` has passed, once the tasks that can
/// run now have run, without moving the clock), unless cancelled first.
pub fn call_at(at: Instant, f: impl FnOnce() + 'static) -> Key {
    let tick = tick_of(epoch(), at).max(NOW_MS.get());
    set(tick, Due::Call(Box::new(f)))
}

/// Takes a timer off the timeline; nothing happens if it has fired.
pub fn cancel(key: Key) {
    PENDING.with_borrow_mut(|p| p.remove(&key.0));
}

/// A future done at its deadline: the world's `sleep_until`.
#[derive(Debug)]
pub struct Sleep {
    tick: u64,
    /// The world it was made in: its deadline is on that world's clock.
    world: u64,
    /// The timer set for it, once it has waited.
    key: Option<Key>,
}

/// Waits until `at`.
pub fn sleep_until(at: Instant) -> Sleep {
    Sleep {
        tick: tick_of(epoch(), at),
        world: WORLD.get(),
        key: None,
    }
}

/// The instant `d` from now, at most about 30 years on (as tokio caps a sleep): a deadline
/// that cannot overflow.
pub fn after(d: Duration) -> Instant {
    let now = now().expect("virtual time is read outside a world (timeline::block_on)");
    now + d.min(Duration::from_secs(86_400 * 365 * 30))
}

/// Waits for `d`.
pub fn sleep(d: Duration) -> Sleep {
    sleep_until(after(d))
}

impl Sleep {
    /// Waits until `at` instead.
    pub fn reset(&mut self, at: Instant) {
        if let Some(key) = self.key.take() {
            cancel(key);
        }
        self.tick = tick_of(epoch(), at);
    }
}

impl Future for Sleep {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        // A sleep outlives no world: polled after its world ended, it would wait on (or be
        // woken by) the next one's clock.
        epoch();
        assert_eq!(
            this.world,
            WORLD.get(),
            "a sleep was polled after its world ended"
        );
        if NOW_MS.get() >= this.tick {
            // Fired (its entry is gone), or never set.
            this.key = None;
            return Poll::Ready(());
        }
        match this.key {
            Some(key) => PENDING.with_borrow_mut(|p| {
                if let Some(Due::Wake(w)) = p.get_mut(&key.0)
                    && !w.will_wake(cx.waker())
                {
                    *w = cx.waker().clone();
                }
            }),
            None => this.key = Some(set(this.tick, Due::Wake(cx.waker().clone()))),
        }
        Poll::Pending
    }
}

impl Drop for Sleep {
    fn drop(&mut self) {
        if let Some(key) = self.key.take()
            && self.world == WORLD.get()
        {
            cancel(key);
        }
    }
}

/// Moves the clock to the earliest pending deadline and fires every timer due then, in the
/// order set: a waiting task is woken, a call spawned on `world` (both join the `LocalSet`'s
/// queue of tasks from outside, in that order). False when no timer is pending.
fn advance(world: &tokio::task::LocalSet) -> bool {
    let next = loop {
        let Some(Reverse((tick, key))) = QUEUE.with_borrow(|q| q.peek().copied()) else {
            return false;
        };
        if PENDING.with_borrow(|p| p.contains_key(&key)) {
            break tick;
        }
        // Cancelled: it leaves no instant.
        QUEUE.with_borrow_mut(|q| q.pop());
    };
    NOW_MS.set(next);
    loop {
        let key = QUEUE.with_borrow_mut(|q| match q.peek() {
            Some(Reverse((tick, key))) if *tick <= next => {
                let key = *key;
                q.pop();
                Some(key)
            }
            _ => None,
        });
        let Some(key) = key else {
            return true;
        };
        match PENDING.with_borrow_mut(|p| p.remove(&key)) {
            Some(Due::Wake(w)) => w.wake(),
            Some(Due::Call(f)) => {
                world.spawn_local(async move { f() });
            }
            None => {}
        }
    }
}

/// Notes that the world has something to run.
struct Woken(AtomicBool);

impl Wake for Woken {
    fn wake(self: Arc<Self>) {
        self.0.store(true, Ordering::Relaxed);
    }
    fn wake_by_ref(self: &Arc<Self>) {
        self.0.store(true, Ordering::Relaxed);
    }
}

/// The timeline of this thread while a world runs; cleared when it ends, even by a panic.
struct Running;

impl Running {
    fn start(epoch: Instant) -> Self {
        assert!(
            EPOCH.get().is_none(),
            "a world already runs on this thread (timeline::run does not nest)"
        );
        EPOCH.set(Some(epoch));
        NOW_MS.set(0);
        WORLD.set(WORLD.get() + 1);
        Running
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        EPOCH.set(None);
        NOW_MS.set(0);
        QUEUE.with_borrow_mut(|q| *q = BinaryHeap::new());
        // Taken out before it drops: a waker or call dropped here may cancel timers.
        let pending = PENDING.with_borrow_mut(std::mem::take);
        drop(pending);
    }
}

/// Runs `world` on virtual time to its end, in an actix system of its own: its tasks
/// (`actix::spawn`, actors started inside it) run in a `LocalSet` of its own, each instant
/// until none can run, and then the clock jumps to the next deadline.
///
/// The system's runtime is a current-thread one without tokio's timers (a
/// `tokio::time::sleep` inside a world is a bug: it would wait on real time; without a
/// timer driver it panics at once). It is entered, so that tokio's handle is there, but
/// never driven: the loop here is the world's scheduler.
///
/// # Panics
/// When nothing can run and no timer is set (the world would wait forever), or when called
/// inside another world.
pub fn block_on<F: Future>(world: F) -> F::Output {
    let system = actix::System::with_tokio_rt(|| {
        // Building a current-thread runtime only fails if the OS refuses its resources.
        tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("tokio current-thread runtime")
    });
    let _entered = system.runtime().tokio_runtime().enter();
    // Declared first, dropped last: the world's tasks drop while the timeline still stands.
    let _running = Running::start(Instant::now());
    let local = tokio::task::LocalSet::new();
    let mut run = std::pin::pin!(local.run_until(world));
    let woken = Arc::new(Woken(AtomicBool::new(false)));
    let waker = Waker::from(Arc::clone(&woken));
    let mut cx = Context::from_waker(&waker);
    loop {
        woken.0.store(false, Ordering::Relaxed);
        if let Poll::Ready(out) = run.as_mut().poll(&mut cx) {
            return out;
        }
        if woken.0.load(Ordering::Relaxed) {
            continue;
        }
        assert!(
            advance(&local),
            "the world waits for nothing: no task can run and no timer is set"
        );
    }
}

#[cfg(test)]
#[path = "timeline_tests.rs"]
mod tests;
