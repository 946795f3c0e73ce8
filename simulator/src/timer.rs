//! Timers on virtual time that scale: each pending timer is its own tokio task that sends a
//! message to its actor when it fires.
//!
//! actix's `ctx.run_later` keeps timers inside the actor's context and polls every pending
//! one each time the actor wakes, so an actor with thousands of timers (a queue of messages,
//! a session timer per connection) spends quadratic time polling them. tokio's timer wheel
//! wakes only the timer that is due.
//!
//! A session's timer is kept in an [`Armed`], which cancels it once nobody waits for it: when
//! an earlier deadline replaces it, or when the session is gone and its `Armed` dropped. Most
//! sessions end long before their idle timeouts; left alone, each of those timers would fire
//! minutes later into a session that no longer exists, at an instant of its own (about five
//! per message on a day of mail, a sixth of all the instants a world passes through).

use std::rc::Rc;
use std::time::Duration;

use actix::prelude::*;
use aptsim_core::clock::Timestamp;
use tokio::task::AbortHandle;

/// A started timer. Dropping it leaves it running; [`Armed`] cancels the one it keeps.
#[derive(Debug)]
pub struct Timer(AbortHandle);

/// Sends `msg` to `to` after `delay`. `to` may be shared ([`Rc`]): an actor that starts
/// many timers makes its own recipient once.
pub fn after<M>(delay: Duration, to: impl Into<Rc<Recipient<M>>>, msg: M) -> Timer
where
    M: Message + Send + 'static,
    M::Result: Send,
{
    let to = to.into();
    // The deadline from the thread's cached instant: the same value `sleep` would read
    // from the clock, since the clock does not move before the task first runs.
    let deadline = crate::clock::now().checked_add(delay);
    let task = actix::spawn(async move {
        match deadline {
            Some(at) => tokio::time::sleep_until(at).await,
            None => tokio::time::sleep(delay).await,
        }
        to.do_send(msg);
    });
    Timer(task.abort_handle())
}

/// The one pending timer of a machine, kept at its earliest deadline; cancelled when it is
/// replaced or when the `Armed` is dropped (see the module doc).
#[derive(Debug, Default)]
pub struct Armed(Option<(Timestamp, Timer)>);

impl Armed {
    /// Starts a timer for `next` with `start` if `next` needs one: none is pending, or `next`
    /// is earlier than the pending one, which is then cancelled. A pending timer earlier
    /// than `next` stays: it fires early, and its machine re-arms.
    pub fn arm(&mut self, next: Option<Timestamp>, start: impl FnOnce(Timestamp) -> Timer) {
        let Some(due) = next else {
            return;
        };
        if self.due().is_some_and(|pending| pending <= due) {
            return;
        }
        if let Some((_, replaced)) = self.0.replace((due, start(due))) {
            replaced.0.abort();
        }
    }

    /// The pending timer's deadline, if one is pending.
    pub fn due(&self) -> Option<Timestamp> {
        self.0.as_ref().map(|(due, _)| *due)
    }

    /// Whether a timer set for `due` is the pending one (one replaced by an earlier one was
    /// cancelled, but may have fired in the same instant); if so it is no longer pending.
    pub fn fire(&mut self, due: Timestamp) -> bool {
        let current = self.due() == Some(due);
        if current {
            self.0 = None;
        }
        current
    }
}

impl Drop for Armed {
    fn drop(&mut self) {
        if let Some((_, pending)) = self.0.take() {
            pending.0.abort();
        }
    }
}

/// Waits until `at`, as `sleep_until(at)` would, for the one future that the runtime polls
/// every time it wakes: the world's own, which `LocalSet::run_until` polls before each
/// round of tasks. A `Sleep` polled there registers its waker again at every poll, about
/// once per park (3 % of a day's instructions). Here the deadline's timer is a task of its
/// own that wakes this future once, and a poll looks at the cached clock.
///
/// Ready at the first poll at or after `at`, before any task runs at that instant: the
/// same instant, and the same tasks left unrun, as the `Sleep` it replaces.
pub async fn until(at: tokio::time::Instant) {
    let waiting: Rc<std::cell::RefCell<Option<std::task::Waker>>> = Rc::default();
    let wake = Rc::clone(&waiting);
    let timer = actix::spawn(async move {
        tokio::time::sleep_until(at).await;
        if let Some(waker) = wake.borrow_mut().take() {
            waker.wake();
        }
    });
    std::future::poll_fn(|cx| {
        if crate::clock::now() >= at {
            return std::task::Poll::Ready(());
        }
        let mut slot = waiting.borrow_mut();
        if !slot.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
            *slot = Some(cx.waker().clone());
        }
        std::task::Poll::Pending
    })
    .await;
    timer.abort();
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;
    use std::rc::Rc;

    use super::*;

    /// What fired, in virtual ms since the start.
    type Fired = Rc<RefCell<Vec<(u64, u64)>>>;

    #[derive(Message)]
    #[rtype(result = "()")]
    struct Due(u64);

    struct Sink {
        start: tokio::time::Instant,
        fired: Fired,
    }

    impl Actor for Sink {
        type Context = Context<Self>;
    }

    impl Handler<Due> for Sink {
        type Result = ();

        fn handle(&mut self, Due(due): Due, _: &mut Context<Self>) {
            let ms = u64::try_from(self.start.elapsed().as_millis()).expect("ms");
            self.fired.borrow_mut().push((ms, due));
        }
    }

    /// Arms as an actor would, with a timer that sends its own deadline (in ms since
    /// `start`).
    fn arm(armed: &mut Armed, next: u64, start: tokio::time::Instant, to: &Recipient<Due>) {
        armed.arm(Some(Timestamp::from_millis(next)), |due| {
            let delay = Duration::from_millis(next).saturating_sub(start.elapsed());
            after(delay, to.clone(), Due(due.as_millis()))
        });
    }

    /// An earlier deadline replaces the pending timer, which never fires; a later one
    /// leaves it; a dropped `Armed` takes its timer with it; a fired timer is no longer
    /// pending.
    #[test]
    fn keeps_the_earliest_deadline_and_cancels_the_rest() {
        let fired: Fired = Rc::default();
        let got = Rc::clone(&fired);
        crate::clock::paused_system().block_on(async move {
            let start = tokio::time::Instant::now();
            let to = Sink { start, fired: got }.start().recipient();
            let t = Timestamp::from_millis;

            let mut kept = Armed::default();
            kept.arm(None, |_| unreachable!("no deadline, no timer"));
            arm(&mut kept, 10, start, &to);
            arm(&mut kept, 20, start, &to);
            assert_eq!(kept.due(), Some(t(10)), "the pending timer comes first");
            arm(&mut kept, 5, start, &to);
            assert_eq!(kept.due(), Some(t(5)), "the earlier one replaces it");

            let mut dropped = Armed::default();
            arm(&mut dropped, 7, start, &to);
            drop(dropped);

            tokio::time::sleep(Duration::from_millis(30)).await;
            assert!(!kept.fire(t(10)), "replaced");
            assert!(kept.fire(t(5)));
            assert_eq!(kept.due(), None);
            arm(&mut kept, 40, start, &to);
            assert_eq!(kept.due(), Some(t(40)));
            tokio::time::sleep(Duration::from_millis(30)).await;
        });
        assert_eq!(*fired.borrow(), vec![(5, 5), (40, 40)]);
    }

    /// `until` is done at its deadline, with the clock there, before a task due at the same
    /// instant has run (as `sleep_until` in the runtime's own future is), and does not wait
    /// for other tasks' later timers.
    #[test]
    fn until_ends_at_its_deadline_before_the_tasks_due_then() {
        let ran: Rc<RefCell<Vec<u64>>> = Rc::default();
        let seen = Rc::clone(&ran);
        let (ended_at, ran_by_then) = crate::clock::paused_system().block_on(async move {
            let start = tokio::time::Instant::now();
            for ms in [10, 50, 90] {
                let ran = Rc::clone(&seen);
                actix::spawn(async move {
                    tokio::time::sleep(Duration::from_millis(ms)).await;
                    ran.borrow_mut().push(ms);
                });
            }
            until(start + Duration::from_millis(50)).await;
            (start.elapsed(), seen.borrow().clone())
        });
        assert_eq!(ended_at, Duration::from_millis(50));
        assert_eq!(ran_by_then, vec![10]);
    }
}
