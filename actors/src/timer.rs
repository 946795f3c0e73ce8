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
    actix::spawn(async move {
        tokio::time::sleep(delay).await;
        to.do_send(msg);
    });
}
