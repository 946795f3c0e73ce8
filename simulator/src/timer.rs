//! Timers that send a message to an actor when they fire, set on the world's timeline
//! ([`crate::timeline`]).
//!
//! actix's `ctx.run_later` keeps timers inside the actor's context and polls every pending
//! one each time the actor wakes, so an actor with thousands of timers (a queue of messages,
//! a session timer per connection) spends quadratic time polling them. The timeline's queue
//! fires only the timer that is due; a task to send its message is made only then.
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

use crate::timeline::{self, Key};

/// A started timer. Dropping it leaves it running; [`Armed`] cancels the one it keeps.
#[derive(Debug)]
pub struct Timer(Key);

/// Sends `msg` to `to` after `delay`. `to` may be shared ([`Rc`]): an actor that starts
/// many timers makes its own recipient once.
pub fn after<M>(delay: Duration, to: impl Into<Rc<Recipient<M>>>, msg: M) -> Timer
where
    M: Message + Send + 'static,
    M::Result: Send,
{
    let to = to.into();
    Timer(timeline::call_at(timeline::after(delay), move || {
        to.do_send(msg)
    }))
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
            timeline::cancel(replaced.0);
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
            timeline::cancel(pending.0);
        }
    }
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
            let ms = u64::try_from((crate::clock::now() - self.start).as_millis()).expect("ms");
            self.fired.borrow_mut().push((ms, due));
        }
    }

    /// Arms as an actor would, with a timer that sends its own deadline (in ms since
    /// `start`).
    fn arm(armed: &mut Armed, next: u64, start: tokio::time::Instant, to: &Recipient<Due>) {
        armed.arm(Some(Timestamp::from_millis(next)), |due| {
            let delay = Duration::from_millis(next).saturating_sub(crate::clock::now() - start);
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
        timeline::block_on(async move {
            let start = crate::clock::now();
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

            timeline::sleep(Duration::from_millis(30)).await;
            assert!(!kept.fire(t(10)), "replaced");
            assert!(kept.fire(t(5)));
            assert_eq!(kept.due(), None);
            arm(&mut kept, 40, start, &to);
            assert_eq!(kept.due(), Some(t(40)));
            timeline::sleep(Duration::from_millis(30)).await;
        });
        assert_eq!(*fired.borrow(), vec![(5, 5), (40, 40)]);
    }

    /// The world's own future, waiting with `sleep_until`, is done at its deadline, with the
    /// clock there, before a task due at the same instant has run, and does not wait for
    /// other tasks' later timers.
    #[test]
    fn the_world_future_ends_at_its_deadline_before_the_tasks_due_then() {
        let ran: Rc<RefCell<Vec<u64>>> = Rc::default();
        let seen = Rc::clone(&ran);
        let (ended_at, ran_by_then) = timeline::block_on(async move {
            let start = crate::clock::now();
            for ms in [10, 50, 90] {
                let ran = Rc::clone(&seen);
                actix::spawn(async move {
                    timeline::sleep(Duration::from_millis(ms)).await;
                    ran.borrow_mut().push(ms);
                });
            }
            timeline::sleep_until(start + Duration::from_millis(50)).await;
            (crate::clock::now() - start, seen.borrow().clone())
        });
        assert_eq!(ended_at, Duration::from_millis(50));
        assert_eq!(ran_by_then, vec![10]);
    }
}
