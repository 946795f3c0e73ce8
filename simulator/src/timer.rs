//! Timers on virtual time that scale: each pending timer is its own tokio task that sends a
//! message to its actor when it fires.
//!
//! actix's `ctx.run_later` keeps timers inside the actor's context and polls every pending
//! one each time the actor wakes, so an actor with thousands of timers (a queue of messages,
//! a session timer per connection) spends quadratic time polling them. tokio's timer wheel
//! wakes only the timer that is due.

use std::time::Duration;

use actix::prelude::*;

/// Sends `msg` to `to` after `delay`.
pub fn after<M>(delay: Duration, to: Recipient<M>, msg: M)
where
    M: Message + Send + 'static,
    M::Result: Send,
{
    // The deadline from the thread's cached instant: the same value `sleep` would read
    // from the clock, since the clock does not move before the task first runs.
    let deadline = crate::clock::now().checked_add(delay);
    actix::spawn(async move {
        match deadline {
            Some(at) => tokio::time::sleep_until(at).await,
            None => tokio::time::sleep(delay).await,
        }
        to.do_send(msg);
    });
}

/// The one pending timer of a machine, kept at its earliest deadline.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Armed(Option<aptsim_core::clock::Timestamp>);

impl Armed {
    /// The deadline to start a timer for, if `next` needs one: none is pending, or `next`
    /// is earlier than the pending one (a later pending timer just fires early and re-arms).
    pub fn rearm(
        &mut self,
        next: Option<aptsim_core::clock::Timestamp>,
    ) -> Option<aptsim_core::clock::Timestamp> {
        let due = next?;
        if self.0.is_some_and(|pending| pending <= due) {
            return None;
        }
        self.0 = Some(due);
        Some(due)
    }

    /// Whether a timer set for `due` is the pending one (an earlier re-arming replaced it
    /// otherwise); if so it is no longer pending.
    pub fn fire(&mut self, due: aptsim_core::clock::Timestamp) -> bool {
        let current = self.0 == Some(due);
        if current {
            self.0 = None;
        }
        current
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aptsim_core::clock::Timestamp;

    #[test]
    fn keeps_the_earliest_deadline() {
        let mut a = Armed::default();
        let t = Timestamp::from_millis;
        assert_eq!(a.rearm(None), None);
        assert_eq!(a.rearm(Some(t(10))), Some(t(10)));
        assert_eq!(a.rearm(Some(t(20))), None, "the pending timer comes first");
        assert_eq!(a.rearm(Some(t(5))), Some(t(5)));
        assert!(!a.fire(t(10)), "replaced");
        assert!(a.fire(t(5)));
        assert_eq!(a.rearm(Some(t(20))), Some(t(20)));
    }
}
