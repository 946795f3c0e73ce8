//! An actor's own address as links and timers take it, made once: `ctx.address().recipient()`
//! allocates three times (actix makes the address a sender of its own, with two shared
//! cells, and boxes it), and the actors hand their address to a link with every segment
//! they send, and to a timer with every timer they start.

use std::rc::Rc;

use actix::dev::ToEnvelope;
use actix::prelude::*;
use aptsim_simulator::link::Wire;

/// The actor's own `Recipient<M>`, made on first use.
pub struct Me<M: Message + Send = Wire>(Option<Rc<Recipient<M>>>)
where
    M::Result: Send;

impl<M: Message + Send> Default for Me<M>
where
    M::Result: Send,
{
    fn default() -> Self {
        Me(None)
    }
}

impl<M: Message + Send + 'static> Me<M>
where
    M::Result: Send,
{
    /// The actor's own recipient (shared: cloning it costs a counter).
    pub fn get<A>(&mut self, ctx: &Context<A>) -> Rc<Recipient<M>>
    where
        A: Actor<Context = Context<A>> + Handler<M>,
        A::Context: ToEnvelope<A, M>,
    {
        Rc::clone(
            self.0
                .get_or_insert_with(|| Rc::new(ctx.address().recipient())),
        )
    }
}
